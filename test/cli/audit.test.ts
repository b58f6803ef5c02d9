// cairn audit on a real store: intact, then with one byte flipped (through
// LevelDB directly, the server stopped) in a stored entry, in a stored leaf
// hash, in an inner hash, in a level-1 tile and in the signed checkpoint;
// and with entries past the signed tree. Each must be reported, exit 1, and
// the store must audit clean again once the byte is put back. Damaged LevelDB
// files (CURRENT gone, a write-ahead log damaged before later rounds) are
// reported before LevelDB opens the store, which is left as it was.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, chown, cp, lstat, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { auditCommand, rootOnOthersStore, storeOpenProblem } from '../../src/cli/audit.js';
import { startServer } from '../../src/cli/server.js';
import { CairnClient } from '../../src/client/client.js';
import { storedHashCount } from '../../src/merkle/stored.js';
import { generateSignerKey, verifierKeyFromSignerKey } from '../../src/note/keys.js';
import { LevelStore } from '../../src/storage/level-store.js';
import { storeRecords, toLayout1 } from '../helpers/layout1-store.js';
import { CLI } from '../helpers/server-process.js';
import { captureIo } from './client-io.js';

const enc = (s: string) => new TextEncoder().encode(s);
let dir: string;
let data: string;
let vkey: string;
const SIZE = 600;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-audit-'));
  data = join(dir, 'data');
  const server = await startServer({ data, host: '127.0.0.1', port: 0, origin: 'audit.test/log' });
  vkey = server.verifierKey;
  const client = new CairnClient({ baseUrl: server.url, verifierKey: vkey });
  // Several rounds, so that bundles and groups of 16 entries are written across rounds.
  for (let i = 0; i < SIZE; i += 150) await client.addBatch(Array.from({ length: 150 }, (_, j) => enc(`audited entry ${i + j}`)));
  await server.close();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function audit(extra: string[] = ['--json']): Promise<{ code: number; result: Record<string, unknown>; out: string; err: string }> {
  const io = captureIo();
  const code = await auditCommand(['--data', data, ...extra], io);
  return { code, result: extra.includes('--json') && io.out() !== '' ? (JSON.parse(io.out()) as Record<string, unknown>) : {}, out: io.out(), err: io.err() };
}

/** Opens the stopped server's store, hands its raw LevelDB to `change`, closes it. */
async function withRawDb(change: (db: LevelStore['database']) => Promise<void>): Promise<void> {
  const store = await LevelStore.open(join(data, 'db'));
  try {
    await change(store.database);
  } finally {
    await store.close();
  }
}

/** Flips bit 0 of byte `offset` of the value under `key`; returns a function that flips it back. */
async function flipByte(key: Uint8Array, offset: number): Promise<() => Promise<void>> {
  const flipOnce = () =>
    withRawDb(async (db) => {
      const value = await db.get(key);
      if (value === undefined) throw new Error('no such key');
      const copy = value.slice();
      copy[offset] = copy[offset]! ^ 1;
      await db.put(key, copy);
    });
  await flipOnce();
  return flipOnce;
}

const tileKey = (level: number, n: number) => Uint8Array.of(0x54, level, 0, 0, 0, 0, 0, 0, 0, n);
/** The key of entries 16·k .. 16·k+15. */
const chunkKey = (k: number) => Uint8Array.of(0x43, 0, 0, 0, 0, 0, 0, 0, k);

test('an intact store audits clean: every stored hash recomputed, root and signatures match', async () => {
  const { code, result } = await audit();
  expect(code).toBe(0);
  expect(result).toEqual({ ok: true, data, origin: 'audit.test/log', tree_size: SIZE, hashes_checked: storedHashCount(SIZE) });
  const human = await audit(['--vkey', vkey]);
  expect(human.code).toBe(0);
  expect(human.out).toMatch(new RegExp(`^OK: .* holds 600 entries of audit\\.test/log; all ${storedHashCount(SIZE)} stored hashes recomputed`));
});

