/**
 * The online half of `cairn verify-receipt --url`: whether the log, as it is
 * now, still extends the trees that receipts proved an entry in (RFC 6962
 * §2.1.2). A receipt alone proves the entry was in a tree the log signed; a
 * log that later drops or rewrites it (a failover to a replica that lagged, a
 * restore from an old backup) signs trees that no longer extend that one, and
 * only comparing its latest checkpoint with the receipt's shows it.
 */
import type { CairnClient, SignedCheckpoint } from '../client/client.js';
import { ClientError } from '../client/errors.js';
import { TILES_PER_READER, type TileHashReader } from '../client/tile-reader.js';
import { encodeBase64 } from '../note/base64.js';
import type { Checkpoint } from '../note/checkpoint.js';

/** A tree a receipt proved the entry in: its verified checkpoint, its signed note, and which receipt (FILE or FILE:N) and leaf it came with. */
export interface ReceiptTree {
  readonly checkpoint: Checkpoint;
  readonly note: string;
  readonly where: string;
  readonly index: number;
}

/**
 * The distinct trees of the receipts that proved an entry, each kept once
 * (by size and root) with the first receipt that gave it: a JSON Lines file
 * of many receipts under one checkpoint costs one consistency check. All of
 * them are held until the log is asked (a signed checkpoint each): with
 * --url, the one thing held that grows with the file.
 */
export class ReceiptTrees {
  readonly #trees = new Map<string, ReceiptTree>();

