// spec/openapi.yaml: it parses, covers exactly CONTRACT.md §3, agrees with the
// error codes, and the response checker built on it can fail.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { parseCanonicalDecimal } from '../../src/http/query.js';
import { LOG_ERROR_CODES } from '../../src/log/errors.js';
import {
  errorCodes,
  expectResponseMatchesSpec,
  findOperation,
  loadSpec,
  resolveRef,
  specErrorStatuses,
  specOperations,
  type SpecResponse,
} from '../helpers/openapi.js';

type Json = Record<string, unknown>;

const CONTRACT_COPY = new URL('../../spec/CONTRACT.md', import.meta.url);
const CONTRACT_SHARED = new URL('../../../shared/CONTRACT.md', import.meta.url);
const vector = JSON.parse(readFileSync(new URL('../vectors/signed-note.json', import.meta.url), 'utf8')) as {
  note: string;
  verifier_key: string;
  sth: Json;
};
const tilePaths = JSON.parse(readFileSync(new URL('../vectors/tile-paths.json', import.meta.url), 'utf8')) as {
  paths: { level: number; n: number; width: number; path: string }[];
};

const spec = loadSpec();
const paths = spec.paths as Record<string, Json>;

/**
 * The routes of CONTRACT.md §3 as `METHOD /template` strings with their query
 * parameter names: `GET /tile/<L>/<N>[.p/<W>]` gives `/tile/{L}/{N}` and
 * `/tile/{L}/{N}.p/{W}`.
 */
