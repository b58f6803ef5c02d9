/** Thrown when the server cannot start for a reason the operator must fix (its address, its data folder); the message says which and why. */
export class StartError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StartError';
  }
}
