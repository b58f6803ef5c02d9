/**
 * Checks HTTP responses against spec/openapi.yaml, so that every HTTP test
 * also proves the spec and the server agree (STYLE: "tests check responses
 * against it").
 *
 * Usage with supertest:
 *   const res = await request(app).get('/ct/v1/get-sth');
 *   expectResponseMatchesSpec('GET', '/ct/v1/get-sth', res);
 */
import { readFileSync } from 'node:fs';
import Ajv2020Module from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { parse as parseYaml } from 'yaml';

// ajv and ajv-formats are CommonJS with `exports.default`; depending on the
// loader (tsc's types, node ESM, jest ESM) the default import is either the
// class/function itself or the module object holding it under `default`.
type AjvClass = typeof Ajv2020Module.default;
type FormatsFn = typeof addFormatsModule.default;
function interop<T>(mod: unknown): T {
  const inner = (mod as { default?: unknown }).default;
  return (inner ?? mod) as T;
}
const Ajv2020 = interop<AjvClass>(Ajv2020Module);
const addFormats = interop<FormatsFn>(addFormatsModule);

/** The path of the spec, from this file. */
export const SPEC_URL = new URL('../../spec/openapi.yaml', import.meta.url);

/** The HTTP methods an OpenAPI path item may hold. */
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

type Json = Record<string, unknown>;

/** A response as supertest gives it (headers with lower-case names). */
export interface SpecResponse {
  status: number;
  headers: Record<string, unknown>;
  body: unknown;
  text?: string;
}

/** One operation of the spec. */
export interface SpecOperation {
  /** Upper-case HTTP method. */
  method: string;
  /** The path template as written in the spec, e.g. `/tile/{L}/{N}`. */
  path: string;
  operationId: string;
}

/** A request path matched to an operation. */
export interface MatchedOperation extends SpecOperation {
  /** Path parameters by name. */
  params: Record<string, string>;
  operation: Json;
}

interface Spec {
  doc: Json;
  ajv: InstanceType<AjvClass>;
  routes: { template: string; regex: RegExp; literal: number; item: Json }[];
  validators: Map<string, ValidateFunction>;
}

let cached: Spec | undefined;

const SCHEMA_BASE = 'https://cairn.invalid/openapi.json';

/** The parsed spec document (read once). */
export function loadSpec(): Json {
  return spec().doc;
}

function spec(): Spec {
  if (cached !== undefined) return cached;
  const doc = parseYaml(readFileSync(SPEC_URL, 'utf8')) as Json;
  const ajv = new Ajv2020({ strict: true, allErrors: true });
  addFormats(ajv);
  const components = (doc.components ?? {}) as Json;
  ajv.addSchema({ $id: SCHEMA_BASE, $defs: rewriteRefs(components.schemas ?? {}) });
  const routes = Object.entries((doc.paths ?? {}) as Record<string, Json>).map(([template, item]) => {
    const pattern = item['x-cairn-path-pattern'];
    const regex = typeof pattern === 'string' ? new RegExp(pattern, 'u') : templateRegex(template);
    return { template, regex, literal: template.replace(/\{[^}]*\}/g, '').length, item };
  });
  cached = { doc, ajv, routes, validators: new Map() };
  return cached;
}

/** `/a/{x}/b` → /^\/a\/(?<x>[^/]+)\/b$/ */
function templateRegex(template: string): RegExp {
  let source = '';
  let last = 0;
  for (const m of template.matchAll(/\{([^}]+)\}/g)) {
    source += escapeRegex(template.slice(last, m.index)) + `(?<${m[1]}>[^/]+)`;
    last = m.index + m[0].length;
  }
  return new RegExp(`^${source}${escapeRegex(template.slice(last))}$`, 'u');
}

function escapeRegex(text: string): string {
  return text.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');
}

/** Points `#/components/schemas/X` references at the schema registered under SCHEMA_BASE. */
function rewriteRefs(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(rewriteRefs);
  if (typeof value !== 'object' || value === null) return value;
  const out: Json = {};
  for (const [k, v] of Object.entries(value)) {
    if (k === '$ref' && typeof v === 'string' && v.startsWith('#/components/schemas/')) {
      out[k] = `${SCHEMA_BASE}#/$defs/${v.slice('#/components/schemas/'.length)}`;
    } else {
      out[k] = rewriteRefs(v);
    }
  }
  return out;
}

