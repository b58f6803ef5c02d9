// spec/openapi.yaml's `security` against what the server enforces: every
// operation declares it, listing `accessToken` wherever the server reads a
// token (so that a generated client attaches it) and `{}` wherever some
// configuration serves the operation without one. Each operation is asked
// of the real app, in each access configuration `cairn serve` can have.
import request from 'supertest';
import { AccessControl, hashToken, type TokenRule } from '../../src/http/access.js';
import { loadSpec, resolveRef, specOperations, type SpecOperation } from '../helpers/openapi.js';
import { openHarness, type Harness } from '../reliability/helpers.js';

type Json = Record<string, unknown>;

const ADMIN = 'security-admin-aaaaaaaaaaaaaaaa';
const rules: TokenRule[] = [{ name: 'admin', role: 'admin', hash: hashToken(ADMIN) }];

const spec = loadSpec();
const paths = spec.paths as Record<string, Json>;

/** A value of the right shape for each parameter the spec has. */
const SAMPLES: Record<string, string> = {
  L: '0',
  N: '000',
  W: '1',
  first: '1',
  second: '1',
  tree_size: '1',
  hash: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=',
  start: '0',
  end: '0',
  leaf_index: '0',
};

/** A request of the right shape for `op`, built from the spec alone: every path and query parameter filled in. */
function sampleRequest(op: SpecOperation): { path: string; body?: { type: string; data: string } } {
  const operation = paths[op.path]![op.method.toLowerCase()] as Json;
  const params = ((operation.parameters ?? []) as Json[]).map(resolveRef);
  const value = (name: string) => {
    const sample = SAMPLES[name];
    if (sample === undefined) throw new Error(`no sample value for parameter ${name} of ${op.operationId}`);
    return sample;
  };
  const path = op.path.replace(/\{([^}]+)\}/g, (_, name: string) => value(name));
  const query = params.filter((p) => p.in === 'query').map((p) => `${String(p.name)}=${encodeURIComponent(value(String(p.name)))}`);
  const url = query.length === 0 ? path : `${path}?${query.join('&')}`;
  if (op.method !== 'POST') return { path: url };
  const content = Object.keys(((resolveRef(operation.requestBody) as Json).content ?? {}) as Json);
  return content.includes('application/octet-stream')
    ? { path: url, body: { type: 'application/octet-stream', data: `sample ${op.operationId}` } }
    : { path: url, body: { type: 'application/json', data: JSON.stringify({ entries: [Buffer.from(`sample ${op.operationId}`).toString('base64')] }) } };
}

const CONFIGURATIONS = {
  open: undefined,
  tokens: () => new AccessControl({ tokens: rules }),
  private: () => new AccessControl({ tokens: rules, publicReads: false }),
} as const;

const harnesses = new Map<keyof typeof CONFIGURATIONS, Harness>();
beforeAll(async () => {
  for (const [name, access] of Object.entries(CONFIGURATIONS) as [keyof typeof CONFIGURATIONS, (() => AccessControl) | undefined][]) {
    harnesses.set(name, await openHarness({}, access === undefined ? {} : { access: access() }));
  }
});
afterAll(async () => {
  for (const h of harnesses.values()) await h.close();
});

async function status(config: keyof typeof CONFIGURATIONS, op: SpecOperation, token?: string): Promise<number> {
  const { path, body } = sampleRequest(op);
  const app = harnesses.get(config)!.app;
  let req = op.method === 'POST' ? request(app).post(path) : request(app).get(path);
  if (token !== undefined) req = req.set('Authorization', `Bearer ${token}`);
  if (body !== undefined) req = req.set('Content-Type', body.type).send(body.data);
  return (await req).status;
}

test('the spec sets no top-level security, and its one scheme is the bearer token the server reads', () => {
  expect(spec.security).toBeUndefined();
  const schemes = (spec.components as Json).securitySchemes as Json;
  expect(Object.keys(schemes)).toEqual(['accessToken']);
  expect(schemes.accessToken).toMatchObject({ type: 'http', scheme: 'bearer' });
});

test('finds a sample request for every operation', () => {
  expect(specOperations().length).toBeGreaterThanOrEqual(15);
  for (const op of specOperations()) expect(() => sampleRequest(op)).not.toThrow();
});

test.each(specOperations().map((op) => [`${op.method} ${op.path}`, op] as const))('%s declares security as the server enforces it', async (_name, op) => {
  const operation = paths[op.path]![op.method.toLowerCase()] as Json;
  // What the server does with a token on this operation, in each configuration.
  const servedWithout: string[] = [];
  const neededIn: string[] = [];
  for (const config of Object.keys(CONFIGURATIONS) as (keyof typeof CONFIGURATIONS)[]) {
    const bare = await status(config, op);
    if (bare !== 401) servedWithout.push(config);
    else {
      expect([config, await status(config, op, ADMIN)]).not.toEqual([config, 401]);
      neededIn.push(config);
    }
  }
  // An unknown token is refused here: the server reads the token even where it needs none.
  const read = (await status('tokens', op, 'security-unknown-bbbbbbbbbbbbbbb')) === 401;
  expect(read).toBe(true);
  const expected = [...(servedWithout.length > 0 ? [{}] : []), ...(neededIn.length > 0 || read ? [{ accessToken: [] }] : [])];
  expect({ operation: op.operationId, security: operation.security }).toEqual({ operation: op.operationId, security: expected });
});

test('OPTIONS reads no token, as the spec says: 204 on every documented path whatever Authorization it carries, 404 on an unknown one', async () => {
  for (const config of ['tokens', 'private'] as const) {
    const app = harnesses.get(config)!.app;
    for (const op of specOperations()) {
      const { path } = sampleRequest(op);
      for (const headers of [{}, { Authorization: 'Bearer security-unknown-bbbbbbbbbbbbbbb' }, { Authorization: 'Basic eDp5' }, { Authorization: ['Bearer a', 'Bearer b'] }]) {
        const res = await request(app).options(path).set(headers);
        expect([config, path, headers, res.status]).toEqual([config, path, headers, 204]);
      }
    }
    const unknown = await request(app).options('/no-such-path').set('Authorization', 'Bearer security-unknown-bbbbbbbbbbbbbbb');
    expect([config, unknown.status, unknown.body.code]).toEqual([config, 404, 'NOT_FOUND']);
    // The same requests as GET are refused for their token (the private log also refuses none at all).
    expect((await request(app).get('/checkpoint').set('Authorization', 'Bearer security-unknown-bbbbbbbbbbbbbbb')).status).toBe(401);
    expect((await request(app).get('/checkpoint').set({ Authorization: ['Bearer a', 'Bearer b'] })).status).toBe(400);
  }
});
