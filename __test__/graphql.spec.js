'use strict';
// The GraphQL `@token` directive on real servers (Apollo Server 5 over Express 5 and Express 4,
// graphql-yoga 5, plain graphql()) with graphql 16, against the real tokenizer binary (embedded
// storage), no mocks. Grant requests are counted by a proxy in front of the tokenizer.
const crypto = require('node:crypto');
const http = require('node:http');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const express = require('express');
const express4 = require('express4');
const graphqlJs = require('graphql');
const { makeExecutableSchema } = require('@graphql-tools/schema');
const { ApolloServer } = require('@apollo/server');
const { expressMiddleware: express5Middleware } = require('@as-integrations/express5');
const { expressMiddleware: express4Middleware } = require('@as-integrations/express4');
const { createYoga } = require('graphql-yoga');
const { LunaSec, LunaSecError, tokenDirectiveTypeDefs } = require('../lib');
const { listen } = require('./helpers');
const { TYPE_DEFS, TOKEN_RE, makeResolvers, setupEnv, defineServerSuite, codes, capturingLogger } = require('./graphql-shared');

const env = setupEnv();

function executableSchema(sdk, resolvers, typeDefs = TYPE_DEFS) {
  return makeExecutableSchema({ typeDefs: [sdk.tokenDirective.typeDefs, typeDefs], resolvers });
}

async function postJson(url, query, variables, session) {
  const headers = { 'content-type': 'application/json' };
  if (session) headers['x-session'] = session;
  const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
  return { status: res.status, body: await res.json() };
}

/** Apollo Server 5 mounted on an Express app with the given integration. */
function apolloOver(expressModule, expressMiddleware) {
  return async (sdk, { lines }) => {
    const r = makeResolvers();
    const schema = sdk.tokenDirective.transform(executableSchema(sdk, r.resolvers));
    const server = new ApolloServer({ schema, logger: capturingLogger(lines) });
    await server.start();
    const app = expressModule();
    app.use('/graphql', expressModule.json(), expressMiddleware(server, { context: async ({ req }) => ({ req }) }));
    const h = await listen(app);
    return {
      ...r,
      exec: (q, v, s) => postJson(`${h.url}/graphql`, q, v, s),
      close: async () => {
        await server.stop();
        await h.close();
      },
    };
  };
}

defineServerSuite(env, 'Apollo Server 5 over Express 5 (@as-integrations/express5)', apolloOver(express, express5Middleware));
defineServerSuite(env, 'Apollo Server 5 over Express 4 (@as-integrations/express4)', apolloOver(express4, express4Middleware));

defineServerSuite(env, 'graphql-yoga 5 (the session from the Fetch Request, through getRequest)', async (sdk, { lines }) => {
  const r = makeResolvers();
  // sessionFromHeaders reads `request.headers.get('x-session')` on Yoga's Fetch Request.
  const schema = sdk.tokenDirective.transform(executableSchema(sdk, r.resolvers), { getRequest: (ctx) => ctx.request });
  const yoga = createYoga({ schema, logging: capturingLogger(lines), graphiql: false });
  const server = http.createServer(yoga);
  await new Promise((res) => server.listen(0, '127.0.0.1', res));
  const url = `http://127.0.0.1:${server.address().port}/graphql`;
  return {
    ...r,
    exec: (q, v, s) => postJson(url, q, v, s),
    close: () =>
      new Promise((res) => {
        server.closeAllConnections();
        server.close(res);
      }),
  };
});

defineServerSuite(env, 'plain graphql() (graphql 16), the session in context.lunaSecSessionId', async (sdk) => {
  const r = makeResolvers();
  const schema = sdk.tokenDirective.transform(executableSchema(sdk, r.resolvers));
  return {
    ...r,
    exec: async (source, variableValues, session) => {
      const result = await graphqlJs.graphql({ schema, source, variableValues, contextValue: session ? { lunaSecSessionId: session } : {} });
      return { status: 200, body: JSON.parse(JSON.stringify(result)) };
    },
    close: async () => {},
  };
});