test('one flipped byte in a stored entry is reported with its index', async () => {
  // Entries 272..287 ('C' k:u64, k = 17, in entry bundle 1): flip a byte of the first one.
  const key = chunkKey(17);
  const index = 17 * 16;
  const undo = await flipByte(key, 2 + 5);
  try {
    const { code, result } = await audit();
    expect(code).toBe(1);
    expect(result).toMatchObject({ ok: false, first_bad: { kind: 'entry', index, tile: 'tile/0/001', message: expect.stringMatching(/the stored entry is corrupt/) } });
  } finally {
    await undo();
  }
  expect((await audit()).code).toBe(0);
});

test('one flipped byte in a stored leaf hash, an inner hash, or a level-1 hash is reported with its tile', async () => {
  const cases: [Uint8Array, number, Record<string, unknown>][] = [
    // tile/0/001 row 0 position 5: the stored leaf hash of entry 261.
    [tileKey(0, 1), 2 + 5 * 32 + 7, { kind: 'hash', index: 261, tile: 'tile/0/001', message: expect.stringMatching(/the stored hash is corrupt/) }],
    // tile/0/000 row 2 (stored right after the 256 row-0 hashes; row 1 is recomputed, not stored)
    // position 3: the node over leaves 12..15.
    [tileKey(0, 0), 2 + 256 * 32 + 3 * 32, { kind: 'hash', index: 3, tile: 'tile/0/000', message: expect.stringMatching(/stored hash 3 of tree level 2 \(in tile\/0\/000, row 2, position 3\)/) }],
    // tile/0/001 row 4 (after rows 0 and 2: 256 + 64 hashes) position 15: the node over entries 496..511.
    [tileKey(0, 1), 2 + (256 + 64) * 32 + 15 * 32 + 9, { kind: 'hash', index: 31, tile: 'tile/0/001', message: expect.stringMatching(/stored hash 31 of tree level 4 \(in tile\/0\/001, row 4, position 15\)/) }],
    // tile/1/000.p/2 position 1: the level-8 node over entries 256..511.
    [tileKey(1, 0), 2 + 32 + 31, { kind: 'hash', index: 1, tile: 'tile/1/000.p/2', message: expect.stringMatching(/tree level 8/) }],
  ];
  for (const [key, offset, finding] of cases) {
    const undo = await flipByte(key, offset);
    try {
      const { code, result } = await audit();
      expect(code).toBe(1);
      expect(result.first_bad).toMatchObject(finding);
    } finally {
      await undo();
    }
  }
  const human = await flipByte(tileKey(0, 1), 2 + 5 * 32);
  try {
    const { code, out } = await audit([]);
    expect(code).toBe(1);
    expect(out).toMatch(/^MISMATCH in .* \(hash at index 261, tile\/0\/001\): entry 261: its leaf hash/);
  } finally {
    await human();
  }
  expect((await audit()).code).toBe(0);
});

test('a changed signed checkpoint, entries past the signed tree, and a tile of the wrong width', async () => {
  const S = Uint8Array.of(0x53);
  let original: Uint8Array | undefined;
  await withRawDb(async (db) => {
    original = (await db.get(S))!.slice();
    const state = JSON.parse(new TextDecoder().decode(original)) as { checkpoint: string };
    state.checkpoint = state.checkpoint.replace(/(— \S+ .{30})(.)/, (_m, head: string, c: string) => `${head}${c === 'A' ? 'B' : 'A'}`);
    await db.put(S, enc(JSON.stringify(state)));
  });
  try {
    expect((await audit()).result).toMatchObject({ ok: false, first_bad: { kind: 'checkpoint', message: expect.stringMatching(/does not verify/) } });
  } finally {
    await withRawDb((db) => db.put(S, original!));
  }

  // Entries 608.. of bundle 2 past the 600 signed entries (600 = 512 + 88 = 16·37 + 8).
  const extra = chunkKey(38);
  await withRawDb((db) => db.put(extra, Uint8Array.of(0, 3, 0x61, 0x62, 0x63)));
  try {
    expect((await audit()).result).toMatchObject({ ok: false, first_bad: { kind: 'bundle', index: 512, message: expect.stringMatching(/expected 88 entries, got 89/) } });
  } finally {
    await withRawDb((db) => db.del(extra));
  }

  const undo = await flipByte(tileKey(0, 2), 1); // the width field: 88 → 89
  try {
    expect((await audit()).result).toMatchObject({ ok: false, first_bad: { kind: 'tile', tile: 'tile/0/002.p/88' } });
  } finally {
    await undo();
  }
  expect((await audit()).code).toBe(0);
});

