// Proves the module-system choice: jest (native ESM mode) loads the ESM-only
// @noble/ed25519 3 and level 10, and both actually work.
import * as ed from '@noble/ed25519';
import { sha512 } from '@noble/hashes/sha2.js';
import { Level } from 'level';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

ed.hashes.sha512 = sha512;

test('@noble/ed25519 signs and verifies under jest', () => {
  const seed = new Uint8Array(32).fill(7);
  const pub = ed.getPublicKey(seed);
  const msg = new TextEncoder().encode('cairn');
  const sig = ed.sign(msg, seed);
  expect(sig).toHaveLength(64);
  expect(ed.verify(sig, msg, pub)).toBe(true);
  const bad = Uint8Array.from(sig);
  bad[0] = bad[0]! ^ 1;
  expect(ed.verify(bad, msg, pub)).toBe(false);
});

test('level opens a LevelDB, writes with sync and reads back under jest', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-esm-'));
  try {
    const db = new Level<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' });
    await db.open();
    await db.batch().put(Uint8Array.of(1), Uint8Array.of(2, 3)).write({ sync: true });
    expect(Array.from((await db.get(Uint8Array.of(1)))!)).toEqual([2, 3]);
    await db.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
