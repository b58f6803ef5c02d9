// Large answers (get-entries, entry bundles) are built in turns behind the
// log's writes (ReadTurns): the answers are byte for byte what they were when
// each was built in one turn, the store is read in steps no larger than the
// answer needs, and an add sent while a large answer is being built is
// answered before that answer is finished. Turns are driven by hand: nothing
// here depends on timing.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jest } from '@jest/globals';
import { createApp, MAX_GET_ENTRIES_BYTES } from '../../src/http/app.js';
import { ReadTurns } from '../../src/http/read-turns.js';
import { Log } from '../../src/log/log.js';
import { encodeBase64 } from '../../src/note/base64.js';
import { LevelStore } from '../../src/storage/level-store.js';
import { testSigner, testVerifier, vector } from '../helpers/keys.js';
import { listenLocally, type LocalServer } from '../helpers/local-server.js';

/** Entries 0..299 of 1 to 600 bytes (every base64 padding, across a bundle's edge), then 100 of 60,000 bytes. */
const SMALL = 300;
const BIG = 100;
const BIG_SIZE = 60_000;

let dir: string;
let log: Log;
let logged: Uint8Array[];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-large-answers-'));
  log = await Log.open({ store: await LevelStore.open(dir), signer: testSigner, verifier: testVerifier });
  logged = [
    ...Array.from({ length: SMALL }, (_, i) => randomBytes(1 + ((i * 7) % 600))),
    ...Array.from({ length: BIG }, () => randomBytes(BIG_SIZE)),
  ];
  for (let i = 0; i < logged.length; i += 50) await log.submit(logged.slice(i, i + 50));
});
afterAll(async () => {
  await log.close();
  await rm(dir, { recursive: true, force: true });
});

/** The get-entries answer as it was built before, in one JSON.stringify: entries from `start`, the first always, then up to 1000 or MAX_GET_ENTRIES_BYTES. */
function expectedAnswer(start: number, end: number): string {
  const entries: Uint8Array[] = [];
  let bytes = 0;
  for (let i = start; i <= Math.min(end, logged.length - 1, start + 999); i++) {
    if (entries.length > 0 && bytes + logged[i]!.length > MAX_GET_ENTRIES_BYTES) break;
    entries.push(logged[i]!);
    bytes += logged[i]!.length;
  }
  return JSON.stringify({ entries: entries.map((e) => ({ leaf_input: encodeBase64(e), extra_data: '' })) });
}

async function serve(turns?: ReadTurns): Promise<LocalServer> {
  return listenLocally(createApp({ log, verifierKey: vector.verifier_key, ...(turns === undefined ? {} : { readTurns: turns }) }));
}

async function getBytes(server: LocalServer, path: string): Promise<{ status: number; body: Buffer }> {
  const res = await fetch(`http://127.0.0.1:${server.port}${path}`);
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
}

test('get-entries answers are byte for byte what JSON.stringify made, at every padding, across bundles, cut at the byte bound', async () => {
  const server = await serve(new ReadTurns({ sliceBytes: 700 }));
  try {
    const ranges: [number, number][] = [
      [0, 0],
      [1, 1],
      [2, 2],
      [0, 299],
      [5, 270],
      [250, 262],
      [290, 1e9], // into the large entries, cut at the byte bound
      [SMALL, SMALL + BIG - 1],
      [SMALL + 57, SMALL + BIG - 1],
      [SMALL + BIG - 1, SMALL + BIG + 5], // clamped at the tree's end
    ];
    for (const [start, end] of ranges) {
      const res = await getBytes(server, `/ct/v1/get-entries?start=${start}&end=${end}`);
      expect(res.status).toBe(200);
      expect(res.body.toString('latin1')).toBe(expectedAnswer(start, end));
    }
  } finally {
    await server.close();
  }
});

test('get-entries of 60 KB entries reads the store in steps: no more than one step (16 entries) past its answer, not a whole bundle', async () => {
  const server = await serve();
  const entries = jest.spyOn(log, 'entries');
  try {
    const res = await getBytes(server, `/ct/v1/get-entries?start=${SMALL}&end=${SMALL + BIG - 1}`);
    const answered = (JSON.parse(res.body.toString()) as { entries: unknown[] }).entries.length;
    expect(answered).toBe(Math.floor(MAX_GET_ENTRIES_BYTES / BIG_SIZE));
    const read = entries.mock.calls.reduce((sum, [from, to]) => sum + (to - from + 1), 0);
    expect(read).toBeGreaterThanOrEqual(answered);
    expect(read).toBeLessThanOrEqual(answered + 16);
  } finally {
    entries.mockRestore();
    await server.close();
  }
});