test('a state record that does not decode', async () => {
  const copy = join(dir, 'copy');
  await cp(data, copy, { recursive: true });
  const store = await LevelStore.open(join(copy, 'db'));
  const S = Uint8Array.of(0x53);
  await store.database.put(S, (await store.database.get(S))!.subarray(0, 40));
  await store.close();
  const io = captureIo();
  expect(await auditCommand(['--data', copy, '--vkey', vkey, '--json'], io)).toBe(1);
  expect(JSON.parse(io.out())).toMatchObject({ ok: false, first_bad: { kind: 'state', message: expect.stringMatching(/does not decode/) } });
});

test('a new, empty log audits clean', async () => {
  const empty = join(dir, 'empty');
  await (await startServer({ data: empty, host: '127.0.0.1', port: 0 })).close();
  const io = captureIo();
  expect(await auditCommand(['--data', empty, '--json'], io)).toBe(0);
  expect(JSON.parse(io.out())).toMatchObject({ ok: true, tree_size: 0, hashes_checked: 0 });
});

test('operational errors: a running server holds the store, no store, no key (exit 2)', async () => {
  const server = await startServer({ data, host: '127.0.0.1', port: 0 });
  try {
    const { code, err } = await audit();
    expect(code).toBe(2);
    expect(err).toBe(`cairn audit: the data folder ${data} is in use by another Cairn process (a server running on it holds its store's lock); stop it first, or audit a copy of ${data} taken while the server was stopped\n`);
  } finally {
    await server.close();
  }
  expect((await auditCommand(['--data', join(dir, 'nothing')], captureIo()))).toBe(2);
  const noKey = captureIo();
  expect(await auditCommand(['--data', data, '--key', join(dir, 'missing.key')], noKey)).toBe(2);
  expect(noKey.err()).toMatch(/no key to check the signatures with/);
  const help = captureIo();
  expect(await auditCommand(['--help'], help)).toBe(0);
  expect(help.out()).toMatch(/Exit status:\n  0 .*\n  1  a mismatch/);
});

/** Every file of a store's folder and its bytes, but LevelDB's info log (LOG, LOG.old). */
async function storeFiles(db: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(db)).sort()) if (name !== 'LOG' && name !== 'LOG.old') out[name] = (await readFile(join(db, name))).toString('base64');
  return out;
}

/**
 * Grows a log in data folder `name` through a real server, `rounds` batches
 * of `perRound` entries, and returns the folder and a function that copies
 * it to another name (each damaged copy starts from the same store).
 */
async function grownStore(name: string, rounds: number, perRound: number): Promise<{ fresh: string; verifierKey: string; copy: (to: string) => Promise<string> }> {
  const fresh = join(dir, name);
  const server = await startServer({ data: fresh, host: '127.0.0.1', port: 0, origin: 'audit.test/log' });
  const client = new CairnClient({ baseUrl: server.url, verifierKey: server.verifierKey });
  for (let round = 0; round < rounds; round++) await client.addBatch(Array.from({ length: perRound }, (_, j) => enc(`round ${round} entry ${j}`)));
  await server.close();
  const copy = async (to: string) => {
    const path = join(dir, to);
    await cp(fresh, path, { recursive: true });
    return path;
  };
  return { fresh, verifierKey: server.verifierKey, copy };
}