describe('transform()', () => {
  test('the typeDefs and the exported SDL', () => {
    expect(env.gsdk.tokenDirective.typeDefs).toBe('directive @token(duration: String) on FIELD_DEFINITION | INPUT_FIELD_DEFINITION | ARGUMENT_DEFINITION');
    expect(tokenDirectiveTypeDefs).toBe(env.gsdk.tokenDirective.typeDefs);
  });

  test('returns a new schema and leaves the original untouched', async () => {
    const r = makeResolvers();
    const original = executableSchema(env.gsdk, r.resolvers);
    const before = original.getQueryType().getFields().bad.resolve;
    const transformed = env.gsdk.tokenDirective.transform(original);
    expect(transformed).not.toBe(original);
    expect(transformed).toBeInstanceOf(graphqlJs.GraphQLSchema);
    expect(graphqlJs.validateSchema(transformed)).toEqual([]);
    expect(original.getQueryType().getFields().bad.resolve).toBe(before);
    expect(transformed.getQueryType().getFields().bad.resolve).not.toBe(before);
    expect(graphqlJs.printSchema(transformed)).toBe(graphqlJs.printSchema(original));
    // The original still runs without the directive's checks.
    const plain = await graphqlJs.graphql({ schema: original, source: '{ bad }' });
    expect(plain).toEqual({ data: { bad: 'not a token 123-45-6789' } });
    // Transforming twice does not wrap twice.
    const twice = env.gsdk.tokenDirective.transform(transformed);
    expect(twice.getQueryType().getFields().bad.resolve).toBe(transformed.getQueryType().getFields().bad.resolve);
  });

  test.each([
    ['an Int output field', 'type Query { count: Int @token }', /Query\.count/],
    ['an object-typed output field', 'type Box { v: String } type Query { box: Box @token }', /Query\.box/],
    ['a list of Int', 'type Query { counts: [Int!]! @token }', /Query\.counts.*\[Int!\]!/],
    ['an Int argument', 'type Query { q: String } type Mutation { setAge(age: Int @token): Boolean }', /Mutation\.setAge\(age:\)/],
    ['an input-object argument', 'input P { a: String } type Query { q(p: P @token): String }', /Query\.q\(p:\)/],
    ['an Int input field', 'input P { n: Int @token } type Query { q(p: P): String }', /input field P\.n/],
    ['an Int interface field', 'interface I { n: Int @token } type T implements I { n: Int } type Query { t: T }', /I\.n/],
    ['a bad duration', 'type Query { s: String @token(duration: "3 hours") }', /Query\.s.*duration/],
  ])('a directive on %s fails at transform() naming the type and field', (_name, sdl, message) => {
    const schema = makeExecutableSchema({ typeDefs: [tokenDirectiveTypeDefs, sdl] });
    let err;
    try {
      env.gsdk.tokenDirective.transform(schema);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(LunaSecError);
    expect(err).toMatchObject({ errorCode: 'ERR_CONFIG_INVALID' });
    expect(err.message).toMatch(message);
  });

  test('a schema-less argument or bad options are refused', () => {
    expect(() => env.gsdk.tokenDirective.transform({})).toThrow(/GraphQLSchema/);
    const schema = makeExecutableSchema({ typeDefs: 'type Query { a: String }' });
    expect(() => env.gsdk.tokenDirective.transform(schema, { getRequest: 'req' })).toThrow(/getRequest/);
  });

  test('graphql() without a context: UNAUTHENTICATED as a GraphQLError, not a crash', async () => {
    const r = makeResolvers();
    r.data.rows = [{ id: 1, ssn: env.appTokens[0], note: '' }];
    const schema = env.gsdk.tokenDirective.transform(executableSchema(env.gsdk, r.resolvers));
    const result = await graphqlJs.graphql({ schema, source: '{ rows(n: 1) { id ssn } plain }' });
    expect(result.errors[0]).toBeInstanceOf(graphqlJs.GraphQLError);
    expect(result.errors[0].extensions.code).toBe('UNAUTHENTICATED');
    expect(result.data).toEqual({ rows: [{ id: 1, ssn: null }], plain: 'plain value' });
    env.errorBodies.push(JSON.parse(JSON.stringify(result.errors)));
  });

  test('getSessionId: the session from anywhere in the context (called once per request)', async () => {
    const r = makeResolvers();
    r.data.rows = env.appTokens.slice(0, 10).map((ssn, i) => ({ id: i, ssn, note: '' }));
    let asked = 0;
    const schema = env.gsdk.tokenDirective.transform(executableSchema(env.gsdk, r.resolvers), {
      getSessionId: async (ctx) => {
        asked++;
        await new Promise((res) => setTimeout(res, 5));
        return ctx.user.sid;
      },
    });
    const session = env.session();
    env.proxy.reset();
    const result = await graphqlJs.graphql({ schema, source: '{ rows(n: 10) { ssn } }', contextValue: { user: { sid: session } } });
    expect(result.errors).toBeUndefined();
    expect(asked).toBe(1);
    expect(env.proxy.requests).toEqual([{ route: 'POST /grant/set', tokens: 10 }]);
    expect((await env.user(session).detokenize(env.appTokens[9])).status).toBe(200);
  });

  test('more tokens than the tokenizer takes in one request (1000): split into as few requests as possible', async () => {
    const r = makeResolvers();
    const many = Array.from({ length: 1500 }, () => `lunasec-${crypto.randomUUID()}`);
    r.data.rows = many.map((ssn, id) => ({ id, ssn, note: '' }));
    const schema = env.gsdk.tokenDirective.transform(executableSchema(env.gsdk, r.resolvers));
    const contextValue = { lunaSecSessionId: env.session() };
    env.proxy.reset();
    const q = await graphqlJs.graphql({ schema, source: '{ rows(n: 1500) { ssn } }', contextValue });
    expect(q.errors).toBeUndefined();
    // The two requests run concurrently: compare them in a fixed order.
    const sorted = () => [...env.proxy.requests].sort((a, b) => b.tokens - a.tokens);
    expect(sorted()).toEqual([
      { route: 'POST /grant/set', tokens: 1000 },
      { route: 'POST /grant/set', tokens: 500 },
    ]);
    env.proxy.reset();
    const m = await graphqlJs.graphql({ schema, source: 'mutation($d: [String!]!) { setDocs(docs: $d) }', variableValues: { d: many.slice(0, 1200) }, contextValue });
    expect(m.errors.map((e) => e.extensions.code)).toEqual(['LUNASEC_TOKEN_NOT_GRANTED']);
    expect(sorted()).toEqual([
      { route: 'POST /grant/verify', tokens: 1000 },
      { route: 'POST /grant/verify', tokens: 200 },
    ]);
    expect(r.calls).toEqual([]);
  });

  test('a context object reused across executions does not reuse grants across them', async () => {
    const r = makeResolvers();
    r.data.rows = env.appTokens.slice(0, 2).map((ssn, i) => ({ id: i, ssn, note: '' }));
    const schema = env.gsdk.tokenDirective.transform(executableSchema(env.gsdk, r.resolvers));
    const contextValue = { lunaSecSessionId: env.session() };
    env.proxy.reset();
    await graphqlJs.graphql({ schema, source: '{ rows(n: 2) { ssn } }', contextValue });
    await graphqlJs.graphql({ schema, source: '{ rows(n: 2) { ssn } }', contextValue });
    expect(env.proxy.routes()).toEqual(['POST /grant/set', 'POST /grant/set']);
  });

  describe('code-first schemas: extensions.lunasec.token', () => {
    const { GraphQLObjectType, GraphQLSchema, GraphQLString, GraphQLNonNull, GraphQLList, GraphQLInputObjectType, GraphQLBoolean, GraphQLInt } = graphqlJs;
    const calls = [];
    const stored = { value: null };
    const CardInput = new GraphQLInputObjectType({
      name: 'CardInput',
      fields: { number: { type: new GraphQLNonNull(GraphQLString), extensions: { lunasec: { token: true } } }, holder: { type: GraphQLString } },
    });
    const schemaWith = (rows) =>
      new GraphQLSchema({
        query: new GraphQLObjectType({
          name: 'Query',
          fields: {
            cards: { type: new GraphQLList(GraphQLString), extensions: { lunasec: { token: { duration: '5m' } } }, resolve: () => rows },
            // The graphql-tools convention for code-first directives is honoured too.
            other: { type: GraphQLString, extensions: { directives: { token: [{}] } }, resolve: () => rows[0] },
          },
        }),
        mutation: new GraphQLObjectType({
          name: 'Mutation',
          fields: {
            saveCard: {
              type: GraphQLBoolean,
              args: { card: { type: new GraphQLNonNull(CardInput) }, pin: { type: GraphQLString, extensions: { lunasec: { token: {} } } } },
              resolve: (_s, { card }) => {
                calls.push('saveCard');
                stored.value = card.number;
                return true;
              },
            },
          },
        }),
      });

    test('output fields get read grants, inputs are verified', async () => {
      const schema = env.gsdk.tokenDirective.transform(schemaWith(env.appTokens.slice(0, 3)));
      const session = env.session();
      env.proxy.reset();
      const q = await graphqlJs.graphql({ schema, source: '{ cards other }', contextValue: { lunaSecSessionId: session } });
      expect(q.errors).toBeUndefined();
      expect(q.data.cards).toEqual(env.appTokens.slice(0, 3));
      // Two durations (5m and the default): two requests.
      expect(env.proxy.requests.map((x) => x.tokens).sort()).toEqual([1, 3]);
      expect((await env.user(session).detokenize(env.appTokens[2])).status).toBe(200);

      const own = await env.user(session).tokenize('4111 1111 1111 1111');
      const foreign = await env.user(env.session()).tokenize('4000 0000 0000 0002');
      const bad = await graphqlJs.graphql({ schema, source: 'mutation($c: CardInput!, $p: String) { saveCard(card: $c, pin: $p) }', variableValues: { c: { number: own }, p: foreign }, contextValue: { lunaSecSessionId: session } });
      expect(codes(JSON.parse(JSON.stringify(bad)))).toEqual(['LUNASEC_TOKEN_NOT_GRANTED']);
      expect(calls).toEqual([]);
      expect(stored.value).toBeNull();
      env.errorBodies.push(JSON.parse(JSON.stringify(bad.errors)));
      const ok = await graphqlJs.graphql({ schema, source: 'mutation($c: CardInput!) { saveCard(card: $c) }', variableValues: { c: { number: own } }, contextValue: { lunaSecSessionId: session } });
      expect(ok).toEqual({ data: { saveCard: true } });
      expect(calls).toEqual(['saveCard']);
      expect(stored.value).toBe(own);
    });

    test('a misplaced code-first mark fails at transform()', () => {
      const schema = new GraphQLSchema({
        query: new GraphQLObjectType({ name: 'Query', fields: { n: { type: GraphQLInt, extensions: { lunasec: { token: true } } } } }),
      });
      expect(() => env.gsdk.tokenDirective.transform(schema)).toThrow(/Query\.n/);
    });
  });

  test('a cyclic input type is walked without looping', async () => {
    const r = makeResolvers();
    const schema = env.gsdk.tokenDirective.transform(
      makeExecutableSchema({
        typeDefs: [tokenDirectiveTypeDefs, 'input Node { t: String @token, next: Node, list: [Node] } type Query { walk(n: Node!): Int }'],
        resolvers: { Query: { walk: () => { r.calls.push('walk'); return 1; } } },
      }),
    );
    const session = env.session();
    const own = await env.user(session).tokenize('deep');
    const deep = { next: { list: [{ next: { t: own } }, { t: '' }] } };
    const ok = await graphqlJs.graphql({ schema, source: 'query($n: Node!) { walk(n: $n) }', variableValues: { n: deep }, contextValue: { lunaSecSessionId: session } });
    expect(ok).toEqual({ data: { walk: 1 } });
    const refused = await graphqlJs.graphql({ schema, source: 'query($n: Node!) { walk(n: $n) }', variableValues: { n: deep }, contextValue: { lunaSecSessionId: env.session() } });
    expect(refused.errors[0].extensions.code).toBe('LUNASEC_TOKEN_NOT_GRANTED');
    expect(r.calls).toEqual(['walk']);
    expect(JSON.stringify(refused.errors)).not.toMatch(TOKEN_RE);
  });

  test('requiring the SDK without graphql installed works; transform() then still needs a schema', () => {
    // A child process where `require('graphql')` (and every graphql package) fails to resolve.
    const script = `
      const Module = require('node:module');
      const orig = Module._resolveFilename;
      Module._resolveFilename = function (request, ...rest) {
        if (/^(graphql|@graphql-tools|@apollo)/.test(request)) { const e = new Error('Cannot find module ' + request); e.code = 'MODULE_NOT_FOUND'; throw e; }
        return orig.call(this, request, ...rest);
      };
      const { LunaSec, tokenDirectiveTypeDefs } = require(${JSON.stringify(path.join(__dirname, '..', 'lib'))});
      const crypto = require('node:crypto');
      const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
      const l = new LunaSec({ tokenizerURL: 'http://127.0.0.1:1', auth: { secrets: { provider: 'manual', signingKey: privateKey }, sessionIdProvider: () => null } });
      let refused = '';
      try { l.tokenDirective.transform({}); } catch (e) { refused = e.errorCode; }
      process.stdout.write(JSON.stringify({ typeDefs: l.tokenDirective.typeDefs === tokenDirectiveTypeDefs, refused }));
    `;
    const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }));
    expect(out).toEqual({ typeDefs: true, refused: 'ERR_CONFIG_INVALID' });
  });
});

