'use strict';
// Shared by the GraphQL suites (graphql 16 and graphql 17): the schema, its resolvers (with a call
// spy and an in-memory store), a counting proxy in front of the real tokenizer, and helpers that
// play a user of the tokenizer with a user JWT (tokenize = store grant; detokenize needs a read grant).
const crypto = require('node:crypto');
const http = require('node:http');
const { LunaSec } = require('../lib');

const JWT_RE = /eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/;
const TOKEN_RE = /lunasec-[0-9a-f]{8}-[0-9a-f]{4}-/i;

const TYPE_DEFS = /* GraphQL */ `
  type Row {
    id: Int!
    ssn: String @token(duration: "10m")
    note: String
  }

  interface Sensitive {
    secret: String @token
  }

  type Person implements Sensitive {
    name: String
    secret: String
    ssn: String @token
    docs: [String!]! @token
    matrix: [[String]] @token
    count: Int
  }

  input DocInput {
    ssn: String! @token
    label: String
  }

  input NestedInput {
    inner: DocInput
    deep: ProfileInput
  }

  input ProfileInput {
    name: String
    ssn: String @token
    docs: [String!] @token
    nested: NestedInput
    children: [ProfileInput!]
  }

  type Query {
    rows(n: Int!): [Row!]!
    person: Person
    plain: String
    bad: String @token
    badList: [String] @token
    sparse: [String] @token
    empty: String @token
    stored: String @token
    lookup(ssn: ID @token): String
  }

  type Mutation {
    setSsn(ssn: String! @token): Boolean
    setDocs(docs: [String!]! @token): Boolean
    setProfile(profile: ProfileInput!): Boolean
    setDoc(doc: DocInput!): Boolean
    setMany(profiles: [ProfileInput!]!): Boolean
    setLabel(label: String): Boolean
  }
`;

/** Resolvers over `data` (what the queries return) and `store` (what mutations write), with a spy. */
function makeResolvers() {
  const calls = [];
  const data = { rows: [], person: null, sparse: [], stored: null };
  const store = { ssn: null, docs: null, profile: null, profiles: null, label: null };
  const spy = (name, fn) => (source, args) => {
    calls.push(name);
    return fn(args);
  };
  const resolvers = {
    Query: {
      rows: (_s, { n }) => data.rows.slice(0, n),
      person: () => data.person,
      plain: () => 'plain value',
      bad: () => 'not a token 123-45-6789',
      badList: () => [data.rows[0] && data.rows[0].ssn, 'lunasec-not-a-uuid'],
      sparse: () => data.sparse,
      empty: () => '',
      // An async resolver whose list items are promises: graphql accepts both.
      stored: async () => data.stored,
      lookup: spy('lookup', ({ ssn }) => (ssn ? 'found' : 'none')),
    },
    Person: {
      // Items as promises, from an async resolver.
      docs: async (p) => p.docs.map((d) => Promise.resolve(d)),
    },
    Mutation: {
      setSsn: spy('setSsn', ({ ssn }) => {
        store.ssn = ssn;
        return true;
      }),
      setDocs: spy('setDocs', ({ docs }) => {
        store.docs = docs;
        return true;
      }),
      setProfile: spy('setProfile', ({ profile }) => {
        store.profile = profile;
        return true;
      }),
      setDoc: spy('setDoc', ({ doc }) => {
        store.ssn = doc.ssn;
        return true;
      }),
      setMany: spy('setMany', ({ profiles }) => {
        store.profiles = profiles;
        return true;
      }),
      setLabel: spy('setLabel', ({ label }) => {
        store.label = label;
        return true;
      }),
    },
    Sensitive: { __resolveType: () => 'Person' },
  };
  return { resolvers, calls, data, store };
}

/** Attaches `resolvers` to a schema built with plain graphql-js `buildSchema` (no graphql-tools). */
function attachResolvers(schema, resolvers) {
  for (const [typeName, fields] of Object.entries(resolvers)) {
    const type = schema.getType(typeName);
    for (const [name, fn] of Object.entries(fields)) {
      if (name === '__resolveType') type.resolveType = fn;
      else type.getFields()[name].resolve = fn;
    }
  }
  return schema;
}

/**
 * A counting HTTP proxy in front of the tokenizer. `requests` lists `{ route, tokens }` (how many
 * tokens each grant request carried; the bodies are never kept).
 */
