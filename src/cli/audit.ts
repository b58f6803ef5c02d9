import { realpath, stat } from 'node:fs/promises';
import { parseEntryBundle } from '../merkle/bundle.js';
import { bytesEqual } from '../merkle/check.js';
import { leafHash } from '../merkle/hash.js';
import { CompactRange } from '../merkle/range.js';
import { formatTilePath, TILE_WIDTH, tileWidth } from '../merkle/tile.js';
import { encodeBase64 } from '../note/base64.js';
import { openCheckpoint } from '../note/checkpoint.js';
import { formatKeyHash, type Verifier } from '../note/keys.js';
import { NoteError, openNote, type NoteSignature } from '../note/note.js';
import { verifyTreeHead } from '../note/sth.js';
import { HashTile, locateHash } from '../storage/hash-tile.js';
import { StoreFilesError } from '../storage/leveldb-folder.js';
import { LevelStore } from '../storage/level-store.js';
import { StoreCorruptError, StoreLayoutError, StoreLockedError, type LogState } from '../storage/store.js';
import { envValue, parseCommandArgs, UsageError } from './args.js';
import { EXIT_ERROR, EXIT_OK, jsonLine, oneLine, processIo, Progress, resolveVerifier, runClientCommand, writeFailureReport, writeJsonOut, writeOut, type CliIo } from './client-common.js';
import { causedByOsError, foreignStoreFilesProblem, noSpaceLeft, withSpaceAdvice } from './data-folder.js';
import { chownAdvice, chownUser, joinAsGiven, otherUserThanOwner, ownerName } from '../file-trust.js';
import { readKeyFile } from './key-file.js';
import { optionWords, osReason, shellWord } from './os-error.js';
import { showNonPrinting } from './visible-text.js';

/** The help text of `cairn audit`: what it does, its options and its exit statuses. */
export const AUDIT_USAGE = `usage: cairn audit --data DIR [--vkey KEY | --key FILE] [options]

The operator's integrity check of a Cairn store (DIR is the server's data
folder; the store is DIR/db). Run it with the server stopped, or on a copy
of the folder taken while the server was stopped, as the user the server
runs as (root is refused a store of another user's: the files LevelDB
writes would be root's, and the server could not open the store). The
folder must be writable: LevelDB takes a lock in it and replays its
write-ahead log into it as it opens (a read-only snapshot does not open:
audit a copy of it). Nothing else is written: a store in Cairn 0.1.0's
layout is read as it is, not converted (serve converts it).
Before LevelDB opens anything, a store that lost its CURRENT file or the
write-ahead log its MANIFEST names, or whose write-ahead log is damaged
before later writes, is reported as a mismatch and left unchanged; so is a
store that holds entries or tiles but no state. Then it recomputes every leaf hash from the stored
entries and every stored node hash from them, compares each with what the
store holds (hash tiles, the leaf-hash index, the right edge), rebuilds the
root and compares it with the latest signed checkpoint and signed tree head,
whose signatures it verifies. It stops at the first mismatch and names the
entry index or tile.

Options:
  --data DIR         the server's data folder (CAIRN_DATA)
  --vkey KEY|FILE    the log's verifier key, or a file holding it (CAIRN_VKEY)
  --key FILE         or: the log's private key file (default DIR/log.key)
  --json             print the result as one JSON object
  --quiet            no progress bar (on a terminal), no progress lines
                     (elsewhere: one a minute)
  -h, --help         show this help

The key that checks the signatures is the first of: --vkey, --key,
CAIRN_VKEY, DIR/log.key (so an exported CAIRN_VKEY wins over DIR/log.key;
give --key DIR/log.key to use the store's own). A key for another log is
told apart from a damaged store: a key whose name is not the checkpoint's
origin, or of that name but not among the checkpoint's signers, is an error
(exit 2) that names both, unless the stored signed tree head verifies with
it (then the key is the log's, and the checkpoint is reported, exit 1).

Exit status:
  0  the store is intact and matches its signed checkpoint
  1  a mismatch or damaged store files (the first one is reported)
  2  usage or operational error (no store there, a data folder this user may
     not enter, another user's store audited as root, the store in use, no
     key or a key that is not the log's, a folder that cannot be written, a
     store written by a newer Cairn, output that cannot be written)
`;

