'use strict';
// grants.create for 1, 10 and 100 tokens against the real tokenizer (embedded storage, loopback):
// ours (one batch request, cached application JWT, pooled Rust client) vs the original
// @lunasec/node-sdk approach (per token: a freshly signed jose JWT and its own HTTP request, all
// in parallel with Promise.all), in the same run.
const crypto = require('node:crypto');
const { LunaSec } = require('../lib');
const { startStack } = require('../test-support/stack');
const { measure, printTable } = require('./harness');

async function main() {
  const jose = await import('jose');
  const stack = await startStack({ mode: 'embedded' });
  try {
    const pem = Buffer.from(stack.signingKey, 'base64').toString();
    const lunaSec = new LunaSec({ tokenizerURL: stack.tokenizerUrl, auth: { secrets: { provider: 'manual', signingKey: pem }, sessionIdProvider: () => 's' } });
    const tokens = await lunaSec.tokenizer.strict.tokenizeMany(Array.from({ length: 100 }, () => crypto.randomBytes(8).toString('hex')));
    const preParsed = await jose.importPKCS8(pem, 'RS256');

    // The original: `createAuthenticationJWT('application')` re-read and re-parsed the key, then
    // one POST /grant/set per token (axios; here Node's fetch with keep-alive).
    async function originalCreate(sessionId, toks, keyPerCall) {
      await Promise.all(
        toks.map(async (tokenId) => {
          const key = keyPerCall ? await jose.importPKCS8(pem, 'RS256') : preParsed;
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
        }),
      );
    }

    const results = {};
    for (const n of [1, 10, 100]) {
      const toks = tokens.slice(0, n);
      const rows = [];
      rows.push(await measure(`ours: grants.create(${n} tokens)`, () => lunaSec.grants.create('session-1', toks), { async: true }));
      rows.push(await measure(`original: ${n} × (jose JWT, key re-parsed) + ${n} requests`, () => originalCreate('session-1', toks, true), { async: true }));
      rows.push(await measure(`original, kinder: ${n} × (jose JWT, pre-parsed key) + ${n} requests`, () => originalCreate('session-1', toks, false), { async: true }));
      printTable(`grants.create, ${n} token${n > 1 ? 's' : ''}`, rows, `ours: grants.create(${n} tokens)`);
      results[n] = rows;
    }
    const r100 = results[100];
    process.stdout.write(`\n## Target\n- ≥ 50× at 100 tokens: measured ${(r100[1].nsPerOp / r100[0].nsPerOp).toFixed(0)}× (vs the original), ${(r100[2].nsPerOp / r100[0].nsPerOp).toFixed(0)}× (vs the original with a pre-parsed key)\n`);
    return results;
  } finally {
    await stack.stop();
  }
}

module.exports = main;
if (require.main === module) main();