test('a large get-entries answer is built over many turns, and an add sent while it is built is answered before it is finished', async () => {
  const pumps: (() => void)[] = [];
  // Writes always waiting and no budget: one slice a turn. Turns run only when the test runs them.
  const turns = new ReadTurns({ sliceBytes: 1000, budgetMs: 0, writesWaiting: () => true, schedule: (pump) => pumps.push(pump) });
  const server = await serve(turns);
  try {
    let finished = false;
    const answer = getBytes(server, `/ct/v1/get-entries?start=0&end=${SMALL - 1}`).finally(() => (finished = true));
    /** Runs the next turn once one is scheduled. */
    const turn = async () => {
      while (pumps.length === 0) {
        if (finished) throw new Error('the answer was finished without waiting for its turns');
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      pumps.shift()!();
    };
    // The store's two steps, then a few slices of the answer's ~90 KB.
    for (let i = 0; i < 6; i++) await turn();
    const add = await fetch(`http://127.0.0.1:${server.port}/v1/entries`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/octet-stream' },
      body: randomBytes(32),
    });
    expect(add.status).toBe(201);
    expect(finished).toBe(false);
    expect(turns.waiting).toBe(1); // the answer's next slice, waiting for its turn
    while (!finished) {
      if (pumps.length > 0) pumps.shift()!();
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    const res = await answer;
    expect(res.body.toString('latin1')).toBe(expectedAnswer(0, SMALL - 1));
    // ~90 KB of entries in slices of 1000 to 1600 bytes, one a turn.
    expect(turns.turns).toBeGreaterThan(50);
  } finally {
    await server.close();
  }
});

test('entry bundles are answered as the store holds them, with the answer built in turns', async () => {
  const pumps: (() => void)[] = [];
  const turns = new ReadTurns({ schedule: (pump) => pumps.push(pump) });
  const server = await serve(turns);
  try {
    let finished = false;
    const answer = getBytes(server, '/tile/entries/001.p/144').finally(() => (finished = true));
    while (!finished) {
      if (pumps.length > 0) pumps.shift()!();
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    const res = await answer;
    expect(res.status).toBe(200);
    const expected = Buffer.concat(logged.slice(256, 400).flatMap((e) => [Buffer.from([e.length >> 8, e.length & 0xff]), Buffer.from(e)]));
    expect(res.body.equals(expected)).toBe(true);
    // Read, held, encoded and sent: each begun in its turn.
    expect(turns.turns).toBeGreaterThanOrEqual(4);
  } finally {
    await server.close();
  }
});

test('once its connection is gone, a large answer is built no further: its next step is not run, and nothing more is read', async () => {
  const pumps: (() => void)[] = [];
  const turns = new ReadTurns({ sliceBytes: 1000, budgetMs: 0, writesWaiting: () => true, schedule: (pump) => pumps.push(pump) });
  const server = await serve(turns);
  const sockets: Socket[] = [];
  server.server.on('request', (req: IncomingMessage) => sockets.push(req.socket));
  const entries = jest.spyOn(log, 'entries');
  try {
    const answer = fetch(`http://127.0.0.1:${server.port}/ct/v1/get-entries?start=0&end=${SMALL - 1}`).then(
      () => 'answered',
      () => 'cut',
    );
    /** Runs every turn scheduled until none is for a few ticks. */
    const drain = async () => {
      for (let idle = 0; idle < 20; idle++) {
        while (pumps.length > 0) {
          pumps.shift()!();
          idle = 0;
        }
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
    };
    // The store's steps, then a few slices of the answer's ~90 KB (one a turn).
    while (turns.turns < 6) {
      if (pumps.length > 0) pumps.shift()!();
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    const readBefore = entries.mock.calls.length;
    const turnsBefore = turns.turns;
    sockets[0]!.destroy();
    await drain();
    // The one step waiting was refused in its turn; none after it was asked for.
    expect(turns.turns - turnsBefore).toBeLessThanOrEqual(1);
    expect(turns.waiting).toBe(0);
    expect(entries.mock.calls.length).toBe(readBefore);
    expect(await answer).toBe('cut');
  } finally {
    entries.mockRestore();
    await server.close();
  }
});