function contractRoutes(markdown: string): Map<string, string[]> {
  const start = markdown.indexOf('## 3.');
  const end = markdown.indexOf('\n## ', start + 1);
  expect(start).toBeGreaterThan(-1);
  const section = markdown.slice(start, end === -1 ? undefined : end);
  const routes = new Map<string, string[]>();
  for (const m of section.matchAll(/`(GET|POST|PUT|PATCH|DELETE) (\/[^`]*)`/g)) {
    const [path = '', query] = m[2]!.split('?');
    const names = query === undefined ? [] : query.split('&').map((kv) => kv.split('=')[0]!);
    const template = path.replace(/<([^>]+)>/g, '{$1}');
    const variants = template.includes('[') ? [template.replace(/\[[^\]]*\]/g, ''), template.replace(/[[\]]/g, '')] : [template];
    for (const v of variants) routes.set(`${m[1]} ${v}`, names);
  }
  return routes;
}

/** Every `$ref` string anywhere in a value. */
function refs(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) value.forEach((v) => refs(v, out));
  else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      if (k === '$ref' && typeof v === 'string') out.push(v);
      else refs(v, out);
    }
  }
  return out;
}

describe('the document', () => {
  it('is OpenAPI 3.1 with a title and version', () => {
    expect(String(spec.openapi)).toMatch(/^3\.1\.\d+$/);
    expect((spec.info as Json).title).toEqual(expect.any(String));
    expect((spec.info as Json).version).toEqual(expect.any(String));
  });

  it('resolves every $ref', () => {
    const all = refs(spec);
    expect(all.length).toBeGreaterThan(50);
    for (const ref of new Set(all)) expect(() => resolveRef({ $ref: ref })).not.toThrow();
  });

  it('has unique operationIds and documents 500 on every operation', () => {
    const ops = specOperations();
    expect(new Set(ops.map((o) => o.operationId)).size).toBe(ops.length);
    for (const op of ops) {
      const responses = ((paths[op.path]![op.method.toLowerCase()] as Json).responses ?? {}) as Json;
      expect([op.operationId, Object.keys(responses).includes('500')]).toEqual([op.operationId, true]);
    }
  });

  it('declares every path parameter, and x-cairn-path-pattern captures exactly them', () => {
    for (const [template, item] of Object.entries(paths)) {
      const inTemplate = [...template.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort();
      for (const method of ['get', 'post']) {
        const op = item[method] as Json | undefined;
        if (op === undefined) continue;
        const declared = ((op.parameters ?? []) as Json[])
          .map(resolveRef)
          .filter((p) => p.in === 'path')
          .map((p) => String(p.name))
          .sort();
        expect([template, declared]).toEqual([template, inTemplate]);
      }
      const pattern = item['x-cairn-path-pattern'];
      if (typeof pattern === 'string') {
        const groups = [...pattern.matchAll(/\(\?<([A-Za-z]+)>/g)].map((m) => m[1]).sort();
        expect([template, groups]).toEqual([template, inTemplate]);
      } else {
        expect([template, inTemplate]).toEqual([template, []]);
      }
    }
  });

  it('requires every parameter the contract gives a route', () => {
    const routes = contractRoutes(readFileSync(CONTRACT_COPY, 'utf8'));
    for (const [route, names] of routes) {
      const [method, path] = route.split(' ') as [string, string];
      const op = paths[path]?.[method.toLowerCase()] as Json | undefined;
      const query = ((op?.parameters ?? []) as Json[]).map(resolveRef).filter((p) => p.in === 'query');
      expect([route, query.map((p) => p.name).sort()]).toEqual([route, [...names].sort()]);
      for (const p of query) expect([route, p.name, p.required]).toEqual([route, p.name, true]);
    }
  });
});

describe('coverage of CONTRACT.md §3', () => {
  it('spec/CONTRACT.md is the current shared contract (copy ../shared/CONTRACT.md when it changes)', () => {
    const copy = readFileSync(CONTRACT_COPY, 'utf8');
    // The shared folder sits beside the repository on developer machines and in CI.
    const shared = existsSync(CONTRACT_SHARED) ? readFileSync(CONTRACT_SHARED, 'utf8') : copy;
    expect(copy).toBe(shared);
  });

  it('finds the routes in the contract', () => {
    const routes = contractRoutes(readFileSync(CONTRACT_COPY, 'utf8'));
    expect(routes.size).toBeGreaterThanOrEqual(15);
    expect(routes.get('GET /ct/v1/get-sth-consistency')).toEqual(['first', 'second']);
    expect(routes.has('GET /tile/entries/{N}.p/{W}')).toBe(true);
  });

  it('documents every contract route and no other', () => {
    const fromContract = [...contractRoutes(readFileSync(CONTRACT_COPY, 'utf8')).keys()].sort();
    const fromSpec = specOperations()
      .map((o) => `${o.method} ${o.path}`)
      .sort();
    expect(fromSpec).toEqual(fromContract);
  });
});

describe('error codes', () => {
  it('the Error code enum is exactly LOG_ERROR_CODES', () => {
    const schemas = (spec.components as Json).schemas as Record<string, Json>;
    expect(schemas.ErrorCode!.enum).toEqual([...LOG_ERROR_CODES]);
    expect((schemas.Error!.properties as Json).code).toEqual({ $ref: '#/components/schemas/ErrorCode' });
    expect(schemas.Error!.additionalProperties).toBe(false);
  });

  it('gives every code exactly one status, the contract’s', () => {
    const statuses = specErrorStatuses();
    expect(Object.keys(statuses).sort()).toEqual([...LOG_ERROR_CODES].sort());
    // The statuses CONTRACT.md fixes.
    expect(statuses).toMatchObject({
      MALFORMED_REQUEST: 400,
      INVALID_PARAMETER: 400,
      INVALID_JSON: 400,
      INVALID_BASE64: 400,
      TOO_MANY_ENTRIES: 400,
      TREE_SIZE_TOO_LARGE: 400,
      ENTRY_TOO_LARGE: 413,
      UNSUPPORTED_MEDIA_TYPE: 415,
      NOT_FOUND: 404,
      QUEUE_FULL: 503,
    });
    for (const [code, status] of Object.entries(statuses)) expect([code, status >= 400 && status < 600]).toEqual([code, true]);
  });

  it('says, as the README does, that a STORAGE_FAILED entry is logged when the disk wrote its round before failing, and that a retry then answers duplicate', () => {
    const unavailable = ((spec.components as Json).responses as Record<string, Json>).ServiceUnavailable!;
    const text = (unavailable.description as string).replace(/\s+/g, ' ');
    expect(text).toContain('not logged unless the disk wrote the round before it reported the error, and a retry answers `"duplicate": true` if it was');
  });

  it('lists no code in two error responses', () => {
    const responses = (spec.components as Json).responses as Record<string, Json>;
    const all = Object.values(responses).flatMap((r) => errorCodes(r));
    expect(all.length).toBe(new Set(all).size);
  });
});

describe('query numbers', () => {
  /** Texts around every bound a decimal pattern could get wrong: each prefix of 2^53−1, 2^53 and 10^16−1, then each digit, then 0s or 9s up to 17 digits. */
  function candidates(): string[] {
    const out = new Set(['', '0', '00', '01', '-1', '+1', '1e3', ' 1', '1.0', '18446744073709551615', '9223372036854775807']);
    for (const bound of ['9007199254740991', '9007199254740992', '9999999999999999']) {
      for (let i = 0; i < 17; i++) {
        for (let d = 0; d <= 9; d++) {
          for (const fill of ['0', '9']) {
            for (let length = i + 1; length <= 17; length++) out.add((bound.slice(0, i) + String(d)).padEnd(length, fill));
          }
        }
      }
    }
    return [...out];
  }
  const takes = (text: string, saturate: boolean) => {
    try {
      parseCanonicalDecimal(text, undefined, { saturate });
      return true;
    } catch {
      return false;
    }
  };

  it.each([
    ['DecimalParam', false],
    ['UnboundedDecimalParam', true],
  ] as const)('%s admits exactly what the server takes', (name, saturate) => {
    const pattern = new RegExp(String((((spec.components as Json).schemas as Record<string, Json>)[name]!).pattern), 'u');
    const texts = candidates();
    expect(texts.length).toBeGreaterThan(1000);
    const disagree = texts.filter((text) => pattern.test(text) !== takes(text, saturate));
    expect(disagree).toEqual([]);
    // The bound itself, and one past it.
    expect([pattern.test('9007199254740991'), pattern.test('9007199254740992')]).toEqual([true, saturate]);
  });

  it('every query number parameter but get-entries\' end is a DecimalParam', () => {
    const parameters = (spec.components as Json).parameters as Record<string, Json>;
    const numbers = Object.values(parameters).filter((p) => p.in === 'query' && p.name !== 'hash');
    expect(numbers.map((p) => p.name).sort()).toEqual(['end', 'first', 'leaf_index', 'second', 'start', 'tree_size']);
    for (const p of numbers) {
      expect([p.name, p.schema]).toEqual([p.name, { $ref: `#/components/schemas/${p.name === 'end' ? 'UnboundedDecimalParam' : 'DecimalParam'}` }]);
    }
  });
});