test('a store that lost its CURRENT file, or whose write-ahead log is damaged before later rounds, is reported and left as it was', async () => {
  const { fresh, verifierKey, copy } = await grownStore('fresh', 8, 20);
  const run = async (data: string, extra = ['--json']) => {
    const io = captureIo();
    const code = await auditCommand(['--data', data, '--vkey', verifierKey, ...extra], io);
    return { code, out: io.out(), err: io.err() };
  };

  const noCurrent = await copy('no-current');
  await rm(join(noCurrent, 'db', 'CURRENT'));
  const before = await storeFiles(join(noCurrent, 'db'));
  const lost = await run(noCurrent);
  expect(lost.code).toBe(1);
  expect(JSON.parse(lost.out)).toMatchObject({ ok: false, first_bad: { kind: 'store', message: expect.stringMatching(/has lost its CURRENT file/) } });
  expect(await storeFiles(join(noCurrent, 'db'))).toEqual(before);

  const walDamaged = await copy('wal-damaged');
  const logs = (await readdir(join(walDamaged, 'db'))).filter((n) => n.endsWith('.log'));
  expect(logs).toHaveLength(1);
  const log = join(walDamaged, 'db', logs[0]!);
  const bytes = await readFile(log);
  const middle = Math.floor(bytes.length / 2);
  bytes[middle] = bytes[middle]! ^ 0x10;
  await writeFile(log, bytes);
  const damagedFiles = await storeFiles(join(walDamaged, 'db'));
  const human = await run(walDamaged, []);
  expect(human.code).toBe(1);
  expect(human.out).toMatch(new RegExp(`^MISMATCH in ${walDamaged} \\(store\\): the store's write-ahead log ${log} is damaged at byte \\d+ \\(a checksum mismatch\\), and a later write`));
  expect(await storeFiles(join(walDamaged, 'db'))).toEqual(damagedFiles);

  // The store as written audits clean.
  expect(await run(await copy('intact'))).toMatchObject({ code: 0 });
});