test('LunaSec without graphql-related config still constructs (no new required options)', () => {
  const l = new LunaSec({ tokenizerURL: 'http://127.0.0.1:1', auth: { secrets: { provider: 'manual', signingKey: Buffer.from(env.stack.signingKey, 'base64').toString() }, sessionIdProvider: () => 's' } });
  expect(typeof l.tokenDirective.transform).toBe('function');
});

describe("the example app's GraphQL mode (examples/express-app/graphql.js)", () => {
  const { mountGraphQL } = require('../examples/express-app/graphql');
  let h;
  let mounted;
  const rows = new Map();
  const rowOf = (username, create) => {
    if (!rows.has(username) && create) rows.set(username, { username, ssn: '', note: '', documents: [], updatedAt: null });
    return rows.get(username) || null;
  };
  // The test's users: the session id is the username (header x-session), as gsdk's provider reads it.
  const sessionOf = (req) => (req.get('x-session') ? { username: req.get('x-session') } : null);

  beforeAll(async () => {
    const app = express();
    mounted = mountGraphQL(app, { lunaSec: env.gsdk, sessionOf, rowOf });
    await mounted.started;
    h = await listen(app);
  });
  afterAll(async () => {
    if (mounted) await mounted.server.stop();
    if (h) await h.close();
  });

  const gql = async (query, variables, session) => {
    const r = await postJson(`${h.url}/graphql`, query, variables, session);
    if (r.body.errors) env.errorBodies.push(r.body.errors);
    return r;
  };

  test('the SSN is read (with read grants) and written (store grant checked) through GraphQL', async () => {
    const alice = env.session();
    const mallory = env.session();
    expect(codes((await gql('{ me { ssn } }', {}, null)).body)).toEqual(['UNAUTHENTICATED']);

    // A row holding an application-made token: reading it through GraphQL grants alice a read.
    rowOf(alice, true).ssn = env.appTokens[10];
    expect((await env.user(alice).detokenize(env.appTokens[10])).status).toBe(403);
    env.proxy.reset();
    const read = await gql('{ me { username ssn documents } ssn }', {}, alice);
    expect(read.body).toEqual({ data: { me: { username: alice, ssn: env.appTokens[10], documents: [] }, ssn: env.appTokens[10] } });
    // `me.ssn` (15m default) and `ssn` (5m): one request per duration.
    expect(env.proxy.routes()).toEqual(['POST /grant/set', 'POST /grant/set']);
    expect(await env.user(alice).detokenize(env.appTokens[10])).toEqual({ status: 200, value: env.values[10] });

    // Writing: alice's own token is stored; mallory's is refused and nothing changes.
    const mine = await env.user(alice).tokenize('123-45-6789');
    const theirs = await env.user(mallory).tokenize('987-65-4321');
    const refused = await gql('mutation($t: String!) { setSsn(token: $t) }', { t: theirs }, alice);
    expect(codes(refused.body)).toEqual(['LUNASEC_TOKEN_NOT_GRANTED']);
    expect(rowOf(alice).ssn).toBe(env.appTokens[10]);
    const ok = await gql('mutation($t: String!) { setSsn(token: $t) }', { t: mine }, alice);
    expect(ok.body).toEqual({ data: { setSsn: true } });
    expect(rowOf(alice).ssn).toBe(mine);

    const doc = await env.user(alice).tokenize('passport scan');
    const saved = await gql('mutation($p: ProfileInput!) { saveProfile(profile: $p) { ssn documents } }', { p: { ssn: '', documents: [doc, theirs] } }, alice);
    expect(codes(saved.body)).toEqual(['LUNASEC_TOKEN_NOT_GRANTED']);
    expect(rowOf(alice).documents).toEqual([]);
    const saved2 = await gql('mutation($p: ProfileInput!) { saveProfile(profile: $p) { ssn documents } }', { p: { ssn: '', documents: [doc] } }, alice);
    expect(saved2.body).toEqual({ data: { saveProfile: { ssn: mine, documents: [doc] } } });
    expect(JSON.stringify(refused.body) + JSON.stringify(saved.body)).not.toMatch(TOKEN_RE);
  });
});