  add(tree: ReceiptTree): void {
    const key = `${tree.checkpoint.treeSize} ${encodeBase64(tree.checkpoint.rootHash)}`;
    if (!this.#trees.has(key)) this.#trees.set(key, tree);
  }

  /** The trees, smallest first. */
  list(): ReceiptTree[] {
    return [...this.#trees.values()].sort((a, b) => a.checkpoint.treeSize - b.checkpoint.treeSize);
  }
}

/**
 * Tile readers against one tree (the log's latest), shared by the checks of
 * all the receipt trees against it, so that each tile is read once however
 * many trees need it: a receipts file of thousands of distinct trees costs
 * the tiles of their proofs, each once, not each tree's own reading of the
 * same ones. A new reader takes over once the last keeps `limit` tiles,
 * letting go of those it kept, so that what is kept does not grow with the
 * trees.
 */
class SharedTiles {
  #reader: TileHashReader | undefined;

  constructor(
    private readonly client: CairnClient,
    private readonly tree: Checkpoint,
    private readonly limit: number,
  ) {}

  reader(): TileHashReader {
    if (this.#reader === undefined || this.#reader.cachedTiles >= this.limit) this.#reader = this.client.tileReader(this.tree);
    return this.#reader;
  }
}

/** How a tree was shown to be extended: a proof from authenticated tiles, the log's proof, or none needed (the same tree). */
export type ProofSource = 'tiles' | 'log' | 'same';

/** The outcome of {@link checkReceiptTrees}. */
export type TreesCheck =
  | { readonly consistent: true; readonly latest: SignedCheckpoint; readonly sources: readonly ProofSource[] }
  /** `latest` is undefined when the log's own checkpoint did not verify; `shownBy` says what shows the failure (see ShownBy). */
  | { readonly consistent: false; readonly reason: string; readonly tree: ReceiptTree; readonly latest: SignedCheckpoint | undefined; readonly shownBy: ShownBy };

/**
 * What shows that the log does not extend a receipt's tree: the two signed
 * checkpoints by themselves (two roots at one size); tiles authenticated
 * against the log's latest checkpoint or, when that is smaller, against the
 * receipt's (which anyone can fetch again and check; the two checkpoints
 * alone show nothing); or the log's checkpoint not verifying.
 */
export type ShownBy = 'checkpoints' | 'log tiles' | 'receipt tiles' | 'signature';

/**
 * Checks that `newer` extends `older` as `cairn monitor` does: from tiles
 * authenticated against `newer` first (a proof that fails there shows the
 * fork), and from the log's consistency endpoint only when the tiles could
 * not be read. Resolves to how it was shown, or to the ClientError that is
 * evidence against the log: shown by the tiles, or by the two signed
 * checkpoints themselves (another root at one size). Throws an operational
 * error when neither way showed it either way: the tiles could not be read,
 * and the log's proof could not be had or did not verify (a proof is not
 * signed: a cache that ignores the query answers another pair's, as
 * 'cairn add' takes it).
 */
async function extendsTree(client: CairnClient, older: Checkpoint, newer: Checkpoint, tiles: SharedTiles): Promise<ProofSource | ClientError> {
  let tilesFailure: ClientError;
  try {
    await client.verifyConsistency(older, newer, { fromTiles: true, reader: tiles.reader() });
    return older.treeSize === newer.treeSize ? 'same' : 'tiles';
  } catch (err) {
    if (!(err instanceof ClientError)) throw err;
    if (err.isVerificationFailure) return err;
    tilesFailure = err;
  }
  try {
    await client.verifyConsistency(older, newer);
    return 'log';
  } catch (err) {
    if (!(err instanceof ClientError)) throw err;
    const proof = err.isVerificationFailure
      ? `and its consistency proof, which is not signed, does not verify (${err.message}): that shows no fork by itself`
      : `nor its consistency proof (${err.message})`;
    throw new Error(
      `could not check that the log's latest tree, of size ${newer.treeSize}, extends the receipt's tree of size ${older.treeSize}: ` +
        `its tiles could not be read (${tilesFailure.message}), ${proof}`,
      { cause: err },
    );
  }
}

/**
 * What to do when the log's latest tree is smaller than receipt trees
 * (`ahead`, smallest first), though fetched again past caches: whether each
 * of them extends it, from tiles authenticated against the receipt's own
 * checkpoint (the log signed both). One that does not, or tiles that do not
 * match the receipt's checkpoint, is a fork: resolves to it. When every one
 * extends it, or some could not be read, it is no verdict: the log's
 * checkpoint is an old one (a cache that ignores no-cache) or a rollback,
 * which only a later tree past the receipts' can tell apart; throws that
 * operational error. Never resolves to a pass.
 */
async function behindReceipts(client: CairnClient, latest: SignedCheckpoint, ahead: readonly ReceiptTree[]): Promise<TreesCheck & { consistent: false }> {
  let unread: { tree: ReceiptTree; err: ClientError } | undefined;
  for (const tree of ahead) {
    try {
      await client.verifyConsistency(latest.checkpoint, tree.checkpoint, { fromTiles: true });
    } catch (err) {
      if (!(err instanceof ClientError)) throw err;
      if (!err.isVerificationFailure) {
        unread ??= { tree, err };
        continue;
      }
      const size = latest.checkpoint.treeSize;
      const reason =
        err.code === 'INCONSISTENT'
          ? `the log no longer extends the receipt's tree (a fork: what the receipt proves may be gone from the log): its latest checkpoint, of tree size ${size}, is smaller, and tiles authenticated against the receipt's checkpoint show that it is not the start of the receipt's tree: ${err.message}`
          : `the log's tiles contradict the receipt's checkpoint, which it signed (${err.code}), and its latest checkpoint, of tree size ${size}, is smaller than the receipt's tree: ${err.message}`;
      return { consistent: false, reason, tree, latest, shownBy: 'receipt tiles' };
    }
  }
  const { checkpoint } = latest;
  const last = ahead[ahead.length - 1]!;
  const trees = ahead.length === 1 ? `the receipt's tree of size ${last.checkpoint.treeSize} (${last.where})` : `the trees of ${ahead.length} receipts, up to size ${last.checkpoint.treeSize} (${last.where})`;
  const why =
    unread === undefined
      ? `tiles authenticated against the receipt's checkpoint show that the receipt's tree extends it, so it is an old checkpoint (kept by a cache that ignores no-cache), or the log rolled back to it`
      : `whether the receipt's tree of size ${unread.tree.checkpoint.treeSize} extends it could not be checked, as the tiles of that tree could not be read (${unread.err.message}): it is an old checkpoint (kept by a cache that ignores no-cache), or the log rolled back to it`;
  throw new Error(
    `the log's latest checkpoint, of tree size ${checkpoint.treeSize} (root ${encodeBase64(checkpoint.rootHash)}), is behind ${trees}, though asked for twice, the second time past the caches that honour no-cache; ` +
      `${why} (a failover to a replica that lagged, a restore from an old backup). Ask again later: a log whose tree has grown past the receipt's without it shows a fork (exit 1)`,
    { cause: unread?.err },
  );
}

/**
 * Fetches the log's latest checkpoint (verified with the client's key, so of
 * the receipts' origin) and checks that its tree extends every one of
 * `trees` (RFC 6962 §2.1.2): another root at the same size, or a
 * consistency proof from tiles authenticated against it that fails, is
 * evidence that the log no longer holds what the receipts proved (the first
 * such tree is told, with why). So is a latest checkpoint that does not
 * verify, or tiles that do not match it. A latest tree smaller than a
 * receipt's is fetched again past caches (a CDN's old copy); still smaller,
 * see behindReceipts. Throws, as an operational error, when the log could
 * not be asked. The tiles are read once for all the trees, at most
 * `tilesPerReader` of them (default TILES_PER_READER) kept at a time (see
 * SharedTiles).
 */
export async function checkReceiptTrees(client: CairnClient, trees: readonly ReceiptTree[], options: { tilesPerReader?: number } = {}): Promise<TreesCheck> {
  if (trees.length === 0) throw new Error('checkReceiptTrees: no trees to check');
  const sorted = [...trees].sort((a, b) => a.checkpoint.treeSize - b.checkpoint.treeSize);
  const fetchLatest = async (cache?: 'reload'): Promise<SignedCheckpoint | (TreesCheck & { consistent: false })> => {
    try {
      return await client.getCheckpoint(cache === undefined ? {} : { cache });
    } catch (err) {
      if (!(err instanceof ClientError) || !err.isVerificationFailure) throw err;
      return { consistent: false, reason: `the log's latest checkpoint does not verify: ${err.message}`, tree: sorted[0]!, latest: undefined, shownBy: 'signature' };
    }
  };
  let latest = await fetchLatest();
  if ('consistent' in latest) return latest;
  // An honest log signs no smaller tree after a larger one: a smaller one may be a cache's old copy.
  if (latest.checkpoint.treeSize < sorted[sorted.length - 1]!.checkpoint.treeSize) {
    latest = await fetchLatest('reload');
    if ('consistent' in latest) return latest;
  }
  const sources: ProofSource[] = [];
  const tiles = new SharedTiles(client, latest.checkpoint, options.tilesPerReader ?? TILES_PER_READER);
  const ahead: ReceiptTree[] = [];
  for (const tree of sorted) {
    if (tree.checkpoint.treeSize > latest.checkpoint.treeSize) {
      ahead.push(tree);
      continue;
    }
    const shown = await extendsTree(client, tree.checkpoint, latest.checkpoint, tiles);
    if (typeof shown === 'string') {
      sources.push(shown);
      continue;
    }
    const reason =
      shown.code === 'INCONSISTENT'
        ? `the log no longer extends the receipt's tree (a fork or a rollback: what the receipt proves may be gone from the log): ${shown.message}`
        : `the log's answers contradict its latest checkpoint (${shown.code}), so it does not show that it extends the receipt's tree: ${shown.message}`;
    // Only two roots at one size are shown by the two signed checkpoints alone.
    const shownBy = tree.checkpoint.treeSize === latest.checkpoint.treeSize ? 'checkpoints' : 'log tiles';
    return { consistent: false, reason, tree, latest, shownBy };
  }
  if (ahead.length > 0) return behindReceipts(client, latest, ahead);
  return { consistent: true, latest, sources };
}