test('an empty store folder is no store: exit 2, and nothing is made in it; a store LevelDB cannot lock says why (no writable copy asked for on a writable file system)', async () => {
  const hollow = join(dir, 'hollow');
  await mkdir(join(hollow, 'db'), { recursive: true });
  const io = captureIo();
  expect(await auditCommand(['--data', hollow, '--vkey', vkey], io)).toBe(2);
  expect(io.err()).toMatch(/there is no Cairn store in .*hollow \(.*hollow\/db holds no database\)/);
  expect(await readdir(join(hollow, 'db'))).toEqual([]);

  // LevelDB cannot make its LOCK file where a folder of that name is: the file system is writable, so no copy is asked for.
  const unlockable = join(dir, 'unlockable');
  await cp(data, unlockable, { recursive: true });
  await rm(join(unlockable, 'db', 'LOCK'));
  await mkdir(join(unlockable, 'db', 'LOCK'));
  const locked = captureIo();
  expect(await auditCommand(['--data', unlockable, '--vkey', vkey], locked)).toBe(2);
  expect(locked.err()).toMatch(/^cairn audit: cannot open the store in .*: IO error: .*LOCK[^(]*\n$/);
});

test('a store that lost its live write-ahead log, or its state, is reported as damage (exit 1); a store of a newer layout is an operational error (exit 2)', async () => {
  const { fresh, verifierKey, copy } = await grownStore('lost-parts', 3, 10);
  const run = async (data: string) => {
    const io = captureIo();
    const code = await auditCommand(['--data', data, '--vkey', verifierKey, '--json'], io);
    return { code, out: io.out() === '' ? {} : (JSON.parse(io.out()) as Record<string, unknown>), err: io.err() };
  };

  // Every round is still in the write-ahead log: without it the store looked empty.
  const noLog = await copy('no-log');
  const [log] = (await readdir(join(noLog, 'db'))).filter((n) => n.endsWith('.log'));
  await rm(join(noLog, 'db', log!));
  const before = await storeFiles(join(noLog, 'db'));
  const lostLog = await run(noLog);
  expect(lostLog.code).toBe(1);
  expect(lostLog.out).toMatchObject({ ok: false, first_bad: { kind: 'store', message: expect.stringMatching(new RegExp(`write-ahead log .*${log!}, which its MANIFEST-\\d+ names as live, is missing: .*may be lost`)) } });
  expect(await storeFiles(join(noLog, 'db'))).toEqual(before);

  const noState = await copy('no-state');
  const store = await LevelStore.open(join(noState, 'db'));
  await store.database.del(Uint8Array.of(0x53));
  await store.close();
  const lostState = await run(noState);
  expect(lostState.code).toBe(1);
  expect(lostState.out).toMatchObject({ ok: false, first_bad: { kind: 'state', message: expect.stringMatching(/holds entry chunks, leaf-hash index keys and hash tiles but no state/) } });

  const newer = await copy('newer');
  const newStore = await LevelStore.open(join(newer, 'db'));
  const S = Uint8Array.of(0x53);
  const state = JSON.parse(new TextDecoder().decode(await newStore.database.get(S))) as Record<string, unknown>;
  await newStore.database.put(S, enc(JSON.stringify({ ...state, layout: 99 })));
  await newStore.close();
  const layout = await run(newer);
  expect(layout.code).toBe(2);
  expect(layout.err).toMatch(/^cairn audit: the store in .* was written by a newer Cairn \(store layout 99; this version reads layouts up to 2\): it was not opened; use that newer version\n$/);

  expect(await run(await copy('whole'))).toMatchObject({ code: 0 });
});

test("a key for another log is an operational error naming both origins (exit 2), not store damage; --help says which key wins", async () => {
  const other = verifierKeyFromSignerKey(generateSignerKey('other.test/log'));
  // An exported CAIRN_VKEY of another log: it wins over DIR/log.key, and is named as where the key came from.
  const fromEnv = captureIo({ env: { CAIRN_VKEY: other } });
  expect(await auditCommand(['--data', data], fromEnv)).toBe(2);
  expect(fromEnv.out()).toBe('');
  expect(fromEnv.err()).toMatch(/^cairn audit: the key from CAIRN_VKEY \(other\.test\/log, key ID [0-9a-f]{8}\) is for the log "other\.test\/log", but the store in .* holds the log "audit\.test\/log" \(its checkpoint's origin\)/);
  // The store's own key file, given, wins over the variable.
  expect(await auditCommand(['--data', data, '--key', join(data, 'log.key')], captureIo({ env: { CAIRN_VKEY: other } }))).toBe(0);

  // Another key of the same name (two logs of one origin): exit 2, naming both key IDs.
  const sameName = verifierKeyFromSignerKey(generateSignerKey('audit.test/log'));
  const twin = captureIo();
  expect(await auditCommand(['--data', data, '--vkey', sameName, '--json'], twin)).toBe(2);
  const ids = [sameName, vkey].map((k) => k.split('+')[1]!);
  expect(ids[0]).not.toBe(ids[1]);
  expect(twin.err()).toMatch(new RegExp(`^cairn audit: the stored checkpoint is not signed by the key from --vkey \\(audit\\.test/log, key ID ${ids[0]}\\); the checkpoint's signatures by audit\\.test/log: key ID ${ids[1]}\\.`));

  const help = captureIo();
  expect(await auditCommand(['--help'], help)).toBe(0);
  expect(help.out()).toMatch(/the first of: --vkey, --key,\nCAIRN_VKEY, DIR\/log\.key/);
});

test("a checkpoint whose signature names another key ID is damage when the stored tree head verifies with the key (exit 1)", async () => {
  const S = Uint8Array.of(0x53);
  let original: Uint8Array | undefined;
  await withRawDb(async (db) => {
    original = (await db.get(S))!.slice();
    const state = JSON.parse(new TextDecoder().decode(original)) as { checkpoint: string };
    // The first base64 character of the signature: the key ID's first 6 bits.
    state.checkpoint = state.checkpoint.replace(/(— \S+ )(.)/, (_m, head: string, c: string) => `${head}${c === 'A' ? 'B' : 'A'}`);
    await db.put(S, enc(JSON.stringify(state)));
  });
  try {
    const { code, result } = await audit(['--json', '--vkey', vkey]);
    expect(code).toBe(1);
    expect(result).toMatchObject({ ok: false, first_bad: { kind: 'checkpoint', message: expect.stringMatching(/does not verify/) } });
  } finally {
    await withRawDb((db) => db.put(S, original!));
  }
});

// uid 65534 (nobody) and its name as chown takes it; run as root, tests audit as that user, or audit that user's store.
const NOBODY = 65534;
const nobodyName = () => readFileSync('/etc/passwd', 'utf8').split('\n').map((line) => line.split(':')).find((fields) => fields[2] === String(NOBODY))?.[0] ?? String(NOBODY);
const auditAsNobody = (folder: string) =>
  new Promise<{ code: number | null; stderr: string }>((resolve) => {
    execFile(process.execPath, [CLI, 'audit', '--data', folder, '--vkey', vkey], { uid: NOBODY, gid: NOBODY }, (err, _stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stderr });
    });
  });

/** Gives `path` and all it holds to `uid`. */
async function chownTree(path: string, uid: number): Promise<void> {
  await chown(path, uid, uid);
  if ((await lstat(path)).isDirectory()) for (const name of await readdir(path)) await chownTree(join(path, name), uid);
}

/** Every file of a store's folder with its owner, LevelDB's info log (LOG, LOG.old) included. */
async function owners(db: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const name of (await readdir(db)).sort()) out[name] = (await lstat(join(db, name))).uid;
  return out;
}

