// Cairn installed as a package: its name resolves (package.json `exports`)
// to the client library, with the declaration files the build writes.
// Runs after `npm run build` (as `npm test` does).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  exports?: Record<string, { types?: string; default?: string } | string>;
};

test('the package resolves by its own name to the client library, whose types the build writes', async () => {
  // Node's self-reference goes through `exports` only; the name is read, not written out, so that
  // tsc (which runs before the build) does not look for declarations that do not exist yet.
  const lib = (await import(pkg.name)) as Record<string, unknown>;
  expect(typeof lib.CairnClient).toBe('function');
  expect(typeof lib.verifyReceipt).toBe('function');
  const root = pkg.exports?.['.'];
  expect(typeof root === 'object' && root.types).toBe('./dist/src/client/index.d.ts');
  expect(existsSync(join(ROOT, 'dist/src/client/index.d.ts'))).toBe(true);
  expect(readFileSync(join(ROOT, 'dist/src/client/index.d.ts'), 'utf8')).toMatch(/\bCairnClient\b/);
});
