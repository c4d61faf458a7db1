'use strict';
const crypto = require('node:crypto');
const http = require('node:http');
const { LunaSec } = require('../lib');

const keyCache = new Map();
/** An RSA key pair (cached per label so suites stay fast). */
function rsaKeyPair(label = 'a', bits = 2048) {
  const id = `${label}:${bits}`;
  if (!keyCache.has(id)) keyCache.set(id, crypto.generateKeyPairSync('rsa', { modulusLength: bits }));
  return keyCache.get(id);
}

function pkcs8Pem(pair) {
  return pair.privateKey.export({ type: 'pkcs8', format: 'pem' });
}

function pkcs1Pem(pair) {
  return pair.privateKey.export({ type: 'pkcs1', format: 'pem' });
}

function b64(text) {
  return Buffer.from(text).toString('base64');
}

/** Serves an Express app on a free loopback port. */
async function listen(app) {
  const server = http.createServer(app);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(resolve);
      }),
  };
}

function makeLunaSec({ secrets, sessionIdProvider = () => 'session-1', ...rest } = {}) {
  const auth = { secrets: secrets || { provider: 'manual', signingKey: pkcs8Pem(rsaKeyPair()) }, sessionIdProvider };
  for (const k of ['pluginBaseUrl', 'onError', 'payloadClaims']) if (k in rest) auth[k] = rest[k];
  return new LunaSec({
    tokenizerURL: rest.tokenizerURL || 'http://127.0.0.1:37766',
    ...(rest.publicTokenizerUrl ? { publicTokenizerUrl: rest.publicTokenizerUrl } : {}),
    auth,
  });
}

const JWT_RE = /eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/;

module.exports = { rsaKeyPair, pkcs8Pem, pkcs1Pem, b64, listen, makeLunaSec, JWT_RE };