/** Follows a local `$ref` (any depth) to the object it names. */
export function resolveRef(value: unknown): Json {
  let current = value as Json;
  for (let hops = 0; typeof current?.$ref === 'string'; hops++) {
    if (hops > 20) throw new Error(`$ref loop at ${String(current.$ref)}`);
    const ref = current.$ref as string;
    if (!ref.startsWith('#/')) throw new Error(`only local $refs are supported, got ${ref}`);
    let target: unknown = spec().doc;
    for (const part of ref.slice(2).split('/')) {
      const key = part.replace(/~1/g, '/').replace(/~0/g, '~');
      target = (target as Json | undefined)?.[key];
    }
    if (target === undefined) throw new Error(`unresolved $ref ${ref}`);
    current = target as Json;
  }
  return current;
}

/** Every operation of the spec as (method, path template, operationId). */
export function specOperations(): SpecOperation[] {
  const out: SpecOperation[] = [];
  for (const { template, item } of spec().routes) {
    for (const m of METHODS) {
      const op = item[m] as Json | undefined;
      if (op !== undefined) out.push({ method: m.toUpperCase(), path: template, operationId: String(op.operationId) });
    }
  }
  return out;
}

/**
 * The route a request path (without its query) falls under: the matching path
 * item with the most literal characters, or undefined.
 */
function matchRoute(pathname: string): { template: string; item: Json; params: Record<string, string> } | undefined {
  let best: { template: string; item: Json; params: Record<string, string>; literal: number } | undefined;
  for (const route of spec().routes) {
    const m = route.regex.exec(pathname);
    if (m === null) continue;
    if (best === undefined || route.literal > best.literal) {
      best = { template: route.template, item: route.item, params: { ...(m.groups ?? {}) }, literal: route.literal };
    }
  }
  return best;
}

/** The operation a request would reach, or undefined if the spec has none. */
export function findOperation(method: string, path: string): MatchedOperation | undefined {
  const pathname = path.split('?')[0] ?? '';
  const route = matchRoute(pathname);
  const m = method.toLowerCase() === 'head' ? 'get' : method.toLowerCase();
  const op = route?.item[m] as Json | undefined;
  if (route === undefined || op === undefined) return undefined;
  return { method: m.toUpperCase(), path: route.template, operationId: String(op.operationId), params: route.params, operation: op };
}

/**
 * Each stable error code with the HTTP status the spec gives it, read from the
 * error responses in `components.responses` (for comparing with the server's table).
 */
export function specErrorStatuses(): Record<string, number> {
  const out: Record<string, number> = {};
  const statuses = new Map<string, number>();
  // Which status each error response component is used with.
  for (const { item } of spec().routes) {
    for (const m of METHODS) {
      const responses = ((item[m] as Json | undefined)?.responses ?? {}) as Record<string, Json>;
      for (const [status, response] of Object.entries(responses)) {
        if (typeof response.$ref === 'string') statuses.set(response.$ref, Number(status));
      }
    }
  }
  statuses.set('#/components/responses/MethodNotAllowed', 405);
  for (const [ref, status] of statuses) {
    for (const code of errorCodes(resolveRef({ $ref: ref }))) {
      if (out[code] !== undefined && out[code] !== status) throw new Error(`code ${code} has two statuses: ${out[code]} and ${status}`);
      out[code] = status;
    }
  }
  return out;
}

/** The codes an error response allows (from its `allOf` narrowing of Error). */
export function errorCodes(response: Json): string[] {
  const schema = ((response.content as Json | undefined)?.['application/json'] as Json | undefined)?.schema as Json | undefined;
  const parts = (schema?.allOf ?? []) as Json[];
  for (const part of parts) {
    const code = ((part.properties as Json | undefined)?.code ?? undefined) as Json | undefined;
    if (code?.const !== undefined) return [String(code.const)];
    if (Array.isArray(code?.enum)) return code.enum.map(String);
  }
  return [];
}

