/**
 * Character rules shared by notes, keys and checkpoints (C2SP signed-note
 * §Format: valid UTF-8, no ASCII control characters other than newline).
 * Strings stand in for UTF-8 here, so "valid UTF-8" means "no lone
 * surrogates": exactly the strings that encode to UTF-8 without loss.
 */

const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/** Reports whether `text` has no lone UTF-16 surrogates, i.e. encodes to UTF-8 losslessly. */
export function isWellFormedText(text: string): boolean {
  return !LONE_SURROGATE.test(text);
}

/**
 * Reports whether `text` contains an ASCII control character (below U+0020),
 * other than newline when `allowNewline` is true.
 */
export function hasControlCharacter(text: string, allowNewline: boolean): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 && !(allowNewline && c === 0x0a)) return true;
  }
  return false;
}