describe('tile paths', () => {
  it.each(tilePaths.paths)('routes the vector $path', ({ level, n, width, path }) => {
    const op = findOperation('GET', `/${path}`);
    expect(op).toBeDefined();
    const partial = width !== 256;
    const expected = level === -1 ? (partial ? 'getPartialEntryBundle' : 'getEntryBundle') : partial ? 'getPartialHashTile' : 'getHashTile';
    expect(op!.operationId).toBe(expected);
    if (level !== -1) expect(op!.params.L).toBe(String(level));
    expect(Number(op!.params.N!.replace(/[x/]/g, ''))).toBe(n);
    if (partial) expect(op!.params.W).toBe(String(width));
  });

  it.each([
    '/tile/0/x000/001',
    '/tile/0/001/234',
    '/tile/0/x001/x234',
    '/tile/0/0001',
    '/tile/0/01',
    '/tile/00/000',
    '/tile/64/000',
    '/tile/-1/000',
    '/tile/0/000.p/0',
    '/tile/0/000.p/256',
    '/tile/0/000.p/01',
    '/tile/0/000.p/',
    '/tile/0/000/',
    '/tile/entries/x000/000',
    '/tile/entries/000.p/300',
    '/tile/entries',
    '/tile/0/../000',
  ])('routes no operation for the non-canonical %s', (path) => {
    expect(findOperation('GET', path)).toBeUndefined();
  });

  it('routes the deepest index a 2^53 tree can need', () => {
    const op = findOperation('GET', '/tile/0/x035/x184/x372/x088/831');
    expect(op?.operationId).toBe('getHashTile');
    expect(findOperation('GET', '/tile/63/000.p/255')?.operationId).toBe('getPartialHashTile');
  });
});

// ---- The response checker ----

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8', 'x-content-type-options': 'nosniff' };

function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64');
}
function sha256(text: string): Uint8Array {
  return createHash('sha256').update(text).digest();
}

