'use strict';
// RS256 sign and verify: ours (Rust, key parsed once) vs jose with a pre-parsed key vs jose
// re-parsing the PEM per call (what @lunasec/node-sdk 1.0.x did), plus the raw RSA cost of
// `openssl speed rsa2048` on this machine — all in one run, reported as ratios.
const crypto = require('node:crypto');
const { execFileSync } = require('node:child_process');
const { LunaSec, JwtVerifier } = require('../lib');
const native = require('../lib/native');
const { measure, printTable, fmtNs } = require('./harness');

function opensslRsa2048() {
  try {
    const out = execFileSync('openssl', ['speed', '-seconds', '3', 'rsa2048'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const m = /rsa\s+2048 bits\s+([\d.]+)s\s+([\d.]+)s/.exec(out);
    return m ? { signNs: Number(m[1]) * 1e9, verifyNs: Number(m[2]) * 1e9 } : null;
  } catch {
    return null;
  }
}

async function main() {
  const jose = await import('jose');
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' });
  const lunaSec = new LunaSec({ tokenizerURL: 'http://localhost:37766', auth: { secrets: { provider: 'manual', signingKey: pem }, sessionIdProvider: () => 's' } });
  const ks = lunaSec.keyService;
  const nativeSet = new native.KeySet([{ pem }]);
  const claims = () => ({ session_id: 'session-1234' });
  const joseKey = await jose.importPKCS8(pem, 'RS256');
  const joseSign = (key) =>
    new jose.SignJWT({ session_id: 'session-1234' })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: 'lunasec-signing-key' })
      .setIssuer('node-sdk')
      .setAudience('secure-frame')
      .setSubject('user')
      .setIssuedAt()
      .setExpirationTime('15m')
      .sign(key);

  const openssl = opensslRsa2048();
  const sign = [];
  if (openssl) sign.push({ name: 'openssl speed rsa2048 (raw RSA sign)', nsPerOp: openssl.signNs, opsPerSec: 1e9 / openssl.signNs });
  sign.push(await measure('ours: native KeySet.signSync', () => nativeSet.signSync('user', claims())));
  sign.push(await measure('ours: keyService.createAuthenticationJWTSync', () => ks.createAuthenticationJWTSync('user', claims())));
  sign.push(await measure('ours: keyService.createAuthenticationJWT (thread pool)', () => ks.createAuthenticationJWT('user', claims()), { async: true }));
  sign.push(await measure('jose SignJWT, pre-parsed key', () => joseSign(joseKey), { async: true }));
  sign.push(await measure('jose SignJWT, re-parse PEM per call (original SDK)', async () => joseSign(await jose.importPKCS8(pem, 'RS256')), { async: true }));
  sign.push(await measure('ours: cached application JWT (grant path)', () => nativeSet.applicationJwt()));
  printTable('RS256 sign (RSA-2048), one call at a time', sign, openssl ? 'openssl speed rsa2048 (raw RSA sign)' : 'ours: native KeySet.signSync');

  const tput = [];
  tput.push(await measure('ours: createAuthenticationJWT, 4 in flight', () => ks.createAuthenticationJWT('user', claims()), { async: true, concurrency: 4 }));
  tput.push(await measure('jose SignJWT pre-parsed, 4 in flight', () => joseSign(joseKey), { async: true, concurrency: 4 }));
  printTable('RS256 sign throughput, 4 concurrent (2 cores)', tput, 'jose SignJWT pre-parsed, 4 in flight');

  const jwt = nativeSet.signSync('user', claims());
  const jwksJson = nativeSet.jwksJson();
  const verifier = new JwtVerifier(jwksJson);
  const jwks = JSON.parse(jwksJson);
  const joseVerifyOpts = { issuer: 'node-sdk', audience: 'secure-frame', algorithms: ['RS256'] };
  const jwkSet = jose.createLocalJWKSet(jwks);
  const pub = await jose.importJWK(jwks.keys[0], 'RS256');
  const verify = [];
  if (openssl) verify.push({ name: 'openssl speed rsa2048 (raw RSA verify)', nsPerOp: openssl.verifyNs, opsPerSec: 1e9 / openssl.verifyNs });
  verify.push(await measure('ours: JwtVerifier.verify (JWKS parsed once)', () => verifier.verify(jwt)));
  verify.push(await measure('jose jwtVerify, pre-imported key', () => jose.jwtVerify(jwt, pub, joseVerifyOpts), { async: true }));
  verify.push(await measure('jose jwtVerify, local JWKS set', () => jose.jwtVerify(jwt, jwkSet, joseVerifyOpts), { async: true }));
  verify.push(await measure('jose jwtVerify, re-import JWK per call', async () => jose.jwtVerify(jwt, await jose.importJWK(jwks.keys[0], 'RS256'), joseVerifyOpts), { async: true }));
  printTable('RS256 verify (RSA-2048)', verify, 'ours: JwtVerifier.verify (JWKS parsed once)');

  const ours = sign.find((r) => r.name === 'ours: native KeySet.signSync');
  const oursApi = sign.find((r) => r.name === 'ours: keyService.createAuthenticationJWTSync');
  process.stdout.write('\n## Targets\n');
  if (openssl) {
    process.stdout.write(`- sign vs raw RSA (openssl): native ${(ours.nsPerOp / openssl.signNs).toFixed(3)}×, through the JS API ${(oursApi.nsPerOp / openssl.signNs).toFixed(3)}× (target ≤ 1.10×)\n`);
  }
  const cached = sign.find((r) => r.name.startsWith('ours: cached'));
  process.stdout.write(`- cached application JWT: ${fmtNs(cached.nsPerOp)} per grant-path call (vs ${fmtNs(ours.nsPerOp)} to sign)\n`);
  const env = `node ${process.version}, ${require('node:os').cpus()[0].model.trim()} × ${require('node:os').cpus().length}`;
  process.stdout.write(`- machine: ${env}\n`);
  return { sign, tput, verify, openssl, env };
}

module.exports = main;
if (require.main === module) main();
