// Test doubles for the client: tiles served from an in-memory list of stored
// hashes (built by src/merkle, which has its own vector tests), with a hook
// to corrupt what is served.
import { storedHashIndex } from '../../src/merkle/stored.js';
import { formatTilePath, type Tile } from '../../src/merkle/tile.js';
import type { TileFetcher } from '../../src/client/tile-reader.js';

export const hexToBytes = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));
export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** The bottom row of hash tile `tile`, straight from the stored hashes: hash 256·n + i of tree level 8·level. */
export function tileData(stored: readonly Uint8Array[], tile: Tile): Uint8Array {
  const out = new Uint8Array(tile.width * 32);
  for (let i = 0; i < tile.width; i++) {
    const h = stored[storedHashIndex(tile.level * 8, tile.n * 256 + i)];
    if (h === undefined) throw new Error(`test fetcher: ${formatTilePath(tile)} is beyond the stored hashes`);
    out.set(h, i * 32);
  }
  return out;
}

export interface RecordingFetcher extends TileFetcher {
  /** Paths of the tiles read, in order. */
  readonly reads: string[];
  /** If set, may change the bytes served for a tile path. */
  corrupt?: (path: string, data: Uint8Array) => Uint8Array;
}

export function memoryTileFetcher(stored: readonly Uint8Array[]): RecordingFetcher {
  const fetcher: RecordingFetcher = {
    reads: [],
    readTile(tile: Tile): Promise<Uint8Array> {
      const path = formatTilePath(tile);
      fetcher.reads.push(path);
      const data = tileData(stored, tile);
      return Promise.resolve(fetcher.corrupt === undefined ? data : fetcher.corrupt(path, data));
    },
  };
  return fetcher;
}

/** A copy of `data` with bit `bit` of byte `byte` flipped. */
export function flip(data: Uint8Array, byte: number, bit = 0): Uint8Array {
  const out = data.slice();
  out[byte] = out[byte]! ^ (1 << bit);
  return out;
}
