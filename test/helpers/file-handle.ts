// For tests that mock node:fs/promises: a file handle with one method replaced. (It imports
// nothing of node:fs, so a test may load it before it mocks that module.)
import type { FileHandle } from 'node:fs/promises';

/** `handle`, its method `name` replaced by `method`; its other methods still bound to it. */
export function withMethod<K extends keyof FileHandle>(handle: FileHandle, name: K, method: FileHandle[K]): FileHandle {
  return new Proxy(handle, {
    get(target: FileHandle, key) {
      if (key === name) return method;
      const value: unknown = Reflect.get(target, key);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}