function validator(key: string, schema: unknown): ValidateFunction {
  const s = spec();
  let v = s.validators.get(key);
  if (v === undefined) {
    v = s.ajv.compile(rewriteRefs(schema) as object);
    s.validators.set(key, v);
  }
  return v;
}

function formatErrors(errors: ErrorObject[] | null | undefined): string {
  return (errors ?? [])
    .slice(0, 12)
    .map((e) => `  ${e.instancePath === '' ? '(root)' : e.instancePath} ${e.message ?? ''} ${JSON.stringify(e.params)}`)
    .join('\n');
}

function preview(value: unknown): string {
  let text: string;
  try {
    text = typeof value === 'string' ? JSON.stringify(value) : (JSON.stringify(value) ?? String(value));
  } catch {
    text = String(value);
  }
  return text.length > 600 ? `${text.slice(0, 600)}…` : text;
}

/** `type/subtype` and lower-cased parameters of a media type. */
function mediaType(text: string): { essence: string; params: Record<string, string> } {
  const [essence = '', ...rest] = text.split(';').map((s) => s.trim());
  const params: Record<string, string> = {};
  for (const p of rest) {
    const eq = p.indexOf('=');
    if (eq > 0) params[p.slice(0, eq).trim().toLowerCase()] = p.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1').toLowerCase();
  }
  return { essence: essence.toLowerCase(), params };
}

function header(headers: Record<string, unknown>, name: string): string | undefined {
  const value = headers[name.toLowerCase()] ?? headers[name];
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value.join(', ') : String(value);
}

/** The access-token refusals that the spec allows on any path and method. */
const ACCESS_REFUSALS: Record<number, string> = { 401: 'Unauthorized', 429: 'TooManyRequests' };

/**
 * Throws a readable error unless `res` is a response the spec allows for
 * `method` on `path` (the actual URL path, with its query): the status is
 * documented for the operation, required headers are present and valid, the
 * content type is one documented for that status, and a JSON (or text) body
 * validates against its schema. A successful (2xx) answer also requires the
 * request to have had every required query parameter, once, matching its
 * schema, and no undocumented ones, and may carry Cache-Control only where
 * the spec lists it.
 *
 * Paths the spec does not describe must answer 404 (or 400) with an Error
 * body; a documented path with an undocumented method must answer 405.
 * Either may instead answer 401 or 429 (the spec's access-token
 * conventions: an unknown token, or no token on a private log, is 401 on
 * every path, and a token's rate limit counts every request).
 * HEAD is checked as GET without a body.
 */
