'use strict';
// The same checks as graphql.spec.js's plain graphql() server, with graphql 17 (installed as the
// npm alias `graphql17`, next to graphql 16): the directive rebuilds the schema with the schema's
// own graphql classes, so a second copy of graphql works. The schema is built with graphql 17's
// buildSchema (graphql-tools would load graphql 16).
const graphql17 = require('graphql17');
const { LunaSecError, tokenDirectiveTypeDefs } = require('../lib');
const { TYPE_DEFS, makeResolvers, attachResolvers, setupEnv, defineServerSuite } = require('./graphql-shared');

const env = setupEnv();

test('this suite really runs graphql 17', () => {
  expect(graphql17.version).toMatch(/^17\./);
  expect(require('graphql').version).toMatch(/^16\./);
});

defineServerSuite(env, 'plain graphql() (graphql 17)', async (sdk) => {
  const r = makeResolvers();
  const built = attachResolvers(graphql17.buildSchema(`${sdk.tokenDirective.typeDefs}\n${TYPE_DEFS}`), r.resolvers);
  const schema = sdk.tokenDirective.transform(built);
  expect(schema).toBeInstanceOf(graphql17.GraphQLSchema);
  expect(graphql17.validateSchema(schema)).toEqual([]);
  return {
    ...r,
    exec: async (source, variableValues, session) => {
      const result = await graphql17.graphql({ schema, source, variableValues, contextValue: session ? { req: { headers: { 'x-session': session } } } : {} });
      return { status: 200, body: JSON.parse(JSON.stringify(result)) };
    },
    close: async () => {},
  };
});

test('graphql 17: a misplaced directive fails at transform()', () => {
  const schema = graphql17.buildSchema(`${tokenDirectiveTypeDefs}\ntype Query { n: Int @token }`);
  expect(() => env.gsdk.tokenDirective.transform(schema)).toThrow(LunaSecError);
  expect(() => env.gsdk.tokenDirective.transform(schema)).toThrow(/Query\.n/);
});
