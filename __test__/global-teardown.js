'use strict';

module.exports = async function globalTeardown() {
  if (globalThis.__LOCALSTACK__) await globalThis.__LOCALSTACK__.stop();
};