/** The first thing found wrong, and where. */
interface Finding {
  readonly kind: 'store' | 'checkpoint' | 'sth' | 'entry' | 'bundle' | 'hash' | 'tile' | 'leaf-index' | 'root' | 'right-edge' | 'state';
  readonly message: string;
  readonly index?: number;
  readonly tile?: string;
}

class Mismatch extends Error {
  constructor(readonly finding: Finding) {
    super(finding.message);
  }
}

/** The key the audit checks signatures with, and where it came from (for messages). */
interface AuditKey {
  readonly verifier: Verifier;
  /** `--vkey`, `CAIRN_VKEY`, `--key FILE` or `FILE` (DIR/log.key). */
  readonly source: string;
  /** The option that gives this key to another run (--vkey and the verifier key's text, or --key FILE); none for DIR/log.key. */
  readonly option?: readonly [string, string];
}

/** The key: --vkey, else --key, else $CAIRN_VKEY, else DIR/log.key (AUDIT_USAGE says so). */
async function findVerifier(values: { vkey?: string; key?: string }, data: string, io: CliIo): Promise<AuditKey> {
  if (values.vkey !== undefined || (values.key === undefined && envValue(io.env, 'CAIRN_VKEY') !== undefined)) {
    const { verifier, key } = await resolveVerifier(values.vkey, io.env);
    return { verifier, source: values.vkey !== undefined ? '--vkey' : 'CAIRN_VKEY', option: ['--vkey', key] };
  }
  const keyPath = values.key ?? joinAsGiven(data, 'log.key');
  let key;
  try {
    key = await readKeyFile(keyPath);
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
    throw new UsageError(`no key to check the signatures with (${keyPath}: ${why}); give --vkey or --key`);
  }
  return {
    verifier: (await resolveVerifier(key.verifierKey, {})).verifier,
    source: values.key !== undefined ? `--key ${keyPath}` : keyPath,
    ...(values.key === undefined ? {} : { option: ['--key', values.key] as const }),
  };
}

/**
 * Why `key` is not the log's key at all, or undefined when it may be: for a
 * stored checkpoint `note` that carries no signature by it. A key named
 * after another origin is for another log; a key of the checkpoint's origin
 * whose key ID is not among the checkpoint's signatures by that name is
 * another key of that name (two logs made with the default origin, say).
 * Either is the wrong key given, not a damaged store, unless the stored
 * signed tree head `sth` (whose signature names no key) verifies with it:
 * then the key is the log's, and the checkpoint is damaged or was signed by
 * another key. A checkpoint with no signature by its origin's name at all is
 * damage too (undefined here).
 */
function wrongKeyProblem(note: string, sth: unknown, key: AuditKey, data: string): string | undefined {
  const { verifier, source } = key;
  if (verifyTreeHead(sth, verifier) !== null) return undefined;
  const seen: NoteSignature[] = [];
  try {
    openNote(note, (name, keyHash) => {
      seen.push({ name, keyHash, base64: '' });
      return undefined;
    });
  } catch (err) {
    if (!(err instanceof NoteError) || err.code !== 'UNVERIFIED') return undefined;
  }
  const origin = note.slice(0, note.indexOf('\n'));
  const id = (keyHash: number) => formatKeyHash(keyHash);
  const keyText = `the key from ${source} (${verifier.name}, key ID ${id(verifier.keyHash)})`;
  if (origin !== verifier.name) {
    if (!seen.some((sig) => sig.name === origin)) return undefined;
    return `${keyText} is for the log ${JSON.stringify(verifier.name)}, but the store in ${data} holds the log ${JSON.stringify(origin)} (its checkpoint's origin): give that log's key (--vkey or --key)`;
  }
  const byOrigin = seen.filter((sig) => sig.name === origin);
  if (byOrigin.length === 0) return undefined;
  return (
    `the stored checkpoint is not signed by ${keyText}; the checkpoint's signatures by ${origin}: ${byOrigin.map((sig) => `key ID ${id(sig.keyHash)}`).join(', ')}. ` +
    `Nor does the stored signed tree head verify with it: another key of that name; give the key of the log in ${data}`
  );
}

interface AuditResult {
  readonly treeSize: number;
  /** Stored hashes recomputed and compared (leaf hashes included). */
  readonly hashes: number;
}