export function expectResponseMatchesSpec(method: string, path: string, res: SpecResponse): void {
  const where = `${method.toUpperCase()} ${path} → ${res.status}`;
  const fail = (message: string): never => {
    throw new Error(`response does not match spec/openapi.yaml: ${where}: ${message}`);
  };
  const isHead = method.toUpperCase() === 'HEAD';
  const pathname = path.split('?')[0] ?? '';
  const route = matchRoute(pathname);
  const op = route === undefined ? undefined : findOperation(method, path);

  let response: Json;
  let responseName: string;
  if (route === undefined || op === undefined) {
    const usual: Record<number, string> = route === undefined ? { 404: 'NotFound', 400: 'BadRequest' } : { 405: 'MethodNotAllowed' };
    const allowed: Record<number, string> = { ...usual, ...ACCESS_REFUSALS };
    const name = allowed[res.status];
    if (name === undefined) {
      fail(route === undefined
        ? `no path in the spec matches ${pathname}, so the answer must be 404 (or 400, 401, 429)`
        : `${route.template} has no ${method.toUpperCase()} operation, so the answer must be 405 (or 401, 429)`);
    }
    responseName = name!;
    response = resolveRef({ $ref: `#/components/responses/${responseName}` });
  } else {
    const responses = (op.operation.responses ?? {}) as Record<string, Json>;
    const documented = responses[String(res.status)] ?? responses[`${String(res.status)[0]}XX`] ?? responses.default;
    if (documented === undefined) {
      fail(`status ${res.status} is not documented for ${op.operationId} (documented: ${Object.keys(responses).join(', ')})`);
    }
    responseName = typeof documented!.$ref === 'string' ? documented!.$ref : `${op.operationId} ${res.status}`;
    response = resolveRef(documented);
    if (res.status >= 200 && res.status < 300) checkQuery(op, path, fail);
  }

  // Headers.
  for (const [name, h] of Object.entries((response.headers ?? {}) as Record<string, Json>)) {
    const def = resolveRef(h);
    const value = header(res.headers, name);
    if (value === undefined) {
      if (def.required === true) fail(`required header ${name} is missing`);
      continue;
    }
    const schema = resolveRef(def.schema ?? {});
    const coerced = schema.type === 'integer' && /^[0-9]+$/.test(value) ? Number(value) : value;
    const v = validator(`header ${responseName} ${name}`, schema);
    if (!v(coerced)) fail(`header ${name}: ${JSON.stringify(value)} is invalid:\n${formatErrors(v.errors)}`);
  }

  // Cache-Control, which caches act on: a success lists the one it sends, and one that lists none sends none.
  const documentedHeaders = Object.keys((response.headers ?? {}) as Json).map((name) => name.toLowerCase());
  const cacheControl = header(res.headers, 'cache-control');
  if (res.status >= 200 && res.status < 300 && cacheControl !== undefined && !documentedHeaders.includes('cache-control')) {
    fail(`Cache-Control: ${cacheControl} is sent, but ${responseName} lists no Cache-Control`);
  }

  // Content type and body.
  const content = (response.content ?? {}) as Record<string, Json>;
  const keys = Object.keys(content);
  if (keys.length === 0) return;
  const contentType = header(res.headers, 'content-type');
  if (contentType === undefined) fail(`no Content-Type header; expected ${keys.join(' or ')}`);
  const actual = mediaType(contentType!);
  const key = keys.find((k) => {
    const want = mediaType(k);
    return want.essence === actual.essence && Object.entries(want.params).every(([p, v]) => actual.params[p] === v);
  });
  if (key === undefined) fail(`Content-Type ${contentType} is not documented here (expected ${keys.join(' or ')})`);
  if (isHead) return;
  const schema = content[key!]!.schema;
  if (schema === undefined) return;

  let body: unknown;
  if (actual.essence === 'application/json' || actual.essence.endsWith('+json')) {
    if (typeof res.text === 'string') {
      try {
        body = JSON.parse(res.text);
      } catch {
        fail(`the body is not JSON: ${preview(res.text)}`);
      }
    } else {
      body = res.body;
    }
  } else if (actual.essence.startsWith('text/')) {
    body = typeof res.text === 'string' ? res.text : res.body instanceof Uint8Array ? new TextDecoder().decode(res.body) : res.body;
  } else {
    return; // binary bodies are described in prose (sizes, layout), not by a schema
  }
  const v = validator(`body ${responseName} ${key}`, schema);
  if (!v(body)) fail(`the body does not match its schema:\n${formatErrors(v.errors)}\nbody: ${preview(body)}`);
}

/** A 2xx must only answer requests whose query the spec allows. */
function checkQuery(op: MatchedOperation, path: string, fail: (message: string) => never): void {
  const q = path.indexOf('?');
  const search = new URLSearchParams(q === -1 ? '' : path.slice(q + 1));
  const params = ((op.operation.parameters ?? []) as Json[]).map(resolveRef).filter((p) => p.in === 'query');
  const known = new Set(params.map((p) => String(p.name)));
  for (const name of new Set(search.keys())) {
    if (!known.has(name)) fail(`the request had query parameter ${JSON.stringify(name)}, which ${op.operationId} does not document, yet succeeded`);
  }
  for (const p of params) {
    const name = String(p.name);
    const values = search.getAll(name);
    if (values.length === 0) {
      if (p.required === true) fail(`the request lacked required query parameter ${name}, yet succeeded`);
      continue;
    }
    if (values.length > 1) fail(`the request repeated query parameter ${name}, yet succeeded`);
    const v = validator(`query ${op.operationId} ${name}`, resolveRef(p.schema ?? {}));
    if (!v(values[0])) fail(`query parameter ${name}=${JSON.stringify(values[0])} does not match its schema, yet the request succeeded:\n${formatErrors(v.errors)}`);
  }
}
