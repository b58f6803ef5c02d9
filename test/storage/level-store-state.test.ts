// LevelStore.open and the stored state: a store that lost its state but still
// holds entries, tiles or leaf-hash keys is refused as corrupt (not opened as
// an empty log, which would sign sizes already signed), and lets its lock go;
// the state records its layout, a state without one (written before it was
// recorded) opens, and one from a newer layout is refused.
import { createHash } from 'node:crypto';
import { Level } from 'level';
import { LevelStore, STORE_LAYOUT } from '../../src/storage/level-store.js';
import { StoreCorruptError, StoreLayoutError, type LogState } from '../../src/storage/store.js';
import { useTempDir } from '../helpers/temp-dir.js';

const dir = useTempDir('cairn-state-');
const S = Uint8Array.of(0x53);
const hash = (i: number) => createHash('sha256').update(String(i)).digest();

function stateOf(size: number): LogState {
  return { treeSize: size, rootHash: hash(-size), timestamp: size, checkpoint: `checkpoint ${size}`, sth: { tree_size: size, timestamp: size, sha256_root_hash: 'x', tree_head_signature: 'y' }, rightEdge: [hash(-size)] };
}

/** A store of 20 entries in one round; closed. */
async function writeStore(): Promise<void> {
  const store = await LevelStore.open(dir());
  const entries = Array.from({ length: 20 }, (_, i) => Uint8Array.of(i, 1, 2));
  await store.writeRound({ entries, leafHashes: entries.map((_, i) => hash(i)), tiles: [], state: stateOf(20) });
  await store.close();
}

/** Hands the store's raw LevelDB to `change`, then closes it. */
async function withLevel(change: (db: Level<Uint8Array, Uint8Array>) => Promise<void>): Promise<void> {
  const db = new Level<Uint8Array, Uint8Array>(dir(), { keyEncoding: 'view', valueEncoding: 'view' });
  await db.open();
  try {
    await change(db);
  } finally {
    await db.close();
  }
}

async function openError(): Promise<Error> {
  let error: unknown;
  await LevelStore.open(dir()).then(
    (store) => store.close(),
    (err: unknown) => {
      error = err;
    },
  );
  if (!(error instanceof Error)) throw new Error('the store opened');
  return error;
}

test('a store that lost its state but holds entries and leaf-hash keys is refused as corrupt, naming what it holds, and lets its lock go', async () => {
  await writeStore();
  let saved: Uint8Array | undefined;
  await withLevel(async (db) => {
    saved = await db.get(S);
    await db.del(S);
  });
  const error = await openError();
  expect(error).toBeInstanceOf(StoreCorruptError);
  expect(error.message).toBe(
    `the store in ${dir()} holds entry chunks and leaf-hash index keys but no state (key 'S': its tree size and latest checkpoint): ` +
      'it was not opened as an empty log, which would sign new tree heads for sizes already signed; restore the store from a backup',
  );
  // Again StoreCorruptError, not StoreLockedError: the failed open closed the database.
  await expect(LevelStore.open(dir())).rejects.toBeInstanceOf(StoreCorruptError);
  // Nothing was written: with the state put back the store opens as it was.
  await withLevel((db) => db.put(S, saved!));
  const store = await LevelStore.open(dir());
  expect((await store.readState())?.treeSize).toBe(20);
  await store.close();
});

test('a store with only a tile, or a key of no known kind, and no state is refused too; an empty one opens as an empty log', async () => {
  const empty = await LevelStore.open(dir());
  expect(await empty.readState()).toBeUndefined();
  await empty.close();
  await withLevel((db) => db.put(Uint8Array.of(0x54, 0, 0, 0, 0, 0, 0, 0, 0, 0), Uint8Array.of(1)));
  expect((await openError()).message).toMatch(/ holds hash tiles but no state /);
  await withLevel((db) => db.put(Uint8Array.of(0xff, 1), Uint8Array.of(1)));
  expect((await openError()).message).toMatch(/ holds hash tiles and keys starting with byte 0xff but no state /);
});

test('the stored state records the layout; a state without one opens; a newer layout is refused, with nothing written', async () => {
  await writeStore();
  let raw: Uint8Array | undefined;
  await withLevel(async (db) => {
    raw = await db.get(S);
  });
  const stored = JSON.parse(new TextDecoder().decode(raw)) as Record<string, unknown>;
  expect(stored.layout).toBe(STORE_LAYOUT);
  expect(STORE_LAYOUT).toBe(2);

  // As every store written before the layout was recorded.
  const { layout: _, ...older } = stored;
  await withLevel((db) => db.put(S, new TextEncoder().encode(JSON.stringify(older))));
  const store = await LevelStore.open(dir());
  expect((await store.readState())?.treeSize).toBe(20);
  await store.close();

  const newer = new TextEncoder().encode(JSON.stringify({ ...stored, layout: STORE_LAYOUT + 1 }));
  await withLevel((db) => db.put(S, newer));
  const error = await openError();
  expect(error).toBeInstanceOf(StoreLayoutError);
  expect(error).not.toBeInstanceOf(StoreCorruptError);
  expect(error.message).toBe(`the store in ${dir()} was written by a newer Cairn (store layout 3; this version reads layouts up to 2): it was not opened; use that newer version`);
  // The lock was let go, and the state is as it was.
  await withLevel(async (db) => {
    expect(await db.get(S)).toEqual(newer);
  });

  for (const bad of [0, 1.5, '2']) {
    await withLevel((db) => db.put(S, new TextEncoder().encode(JSON.stringify({ ...stored, layout: bad }))));
    await expect(LevelStore.open(dir())).rejects.toThrow(/stored state .* does not decode: its layout .* is not a positive integer/);
  }
});
