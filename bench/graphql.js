'use strict';
// A GraphQL query returning 100 `@token` fields (`{ rows { id ssn } }`, 100 rows), executed with
// graphql-js against the real tokenizer (embedded storage, loopback), in the same run:
//
//   ours       `lunaSec.tokenDirective.transform(schema)`: the 100 tokens of the request go to the
//              tokenizer as ONE batch grant request (pooled Rust client, cached application JWT).
//   original   the original Apollo 2 `SchemaDirectiveVisitor` way: each `@token` field's resolver
//              creates its own grant — per token a freshly signed jose JWT (the key re-read and
//              re-parsed, as the original's createAuthenticationJWT did) and its own POST /grant/set.
//   per-token  the original's shape with our client: each field awaits `lunaSec.grants.create(session,
//              token)` (100 requests over the pooled keep-alive client, JWT cached) — the batching alone.
//
// Target: ours ≥ 30× faster than the original at 100 tokens.
//
//   node bench/graphql.js            (or: npm run bench -- graphql)
const crypto = require('node:crypto');
const { LunaSec } = require('../lib');
const { startStack } = require('../test-support/stack');
const { measure, printTable } = require('./harness');

const N = 100;
const TYPE_DEFS = `
  type Row { id: Int!, ssn: String @token }
  type Query { rows: [Row!]! }
`;

async function main() {
  const graphql = require('graphql');
  const { makeExecutableSchema } = require('@graphql-tools/schema');
  const jose = await import('jose');
  const stack = await startStack({ mode: 'embedded' });
  try {
    const pem = Buffer.from(stack.signingKey, 'base64').toString();
    const lunaSec = new LunaSec({ tokenizerURL: stack.tokenizerUrl, auth: { secrets: { provider: 'manual', signingKey: pem }, sessionIdProvider: (req) => req.sessionId } });
    const tokens = await lunaSec.tokenizer.strict.tokenizeMany(Array.from({ length: N }, () => crypto.randomBytes(8).toString('hex')));
    const rows = tokens.map((ssn, id) => ({ id, ssn }));
    const build = () => makeExecutableSchema({ typeDefs: [lunaSec.tokenDirective.typeDefs, TYPE_DEFS], resolvers: { Query: { rows: () => rows } } });

    // The original's grant: a fresh jose JWT (key re-parsed) and one POST /grant/set per token.
    async function originalGrant(sessionId, tokenId) {
      const key = await jose.importPKCS8(pem, 'RS256');
      const jwt = await new jose.SignJWT({})
        .setProtectedHeader({ alg: 'RS256', kid: 'lunasec-signing-key' })
        .setIssuedAt()
        .setIssuer('node-sdk')
        .setSubject('application')
        .setAudience('secure-frame')
        .setExpirationTime('15m')
        .sign(key);
      const res = await fetch(`${stack.tokenizerUrl}/grant/set`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: jwt },
        body: JSON.stringify({ sessionId, tokenId, grantType: 'read_token' }),
      });
      const body = await res.json();
      if (!body.success) throw new Error('grant failed');
    }

    /** The Apollo 2 visitor's visitFieldDefinition, applied by hand to Row.ssn. */
    function visitorStyle(grant) {
      const schema = build();
      const field = schema.getType('Row').getFields().ssn;
      const resolve = field.resolve || graphql.defaultFieldResolver;
      field.resolve = async function (...args) {
        const result = await resolve.apply(this, args);
        if (!result) return result;
        await grant(args[2].req.sessionId, result);
        return result;
      };
      return schema;
    }

    const schemas = {
      ours: lunaSec.tokenDirective.transform(build()),
      original: visitorStyle(originalGrant),
      perToken: visitorStyle((sessionId, token) => lunaSec.grants.create(sessionId, token)),
    };
    const source = '{ rows { id ssn } }';
    const run = (schema) => async () => {
      const r = await graphql.graphql({ schema, source, contextValue: { req: { sessionId: 'bench-session' } } });
      if (r.errors || r.data.rows.length !== N) throw new Error('query failed');
    };

    const rowsOut = [];
    rowsOut.push(await measure(`ours: 1 batch grant request for ${N} @token fields`, run(schemas.ours), { async: true }));
    rowsOut.push(await measure(`original (Apollo 2 visitor): ${N} × (jose JWT, key re-parsed) + ${N} requests`, run(schemas.original), { async: true }));
    rowsOut.push(await measure(`original's shape, our client: ${N} × grants.create (${N} requests)`, run(schemas.perToken), { async: true }));
    printTable(`GraphQL query returning ${N} @token fields (graphql-js, loopback tokenizer)`, rowsOut, rowsOut[0].name);
    const vsOriginal = rowsOut[1].nsPerOp / rowsOut[0].nsPerOp;
    const vsPerToken = rowsOut[2].nsPerOp / rowsOut[0].nsPerOp;
    process.stdout.write(`\n## Target\n- ≥ 30× at ${N} tokens: measured ${vsOriginal.toFixed(0)}× (vs the original), ${vsPerToken.toFixed(1)}× (vs one grants.create per token with our client)\n`);
    return { tokens: N, rows: rowsOut, ratioVsOriginal: vsOriginal, ratioVsPerTokenOurClient: vsPerToken };
  } finally {
    await stack.stop();
  }
}

module.exports = main;
if (require.main === module) {
  main().catch((e) => {
    process.stderr.write(`benchmark failed: ${e && e.message}\n`);
    process.exit(1);
  });
}