/** The audit proper: throws Mismatch at the first thing wrong, an Error (exit 2) for a key that is not the log's. */
async function audit(store: LevelStore, state: LogState, key: AuditKey, data: string, progress: Progress): Promise<AuditResult> {
  const { verifier } = key;
  const size = state.treeSize;
  // 1. The signed heads: valid signatures, the same tree as the state.
  let cp;
  try {
    cp = openCheckpoint(state.checkpoint, verifier).checkpoint;
  } catch (err) {
    const wrongKey = err instanceof NoteError && err.code === 'UNVERIFIED' ? wrongKeyProblem(state.checkpoint, state.sth, key, data) : undefined;
    if (wrongKey !== undefined) throw new Error(wrongKey);
    throw new Mismatch({ kind: 'checkpoint', message: `the stored checkpoint does not verify with ${verifier.name}: ${(err as Error).message}` });
  }
  if (cp.treeSize !== size || !bytesEqual(cp.rootHash, state.rootHash)) {
    throw new Mismatch({ kind: 'checkpoint', message: `the signed checkpoint is for size ${cp.treeSize} root ${encodeBase64(cp.rootHash)}, the stored state for size ${size} root ${encodeBase64(state.rootHash)}` });
  }
  const head = verifyTreeHead(state.sth, verifier);
  if (head === null) throw new Mismatch({ kind: 'sth', message: `the stored signed tree head does not verify with ${verifier.name}` });
  if (head.treeSize !== size || !bytesEqual(head.rootHash, state.rootHash) || head.timestamp !== state.timestamp) {
    throw new Mismatch({ kind: 'sth', message: `the signed tree head (size ${head.treeSize}, timestamp ${head.timestamp}) differs from the stored state (size ${size}, timestamp ${state.timestamp})` });
  }

  // 2. Every entry and every stored hash, recomputed from the entries.
  const levels: number[] = [];
  for (let level = 0; Math.floor(size / TILE_WIDTH ** level) > 0; level++) levels.push(level);
  const current = new Map<number, { n: number; tile: HashTile; path: string }>();
  const loadTiles = async (bundle: number) => {
    const wanted = levels.map((level) => ({ level, n: Math.floor(bundle / TILE_WIDTH ** level) })).filter((k) => current.get(k.level)?.n !== k.n && tileWidth(k.level, k.n, size) > 0);
    if (wanted.length === 0) return;
    let tiles: (HashTile | undefined)[];
    try {
      tiles = await store.readTiles(wanted);
    } catch {
      // A stored tile that does not decode: find which, one read each.
      tiles = [];
      for (const k of wanted) {
        try {
          tiles.push(...(await store.readTiles([k])));
        } catch (err) {
          const path = formatTilePath({ ...k, width: tileWidth(k.level, k.n, size) });
          throw new Mismatch({ kind: 'tile', tile: path, message: `${path}: the stored tile does not decode: ${(err as Error).message}` });
        }
      }
    }
    wanted.forEach((k, i) => {
      const width = tileWidth(k.level, k.n, size);
      const path = formatTilePath({ ...k, width });
      const tile = tiles[i];
      if (tile === undefined) throw new Mismatch({ kind: 'tile', tile: path, message: `the store has no ${path}` });
      if (tile.width !== width) throw new Mismatch({ kind: 'tile', tile: path, message: `${path}: the stored tile holds ${tile.width} hashes, the tree of size ${size} ${width}` });
      current.set(k.level, { n: k.n, tile, path });
    });
  };

  const range = CompactRange.empty();
  let hashes = 0;
  const bundles = Math.ceil(size / TILE_WIDTH);
  for (let n = 0; n < bundles; n++) {
    const width = tileWidth(0, n, size);
    const path = formatTilePath({ level: -1, n, width });
    let entries: Uint8Array[];
    try {
      entries = parseEntryBundle(await store.readBundle(n), width);
    } catch (err) {
      throw new Mismatch({ kind: 'bundle', index: n * TILE_WIDTH, tile: path, message: `${path}: ${(err as Error).message}` });
    }
    await loadTiles(n);
    const leaves = entries.map((e) => leafHash(e));
    for (let i = 0; i < leaves.length; i++) {
      const index = n * TILE_WIDTH + i;
      try {
        range.append(leaves[i]!, (level, at, hash) => {
          hashes++;
          const where = locateHash(level, at);
          const held = current.get(where.tileLevel);
          if (held === undefined || held.n !== where.n) throw new Error(`cli: bad math in audit: no tile loaded for level ${level} hash ${at}`);
          const stored = held.tile.hash(where.row, where.pos);
          if (stored === undefined || !bytesEqual(stored, hash)) {
            throw new Mismatch({
              kind: level === 0 ? 'entry' : 'hash',
              index: level === 0 ? index : at,
              tile: held.path,
              message:
                level === 0
                  ? `entry ${index}: its leaf hash ${encodeBase64(hash)} differs from the stored one in ${held.path} (${stored === undefined ? 'missing' : encodeBase64(stored)})`
                  : `stored hash ${at} of tree level ${level} (in ${held.path}, row ${where.row}, position ${where.pos}) differs from the one recomputed from the entries`,
            });
          }
        });
      } catch (err) {
        if (!(err instanceof Mismatch) || err.finding.kind !== 'entry') throw err;
        // Which side is wrong? The leaf-hash index knows which leaf hash belongs to this index.
        const stored = current.get(0)!.tile.hash(0, i);
        const [byEntry, byStored] = await store.findLeafHashes(stored === undefined ? [leaves[i]!] : [leaves[i]!, stored]);
        const blame = byEntry === index ? 'the stored hash is corrupt (the leaf-hash index agrees with the entry)' : byStored === index ? 'the stored entry is corrupt (the leaf-hash index agrees with the stored hash)' : 'neither agrees with the leaf-hash index';
        throw new Mismatch({ ...err.finding, kind: byEntry === index ? 'hash' : 'entry', message: `${err.finding.message}: ${blame}` });
      }
    }
    // The leaf-hash index (deduplication, get-proof-by-hash) must map every leaf hash to its index.
    const found = await store.findLeafHashes(leaves);
    const wrong = found.findIndex((x, i) => x !== n * TILE_WIDTH + i);
    if (wrong >= 0) {
      const index = n * TILE_WIDTH + wrong;
      throw new Mismatch({ kind: 'leaf-index', index, message: `the leaf-hash index maps entry ${index}'s leaf hash to ${found[wrong] ?? 'nothing'}` });
    }
    progress.update(Math.min((n + 1) * TILE_WIDTH, size));
  }

  // 3. The root and right edge, against the signed checkpoint.
  if (!bytesEqual(range.root(), cp.rootHash)) {
    throw new Mismatch({ kind: 'root', message: `the root rebuilt from the entries, ${encodeBase64(range.root())}, is not the signed root ${encodeBase64(cp.rootHash)}` });
  }
  const edge = range.hashes;
  if (edge.length !== state.rightEdge.length || edge.some((h, i) => !bytesEqual(h, state.rightEdge[i]!))) {
    throw new Mismatch({ kind: 'right-edge', message: 'the stored right edge (where the next append starts) differs from the one rebuilt from the entries' });
  }
  // 4. Nothing past the tree: no entries or tiles a checkpoint never covered.
  const extra = await store.readBundle(Math.floor(size / TILE_WIDTH) + (size % TILE_WIDTH === 0 ? 0 : 1));
  if (extra.length > 0) throw new Mismatch({ kind: 'bundle', index: size, message: `the store holds entries past the signed tree size ${size}` });
  for (const level of [...levels, levels.length]) {
    const n = Math.ceil(Math.floor(size / TILE_WIDTH ** level) / TILE_WIDTH);
    const [t] = await store.readTiles([{ level, n }]);
    if (t !== undefined) throw new Mismatch({ kind: 'tile', tile: formatTilePath({ level, n, width: t.width }), message: `the store holds tile ${level}/${n} past the signed tree size ${size}` });
  }
  progress.finish(size);
  return { treeSize: size, hashes };
}

