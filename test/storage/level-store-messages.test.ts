// LevelStore.open's refusals name the store's folder, and quote what LevelDB,
// the OS or the stored bytes said. A folder named with a line break or a
// bidi override, printed raw by a caller that does not escape (a new one; serve
// and audit do), would start a log line of its own or reorder the line: every
// message shows such characters as escapes already (showNonPrinting), so that
// printing it escaped again changes nothing.
import { createHash } from 'node:crypto';
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Level } from 'level';
import { showNonPrinting } from '../../src/cli/visible-text.js';
import { LevelStore } from '../../src/storage/level-store.js';
import type { LogState } from '../../src/storage/store.js';
import { failBatchWrites } from '../helpers/store.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir('cairn-store-messages-');

/** A folder name that, printed raw, starts an 'OK' line of its own, reverses the text after it, and holds a C1 control (NEL). */
const CRAFTED = 'db\nOK: all is well\u202Ex\u0085';

let dir: string;
beforeEach(() => {
  dir = join(tempDir(), CRAFTED);
});

const hash = (i: number) => createHash('sha256').update(String(i)).digest();

function stateOf(size: number): LogState {
  return { treeSize: size, rootHash: hash(-size), timestamp: size, checkpoint: `checkpoint ${size}`, sth: { tree_size: size, timestamp: size, sha256_root_hash: 'x', tree_head_signature: 'y' }, rightEdge: [hash(-size)] };
}

/** A store in {@link dir} holding `rounds` rounds of 10 entries; closed. */
async function writeStore(rounds = 1): Promise<void> {
  const store = await LevelStore.open(dir);
  for (let r = 0; r < rounds; r++) {
    const entries = Array.from({ length: 10 }, (_, i) => Uint8Array.of(r, i));
    await store.writeRound({ entries, leafHashes: entries.map((_, i) => hash(r * 10 + i)), tiles: [], state: stateOf(r * 10 + 10) });
  }
  await store.close();
}

/** Sets the store's state record ('S') to `value`. */
async function putState(value: string): Promise<void> {
  const db = new Level<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' });
  await db.open();
  await db.put(Uint8Array.of(0x53), new TextEncoder().encode(value));
  await db.close();
}

/** The message of LevelStore.open's refusal of `path`. */
async function refusal(path = dir, options: { existing?: boolean } = {}): Promise<string> {
  const opened = await LevelStore.open(path, options).then(
    async (store) => {
      await store.close();
      return undefined;
    },
    (err: unknown) => (err as Error).message,
  );
  if (opened === undefined) throw new Error('the store opened');
  return opened;
}

/** `message` names the crafted folder escaped, and holds nothing that showNonPrinting would escape: printed as it is, it is one line read in order. */
function expectShown(message: string, folder = dir): void {
  expect(message).toBe(showNonPrinting(message));
  expect(message).toContain(showNonPrinting(folder));
}

const CASES: [string, () => Promise<string>][] = [
  [
    'its CURRENT file lost',
    async () => {
      await writeStore();
      await rm(join(dir, 'CURRENT'));
      return refusal();
    },
  ],
  [
    'a folder holding other files',
    async () => {
      await mkdir(dir);
      await writeFile(join(dir, 'notes.txt'), 'x');
      return refusal();
    },
  ],
  [
    'a CURRENT file naming no MANIFEST, whose content the message quotes',
    async () => {
      await writeStore();
      // Read as Latin-1: byte 0x85 is the C1 control NEL, which JSON.stringify leaves as it is.
      await writeFile(join(dir, 'CURRENT'), 'x\u0085y\n', 'latin1');
      const message = await refusal();
      expect(message).toContain('(it holds "x\\u{0085}y\\n")');
      return message;
    },
  ],
  [
    "a MANIFEST missing, in the OS's words (which name the file)",
    async () => {
      await writeStore();
      await writeFile(join(dir, 'CURRENT'), 'MANIFEST-000099\n');
      return refusal();
    },
  ],
  [
    'the live write-ahead log missing',
    async () => {
      await writeStore(3);
      const logs = (await readdir(dir)).filter((n) => n.endsWith('.log'));
      await rm(join(dir, logs.at(-1)!));
      return refusal();
    },
  ],
  [
    "a table missing, in LevelDB's words (which name the file)",
    async () => {
      await writeStore(3);
      // Opened once more: LevelDB moves the rounds from its log into a table.
      await (await LevelStore.open(dir)).close();
      const [table] = (await readdir(dir)).filter((n) => n.endsWith('.ldb'));
      await rm(join(dir, table!));
      const message = await refusal();
      expect(message).toContain(`${showNonPrinting(dir)}/${table!}`);
      return message;
    },
  ],
  [
    'a file where the folder should be',
    async () => {
      await writeFile(dir, 'not a folder');
      return refusal();
    },
  ],
  [
    'a folder that held a store and is gone (existing)',
    () => refusal(dir, { existing: true }),
  ],
  [
    'a state a newer Cairn wrote',
    async () => {
      await writeStore();
      await putState(JSON.stringify({ layout: 99 }));
      return refusal();
    },
  ],
  [
    'a state that does not decode, whose bytes the message quotes',
    async () => {
      await writeStore();
      await putState('\u0085\u202E not JSON');
      return refusal();
    },
  ],
  [
    'a store in use by another opener',
    async () => {
      const held = await LevelStore.open(dir);
      try {
        return await refusal();
      } finally {
        await held.close();
      }
    },
  ],
];

test.each(CASES)('the refusal of %s names the folder escaped, and holds nothing raw', async (_, refuse) => {
  expectShown(await refuse());
});

test('a store that cannot be opened again after a failed write says so with the folder escaped, and holds nothing raw', async () => {
  await writeStore();
  const store = await LevelStore.open(dir);
  // The next batch write fails, as on a failing disk, and the folder has gone away meanwhile.
  failBatchWrites(store);
  await rename(dir, `${dir}.away`);
  const entries = [Uint8Array.of(9)];
  await expect(store.writeRound({ entries, leafHashes: [hash(10)], tiles: [], state: stateOf(11) })).rejects.toThrow('Input/output error');
  const message = await store.readTiles([{ level: 0, n: 0 }]).then(
    () => 'read',
    (err: unknown) => (err as Error).message,
  );
  expect(message).toMatch(/^the store in .* could not be opened again after a failed write: the store in .* is gone/);
  expectShown(message);
  await rename(`${dir}.away`, dir);
  await store.close();
});
