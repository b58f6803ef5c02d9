// Cairn installed as a package: its name resolves (package.json `exports`)
// to the client library, with the declaration files the build writes, and
// `npm pack` ships what a user needs (the bin, the library and its types,
// the sources the source maps point at) and nothing of the repository's
// tests, CI or scripts, nor a data folder's private key that happens to lie
// in the working tree. Runs after `npm run build` (as `npm test` does).
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { generateSignerKey, verifierKeyFromSignerKey } from '../../src/note/keys.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  bin: Record<string, string>;
  exports?: Record<string, { types?: string; default?: string } | string>;
};

/** The client library's built entry point, as a consumer's import names it. */
const CLIENT_INDEX = JSON.stringify(join(ROOT, 'dist/src/client/index.js'));

/**
 * Type-checks `source` as a strict nodenext consumer's use.ts would be, in a
 * folder of its own (removed after): 'compiled', or tsc's errors.
 */
async function compileConsumer(source: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-consumer-'));
  try {
    await writeFile(join(dir, 'use.ts'), source);
    const compilerOptions = { target: 'es2022', module: 'nodenext', moduleResolution: 'nodenext', lib: ['es2023'], types: ['node'], typeRoots: [join(ROOT, 'node_modules/@types')], strict: true, noEmit: true };
    await writeFile(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['use.ts'] }));
    const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
    return await promisify(execFile)(process.execPath, [tsc, '-p', dir]).then(
      () => 'compiled',
      (err: { stdout?: string }) => err.stdout ?? String(err),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

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

test('the package root exports the canonical JSON bytes the log stores and the JsonError addJson throws', async () => {
  const lib = (await import(pkg.name)) as {
    CairnClient: new (options: { baseUrl: string; verifierKey: string; fetch: () => Promise<Response> }) => { addJson(value: unknown): Promise<unknown> };
    canonicalizeValue(value: unknown): Uint8Array;
    canonicalizeJson(body: Uint8Array): Uint8Array;
    JsonError: new (message: string) => Error;
  };
  const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  expect(text(lib.canonicalizeValue({ b: [1.0, '\u20ac'], a: true }))).toBe('{"a":true,"b":[1,"€"]}');
  expect(text(lib.canonicalizeJson(new TextEncoder().encode('{ "b": [1.0, "\\u20ac"], "a": true }')))).toBe('{"a":true,"b":[1,"€"]}');
  expect(() => lib.canonicalizeJson(new TextEncoder().encode('{"a":1,"a":2}'))).toThrow(lib.JsonError);
  const asked: unknown[] = [];
  const log = new lib.CairnClient({ baseUrl: 'http://127.0.0.1:9', verifierKey: verifierKeyFromSignerKey(generateSignerKey('package.test/log')), fetch: async () => (asked.push(1), new Response('')) });
  await expect(log.addJson({ n: Number.NaN })).rejects.toBeInstanceOf(lib.JsonError);
  expect(asked).toEqual([]);
});

test('npm pack lists the bin, the library and its types, and no tests, CI, scripts or stray key', async () => {
  // A data folder under a name .gitignore does not know, with its key, as a user's working copy may hold.
  const stray = await mkdtemp(join(ROOT, 'pack-test-'));
  try {
    await writeFile(join(stray, 'log.key'), 'PRIVATE\n');
    // --ignore-scripts: the build has run; `prepare` would rebuild dist/ under the other tests' feet.
    const { stdout } = await promisify(execFile)('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 });
    const [packed] = JSON.parse(stdout) as { files: { path: string }[] }[];
    const paths = packed!.files.map((f) => f.path);
    expect(pkg.bin.cairn).toBe('dist/src/cli/main.js');
    expect(paths).toEqual(expect.arrayContaining(['package.json', 'README.md', 'dist/src/cli/main.js', 'dist/src/client/index.js', 'dist/src/client/index.d.ts', 'src/client/index.ts']));
    expect(paths.filter((p) => /^(test|\.ci|scripts|dist\/scripts|cairn-data|data|pack-test-[^/]*)\//.test(p) || p.endsWith('.key'))).toEqual([]);
  } finally {
    await rm(stray, { recursive: true, force: true });
  }
});

test("the library's declarations compile for a consumer whose lib has no DOM (Node's types only)", async () => {
  const use = `import { CairnClient, verifyReceipt } from ${CLIENT_INDEX};\nexport const kinds = [typeof CairnClient, typeof verifyReceipt];\n`;
  expect(await compileConsumer(use)).toBe('compiled');
});

test('the package root exports every type its public signatures name, and newVerifier, which checkReceipt needs', async () => {
  // A consumer naming the types of the signatures it uses: a type the root does not export would not compile.
  const use = [
    `import { CairnClient, checkReceipt, newVerifier, type CacheMode, type Checkpoint, type HashReader, type Tile, type TreeHead, type Verifier } from ${CLIENT_INDEX};`,
    'export const verifier: Verifier = newVerifier(process.argv[2]!);',
    'export const cache: CacheMode = "reload";',
    'export async function latest(c: CairnClient): Promise<Checkpoint> { return (await c.getCheckpoint()).checkpoint; }',
    'export async function head(c: CairnClient): Promise<TreeHead> { return c.getTreeHead(); }',
    'export async function tile(c: CairnClient, t: Tile): Promise<Uint8Array> { return c.readTile(t); }',
    'export function reader(c: CairnClient, cp: Checkpoint): HashReader { return c.tileReader(cp); }',
    'export const check = (r: unknown, e: Uint8Array) => checkReceipt(r, e, verifier).valid;',
  ].join('\n');
  expect(await compileConsumer(`${use}\n`)).toBe('compiled');
  // Every type or class a declaration exported from the root names, from this package's own files, is exported too.
  const ts = (await import('typescript')).default;
  const file = join(ROOT, 'dist/src/client/index.d.ts');
  const program = ts.createProgram([file], { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, types: ['node'], typeRoots: [join(ROOT, 'node_modules/@types')], noEmit: true });
  const checker = program.getTypeChecker();
  const resolve = (s: import('typescript').Symbol) => ((s.flags & ts.SymbolFlags.Alias) !== 0 ? checker.getAliasedSymbol(s) : s);
  const exported = new Set(checker.getExportsOfModule(checker.getSymbolAtLocation(program.getSourceFile(file)!)!).map(resolve));
  const unexported = new Set<string>();
  for (const symbol of exported) {
    for (const declaration of symbol.declarations ?? []) {
      const visit = (node: import('typescript').Node): void => {
        const name = ts.isTypeReferenceNode(node) ? node.typeName : ts.isExpressionWithTypeArguments(node) ? node.expression : undefined;
        const named = name === undefined ? undefined : checker.getSymbolAtLocation(name);
        const target = named === undefined ? undefined : resolve(named);
        const from = target?.declarations?.[0]?.getSourceFile().fileName ?? '';
        if (target !== undefined && from.startsWith(join(ROOT, 'dist/src')) && (target.flags & ts.SymbolFlags.TypeParameter) === 0 && !exported.has(target)) {
          unexported.add(`${target.name} (${from.slice(ROOT.length)})`);
        }
        ts.forEachChild(node, visit);
      };
      visit(declaration);
    }
  }
  expect([...unexported]).toEqual([]);
});