async function countingProxy(target) {
  const t = new URL(target);
  const requests = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      let tokens = 0;
      try {
        const j = JSON.parse(body.toString('utf8'));
        tokens = Array.isArray(j.tokenIds) ? j.tokenIds.length : j.tokenId ? 1 : 0;
      } catch {
        tokens = 0;
      }
      requests.push({ route: `${req.method} ${req.url}`, tokens });
      const up = http.request({ host: t.hostname, port: t.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode, r.headers);
        r.pipe(res);
      });
      up.on('error', () => {
        res.writeHead(502);
        res.end();
      });
      up.end(body);
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    requests,
    routes: () => requests.map((r) => r.route),
    reset: () => {
      requests.length = 0;
    },
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(r);
      }),
  };
}

/**
 * The session id of a request: header `x-session` of an Express/Node request or a Fetch Request.
 * Asynchronous with a short delay, like a session-store lookup: batching must not depend on it.
 */
async function sessionFromHeaders(req) {
  await new Promise((r) => setTimeout(r, 2));
  const h = req && req.headers;
  if (!h) return null;
  const v = typeof h.get === 'function' ? h.get('x-session') : h['x-session'];
  return v || null;
}

function pemOf(stack) {
  return Buffer.from(stack.signingKey, 'base64').toString();
}

/** A LunaSec with the stack's key; `tokenizerURL` defaults to the tokenizer itself. */
function sdkFor(stack, { tokenizerURL = stack.tokenizerUrl, onError, client } = {}) {
  return new LunaSec({
    tokenizerURL,
    ...(client ? { client } : {}),
    auth: { secrets: { provider: 'manual', signingKey: pemOf(stack) }, sessionIdProvider: sessionFromHeaders, ...(onError ? { onError } : {}) },
  });
}

