'use strict';
const path = require('node:path');

module.exports = {
  testEnvironment: 'node',
  testMatch: ['<rootDir>/__test__/**/*.spec.js'],
  globalSetup: '<rootDir>/__test__/global-setup.js',
  globalTeardown: '<rootDir>/__test__/global-teardown.js',
  cacheDirectory: path.join(__dirname, '.jest-cache'),
  testTimeout: 60000,
  // Suites share LocalStack; two workers fit the 2-core CI machine.
  maxWorkers: 2,
};
