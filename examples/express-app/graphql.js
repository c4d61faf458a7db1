'use strict';
// The demo's GraphQL mode: the same sensitive fields as the REST API (the SSN, the note and the ID
// documents, all tokens) read and written through GraphQL at /graphql, with Apollo Server 5 on
// Express 5 (@as-integrations/express5) and the SDK's `@token` directive:
//
// - reading `me { ssn note documents }` gives the session read grants for the tokens it returns
//   (one batch request to the tokenizer per GraphQL request);
// - `setSsn` / `saveProfile` verify that the session created the tokens (store grants, one batch
//   request) before the resolver runs; another session's token is refused and nothing is written.
//
//   curl -b demo_session=… -H 'content-type: application/json' \
//        -d '{"query":"{ me { username ssn } }"}' http://localhost:3001/graphql
//
// mountGraphQL(app, { lunaSec, sessionOf, rowOf }) mounts the route synchronously (so it sits before
// the app's 404 handler); Apollo starts in the background and the route answers 503 until it has.
const express = require('express');

const TYPE_DEFS = /* GraphQL */ `
  "What the app stored for the signed-in user: tokens only."
  type Profile {
    username: String!
    ssn: String @token
    note: String @token
    documents: [String!]! @token
    updatedAt: String
  }

  "Tokens from the Secure Frames. An empty string keeps what is saved."
  input ProfileInput {
    ssn: String @token
    note: String @token
    documents: [String!] @token
  }

  type Query {
    "The signed-in user's saved profile, or null. Its tokens come with read grants (15 minutes)."
    me: Profile
    "The saved SSN token alone, with a read grant of the given length (at most the tokenizer's maximum)."
    ssn: String @token(duration: "5m")
  }

  type Mutation {
    "Stores an SSN token this session created (checked with the tokenizer first)."
    setSsn(token: String! @token): Boolean!
    "Saves the profile's tokens (each checked with the tokenizer first, in one request)."
    saveProfile(profile: ProfileInput!): Profile!
  }
`;

/** What the API answers before Apollo has started, or when the GraphQL packages are missing. */
function unavailable(res, status, message) {
  res.status(status).set('Cache-Control', 'no-store').json({ errors: [{ message, extensions: { code: 'SERVICE_UNAVAILABLE' } }] });
}

/**
 * Mounts POST/GET /graphql on `app`. `sessionOf(req)` is the app's `{ username } | null`;
 * `rowOf(username, create)` its row `{ username, ssn, note, documents, updatedAt }`.
 */
function mountGraphQL(app, { lunaSec, sessionOf, rowOf, path = '/graphql' }) {
  let handler = null;
  let failed = null;
  const router = express.Router();
  const json = express.json({ limit: '64kb' });
  // The app may already have read the body (the demo's own reader sets req.body); Apollo needs one.
  router.use((req, res, next) => (req.body !== undefined ? next() : json(req, res, next)));
  router.use((req, res, next) => {
    if (req.body === undefined) req.body = {};
    if (failed) return unavailable(res, 501, failed);
    if (!handler) return unavailable(res, 503, 'GraphQL is starting; try again in a moment.');
    return handler(req, res, next);
  });
  app.use(path, router);

  let ApolloServer;
  let expressMiddleware;
  let makeExecutableSchema;
  let GraphQLError;
  try {
    ({ ApolloServer } = require('@apollo/server'));
    ({ expressMiddleware } = require('@as-integrations/express5'));
    ({ makeExecutableSchema } = require('@graphql-tools/schema'));
    ({ GraphQLError } = require('graphql'));
  } catch {
    failed = 'GraphQL mode needs @apollo/server, @as-integrations/express5, @graphql-tools/schema and graphql (npm install).';
    return null;
  }

  const userOf = (ctx) => {
    const s = sessionOf(ctx.req);
    if (!s) throw new GraphQLError('log in first', { extensions: { code: 'UNAUTHENTICATED' } });
    return s;
  };
  const profileOf = (row) => (row ? { username: row.username, ssn: row.ssn, note: row.note, documents: [...row.documents], updatedAt: row.updatedAt } : null);

  const resolvers = {
    Query: {
      me: (_s, _a, ctx) => profileOf(rowOf(userOf(ctx).username)),
      ssn: (_s, _a, ctx) => {
        const row = rowOf(userOf(ctx).username);
        return row && row.ssn ? row.ssn : null;
      },
    },
    Mutation: {
      // The directive has checked the token's store grant before this runs.
      setSsn: (_s, { token }, ctx) => {
        if (token === '') return false;
        const row = rowOf(userOf(ctx).username, true);
        row.ssn = token;
        row.updatedAt = new Date().toISOString();
        return true;
      },
      saveProfile: (_s, { profile }, ctx) => {
        const docs = (profile.documents || []).filter((d) => d !== '');
        if (docs.length > 20) throw new GraphQLError('at most 20 documents', { extensions: { code: 'BAD_USER_INPUT' } });
        const row = rowOf(userOf(ctx).username, true);
        if (profile.ssn) row.ssn = profile.ssn;
        if (profile.note) row.note = profile.note;
        if (docs.length) row.documents = docs;
        row.updatedAt = new Date().toISOString();
        return profileOf(row);
      },
    },
  };

  const schema = lunaSec.tokenDirective.transform(makeExecutableSchema({ typeDefs: [lunaSec.tokenDirective.typeDefs, TYPE_DEFS], resolvers }));
  // Errors are answered, never logged (a logged request could carry tokens).
  const silent = { debug() {}, info() {}, warn() {}, error() {} };
  const server = new ApolloServer({ schema, logger: silent, includeStacktraceInErrorResponses: false });
  const started = server.start().then(
    () => {
      handler = expressMiddleware(server, { context: async ({ req }) => ({ req }) });
    },
    () => {
      failed = 'GraphQL failed to start.';
    },
  );
  return { server, started, schema };
}

module.exports = { mountGraphQL, TYPE_DEFS };