/** A user of the tokenizer (what a Secure Frame does), authenticated by a user JWT for `sessionId`. */
function tokenizerUser(stack, sdk, sessionId) {
  let jwt;
  const auth = async () => {
    if (!jwt) jwt = String(await sdk.keyService.createAuthenticationJWT('user', { session_id: sessionId }));
    return jwt;
  };
  const post = async (route, body) => {
    const res = await fetch(`${stack.tokenizerUrl}${route}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: await auth() }, body: JSON.stringify(body) });
    return { status: res.status, body: await res.json() };
  };
  const noHost = (headers) => {
    const h = { ...headers };
    delete h.host;
    return h;
  };
  return {
    /** Tokenizes `value` as this user: the token gets a store grant for this session. */
    async tokenize(value) {
      const r = await post('/tokenize', { metadata: { dataType: 'string' } });
      if (r.status !== 200) throw new Error(`tokenize: ${r.status}`);
      const { tokenId, uploadUrl, headers } = r.body.data;
      const put = await fetch(uploadUrl, { method: 'PUT', headers: noHost(headers), body: value });
      if (put.status !== 200) throw new Error(`upload: ${put.status}`);
      return tokenId;
    },
    /** `{ status, value }`: 200 only with a read grant for this session. */
    async detokenize(tokenId) {
      const r = await post('/detokenize', { tokenId });
      if (r.status !== 200) return { status: r.status };
      const { downloadUrl, headers } = r.body.data;
      const get = await fetch(downloadUrl, { headers: noHost(headers) });
      return { status: get.status, value: Buffer.from(await get.arrayBuffer()).toString('utf8') };
    },
  };
}

function newSession() {
  return `sess-${crypto.randomUUID()}`;
}

/** Lines written to the console while `fn` runs are also kept in `lines` (for leak checks). */
function captureConsole(lines) {
  const spies = ['log', 'info', 'warn', 'error', 'debug'].map((m) => {
    const orig = console[m];
    return jest.spyOn(console, m).mockImplementation((...args) => {
      lines.push(args.map((a) => (a instanceof Error ? `${a.message}\n${a.stack}` : typeof a === 'string' ? a : JSON.stringify(a))).join(' '));
      orig.apply(console, args);
    });
  });
  return () => spies.forEach((s) => s.mockRestore());
}

/** A logger (Apollo / Yoga shape) that keeps what it is given. */
function capturingLogger(lines) {
  const log = (...args) => lines.push(args.map((a) => (a instanceof Error ? `${a.message}\n${a.stack}` : typeof a === 'string' ? a : JSON.stringify(a))).join(' '));
  return { debug: log, info: log, warn: log, error: log };
}

module.exports = { TYPE_DEFS, JWT_RE, TOKEN_RE, makeResolvers, attachResolvers, countingProxy, sessionFromHeaders, sdkFor, tokenizerUser, newSession, captureConsole, capturingLogger };

// ---- the suite every server runs --------------------------------------------------------------

const { startStack, freePort } = require('../test-support/stack');

/**
 * One tokenizer stack (embedded storage), a counting proxy in front of it and the tokens the
 * suites use, for a whole spec file. Everything is filled in `beforeAll`.
 */
function setupEnv() {
  const env = { secrets: [], sessions: [], errorBodies: [], lines: [], reported: [] };
  let restoreConsole;
  beforeAll(async () => {
    restoreConsole = captureConsole(env.lines);
    env.stack = await startStack({ mode: 'embedded' });
    env.proxy = await countingProxy(env.stack.tokenizerUrl);
    env.sdk = sdkFor(env.stack);
    // The app's LunaSec, through the counting proxy; tokenizer failures are reported to onError.
    env.gsdk = sdkFor(env.stack, { tokenizerURL: env.proxy.url, onError: (e) => env.reported.push(e) });
    env.deadUrl = `http://127.0.0.1:${await freePort()}`;
    // Tokens made by the application (no session has a grant for them): what the app's rows hold.
    env.values = Array.from({ length: 60 }, (_, i) => `ssn-${i}-${crypto.randomUUID()}`);
    env.secrets.push(...env.values);
    env.appTokens = await env.sdk.tokenizer.strict.tokenizeMany(env.values);
  }, 120000);
  afterAll(async () => {
    if (restoreConsole) restoreConsole();
    if (env.proxy) await env.proxy.close();
    if (!env.stack) return;
    await env.stack.stop();
    // No token, JWT, session id or plaintext in any GraphQL error, in the console, in what was
    // reported to onError, or in the tokenizer's and the app's logs.
    const texts = [
      ['GraphQL errors', JSON.stringify(env.errorBodies)],
      ['console and server loggers', env.lines.join('\n')],
      ['onError reports', env.reported.map((e) => `${e.name} ${e.message} ${e.stack} ${e.cause ? e.cause.message : ''}`).join('\n')],
      ['process logs', env.stack.logs()],
    ];
    for (const [, text] of texts) {
      expect(text).not.toMatch(TOKEN_RE);
      expect(text).not.toMatch(JWT_RE);
      for (const s of env.sessions) expect(text).not.toContain(s);
      for (const s of env.secrets) expect(text).not.toContain(s);
    }
  });
  env.session = () => {
    const s = newSession();
    env.sessions.push(s);
    return s;
  };
  env.user = (session) => tokenizerUser(env.stack, env.sdk, session);
  return env;
}

const codes = (body) => (body.errors || []).map((e) => e.extensions && e.extensions.code);
const verifyRoutes = (env) => env.proxy.routes().filter((r) => r === 'POST /grant/verify');

/**
 * The checks every server passes. `makeServer(sdk, { lines })` builds a server from a fresh
 * `makeResolvers()` and the SDK's directive and returns `{ exec(query, variables, session), close,
 * calls, data, store }`.
 */
