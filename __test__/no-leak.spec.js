'use strict';
// Nothing secret reaches stdout/stderr: the SDK writes nothing at all, on success or failure.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { rsaKeyPair, pkcs8Pem, b64 } = require('./helpers');

test.each(['express4', 'express'])('no key, JWT or session id is printed (%s)', (expressModule) => {
  const key = b64(pkcs8Pem(rsaKeyPair('leak')));
  const badKey = b64(pkcs8Pem(rsaKeyPair('leak')).replace(/A/g, 'B'));
  const sessionId = 'leak-session-4f1c9e';
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'lunasec-leak-')), 'results.json');
  const child = spawnSync(process.execPath, [path.join(__dirname, 'fixtures/leak-app.js'), out, expressModule], {
    env: { PATH: process.env.PATH, LUNASEC_SIGNING_KEY: key, LEAK_BAD_KEY: badKey, LEAK_SESSION_ID: sessionId },
    encoding: 'utf8',
    timeout: 30000,
  });
  const results = JSON.parse(fs.readFileSync(out, 'utf8'));
  expect(results).toEqual({
    '/.lunasec/jwks.json': 200,
    '/.lunasec/secure-frame?state=s1': 302,
    '/.lunasec/secure-frame?state=s1&fail=1': 500,
    '/.lunasec/secure-frame': 400,
    '/broken/.lunasec/jwks.json': 500,
    '/broken/.lunasec/secure-frame?state=s2': 500,
    jwt: true,
    appJwt: true,
    brokenSign: 'ERR_SIGNING_KEY_INVALID',
  });
  expect(child.status).toBe(0);
  // Stronger than "no secret": the library prints nothing at all.
  expect(child.stdout).toBe('');
  expect(child.stderr).toBe('');
});