/**
 * Why this user cannot look into the data folder `data` (`err`, EACCES or
 * EPERM: a server's folder that root, or the user serve runs as, keeps
 * 0700), and what to run: audit as its owner, or, when the server is to run
 * as this user, the chown serve itself advises (see chownAdvice).
 */
async function dataFolderClosed(data: string, err: unknown): Promise<string> {
  const shown = showNonPrinting(data);
  const owner = await stat(data).then(
    (info) => info.uid,
    () => undefined,
  );
  const user = owner === undefined ? undefined : otherUserThanOwner(owner);
  if (owner === undefined || user === undefined) {
    return `permission denied: this user may not look into the data folder ${shown} or a folder above it (${osReason(err)}); run cairn audit as the user the server runs as`;
  }
  return (
    `permission denied: this user (${user}) may not look into the data folder ${shown} (${osReason(err)}); it belongs to ${ownerName(owner)}: ` +
    `run cairn audit as ${owner === 0 ? 'root' : 'that user'}, or, if the server is to run as ${user}, ${chownAdvice(data, user, { recursive: true })}`
  );
}

/**
 * Why root may not audit the store's folder `db` of data folder `data`, or
 * undefined: when this process is root and the folder belongs to another
 * user (the user a server runs as). LevelDB makes files as it opens a store
 * (its lock, info log, a new write-ahead log and MANIFEST, tables), mode 600
 * under a umask of 077: root's, they would keep that user's server from
 * opening the store. The message names the user and what to run, with the
 * key the audit was given (`keyOption`: its option and value), if any: the
 * data folder's own log.key may not be there (a key kept in /etc/cairn).
 * A verifier key is given as its text, as resolveVerifier read it (never a
 * private key: that is refused first), not as a file the user may not read.
 */