/** A base64url hash that differs from its standard base64 (it has '-' or '_'). */
function urlSafeHash(): string {
  for (let i = 0; ; i++) {
    const std = b64(sha256(`h${i}`));
    if (/[+/]/.test(std)) return std.replace(/\+/g, '-').replace(/\//g, '_');
  }
}

/** A receipt shaped as the contract says, with real base64 hashes and the vector's checkpoint. */
function validReceipt(): Json {
  return {
    index: 299,
    leaf_hash: b64(sha256('entry 299')),
    checkpoint: vector.note,
    inclusion_proof: [b64(sha256('a')), b64(sha256('b'))],
    duplicate: false,
  };
}

function jsonResponse(status: number, body: unknown, headers: Json = {}): SpecResponse {
  return { status, headers: { ...JSON_HEADERS, ...headers }, body, text: JSON.stringify(body) };
}

describe('expectResponseMatchesSpec accepts', () => {
  it('a new receipt (201) and a duplicate receipt (200)', () => {
    expectResponseMatchesSpec('POST', '/v1/entries', jsonResponse(201, validReceipt()));
    expectResponseMatchesSpec('POST', '/v1/entries', jsonResponse(200, { ...validReceipt(), duplicate: true }));
  });

  it('a batch response', () => {
    const { checkpoint, ...receipt } = validReceipt();
    expectResponseMatchesSpec('POST', '/v1/batch', jsonResponse(200, { checkpoint, receipts: [receipt, { ...receipt, duplicate: true }] }));
  });

  it('the vectors’ STH, checkpoint and verifier key', () => {
    expectResponseMatchesSpec('GET', '/ct/v1/get-sth', jsonResponse(200, vector.sth, { 'cache-control': 'no-cache' }));
    expectResponseMatchesSpec('GET', '/checkpoint', {
      status: 200,
      headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' },
      body: {},
      text: vector.note,
    });
    const origin = vector.note.split('\n')[0]!;
    expectResponseMatchesSpec('GET', '/v1/log', jsonResponse(200, { origin, verifier_key: vector.verifier_key, tree_size: 300, version: '0.2.0' }, { 'cache-control': 'no-cache' }));
  });

  it('reads with valid queries, health, tiles, metrics and errors', () => {
    const h = b64(sha256('x'));
    const fixed = { 'cache-control': 'public, max-age=31536000, immutable' };
    expectResponseMatchesSpec('GET', '/ct/v1/get-sth-consistency?first=1&second=1', jsonResponse(200, { consistency: [] }, fixed));
    expectResponseMatchesSpec('GET', `/ct/v1/get-proof-by-hash?hash=${encodeURIComponent(h)}&tree_size=5`, jsonResponse(200, { leaf_index: 4, audit_path: [h] }, fixed));
    const entries = { entries: [{ leaf_input: 'AA==', extra_data: '' }] };
    for (const cacheControl of ['no-cache', 'private, no-cache', 'public, max-age=31536000, immutable', 'private, max-age=31536000, immutable']) {
      expectResponseMatchesSpec('GET', '/ct/v1/get-entries?start=0&end=99', jsonResponse(200, entries, { 'cache-control': cacheControl }));
    }
    expectResponseMatchesSpec(
      'GET',
      '/ct/v1/get-entry-and-proof?leaf_index=0&tree_size=1',
      jsonResponse(200, { leaf_input: 'AQI=', extra_data: '', audit_path: [] }, { 'cache-control': 'private, max-age=31536000, immutable' }),
    );
    expectResponseMatchesSpec('GET', '/ct/v1/get-sth', jsonResponse(200, vector.sth, { 'cache-control': 'private, no-cache' }));
    expectResponseMatchesSpec('GET', '/healthz', jsonResponse(200, { status: 'ok', tree_size: 0 }, { 'cache-control': 'no-store' }));
    const tileHeaders = { 'content-type': 'application/octet-stream', 'x-content-type-options': 'nosniff' };
    expectResponseMatchesSpec('GET', '/tile/0/x001/000', {
      status: 200,
      headers: { ...tileHeaders, 'cache-control': 'public, max-age=31536000, immutable' },
      body: Buffer.alloc(8192),
    });
    const bundleHeaders = { ...tileHeaders, vary: 'Accept-Encoding', 'cache-control': 'public, max-age=60' };
    expectResponseMatchesSpec('GET', '/tile/entries/000.p/7', { status: 200, headers: bundleHeaders, body: Buffer.alloc(9) });
    expectResponseMatchesSpec('GET', '/tile/entries/000.p/7', { status: 200, headers: { ...bundleHeaders, 'content-encoding': 'gzip' }, body: Buffer.alloc(9) });
    expectResponseMatchesSpec('GET', '/metrics', {
      status: 200,
      headers: { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'x-content-type-options': 'nosniff', 'cache-control': 'no-store' },
      body: {},
      text: '# HELP cairn_entries_total x\n',
    });
    expectResponseMatchesSpec('GET', '/ct/v1/get-entries?start=01&end=2', jsonResponse(400, { error: 'bad start', code: 'INVALID_PARAMETER' }));
    expectResponseMatchesSpec('POST', '/v1/entries', jsonResponse(503, { error: 'full', code: 'QUEUE_FULL' }, { 'retry-after': '1' }));
    expectResponseMatchesSpec('DELETE', '/v1/entries', jsonResponse(405, { error: 'no', code: 'METHOD_NOT_ALLOWED' }, { allow: 'POST' }));
    expectResponseMatchesSpec('GET', '/nope', jsonResponse(404, { error: 'no such resource', code: 'NOT_FOUND' }));
    expectResponseMatchesSpec('GET', '/tile/0/x000/001', jsonResponse(404, { error: 'not a tile path', code: 'NOT_FOUND' }));
    expectResponseMatchesSpec('HEAD', '/healthz', { status: 200, headers: { ...JSON_HEADERS, 'cache-control': 'no-store' }, body: {} });
  });
});

describe('expectResponseMatchesSpec rejects', () => {
  const receipt = validReceipt();
  const { checkpoint: _checkpoint, ...withoutCheckpoint } = receipt;
  it.each<[string, Json]>([
    ['an index given as a string', { ...receipt, index: '299' }],
    ['a negative index', { ...receipt, index: -1 }],
    ['a fractional index', { ...receipt, index: 1.5 }],
    ['an index past 2^53−1', { ...receipt, index: 2 ** 53 }],
    ['duplicate given as a string', { ...receipt, duplicate: 'false' }],
    ['an extra field', { ...receipt, tree_size: 300 }],
    ['a missing checkpoint', withoutCheckpoint],
    ['a missing inclusion_proof', { ...receipt, inclusion_proof: undefined }],
    ['a leaf hash of 31 bytes', { ...receipt, leaf_hash: b64(sha256('x').slice(0, 31)) }],
    ['a leaf hash in URL-safe base64', { ...receipt, leaf_hash: urlSafeHash() }],
    ['a leaf hash in hex', { ...receipt, leaf_hash: Buffer.from(sha256('x')).toString('hex') }],
    ['a non-canonical base64 hash', { ...receipt, leaf_hash: b64(sha256('x')).slice(0, 42) + 'B=' }],
    ['a proof element that is not a hash', { ...receipt, inclusion_proof: ['AA=='] }],
    ['a checkpoint without signature', { ...receipt, checkpoint: vector.note.split('\n\n')[0] + '\n' }],
    ['"duplicate": true with 201', { ...receipt, duplicate: true }],
  ])('a receipt with %s', (_name, body) => {
    expect(() => expectResponseMatchesSpec('POST', '/v1/entries', jsonResponse(201, body))).toThrow(/does not match spec/);
  });

  it('an undocumented status', () => {
    expect(() => expectResponseMatchesSpec('POST', '/v1/entries', jsonResponse(202, receipt))).toThrow(/status 202 is not documented/);
    expect(() => expectResponseMatchesSpec('GET', '/healthz', jsonResponse(404, { error: 'x', code: 'NOT_FOUND' }))).toThrow(/not documented/);
  });

  it('a wrong content type', () => {
    expect(() =>
      expectResponseMatchesSpec('POST', '/v1/entries', { ...jsonResponse(201, receipt), headers: { ...JSON_HEADERS, 'content-type': 'text/plain' } }),
    ).toThrow(/Content-Type/);
    expect(() =>
      expectResponseMatchesSpec('GET', '/checkpoint', {
        status: 200,
        headers: { 'content-type': 'text/plain; charset=latin1', 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' },
        body: {},
        text: vector.note,
      }),
    ).toThrow(/Content-Type/);
  });

  it('a body that is not JSON', () => {
    expect(() => expectResponseMatchesSpec('GET', '/healthz', { status: 200, headers: { ...JSON_HEADERS, 'cache-control': 'no-store' }, body: {}, text: 'ok' })).toThrow(/not JSON/);
  });

  it('missing or wrong required headers', () => {
    expect(() => expectResponseMatchesSpec('POST', '/v1/entries', jsonResponse(503, { error: 'full', code: 'QUEUE_FULL' }))).toThrow(/Retry-After/);
    expect(() => expectResponseMatchesSpec('POST', '/v1/entries', jsonResponse(503, { error: 'full', code: 'QUEUE_FULL' }, { 'retry-after': 'soon' }))).toThrow(
      /Retry-After/,
    );
    expect(() => expectResponseMatchesSpec('GET', '/healthz', { status: 200, headers: { 'content-type': 'application/json' }, body: { status: 'ok', tree_size: 1 } })).toThrow(
      /X-Content-Type-Options/,
    );
    expect(() =>
      expectResponseMatchesSpec('GET', '/tile/0/000', {
        status: 200,
        headers: { 'content-type': 'application/octet-stream', 'x-content-type-options': 'nosniff', 'cache-control': 'public, max-age=60' },
        body: Buffer.alloc(8192),
      }),
    ).toThrow(/Cache-Control/);
    expect(() =>
      expectResponseMatchesSpec('GET', '/tile/0/000.p/3', {
        status: 200,
        headers: { 'content-type': 'application/octet-stream', 'x-content-type-options': 'nosniff', 'cache-control': 'public, max-age=600' },
        body: Buffer.alloc(96),
      }),
    ).toThrow(/Cache-Control/);
    const bundleHeaders = { 'content-type': 'application/octet-stream', 'x-content-type-options': 'nosniff', 'cache-control': 'public, max-age=31536000, immutable' };
    expect(() => expectResponseMatchesSpec('GET', '/tile/entries/000', { status: 200, headers: bundleHeaders, body: Buffer.alloc(512) })).toThrow(/header Vary is missing/);
    expect(() =>
      expectResponseMatchesSpec('GET', '/tile/entries/000', { status: 200, headers: { ...bundleHeaders, vary: 'Accept-Encoding', 'content-encoding': 'br' }, body: Buffer.alloc(512) }),
    ).toThrow(/Content-Encoding/);
    const unauthorized = { error: 'this needs an access token', code: 'UNAUTHORIZED' };
    expect(() => expectResponseMatchesSpec('GET', '/checkpoint', jsonResponse(401, unauthorized))).toThrow(/WWW-Authenticate is missing/);
    expect(() => expectResponseMatchesSpec('GET', '/checkpoint', jsonResponse(401, unauthorized, { 'www-authenticate': 'Basic' }))).toThrow(/WWW-Authenticate/);
    expectResponseMatchesSpec('GET', '/checkpoint', jsonResponse(401, unauthorized, { 'www-authenticate': 'Bearer realm="cairn"' }));
  });

  it('error bodies with an unknown code, a code of another status, or extra fields', () => {
    expect(() => expectResponseMatchesSpec('GET', '/ct/v1/get-sth', jsonResponse(400, { error: 'x', code: 'BAD' }))).toThrow(/code/);
    expect(() => expectResponseMatchesSpec('POST', '/v1/entries', jsonResponse(415, { error: 'x', code: 'INVALID_JSON' }))).toThrow(/code/);
    expect(() => expectResponseMatchesSpec('POST', '/v1/entries', jsonResponse(400, { error: 'x', code: 'INVALID_JSON', detail: 1 }))).toThrow(/additional/);
    expect(() => expectResponseMatchesSpec('POST', '/v1/entries', jsonResponse(400, { error: '', code: 'INVALID_JSON' }))).toThrow(/error/);
  });

  it('health, STH and entries with wrong shapes', () => {
    const noStore = { 'cache-control': 'no-store' };
    expect(() => expectResponseMatchesSpec('GET', '/healthz', jsonResponse(200, { status: 'OK', tree_size: 1 }, noStore))).toThrow(/status/);
    expect(() => expectResponseMatchesSpec('GET', '/healthz', jsonResponse(200, { status: 'ok' }, noStore))).toThrow(/tree_size/);
    const sth = { ...vector.sth, tree_head_signature: b64(new Uint8Array(68)) };
    expect(() => expectResponseMatchesSpec('GET', '/ct/v1/get-sth', jsonResponse(200, sth, { 'cache-control': 'no-cache' }))).toThrow(/tree_head_signature/);
    expect(() =>
      expectResponseMatchesSpec('GET', '/ct/v1/get-entries?start=0&end=0', jsonResponse(200, { entries: [{ leaf_input: 'AA==', extra_data: 'x' }] }, { 'cache-control': 'no-cache' })),
    ).toThrow(/extra_data/);
  });

  it('success for a request the spec says is invalid', () => {
    const ok = jsonResponse(200, { entries: [{ leaf_input: 'AA==', extra_data: '' }] });
    expect(() => expectResponseMatchesSpec('GET', '/ct/v1/get-entries?start=0', ok)).toThrow(/lacked required query parameter end/);
    expect(() => expectResponseMatchesSpec('GET', '/ct/v1/get-entries?start=01&end=1', ok)).toThrow(/start/);
    expect(() => expectResponseMatchesSpec('GET', '/ct/v1/get-entries?start=0&start=1&end=1', ok)).toThrow(/repeated/);
    expect(() => expectResponseMatchesSpec('GET', '/ct/v1/get-entries?start=0&end=1&x=1', ok)).toThrow(/"x"/);
  });

  it('a success without the Cache-Control the spec lists for it, or with one the spec does not list', () => {
    expect(() => expectResponseMatchesSpec('GET', '/healthz', jsonResponse(200, { status: 'ok', tree_size: 1 }))).toThrow(/Cache-Control is missing/);
    expect(() => expectResponseMatchesSpec('GET', '/metrics', { status: 200, headers: { 'content-type': 'text/plain', 'x-content-type-options': 'nosniff', 'cache-control': 'no-cache' }, body: {}, text: '' })).toThrow(
      /Cache-Control/,
    );
    const origin = vector.note.split('\n')[0]!;
    expect(() => expectResponseMatchesSpec('GET', '/v1/log', jsonResponse(200, { origin, verifier_key: vector.verifier_key, tree_size: 3, version: '0.2.0' }))).toThrow(/Cache-Control is missing/);
    const entries = { entries: [{ leaf_input: 'AA==', extra_data: '' }] };
    expect(() => expectResponseMatchesSpec('GET', '/ct/v1/get-entries?start=0&end=0', jsonResponse(200, entries))).toThrow(/Cache-Control is missing/);
    expect(() => expectResponseMatchesSpec('GET', '/ct/v1/get-entries?start=0&end=0', jsonResponse(200, entries, { 'cache-control': 'public, max-age=60' }))).toThrow(/Cache-Control/);
    expect(() => expectResponseMatchesSpec('GET', '/ct/v1/get-sth-consistency?first=1&second=1', jsonResponse(200, { consistency: [] }))).toThrow(/Cache-Control is missing/);
    expect(() => expectResponseMatchesSpec('GET', '/ct/v1/get-sth-consistency?first=1&second=1', jsonResponse(200, { consistency: [] }, { 'cache-control': 'no-cache' }))).toThrow(/Cache-Control/);
    expect(() => expectResponseMatchesSpec('GET', '/ct/v1/get-sth', jsonResponse(200, vector.sth, { 'cache-control': 'public, no-cache' }))).toThrow(/Cache-Control/);
    expect(() => expectResponseMatchesSpec('POST', '/v1/entries', jsonResponse(201, receipt, { 'cache-control': 'max-age=5' }))).toThrow(/lists no Cache-Control/);
    // An error's no-store is not a success's: errors are not held to this.
    expectResponseMatchesSpec('GET', '/ct/v1/get-entries?start=01&end=2', jsonResponse(400, { error: 'bad start', code: 'INVALID_PARAMETER' }, { 'cache-control': 'no-store' }));
  });

  it('anything but 404/400 for an unknown path and 405 for an unknown method', () => {
    expect(() => expectResponseMatchesSpec('GET', '/v2/entries', jsonResponse(200, {}))).toThrow(/404/);
    expect(() => expectResponseMatchesSpec('PUT', '/v1/entries', jsonResponse(404, { error: 'x', code: 'NOT_FOUND' }))).toThrow(/405/);
    expect(() => expectResponseMatchesSpec('DELETE', '/v1/entries', jsonResponse(405, { error: 'no', code: 'METHOD_NOT_ALLOWED' }))).toThrow(/Allow/);
  });
});
