// src/client must run in a browser: walk its import graph from index.ts and
// check that nothing in it imports a Node module or uses Node-only globals.
import { readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ALLOWED_PACKAGES = ['@noble/hashes/sha2.js', '@noble/ed25519', 'canonicalize'];

function importsOf(source: string): string[] {
  const out: string[] = [];
  for (const m of source.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+['"]([^'"]+)['"]/gm)) out.push(m[1]!);
  for (const m of source.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push(m[1]!);
  return out;
}

/** The source without comments, so that a comment mentioning Buffer does not count. */
function code(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
}

test('the client library and everything it imports are free of Node-only APIs', () => {
  const seen = new Set<string>();
  const packages = new Set<string>();
  const problems: string[] = [];
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const source = readFileSync(file, 'utf8');
    for (const spec of importsOf(source)) {
      if (spec.startsWith('.')) visit(join(dirname(file), spec.replace(/\.js$/, '.ts')));
      else packages.add(spec);
    }
    const body = code(source);
    for (const [pattern, what] of [[/\bBuffer\b/, 'Buffer'], [/\bprocess\.(?!getBuiltinModule)/, 'process.'], [/\brequire\(/, 'require('], [/\b__dirname\b/, '__dirname']] as const) {
      if (pattern.test(body)) problems.push(`${relative(ROOT, file)} uses ${what}`);
    }
  };
  visit(join(ROOT, 'src', 'client', 'index.ts'));
  const files = [...seen].map((f) => relative(ROOT, f));
  expect(files).toEqual(expect.arrayContaining(['src/client/client.ts', 'src/client/tile-reader.ts', 'src/merkle/proof.ts', 'src/note/checkpoint.ts', 'src/jcs/canonical.ts']));
  // src/non-printing.ts: the escapes of characters that would not print, in the JSON parser's messages.
  expect(files.filter((f) => !/^src\/((client|merkle|note|jcs)\/|non-printing\.ts$)/.test(f))).toEqual([]);
  expect([...packages].filter((p) => p.startsWith('node:') || !ALLOWED_PACKAGES.includes(p))).toEqual([]);
  expect(problems).toEqual([]);
});