export function rootOnOthersStore(data: string, db: string, owner: number, keyOption?: readonly [string, string]): string | undefined {
  if (typeof process.geteuid !== 'function' || process.geteuid() !== 0 || owner === 0) return undefined;
  const user = chownUser(owner);
  // sudo takes a user unknown to the system as #uid.
  const sudoUser = user === String(owner) ? `#${owner}` : user;
  return (
    `the store's folder ${showNonPrinting(db)} belongs to ${ownerName(owner)}, and this is root: the files LevelDB makes as audit opens the store ` +
    `(its lock, logs and MANIFEST) would be root's, and the server, running as that user, could not open the store any more. ` +
    `Run it as that user: sudo -u ${shellWord(sudoUser)} cairn audit ${optionWords('--data', data)}` +
    (keyOption === undefined ? '' : ` ${optionWords(...keyOption)}`)
  );
}

/**
 * What to say when the store in `db` (data folder `data`) could not be
 * opened for a reason of the system's (`err`), as serve says it where it
 * applies: a full disk (free space), LevelDB files this user may not read
 * and write (root's, left by a start or an audit as root: chown), a
 * read-only file system (audit a writable copy). Else the error as it is.
 */
export async function storeOpenProblem(err: unknown, data: string, db: string): Promise<string> {
  const message = err instanceof Error ? err.message : String(err);
  const shown = showNonPrinting(data);
  if (noSpaceLeft(err)) return withSpaceAdvice(message, err, data, 'run cairn audit again');
  const foreign = await foreignStoreFilesProblem(db, err);
  if (foreign !== undefined) return foreign.message;
  // LevelDB's lock and log replay write to the folder.
  if (causedByOsError(err, 'EROFS', 'Read-only file system')) return `${message} (audit opens the store read-write: give it a writable copy of ${shown})`;
  return message;
}

