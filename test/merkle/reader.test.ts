import {
  type HashReader,
  buildStoredHashes,
  buildStoredHashesFromLeafHashes,
  memoryHashReader,
  storedHashCount,
  storedHashes,
  storedHashesForRecordHash,
  treeHash,
} from '../../src/merkle/index.js';
import { type TreeVectors, hex, loadJson, refLeafHash, unhex, utf8 } from './helpers.js';

const v = loadJson<TreeVectors>('rfc6962-1100.json');
const entries = v.leaves_hex.map(unhex);

describe('stored hashes', () => {
  test('storedHashes appended one entry at a time (Go style) equals buildStoredHashes', async () => {
    const built = buildStoredHashes(entries.slice(0, 300));
    const growing: Uint8Array[] = [];
    const inner = memoryHashReader(growing); // reads the array live
    let calls = 0;
    const reader: HashReader = {
      readHashes(indexes) {
        calls++;
        // Only hashes of the tree so far may be asked for.
        for (const i of indexes) expect(i).toBeLessThan(growing.length);
        return inner.readHashes(indexes);
      },
    };
    for (let n = 0; n < 300; n++) {
      calls = 0;
      const add = await storedHashes(n, entries[n]!, reader);
      expect(calls).toBe(n % 2 === 1 ? 1 : 0);
      expect(add).toHaveLength(storedHashCount(n + 1) - storedHashCount(n));
      growing.push(...add);
      expect(hex(await treeHash(n + 1, memoryHashReader(growing)))).toBe(v.roots[String(n + 1)]);
    }
    expect(growing.map(hex)).toEqual(built.map(hex));
    expect(built).toHaveLength(storedHashCount(300));
  });

  test('storedHashesForRecordHash starts with the leaf hash', async () => {
    const leaf = refLeafHash(utf8('x'));
    const out = await storedHashesForRecordHash(0, leaf, memoryHashReader([]));
    expect(out.map(hex)).toEqual([hex(leaf)]);
    expect(out[0]).not.toBe(leaf);
  });

  test('buildStoredHashes and buildStoredHashesFromLeafHashes agree, and reject bad input', () => {
    const a = buildStoredHashes(entries.slice(0, 50));
    const b = buildStoredHashesFromLeafHashes(entries.slice(0, 50).map(refLeafHash));
    expect(a.map(hex)).toEqual(b.map(hex));
    expect(buildStoredHashes([])).toEqual([]);
    expect(() => buildStoredHashes('x' as unknown as Uint8Array[])).toThrow(TypeError);
    expect(() => buildStoredHashes(['x' as unknown as Uint8Array])).toThrow(TypeError);
    expect(() => buildStoredHashesFromLeafHashes([new Uint8Array(31)])).toThrow(RangeError);
  });

  test('argument errors', async () => {
    const leaf = refLeafHash(utf8('x'));
    const r = memoryHashReader([]);
    await expect(storedHashesForRecordHash(-1, leaf, r)).rejects.toThrow(RangeError);
    await expect(storedHashesForRecordHash(0, new Uint8Array(33), r)).rejects.toThrow(RangeError);
    await expect(storedHashesForRecordHash(0, leaf, {} as HashReader)).rejects.toThrow(TypeError);
    await expect(storedHashes(0, 'x' as unknown as Uint8Array, r)).rejects.toThrow(TypeError);
    // A reader without the siblings rejects.
    await expect(storedHashesForRecordHash(1, leaf, r)).rejects.toThrow(RangeError);
  });
});

describe('memoryHashReader', () => {
  const hashes = buildStoredHashes(entries.slice(0, 8));

  test('answers in request order, duplicates included, with copies', async () => {
    const r = memoryHashReader(hashes);
    const want = [5, 0, 5, 14].map((i) => hex(hashes[i]!));
    const got = await r.readHashes([5, 0, 5, 14]);
    expect(got.map(hex)).toEqual(want);
    got[0]!.fill(0);
    expect(hex((await r.readHashes([5]))[0]!)).toBe(want[0]);
    expect(hex(hashes[5]!)).toBe(want[0]);
    expect(await r.readHashes([])).toEqual([]);
  });

  test('rejects missing or malformed indexes', async () => {
    const r = memoryHashReader(hashes);
    await expect(r.readHashes([15])).rejects.toThrow(RangeError);
    await expect(r.readHashes([1.5])).rejects.toThrow(RangeError);
    await expect(r.readHashes(['1' as unknown as number])).rejects.toThrow(TypeError);
    await expect(r.readHashes('1' as unknown as number[])).rejects.toThrow(TypeError);
    expect(() => memoryHashReader('x' as unknown as Uint8Array[])).toThrow(TypeError);
  });
});