test("a data folder this user may not enter (root's, 0700) is reported as permission denied with what to run, not as no store (exit 2)", async () => {
  const name = nobodyName();
  await chmod(dir, 0o755);
  const closed = join(dir, 'closed');
  await cp(data, closed, { recursive: true });
  await chmod(closed, 0o700);
  expect(await auditAsNobody(closed)).toEqual({
    code: 2,
    stderr:
      `cairn audit: permission denied: this user (${name}) may not look into the data folder ${closed} (EACCES: permission denied); it belongs to root: ` +
      `run cairn audit as root, or, if the server is to run as ${name}, run as root: chown -R ${name} ${closed}\n`,
  });
  // Closed further up, the folder's owner is not known.
  const above = join(dir, 'above');
  await mkdir(above, { mode: 0o700 });
  await cp(data, join(above, 'data'), { recursive: true });
  expect(await auditAsNobody(join(above, 'data'))).toEqual({
    code: 2,
    stderr: `cairn audit: permission denied: this user may not look into the data folder ${join(above, 'data')} or a folder above it (EACCES: permission denied); run cairn audit as the user the server runs as\n`,
  });
  await chmod(dir, 0o700);
});

test("root is refused another user's store before it is opened, naming that user and what to run, so that no file in it becomes root's (exit 2)", async () => {
  const name = nobodyName();
  const theirs = join(dir, 'theirs');
  await cp(data, theirs, { recursive: true });
  await chownTree(theirs, NOBODY);
  const db = join(theirs, 'db');
  const before = { owners: await owners(db), files: await storeFiles(db) };
  const io = captureIo();
  expect(await auditCommand(['--data', theirs, '--vkey', vkey], io)).toBe(2);
  expect(io.err()).toBe(
    `cairn audit: the store's folder ${db} belongs to ${name === String(NOBODY) ? `uid ${NOBODY}` : `${name} (uid ${NOBODY})`}, and this is root: the files LevelDB makes as audit opens the store ` +
      "(its lock, logs and MANIFEST) would be root's, and the server, running as that user, could not open the store any more. " +
      `Run it as that user: sudo -u ${name === String(NOBODY) ? `'#${NOBODY}'` : name} cairn audit --data ${theirs} --vkey ${vkey}\n`,
  );
  // The key given is in the command to run (the data folder's own log.key may not be there); so is one from CAIRN_VKEY, which sudo does not pass on.
  const keyFile = join(data, 'log.key');
  const suggested = async (argv: string[], env: Record<string, string> = {}) => {
    const run = captureIo({ env });
    expect(await auditCommand(['--data', theirs, ...argv], run)).toBe(2);
    return run.err();
  };
  expect(await suggested(['--key', keyFile])).toMatch(new RegExp(` cairn audit --data \\S+ --key ${keyFile}\n$`));
  expect(await suggested([], { CAIRN_VKEY: vkey })).toContain(` --vkey ${vkey}\n`);
  // A verifier key in a file (which the user may not be able to read) is given as its text.
  const vkeyFile = join(dir, 'log.vkey');
  await writeFile(vkeyFile, `${vkey}\n`, { mode: 0o600 });
  expect(await suggested([], { CAIRN_VKEY: vkeyFile })).toContain(` --vkey ${vkey}\n`);
  expect(await suggested(['--vkey', vkeyFile])).toContain(` --vkey ${vkey}\n`);
  // A private key given where the verifier key goes is refused, never echoed in the command.
  const privateKey = (await readFile(keyFile, 'utf8')).trim();
  const secret = privateKey.slice(privateKey.lastIndexOf('+') + 1);
  for (const [argv, env] of [[['--vkey', privateKey], {}], [[], { CAIRN_VKEY: privateKey }]] as const) {
    const err = await suggested([...argv], { ...env });
    expect(err).toContain('is a private key');
    expect(err).not.toContain(secret);
  }
  // No key given: the data folder's own log.key, which the user reads there.
  expect(await suggested([])).toMatch(/ cairn audit --data \S+\n$/);
  // A value beginning with '-' is given as --name=value, which parseArgs does not take for an option.
  expect(rootOnOthersStore('-data', '-data/db', NOBODY, ['--key', '-odd.key'])).toMatch(/ cairn audit --data=-data --key=-odd\.key$/);
  expect(await owners(db)).toEqual(before.owners);
  expect(await storeFiles(db)).toEqual(before.files);
  // Root's own store (or a copy root made) is audited as before.
  expect(await auditCommand(['--data', data, '--vkey', vkey], captureIo())).toBe(0);
});