/** `cairn audit`: see AUDIT_USAGE. */
export async function auditCommand(argv: string[], io: CliIo = processIo()): Promise<number> {
  return runClientCommand('audit', AUDIT_USAGE, io, async () => {
    const { values } = parseCommandArgs(argv, { data: { type: 'string' }, vkey: { type: 'string' }, key: { type: 'string' }, json: { type: 'boolean' }, quiet: { type: 'boolean' } });
    if (values.help === true) {
      await writeOut(io.stdout, AUDIT_USAGE);
      return EXIT_OK;
    }
    const data = values.data ?? envValue(io.env, 'CAIRN_DATA');
    if (data === undefined) throw new UsageError('--data DIR is required');
    if (values.vkey !== undefined && values.key !== undefined) throw new UsageError('give --vkey or --key, not both');
    // As serve takes it: a '..' after a symbolic link goes up from the link's target (path.join would drop it with the link's name).
    const dbPath = joinAsGiven(data, 'db');
    // The data folder as messages name it: one line, every non-printing character escaped (as serve and the store's own refusals show paths).
    const shown = showNonPrinting(data);
    let folder: { isDirectory(): boolean; uid: number } | undefined;
    try {
      folder = await stat(dbPath);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EACCES' || code === 'EPERM') throw new Error(await dataFolderClosed(data, err), { cause: err });
    }
    if (folder?.isDirectory() !== true) throw new UsageError(`there is no Cairn store in ${shown} (no folder ${showNonPrinting(dbPath)})`);
    // The key is read first: the command the root check suggests names it (sudo passes on no CAIRN_VKEY).
    const key = await findVerifier(values, data, io);
    const asRoot = rootOnOthersStore(data, dbPath, folder.uid, key.option);
    if (asRoot !== undefined) throw new Error(asRoot);
    // The store's folder as the kernel found it: the store's own looks join names to it with path.join, which a '..' in the path given would mislead.
    const storePath = await realpath(dbPath).catch(() => dbPath);
    const verifier = key.verifier;
    // The data folder (shown escaped) and what the store's damage says (which
    // names its files, escaped the same way by the store): every line printed
    // here is one line, and oneLine escapes whatever else a terminal would act
    // on, as runClientCommand does for errors, so that a folder named with a
    // line break cannot print an 'OK: ' line of its own.
    const report = (finding: Finding): Promise<number> => {
      const line = oneLine(`MISMATCH in ${shown} (${finding.kind}${finding.index === undefined ? '' : ` at index ${finding.index}`}${finding.tile === undefined ? '' : `, ${finding.tile}`}): ${finding.message}`);
      return writeFailureReport(io, 'audit', values.json === true ? jsonLine({ ok: false, data, origin: verifier.name, first_bad: finding }) : `${line}\n`, line);
    };
    let store: LevelStore;
    try {
      // An empty folder would be made a new store: there is nothing to audit.
      if (!(await LevelStore.exists(storePath))) throw new UsageError(`there is no Cairn store in ${shown} (${showNonPrinting(dbPath)} holds no database)`);
      // keepLayout: a store in 0.1.0's layout is read as it is, not converted (0.1.0 could not open it again).
      store = await LevelStore.open(storePath, { keepLayout: true });
    } catch (err) {
      if (err instanceof StoreLockedError) {
        io.stderr.write(`cairn audit: the data folder ${shown} is in use by another Cairn process (a server running on it holds its store's lock); stop it first, or audit a copy of ${shown} taken while the server was stopped\n`);
        return EXIT_ERROR;
      }
      if (err instanceof StoreLayoutError) {
        io.stderr.write(`cairn audit: ${oneLine(err.message)}\n`);
        return EXIT_ERROR;
      }
      // Damaged LevelDB files (CURRENT, MANIFEST, write-ahead log, tables): the store was not opened.
      if (err instanceof StoreFilesError) return report({ kind: 'store', message: err.message });
      // The store opens by decoding its latest state record (JSON), which only an empty store may lack.
      if (err instanceof StoreCorruptError) return report({ kind: 'state', message: err.message });
      if (err instanceof UsageError) throw err;
      throw new Error(await storeOpenProblem(err, data, storePath), { cause: err });
    }
    let result: AuditResult | undefined;
    let finding: Finding | undefined;
    try {
      const state = await store.readState();
      if (state === undefined) throw new UsageError(`the store in ${shown} holds no log yet`);
      const progress = new Progress(io.stderr, state.treeSize, 'entries audited', values.quiet !== true && values.json !== true, 'cairn audit');
      try {
        result = await audit(store, state, key, shown, progress);
      } catch (err) {
        if (!(err instanceof Mismatch)) throw err;
        progress.finish(0);
        finding = err.finding;
      }
    } finally {
      await store.close();
    }
    if (finding !== undefined) return report(finding);
    const r = result!;
    if (values.json === true) await writeJsonOut(io.stdout, { ok: true, data, origin: verifier.name, tree_size: r.treeSize, hashes_checked: r.hashes });
    else await writeOut(io.stdout, `${oneLine(`OK: ${shown} holds ${r.treeSize} entries of ${verifier.name}; all ${r.hashes} stored hashes recomputed from them; the root matches the signed checkpoint and tree head`)}\n`);
    return EXIT_OK;
  });
}
