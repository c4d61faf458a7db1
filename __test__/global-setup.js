'use strict';
// Starts LocalStack (host mode, installed by scripts/localstack/install.sh) once for all suites.
// Suites read LOCALSTACK_ENDPOINT. Set LOCALSTACK_ENDPOINT yourself to reuse a running one.
const { startLocalStack } = require('../test-support/localstack');

module.exports = async function globalSetup() {
  // The AWS SDK (used by tests and the Secrets Manager provider) warns about Node 20 on every client.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const ls = await startLocalStack();
  process.env.LOCALSTACK_ENDPOINT = ls.endpoint;
  globalThis.__LOCALSTACK__ = ls;
};