test("a store whose LevelDB files root left behind (an audit or start as root) is explained as serve explains it: chown, not a writable copy (exit 2)", async () => {
  const name = nobodyName();
  const mixed = join(dir, 'mixed');
  await cp(data, mixed, { recursive: true });
  await chownTree(mixed, NOBODY);
  // What LevelDB makes as it opens a store, made by root under a umask of 077.
  const db = join(mixed, 'db');
  const roots = (await readdir(db)).filter((n) => n === 'CURRENT' || n === 'LOG' || n.startsWith('MANIFEST-') || n.endsWith('.log'));
  expect(roots.length).toBeGreaterThanOrEqual(4);
  for (const file of roots) {
    await chown(join(db, file), 0, 0);
    await chmod(join(db, file), 0o600);
  }
  await chmod(dir, 0o755);
  try {
    const { code, stderr } = await auditAsNobody(mixed);
    expect(code).toBe(2);
    expect(stderr).toMatch(
      new RegExp(`^cairn audit: cannot open the store in ${db}: files in it \\([^)]*CURRENT[^)]*\\) belong to root, and this user \\(${name}\\) may not read and write them; run as root: chown -R ${name} ${db}\n$`),
    );
  } finally {
    await chmod(dir, 0o700);
  }
});

test('a full disk is met with what serve says of it (free space), a read-only file system with a writable copy, anything else as it is', async () => {
  const db = join(data, 'db');
  // LevelDB's own words, as it says them opening a store (IO error: FILE: strerror).
  const full = new Error(`cannot open the store in ${db}: IO error: ${db}/000005.ldb: No space left on device`);
  expect(await storeOpenProblem(full, data, db)).toBe(
    `${full.message}; free space on the disk that holds the data folder ${data} (LevelDB needs a few MiB free to open its store), then run cairn audit again`,
  );
  const readOnly = new Error(`cannot open the store in ${db}: IO error: ${db}/LOCK: Read-only file system`);
  expect(await storeOpenProblem(readOnly, data, db)).toBe(`${readOnly.message} (audit opens the store read-write: give it a writable copy of ${data})`);
  const erofs = Object.assign(new Error('EROFS: read-only file system, open'), { code: 'EROFS' });
  expect(await storeOpenProblem(new Error(`cannot open the store in ${db}: ${erofs.message}`, { cause: erofs }), data, db)).toMatch(/\(audit opens the store read-write: give it a writable copy of .*\)$/);
  const other = new Error(`cannot open the store in ${db}: IO error: ${db}/LOCK: Is a directory`);
  expect(await storeOpenProblem(other, data, db)).toBe(other.message);
});

test("a store in Cairn 0.1.0's layout audits clean and is left in that layout: audit converts nothing", async () => {
  const { verifierKey, copy } = await grownStore('layout1', 4, 150);
  const old = await copy('layout1-copy');
  const db = join(old, 'db');
  expect(await toLayout1(db)).toBe(600);
  const before = await storeRecords(db);
  const io = captureIo();
  expect(await auditCommand(['--data', old, '--vkey', verifierKey], io)).toBe(0);
  expect(io.out()).toMatch(/^OK: .* holds 600 entries of audit\.test\/log; all \d+ stored hashes recomputed/);
  expect(await storeRecords(db)).toEqual(before);
  // Still 0.1.0's: an ordinary open (serve's) converts its partial last bundle.
  const store = await LevelStore.open(db);
  expect(store.olderLayout).toEqual({ layout: 1, convertedBundle: 2 });
  await store.close();
});