function defineServerSuite(env, title, makeServer) {
  describe(title, () => {
    let srv;
    const exec = async (query, variables, session) => {
      const r = await srv.exec(query, variables || {}, session);
      if (r.body.errors) env.errorBodies.push(r.body.errors);
      return r;
    };

    beforeAll(async () => {
      srv = await makeServer(env.gsdk, { lines: env.lines });
      srv.data.rows = env.appTokens.slice(0, 50).map((ssn, i) => ({ id: i, ssn, note: `row ${i}` }));
    });
    afterAll(async () => {
      if (srv) await srv.close();
    });
    beforeEach(() => {
      env.proxy.reset();
      srv.calls.length = 0;
    });

    test('a query returning 50 rows makes exactly one grant request, and the user can read every token', async () => {
      const session = env.session();
      const user = env.user(session);
      expect((await user.detokenize(env.appTokens[0])).status).toBe(403);
      env.proxy.reset();
      const r = await exec('{ rows(n: 50) { id ssn note } }', {}, session);
      expect(r.status).toBe(200);
      expect(r.body.errors).toBeUndefined();
      expect(r.body.data.rows.map((x) => x.ssn)).toEqual(env.appTokens.slice(0, 50));
      expect(env.proxy.requests).toEqual([{ route: 'POST /grant/set', tokens: 50 }]);
      const back = await Promise.all(r.body.data.rows.map((x) => user.detokenize(x.ssn)));
      expect(back.map((b) => b.status)).toEqual(Array(50).fill(200));
      expect(back.map((b) => b.value)).toEqual(env.values.slice(0, 50));
      // Another session got nothing.
      expect((await env.user(env.session()).detokenize(env.appTokens[0])).status).toBe(403);
    });

    test('lists, nested lists, NonNull lists, promise items and interface marks: one request, duplicates once', async () => {
      const t = env.appTokens.slice(50, 57);
      srv.data.person = { name: 'Ada', secret: t[0], ssn: t[1], docs: [t[2], t[3], t[1]], matrix: [[t[4], null], [t[5]]], count: 3 };
      srv.data.sparse = [t[1], null, '', t[6]];
      const session = env.session();
      const r = await exec('{ person { name secret ssn docs matrix count } sparse again: sparse }', {}, session);
      expect(r.body.errors).toBeUndefined();
      expect(r.body.data).toEqual({ person: srv.data.person, sparse: [t[1], null, '', t[6]], again: [t[1], null, '', t[6]] });
      expect(env.proxy.requests).toEqual([{ route: 'POST /grant/set', tokens: 7 }]);
      const user = env.user(session);
      const back = await Promise.all(t.map((x) => user.detokenize(x)));
      expect(back.map((b) => b.value)).toEqual(env.values.slice(50, 57));
    });

    test('fields with different durations: one grant request per duration', async () => {
      srv.data.person = { name: 'Bo', secret: null, ssn: env.appTokens[57], docs: [], matrix: null, count: 0 };
      const r = await exec('{ rows(n: 3) { ssn } person { ssn docs } }', {}, env.session());
      expect(r.body.errors).toBeUndefined();
      expect(env.proxy.requests.map((x) => x.tokens).sort()).toEqual([1, 3]);
      expect(env.proxy.routes()).toEqual(['POST /grant/set', 'POST /grant/set']);
    });

    test("nulls and '' are skipped: no request, no session needed", async () => {
      srv.data.person = { name: 'Cy', secret: null, ssn: '', docs: [], matrix: [[null], []], count: 1 };
      srv.data.sparse = [null, ''];
      const r = await exec('{ person { secret ssn docs matrix } sparse empty }', {}, null);
      expect(r.body.errors).toBeUndefined();
      expect(r.body.data).toEqual({ person: { secret: null, ssn: '', docs: [], matrix: [[null], []] }, sparse: [null, ''], empty: '' });
      const m = await exec('mutation { setProfile(profile: { name: "x", ssn: null, docs: [], nested: { inner: null } }) setSsn(ssn: "") lookup: setLabel(label: "l") }', {}, null);
      expect(m.body.errors).toBeUndefined();
      expect(srv.calls).toEqual(['setProfile', 'setSsn', 'setLabel']);
      expect(env.proxy.requests).toEqual([]);
    });

    test('a value that is not a token is a field error (LUNASEC_BAD_TOKEN), the other fields resolve', async () => {
      const session = env.session();
      const r = await exec('{ bad badList plain rows(n: 1) { id } }', {}, session);
      expect(r.status).toBe(200);
      expect(r.body.data).toEqual({ bad: null, badList: null, plain: 'plain value', rows: [{ id: 0 }] });
      expect(codes(r.body).sort()).toEqual(['LUNASEC_BAD_TOKEN', 'LUNASEC_BAD_TOKEN']);
      expect(JSON.stringify(r.body.errors)).not.toContain('123-45-6789');
      // badList's good token was not granted either (the field failed as a whole).
      expect(env.proxy.requests).toEqual([]);
      const m = await exec('mutation($s: String!) { setSsn(ssn: $s) }', { s: '123-45-6789' }, session);
      expect(codes(m.body)).toEqual(['LUNASEC_BAD_TOKEN']);
      expect(m.body.errors[0].path).toEqual(['setSsn']);
      expect(JSON.stringify(m.body.errors)).not.toContain('123-45-6789');
      expect(srv.calls).toEqual([]);
      expect(verifyRoutes(env)).toEqual([]);
    });

    test('a missing session is UNAUTHENTICATED on token fields only', async () => {
      srv.data.person = { name: 'Di', secret: null, ssn: env.appTokens[58], docs: [], matrix: null, count: 2 };
      const r = await exec('{ plain person { name ssn count } }', {}, null);
      expect(r.body.data).toEqual({ plain: 'plain value', person: { name: 'Di', ssn: null, count: 2 } });
      expect(codes(r.body)).toEqual(['UNAUTHENTICATED']);
      expect(r.body.errors[0].path).toEqual(['person', 'ssn']);
      const user = await env.user(env.session()).tokenize('x');
      const m = await exec('mutation($s: String!) { setSsn(ssn: $s) }', { s: user }, null);
      expect(codes(m.body)).toEqual(['UNAUTHENTICATED']);
      expect(srv.calls).toEqual([]);
      expect(env.proxy.requests).toEqual([]);
    });

    describe('inputs: store grants verified before the resolver runs, in one request', () => {
      let alice;
      let own;
      let foreign;
      beforeAll(async () => {
        alice = env.session();
        const a = env.user(alice);
        const m = env.user(env.session());
        const vals = Array.from({ length: 5 }, (_, i) => `own-${i}-${crypto.randomUUID()}`);
        env.secrets.push(...vals);
        own = await Promise.all(vals.map((v) => a.tokenize(v)));
        const fv = `foreign-${crypto.randomUUID()}`;
        env.secrets.push(fv);
        foreign = await m.tokenize(fv);
      });

      // [title, field, query, own tokens → variable, (own, foreign) → variable, own → what the store then holds]
      const cases = [
        ['a NonNull scalar argument', 'setSsn', 'mutation($v: String!) { setSsn(ssn: $v) }', (o) => o[0], (o, f) => f, (st) => st.ssn, (o) => o[0]],
        ['a nullable ID argument of a query field', 'lookup', 'query($v: ID) { lookup(ssn: $v) }', (o) => o[0], (o, f) => f, null, null],
        ['a list argument', 'setDocs', 'mutation($v: [String!]!) { setDocs(docs: $v) }', (o) => [o[0], o[1], o[0]], (o, f) => [o[0], f, o[1]], (st) => st.docs, (o) => [o[0], o[1], o[0]]],
        ['a NonNull input field', 'setDoc', 'mutation($v: DocInput!) { setDoc(doc: $v) }', (o) => ({ ssn: o[2], label: 'l' }), (o, f) => ({ ssn: f, label: 'l' }), (st) => st.ssn, (o) => o[2]],
        [
          'nested input objects and lists of them',
          'setProfile',
          'mutation($v: ProfileInput!) { setProfile(profile: $v) }',
          (o) => ({ ssn: o[0], docs: [o[1]], nested: { inner: { ssn: o[2] }, deep: { children: [{ docs: [o[3], o[4]] }] } } }),
          (o, f) => ({ ssn: o[0], docs: [o[1]], nested: { inner: { ssn: o[2] }, deep: { children: [{ docs: [o[3], f] }] } } }),
          (st) => st.profile,
          (o) => ({ ssn: o[0], docs: [o[1]], nested: { inner: { ssn: o[2] }, deep: { children: [{ docs: [o[3], o[4]] }] } } }),
        ],
        [
          'a list of input objects',
          'setMany',
          'mutation($v: [ProfileInput!]!) { setMany(profiles: $v) }',
          (o) => [{ ssn: o[0] }, { children: [{ ssn: o[1] }] }],
          (o, f) => [{ ssn: o[0] }, { children: [{ nested: { inner: { ssn: f } } }] }],
          (st) => st.profiles,
          (o) => [{ ssn: o[0] }, { children: [{ ssn: o[1] }] }],
        ],
      ];

      test.each(cases)('through %s', async (_name, field, query, good, bad, stored, expected) => {
        // Another session's token (alone or among the user's own): refused, nothing written.
        const before = JSON.stringify(srv.store);
        const refused = await exec(query, { v: bad(own, foreign) }, alice);
        expect(refused.status).toBe(200);
        expect(codes(refused.body)).toEqual(['LUNASEC_TOKEN_NOT_GRANTED']);
        expect(refused.body.errors[0].path).toEqual([field]);
        expect(refused.body.data[field]).toBeNull();
        expect(srv.calls).toEqual([]);
        expect(JSON.stringify(srv.store)).toBe(before);
        expect(env.proxy.routes()).toEqual(['POST /grant/verify']);
        expect(JSON.stringify(refused.body.errors)).not.toMatch(TOKEN_RE);

        // The session's own tokens: one verify request for all of them, then the resolver.
        env.proxy.reset();
        const ok = await exec(query, { v: good(own) }, alice);
        expect(ok.body.errors).toBeUndefined();
        expect(ok.body.data[field]).not.toBeNull();
        expect(srv.calls).toEqual([field]);
        expect(env.proxy.routes()).toEqual(['POST /grant/verify']);
        if (stored) expect(JSON.parse(JSON.stringify(stored(srv.store)))).toEqual(expected(own));
      });

      test('inline literals, and several mutations: each verified before its resolver', async () => {
        const r = await exec(`mutation { a: setSsn(ssn: "${own[0]}") b: setSsn(ssn: "${foreign}") c: setLabel(label: "after") }`, {}, alice);
        expect(r.body.data).toEqual({ a: true, b: null, c: true });
        expect(codes(r.body)).toEqual(['LUNASEC_TOKEN_NOT_GRANTED']);
        expect(srv.calls).toEqual(['setSsn', 'setLabel']);
        expect(srv.store.ssn).toBe(own[0]);
        expect(JSON.stringify(r.body.errors)).not.toMatch(TOKEN_RE);
      });

      test('another session cannot store the user\'s tokens', async () => {
        const r = await exec('mutation($v: String!) { setSsn(ssn: $v) }', { v: own[1] }, env.session());
        expect(codes(r.body)).toEqual(['LUNASEC_TOKEN_NOT_GRANTED']);
        expect(srv.calls).toEqual([]);
      });
    });

    test('a tokenizer that is down: those fields are null with LUNASEC_TOKENIZER_UNAVAILABLE, the others resolve', async () => {
      const reported = [];
      const down = sdkFor(env.stack, { tokenizerURL: env.deadUrl, client: { retries: 0, timeoutMs: 3000 }, onError: (e) => reported.push(e) });
      const other = await makeServer(down, { lines: env.lines });
      try {
        other.data.rows = env.appTokens.slice(0, 3).map((ssn, i) => ({ id: i, ssn, note: `n${i}` }));
        other.data.person = { name: 'Ed', secret: null, ssn: env.appTokens[59], docs: [], matrix: null, count: 4 };
        const session = env.session();
        const r = await other.exec('{ plain person { name ssn count } rows(n: 3) { id ssn note } }', {}, session);
        if (r.body.errors) env.errorBodies.push(r.body.errors);
        expect(r.status).toBe(200);
        // rows' ssn is nullable: each row keeps its other fields.
        expect(r.body.data).toEqual({ plain: 'plain value', person: { name: 'Ed', ssn: null, count: 4 }, rows: [0, 1, 2].map((i) => ({ id: i, ssn: null, note: `n${i}` })) });
        expect(codes(r.body)).toEqual(Array(4).fill('LUNASEC_TOKENIZER_UNAVAILABLE'));
        expect(r.body.errors[0].extensions.lunasecErrorCode).toBe('ERR_TOKENIZER_UNREACHABLE');
        const m = await other.exec('mutation($v: String!) { setSsn(ssn: $v) }', { v: env.appTokens[0] }, session);
        if (m.body.errors) env.errorBodies.push(m.body.errors);
        expect(codes(m.body)).toEqual(['LUNASEC_TOKENIZER_UNAVAILABLE']);
        expect(other.calls).toEqual([]);
        expect(reported.length).toBeGreaterThanOrEqual(2);
        expect(reported[0]).toMatchObject({ errorCode: 'ERR_TOKENIZER_UNREACHABLE' });
        env.reported.push(...reported);
      } finally {
        await other.close();
      }
    });
  });
}

module.exports.setupEnv = setupEnv;
module.exports.defineServerSuite = defineServerSuite;
module.exports.codes = codes;
