'use strict';
// Starts LocalStack (host mode, installed by scripts/localstack/install.sh) once for all suites.
// Suites read LOCALSTACK_ENDPOINT. Set LOCALSTACK_ENDPOINT yourself to reuse a running one.
const { startLocalStack } = require('../test-support/localstack');

module.exports = async function globalSetup() {
  const ls = await startLocalStack();
  process.env.LOCALSTACK_ENDPOINT = ls.endpoint;
  globalThis.__LOCALSTACK__ = ls;
};
