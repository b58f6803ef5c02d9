// The start-up lines of `cairn serve` as a real process: they name the data
// folder and the key file in full, say when a new store was made, and on a
// restart when the tree head it found was signed (an old backup restored
// shows there), state calmly when a new log is begun with a key that existed
// already (--new-log, README's keygen-first set-up; without it such a start
// is refused, as a mistyped --data or a volume not mounted looks the same)
// or beside a store an interrupted first start left with no log, and warn
// when a key was made for the placeholder origin, and when the store's folder
// had to be closed to other users, and when the tree head found is dated more
// than 10 minutes ahead of the clock (monitors alarm on the tree heads signed
// after it); and when a store in Cairn 0.1.0's layout is converted (README,
// Upgrading).
import { chmod, cp, mkdir, readdir, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { startupNotices, startupWarnings, treeHeadSigned } from '../../src/cli/serve.js';
import { DEFAULT_ORIGIN, startServer } from '../../src/cli/server.js';
import { CairnClient } from '../../src/client/client.js';
import { readKeyFile } from '../../src/cli/key-file.js';
import { Log } from '../../src/log/log.js';
import { newSigner, newVerifier } from '../../src/note/keys.js';
import { LevelStore } from '../../src/storage/level-store.js';
import { toLayout1 } from '../helpers/layout1-store.js';
import { runCli, startServerProcess } from '../helpers/server-process.js';
import { useTempDir } from '../helpers/temp-dir.js';

const dir = useTempDir('cairn-startup-lines-');

/** Runs `cairn serve` with `args` until it listens, stops it; resolves to its stdout, without the URL's port. */
async function startLines(args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  const server = await startServerProcess(args, env);
  expect(await server.stop()).toBe(0);
  return server.stdout().replace(/127\.0\.0\.1:\d+/, '127.0.0.1:PORT');
}

const placeholder = (data: string) =>
  `warning: the new key is for the placeholder origin ${DEFAULT_ORIGIN}, and an origin is a log's name for good (a restart with another --origin is refused). ` +
  `To name this log, stop it before it takes entries, remove ${join(data, 'log.key')} and ${join(data, 'db')}, and start again with --origin <name> (or CAIRN_ORIGIN)\n`;

/** The calm line for a new log begun with a key that existed already, as --new-log asked (README's keygen-first set-up). */
const existingKey = (key: string) =>
  `starting a new log with the key in ${key}, as --new-log asks: leave --new-log out of later starts, which it would refuse once this log holds its first checkpoint\n`;

/** The calm line for the data folder's own key beside a store that an interrupted first start left with no log. */
const interrupted = (data: string) =>
  `starting the log in ${join(data, 'db')}, which holds no log, with the data folder's own key ${join(data, 'log.key')}: an earlier first start made both and was interrupted before it signed anything (harmless); ` +
  'the verifier key is the one that start printed\n';

/** The refusal of a start whose key existed already, without --new-log, its store `found` (words after "but"), the command it gives. */
const refusedNewLog = (keyWords: string, found: string, where: string, nothing: string, command: string) =>
  `cairn serve: refusing to begin a new log: ${keyWords} existed before this start${keyWords.startsWith("the data folder's") ? ' (serve makes that key together with its store)' : ''}, but ${found}. If that key has signed a log, ${where} ` +
  `Beginning a new log would sign a second history under the same key, which monitors see as a fork.${nothing} ` +
  `To begin a new log with this key (one that has signed no log), start once with --new-log (or CAIRN_NEW_LOG=1): ${command} (with your other options), and leave it out of later starts\n`;

const NOTHING_MADE = ' Nothing was made or changed.';

/** The advice of {@link refusedNewLog} for a key kept elsewhere than its data folder `data`. */
const notMounted = (data: string) =>
  `this is not its store: is the volume that holds its data folder not mounted (mount it; under systemd, give the unit RequiresMountsFor=${data}), or does --data name another folder than that log's?`;

/** The advice of {@link refusedNewLog} for the data folder's own key. */
const OWN_KEY_LOST =
  'the log it signed has lost its store: moved away or deleted, or on a volume not mounted? Put that store back (a data folder moved elsewhere: give its path with --data).';

/** The stored tree head of the closed store in `db`: its size, and the time it was signed as an ISO date to the second. */
async function storedHead(db: string): Promise<{ size: number; signed: string }> {
  const store = await LevelStore.open(db);
  const state = (await store.readState())!;
  await store.close();
  return { size: state.treeSize, signed: new Date(state.timestamp).toISOString().replace(/\.\d{3}Z$/, 'Z') };
}

/** The line a restart names its stored tree head with, up to its age, which the clock decides. */
const headLine = (head: { signed: string }) => `latest tree head: signed ${head.signed} (`;

test('a first start names the data folder and key in full, says it made a new store, and warns of the placeholder origin; a restart names them only', async () => {
  const data = join(dir(), 'data');
  // Relative to the working folder the server inherits: the lines give it in full.
  const given = relative(process.cwd(), data);
  expect(given.startsWith('/')).toBe(false);
  const first = await startLines(['--data', given]);
  const verifier = /^verifier key: (\S+)$/m.exec(first)?.[1];
  expect(first).toBe(
    `made a new signing key in ${join(data, 'log.key')}\nverifier key: ${verifier}\n` +
      `data folder: ${data}\nmade a new store in ${join(data, 'db')}\n` +
      `log ${DEFAULT_ORIGIN} at tree size 0\naccess: writes open to anyone, reads open to anyone\n` +
      `${placeholder(data)}listening on http://127.0.0.1:PORT\nstopping\nstopped\n`,
  );
  const head = await storedHead(join(data, 'db'));
  const again = await startLines(['--data', given]);
  expect(again.replace(/^(latest tree head: .*\().* ago\)$/m, '$1AGE)')).toBe(
    `data folder: ${data}\nkey file: ${join(data, 'log.key')}\n` +
      `log ${DEFAULT_ORIGIN} at tree size 0\n${headLine(head)}AGE)\nverifier key: ${verifier}\naccess: writes open to anyone, reads open to anyone\n` +
      'listening on http://127.0.0.1:PORT\nstopping\nstopped\n',
  );
});

test('a restart names the size of the tree head it found in the store and when it was signed, the one of an older copy put back too', async () => {
  const data = join(dir(), 'data');
  const first = await startServer({ data, host: '127.0.0.1', port: 0, origin: 'o.example/log' });
  const client = new CairnClient({ baseUrl: first.url, verifierKey: first.verifierKey });
  await client.addBatch([new TextEncoder().encode('entry 0'), new TextEncoder().encode('entry 1')]);
  await first.close();
  await cp(join(data, 'db'), join(dir(), 'backup'), { recursive: true });
  const old = await storedHead(join(dir(), 'backup'));
  expect(old.size).toBe(2);
  const out = await startLines(['--data', data]);
  expect(out).toContain(`\nlog o.example/log at tree size 2\n${headLine(old)}`);
  expect(out).toMatch(/^latest tree head: signed \S+ \(.+ ago\)\nverifier key: /m);
  // Grown, then the older copy put back: the restart names its size and time, which an operator can tell from the last ones served.
  const grown = await startServer({ data, host: '127.0.0.1', port: 0 });
  await new CairnClient({ baseUrl: grown.url, verifierKey: grown.verifierKey }).addBatch([new TextEncoder().encode('entry 2')]);
  await grown.close();
  const latest = await storedHead(join(data, 'db'));
  expect(latest.size).toBe(3);
  expect(await startLines(['--data', data])).toContain(`\nlog o.example/log at tree size 3\n${headLine(latest)}`);
  await rm(join(data, 'db'), { recursive: true });
  await rename(join(dir(), 'backup'), join(data, 'db'));
  expect(await startLines(['--data', data])).toContain(`\nlog o.example/log at tree size 2\n${headLine(old)}`);
});

test('treeHeadSigned says when a tree head was signed, to the second, and how long before the clock, or after it', () => {
  const at = Date.parse('2026-11-26T10:00:00.250Z');
  const day = 86_400_000;
  expect(treeHeadSigned(at, at + 3 * day + 5000)).toBe('signed 2026-11-26T10:00:00Z (3 days ago)');
  expect(treeHeadSigned(at, at + 1.5 * day)).toBe('signed 2026-11-26T10:00:00Z (36 hours ago)');
  expect(treeHeadSigned(at, at + 90 * 60_000)).toBe('signed 2026-11-26T10:00:00Z (90 minutes ago)');
  expect(treeHeadSigned(at, at + 2 * 60_000)).toBe('signed 2026-11-26T10:00:00Z (2 minutes ago)');
  expect(treeHeadSigned(at, at + 1999)).toBe('signed 2026-11-26T10:00:00Z (1 second ago)');
  expect(treeHeadSigned(at, at + 999)).toBe('signed 2026-11-26T10:00:00Z (less than a second ago)');
  expect(treeHeadSigned(at, at)).toBe('signed 2026-11-26T10:00:00Z (less than a second ago)');
  // A clock behind the signer's: the head is ahead of it.
  expect(treeHeadSigned(at, at - 3 * 3_600_000)).toBe("signed 2026-11-26T10:00:00Z (3 hours ahead of this machine's clock)");
  // Ahead, it is not rounded down to the larger unit alone: 2 h 59 min is not "2 hours", nor 9 min 59 s "9 minutes".
  expect(treeHeadSigned(at, at - 3 * 3_600_000 + 60_000)).toBe("signed 2026-11-26T10:00:00Z (2 hours 59 minutes ahead of this machine's clock)");
  expect(treeHeadSigned(at, at - 10 * 60_000 + 1000)).toBe("signed 2026-11-26T10:00:00Z (9 minutes 59 seconds ahead of this machine's clock)");
  expect(treeHeadSigned(at, at - 90_000)).toBe("signed 2026-11-26T10:00:00Z (1 minute 30 seconds ahead of this machine's clock)");
  expect(treeHeadSigned(at, at - 1.5 * day - 1)).toBe("signed 2026-11-26T10:00:00Z (1 day 12 hours ahead of this machine's clock)");
  expect(treeHeadSigned(at, at - 1999)).toBe("signed 2026-11-26T10:00:00Z (1 second ahead of this machine's clock)");
  expect(treeHeadSigned(at, at - 10)).toBe("signed 2026-11-26T10:00:00Z (less than a second ahead of this machine's clock)");
  // A timestamp no date can hold.
  expect(treeHeadSigned(1e20, at)).toBe('signed at 100000000000000000000 ms after the epoch');
});

/** The warning for a stored tree head of size `size` signed `signed`, `ahead` ahead of the clock (as the start-up line gives it). */
const headAhead = (size: number, signed: string, ahead: string) =>
  `the latest tree head (tree size ${size}) is dated ${signed}, ${ahead} ahead of this machine's clock (signed while a clock ran ahead, or is this one behind?): ` +
  'the tree heads signed from now on are dated just after it, as far ahead, until this clock passes it, ' +
  'and monitors (cairn monitor too) alarm `timestamp` meanwhile on each one more than 10 minutes ahead of their clock. ' +
  "Check this machine's clock and its time synchronization (NTP: timedatectl, chronyc tracking)";

test('a stored tree head more than 10 minutes ahead of the clock, where monitors alarm, is warned about, with how far ahead it is; one less far ahead is not', () => {
  const at = Date.parse('2026-11-26T10:00:00.250Z');
  const facts = { dataFolder: '/srv/cairn', storeFolder: '/srv/cairn/db', keyFile: '/srv/cairn/log.key', madeStore: false, newLog: false, madeKey: false, placeholderOrigin: false };
  const stored = { ...facts, storedTreeHead: { treeSize: 7, timestamp: at } };
  // After a run with the clock 3 hours ahead, a start a minute later with the clock set right.
  expect(startupWarnings(stored, at - 3 * 3_600_000 + 60_000)).toEqual([headAhead(7, '2026-11-26T10:00:00Z', '2 hours 59 minutes')]);
  expect(startupWarnings(stored, at - 10 * 60_000 - 1)).toEqual([headAhead(7, '2026-11-26T10:00:00Z', '10 minutes')]);
  // 10 minutes ahead or less: monitors take it, and the start-up line says how far ahead.
  expect(startupWarnings(stored, at - 10 * 60_000)).toEqual([]);
  expect(startupWarnings(stored, at - 60_000)).toEqual([]);
  // Behind the clock, or none stored: nothing.
  expect(startupWarnings(stored, at + 3 * 3_600_000)).toEqual([]);
  expect(startupWarnings(facts, at - 3 * 3_600_000)).toEqual([]);
});

test('a restart that finds its tree head signed while the clock ran 3 hours ahead warns, after the line that says how far ahead it is', async () => {
  const data = join(dir(), 'data');
  const first = await startServer({ data, host: '127.0.0.1', port: 0, origin: 'o.example/log' });
  await first.close();
  // A run with the clock 3 hours ahead logs an entry.
  const key = await readKeyFile(join(data, 'log.key'));
  const store = await LevelStore.open(join(data, 'db'));
  const ahead = await Log.open({ store, signer: newSigner(key.signerKey), verifier: newVerifier(key.verifierKey), clock: () => Date.now() + 3 * 3_600_000 });
  await ahead.submit([new TextEncoder().encode('entry 0')]);
  await ahead.close();
  await store.close();
  const head = await storedHead(join(data, 'db'));
  expect(head.size).toBe(1);
  // Restarted with the clock right: 2 hours 59 minutes ahead and some seconds by then (or 3 hours, were the clock to stand still).
  const out = await startLines(['--data', data]);
  const shown = /^latest tree head: signed \S+ \((2 hours 59 minutes|3 hours) ahead of this machine's clock\)$/m.exec(out)?.[1];
  expect(shown).toBeDefined();
  expect(out).toContain(`\n${headLine(head)}${shown} ahead of this machine's clock)\nverifier key: `);
  expect(out).toContain(`\naccess: writes open to anyone, reads open to anyone\nwarning: ${headAhead(1, head.signed, shown!)}\nlistening on `);
});

test('a key made for an origin that was given is not warned about', async () => {
  const byOption = await startLines(['--data', join(dir(), 'a'), '--origin', 'audit.example.com/log1']);
  expect(byOption).toMatch(/^made a new signing key in /);
  expect(byOption).toContain('log audit.example.com/log1 at tree size 0\n');
  const byVariable = await startLines(['--data', join(dir(), 'b')], { CAIRN_ORIGIN: 'audit.example.com/log2' });
  expect(byVariable).toContain('log audit.example.com/log2 at tree size 0\n');
  for (const out of [byOption, byVariable]) expect(out).not.toMatch(/warning/);
});

test("README's keygen-first set-up: a key that existed already begins no log without --new-log (a volume not mounted, a wrong --data), nothing made; with it, stated calmly; --new-log on a store that holds a log is refused", async () => {
  const key = join(dir(), 'etc', 'log.key');
  await mkdir(join(dir(), 'etc'));
  expect((await runCli(['keygen', '--origin', 'audit.example.com/log1', '--out', key])).code).toBe(0);
  const data = join(dir(), 'var', 'lib', 'cairn');
  // The data folder missing (its volume not mounted), then there but empty (the mount point): refused, nothing made.
  const command = `cairn serve --data ${data} --key ${key} --new-log`;
  const missing = await runCli(['serve', '--data', data, '--key', key, '--port', '0']);
  expect([missing.code, missing.stdout, missing.stderr]).toEqual([1, '', refusedNewLog(`the key ${key}`, `the data folder ${data} does not exist`, notMounted(data), NOTHING_MADE, command)]);
  await expect(stat(join(dir(), 'var'))).rejects.toThrow(/ENOENT/);
  await mkdir(data, { recursive: true, mode: 0o700 });
  const empty = await runCli(['serve', '--data', data, '--key', key, '--port', '0'], { CAIRN_DATA: 'ignored' });
  expect([empty.code, empty.stderr]).toEqual([1, refusedNewLog(`the key ${key}`, `the data folder ${data} holds no store (no db/ in it)`, notMounted(data), NOTHING_MADE, command)]);
  expect(await readdir(data)).toEqual([]);
  // CAIRN_NEW_LOG=1 is --new-log (as CAIRN_READ_ONLY: 1, true or yes; 0, false or no is off); another value is a usage error.
  expect((await runCli(['serve', '--data', data, '--key', key, '--port', '0'], { CAIRN_NEW_LOG: 'maybe' })).stderr).toMatch(/^cairn serve: CAIRN_NEW_LOG must be 1, true or yes /);
  const byVariable = await startLines(['--data', join(dir(), 'other'), '--key', key], { CAIRN_NEW_LOG: '1' });
  expect(byVariable).toContain(existingKey(key));
  const out = await startLines(['--data', data, '--key', key, '--new-log']);
  expect(out.split('\n').slice(0, 5)).toEqual([
    `data folder: ${data}`,
    `made a new store in ${join(data, 'db')}`,
    `key file: ${key}`,
    'log audit.example.com/log1 at tree size 0',
    expect.stringMatching(/^verifier key: audit\.example\.com\/log1\+/),
  ]);
  expect(out).toContain(`\naccess: writes open to anyone, reads open to anyone\n${existingKey(key)}listening on `);
  expect(out).not.toMatch(/warning/);
  // Once the log exists, its restarts say nothing of it, and --new-log left in place is refused.
  const again = await startLines(['--data', data, '--key', key]);
  expect(again).not.toMatch(/warning|new store|new log/);
  const left = await runCli(['serve', '--data', data, '--key', key, '--port', '0', '--new-log']);
  expect([left.code, left.stdout, left.stderr]).toEqual([
    1,
    '',
    `cairn serve: --new-log (or CAIRN_NEW_LOG) is for a new log's first start, but the store in ${join(data, 'db')} holds a log (tree size 0, signed with ${key}); nothing was changed. ` +
      'Remove --new-log (and CAIRN_NEW_LOG, from a service unit or its environment file too) and start again: left in place, it would let a start that finds no log ' +
      '(its volume not mounted) begin a second history under this key\n',
  ]);
  // A store folder moved away (its log put back elsewhere) is refused too; so is one with no log in it.
  await rename(join(data, 'db'), join(dir(), 'db-away'));
  await mkdir(join(data, 'db'), { mode: 0o700 });
  const emptyDb = await runCli(['serve', '--data', data, '--key', key, '--port', '0']);
  expect(emptyDb.stderr).toBe(refusedNewLog(`the key ${key}`, `the store's folder ${join(data, 'db')} is empty`, notMounted(data), NOTHING_MADE, command));
  await rm(join(data, 'db'), { recursive: true });
  const store = await LevelStore.open(join(data, 'db'));
  await store.close();
  const noLog = await runCli(['serve', '--data', data, '--key', key, '--port', '0']);
  expect(noLog.stderr).toBe(
    refusedNewLog(`the key ${key}`, `the store in ${join(data, 'db')} holds no log`, notMounted(data), ' A first start interrupted before it signed anything also leaves a store with no log; --new-log is then right.', command),
  );
});

test("a store moved away from beside the data folder's own key is refused, nothing made, the key named by --key or not; --new-log begins a new log there", async () => {
  const data = join(dir(), 'data');
  await startLines(['--data', data, '--origin', 'o.example/log']);
  await rename(join(data, 'db'), join(dir(), 'db-elsewhere'));
  const res = await runCli(['serve', '--data', data, '--port', '0']);
  const own = (found: string, command: string) => refusedNewLog(`the data folder's own key ${join(data, 'log.key')}`, found, OWN_KEY_LOST, NOTHING_MADE, command);
  expect([res.code, res.stdout, res.stderr]).toEqual([1, '', own(`the data folder ${data} holds no store (no db/ in it)`, `cairn serve --data ${data} --new-log`)]);
  expect(await readdir(data)).toEqual(['log.key']);
  // An empty store folder put in its place too; --key naming that key too (as given in the command).
  await mkdir(join(data, 'db'), { mode: 0o700 });
  const given = join(relative(process.cwd(), data), 'log.key');
  const named = await runCli(['serve', '--data', data, '--key', given, '--port', '0']);
  expect(named.stderr).toBe(own(`the store's folder ${join(data, 'db')} is empty`, `cairn serve --data ${data} --key ${given} --new-log`));
  const empty = await startLines(['--data', data, '--key', given, '--new-log']);
  expect(empty).toContain(`data folder: ${data}\nstarting a new log in the empty store ${join(data, 'db')}\nkey file: `);
  expect(empty).toContain(`\n${existingKey(join(data, 'log.key'))}listening on `);
  expect(empty).not.toMatch(/warning/);
});

test('a first start killed after it made the key and its store, before its first checkpoint: the next start begins the log with that key, saying so calmly, without --new-log', async () => {
  const data = join(dir(), 'data');
  // What such a start leaves: the key, and a store LevelDB made, holding nothing.
  await mkdir(data, { mode: 0o700 });
  expect((await runCli(['keygen', '--origin', 'o.example/log', '--out', join(data, 'log.key')])).code).toBe(0);
  await mkdir(join(data, 'db'), { mode: 0o700 });
  const store = await LevelStore.open(join(data, 'db'));
  await store.close();
  const out = await startLines(['--data', data]);
  expect(out).toContain(`\naccess: writes open to anyone, reads open to anyone\n${interrupted(data)}listening on `);
  expect(out).not.toMatch(/warning/);
  expect(await startLines(['--data', data])).not.toMatch(/warning|new log|holds no log/);
});

test("a store folder holding only what a first open of LevelDB leaves (no CURRENT) beside a key that existed is refused before the open, every time, nothing made: no start takes it for an interrupted first start's", async () => {
  const data = join(dir(), 'data');
  await mkdir(data, { mode: 0o700 });
  expect((await runCli(['keygen', '--origin', 'o.example/log', '--out', join(data, 'log.key')])).code).toBe(0);
  await mkdir(join(data, 'db'), { mode: 0o700 });
  await writeFile(join(data, 'db', 'LOCK'), '');
  const command = `cairn serve --data ${data} --new-log`;
  const refusal = refusedNewLog(`the data folder's own key ${join(data, 'log.key')}`, `the store in ${join(data, 'db')} holds no log`, OWN_KEY_LOST, ' A first start interrupted before it signed anything also leaves a store with no log; --new-log is then right.', command);
  for (let start = 0; start < 2; start++) {
    const res = await runCli(['serve', '--data', data, '--port', '0']);
    expect([res.code, res.stdout, res.stderr]).toEqual([1, '', refusal]);
    expect(await readdir(join(data, 'db'))).toEqual(['LOCK']);
  }
  expect(await startLines(['--data', data, '--new-log'])).toContain('listening on ');
});

test('a store folder that others could enter is closed, and the start says so', async () => {
  const data = join(dir(), 'data');
  await startLines(['--data', data, '--origin', 'o.example/log']);
  await chmod(join(data, 'db'), 0o755);
  const out = await startLines(['--data', data]);
  expect(out).toContain(
    `\nwarning: the store's folder ${join(data, 'db')} was open to group or others (mode 755); it is now 0700, so that only this user can read the log's files\nlistening on `,
  );
});

test("a store in Cairn 0.1.0's layout: the start that converts it says so in one line, and later starts say nothing of it", async () => {
  /** A log of `size` entries in a data folder of its own, turned into 0.1.0's layout. */
  const layout1 = async (name: string, size: number) => {
    const data = join(dir(), name);
    const server = await startServer({ data, host: '127.0.0.1', port: 0, origin: 'o.example/log' });
    await new CairnClient({ baseUrl: server.url, verifierKey: server.verifierKey }).addBatch(Array.from({ length: size }, (_, i) => new TextEncoder().encode(`entry ${i}`)));
    await server.close();
    expect(await toLayout1(join(data, 'db'))).toBe(size);
    return data;
  };
  // Its last bundle partial: converted as it opens.
  const partial = await layout1('partial', 300);
  const first = await startLines(['--data', partial]);
  expect(first).toContain(
    `\naccess: writes open to anyone, reads open to anyone\nconverted the store in ${join(partial, 'db')} from Cairn 0.1.0's layout: its last, partial entry bundle (1) was rewritten in this version's layout, ` +
      'in which new rounds are written too, so 0.1.0 can no longer open this store (to go back to 0.1.0, use a copy of the data folder taken before this start)\nlistening on ',
  );
  expect(first).not.toMatch(/warning/);
  expect(await startLines(['--data', partial])).not.toMatch(/0\.1\.0/);
  // Its last bundle full: nothing is converted before entries are logged, and each start says so until then.
  const full = await layout1('full', 256);
  const notYet =
    `the store in ${join(full, 'db')} is in Cairn 0.1.0's layout: it is read as it is, and the first entries logged are written in this version's layout, ` +
    'after which 0.1.0 must not open it (to keep a copy 0.1.0 can open, stop now and copy the data folder first)\n';
  expect(await startLines(['--data', full])).toContain(`\n${notYet}listening on `);
  expect(await startLines(['--data', full])).toContain(`\n${notYet}listening on `);
  const server = await startServer({ data: full, host: '127.0.0.1', port: 0 });
  expect(server.startup.olderLayout).toEqual({ layout: 1 });
  await new CairnClient({ baseUrl: server.url, verifierKey: server.verifierKey }).addBatch([new TextEncoder().encode('entry 256')]);
  await server.close();
  expect(await startLines(['--data', full])).not.toMatch(/0\.1\.0/);
});

test('startupWarnings and startupNotices say nothing for an ordinary restart', () => {
  const facts = { dataFolder: '/srv/cairn', storeFolder: '/srv/cairn/db', keyFile: '/srv/cairn/log.key', madeStore: false, newLog: false, madeKey: false, placeholderOrigin: false };
  expect(startupWarnings(facts)).toEqual([]);
  expect(startupNotices(facts)).toEqual([]);
  expect(startupNotices({ ...facts, keyFile: '/etc/cairn/log.key' })).toEqual([]);
  // A new log with a key that existed already is a notice, not a warning: as --new-log asked, or after an interrupted first start.
  const asked = { ...facts, newLog: true, keyFile: '/etc/cairn/log.key', existingKeyNewLog: 'asked' as const };
  expect([startupNotices(asked), startupWarnings(asked)]).toEqual([[existingKey('/etc/cairn/log.key').slice(0, -1)], []]);
  const resumed = { ...facts, newLog: true, existingKeyNewLog: 'interrupted' as const };
  expect([startupNotices(resumed), startupWarnings(resumed)]).toEqual([[interrupted('/srv/cairn').slice(0, -1)], []]);
  // Nor is a key made by this start anything to tell.
  expect(startupNotices({ ...facts, madeStore: true, newLog: true, madeKey: true, keyFile: '/etc/cairn/log.key' })).toEqual([]);
  // A first start with a key made for a given origin neither.
  expect(startupWarnings({ ...facts, madeStore: true, newLog: true, madeKey: true })).toEqual([]);
  expect(startupWarnings({ ...facts, madeStore: true, newLog: true, madeKey: true, placeholderOrigin: true })).toEqual([placeholder('/srv/cairn').slice('warning: '.length, -1)]);
});

test("a data folder given as LINK/../NAME is where the kernel takes it, beside the link's target: the store and the key are made there and named by their real paths, a restart and audit read them there, and a lost key is refused there", async () => {
  const real = join(dir(), 'real');
  await mkdir(join(real, 'sub'), { recursive: true });
  await symlink(join(real, 'sub'), join(dir(), 'link'));
  // Built by hand: path.join would take the '..' back over the link's name, to <dir>/d.
  const data = `${dir()}/link/../d`;
  const folder = join(real, 'd');
  const first = await startLines(['--data', data]);
  expect(first).toMatch(new RegExp(`^made a new signing key in ${folder}/log\\.key\n`));
  expect(first).toContain(`data folder: ${folder}\nmade a new store in ${folder}/db\n`);
  expect((await readdir(folder)).sort()).toEqual(['db', 'log.key']);
  expect((await stat(join(folder, 'db'))).mode % 0o1000).toBe(0o700);
  expect((await stat(join(folder, 'log.key'))).mode % 0o1000).toBe(0o600);
  await expect(stat(join(dir(), 'd'))).rejects.toHaveProperty('code', 'ENOENT');
  const again = await startLines(['--data', data]);
  expect(again).toContain(`data folder: ${folder}\nkey file: ${folder}/log.key\nlog ${DEFAULT_ORIGIN} at tree size 0\n`);
  const audited = await runCli(['audit', '--data', data]);
  expect(audited).toMatchObject({ code: 0, stdout: expect.stringMatching(/^OK: /) });
  // The key gone, the store that holds a log is found there before it is opened.
  await rm(join(folder, 'log.key'));
  const lost = await runCli(['serve', '--port', '0', '--data', data]);
  expect(lost.code).toBe(1);
  expect(lost.stderr).toMatch(new RegExp(`^cairn serve: the store in ${folder}/db may hold a log \\(.*\\), and its key ${folder}/log\\.key is missing: the store was not opened`));
  await expect(stat(join(dir(), 'd'))).rejects.toHaveProperty('code', 'ENOENT');
});
