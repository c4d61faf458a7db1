'use strict';
// Our RS256 JWTs, verified by an independent implementation (jose) against the JWKS that the
// Express plugin serves over real HTTP — for every key provider.
const crypto = require('node:crypto');
const express = require('express');
const { SecretsManagerClient, CreateSecretCommand } = require('@aws-sdk/client-secrets-manager');
const { rsaKeyPair, pkcs8Pem, pkcs1Pem, b64, listen, makeLunaSec } = require('./helpers');

let jose;
beforeAll(async () => {
  jose = await import('jose');
});

const VERIFY = { issuer: 'node-sdk', audience: 'secure-frame', algorithms: ['RS256'] };
const ENV_VAR = 'LUNASEC_TEST_SIGNING_KEY_JWT_SUITE';

async function awsSecretArn(pem) {
  const client = new SecretsManagerClient({
    endpoint: process.env.LOCALSTACK_ENDPOINT,
    region: 'us-west-2',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  const out = await client.send(new CreateSecretCommand({ Name: `lunasec-test-${crypto.randomUUID()}`, SecretString: pem }));
  client.destroy();
  return out.ARN;
}

const providers = {
  'environment (base64 of PKCS#8 PEM)': async (pair) => {
    process.env[ENV_VAR] = b64(pkcs8Pem(pair));
    return { provider: 'environment', variable: ENV_VAR };
  },
  'environment, old `source:` spelling (base64 of PKCS#1 PEM)': async (pair) => {
    process.env[ENV_VAR] = b64(pkcs1Pem(pair));
    return { source: 'environment', variable: ENV_VAR };
  },
  'manual (PEM string)': async (pair) => ({ provider: 'manual', signingKey: pkcs8Pem(pair) }),
  'manual (KeyObject)': async (pair) => ({ provider: 'manual', signingKey: pair.privateKey }),
  'awsSecretsManager (LocalStack)': async (pair) => ({
    provider: 'awsSecretsManager',
    secretArn: await awsSecretArn(pkcs8Pem(pair)),
    region: 'us-west-2',
    endpoint: process.env.LOCALSTACK_ENDPOINT,
    awsCredentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  }),
};

describe.each(Object.entries(providers))('provider %s', (_name, makeSecrets) => {
  let server;
  let lunaSec;
  let JWKS;
  const pair = rsaKeyPair('jwt-suite');

  beforeAll(async () => {
    lunaSec = makeLunaSec({ secrets: await makeSecrets(pair) });
    const app = express();
    lunaSec.expressAuthPlugin.register(app);
    server = await listen(app);
    JWKS = jose.createRemoteJWKSet(new URL(`${server.url}/.lunasec/jwks.json`));
  });
  afterAll(async () => {
    await server.close();
    delete process.env[ENV_VAR];
  });

  test('the served JWKS holds exactly our public key', async () => {
    const res = await fetch(`${server.url}/.lunasec/jwks.json`);
    expect(res.status).toBe(200);
    const jwks = await res.json();
    const expected = pair.publicKey.export({ format: 'jwk' });
    expect(jwks).toEqual({ keys: [{ kty: 'RSA', n: expected.n, e: expected.e, kid: 'lunasec-signing-key', alg: 'RS256', use: 'sig' }] });
  });

  test('user JWT verifies with jose and carries the spec claims', async () => {
    const jwt = String(await lunaSec.keyService.createAuthenticationJWT('user', { session_id: 'sess-123' }));
    const { payload, protectedHeader } = await jose.jwtVerify(jwt, JWKS, VERIFY);
    expect(protectedHeader).toEqual({ alg: 'RS256', typ: 'JWT', kid: 'lunasec-signing-key' });
    expect(payload).toEqual({ iss: 'node-sdk', aud: 'secure-frame', sub: 'user', session_id: 'sess-123', iat: payload.iat, exp: payload.iat + 900 });
    expect(Math.abs(payload.iat - Date.now() / 1000)).toBeLessThan(5);
  });

  test('application JWT verifies with jose and is reused', async () => {
    const a = await lunaSec.keyService.getApplicationJWT();
    const { payload } = await jose.jwtVerify(a, JWKS, VERIFY);
    expect(payload.sub).toBe('application');
    expect(payload.session_id).toBeUndefined();
    expect(await lunaSec.keyService.getApplicationJWT()).toBe(a);
  });

  test('tampered, expired and wrong-audience JWTs fail jose verification', async () => {
    const jwt = String(await lunaSec.keyService.createAuthenticationJWT('user', { session_id: 'alice' }));
    const [h, , s] = jwt.split('.');
    const now = Math.floor(Date.now() / 1000);
    const forgedPayload = Buffer.from(JSON.stringify({ iss: 'node-sdk', aud: 'secure-frame', sub: 'user', session_id: 'bob', iat: now, exp: now + 900 })).toString('base64url');
    await expect(jose.jwtVerify(`${h}.${forgedPayload}.${s}`, JWKS, VERIFY)).rejects.toMatchObject({ code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
    const flipped = s[5] === 'A' ? 'B' : 'A';
    await expect(jose.jwtVerify(`${jwt.slice(0, -s.length)}${s.slice(0, 5)}${flipped}${s.slice(6)}`, JWKS, VERIFY)).rejects.toMatchObject({
      code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
    });
    // Sixteen minutes later the 15-minute JWT is expired.
    await expect(jose.jwtVerify(jwt, JWKS, { ...VERIFY, currentDate: new Date(Date.now() + 16 * 60 * 1000) })).rejects.toMatchObject({ code: 'ERR_JWT_EXPIRED' });
    // Same key, wrong audience: the signature is fine, the claim is not.
    const wrongAud = await new jose.SignJWT({ session_id: 'alice' })
      .setProtectedHeader({ alg: 'RS256', kid: 'lunasec-signing-key' })
      .setIssuer('node-sdk')
      .setAudience('someone-else')
      .setSubject('user')
      .setIssuedAt()
      .setExpirationTime('15m')
      .sign(pair.privateKey);
    await expect(jose.jwtVerify(wrongAud, JWKS, VERIFY)).rejects.toMatchObject({ code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'aud' });
    await expect(jose.jwtVerify(jwt, JWKS, { ...VERIFY, audience: 'other' })).rejects.toMatchObject({ code: 'ERR_JWT_CLAIM_VALIDATION_FAILED' });
  });

  test('the secure-frame redirect carries a user JWT that jose accepts', async () => {
    const res = await fetch(`${server.url}/.lunasec/secure-frame?state=st4te`, { redirect: 'manual' });
    expect(res.status).toBe(302);
    const location = new URL(res.headers.get('location'));
    expect(location.origin + location.pathname).toBe('http://127.0.0.1:37766/session/create');
    expect(location.searchParams.get('state')).toBe('st4te');
    const { payload } = await jose.jwtVerify(location.searchParams.get('openid_token'), JWKS, VERIFY);
    expect(payload).toMatchObject({ sub: 'user', session_id: 'session-1' });
  });
});

describe('key rotation', () => {
  test('JWKS lists old and new keys; new JWTs use the newest kid; old JWTs still verify', async () => {
    const oldPair = rsaKeyPair('rot-old');
    const newPair = rsaKeyPair('rot-new', 3072);
    const before = makeLunaSec({ secrets: { provider: 'manual', signingKey: oldPair.privateKey, kid: 'k-2025' } });
    const oldJwt = String(await before.keyService.createAuthenticationJWT('application'));
    const after = makeLunaSec({
      secrets: [
        { provider: 'manual', signingKey: oldPair.privateKey, kid: 'k-2025' },
        { provider: 'manual', signingKey: pkcs8Pem(newPair), kid: 'k-2026' },
      ],
    });
    const app = express();
    after.expressAuthPlugin.register(app);
    const server = await listen(app);
    try {
      const JWKS = jose.createRemoteJWKSet(new URL(`${server.url}/.lunasec/jwks.json`));
      const jwks = await (await fetch(`${server.url}/.lunasec/jwks.json`)).json();
      expect(jwks.keys.map((k) => k.kid)).toEqual(['k-2025', 'k-2026']);
      const newJwt = String(await after.keyService.createAuthenticationJWT('user', { session_id: 's' }));
      expect((await jose.jwtVerify(newJwt, JWKS, VERIFY)).protectedHeader.kid).toBe('k-2026');
      expect((await jose.jwtVerify(oldJwt, JWKS, VERIFY)).protectedHeader.kid).toBe('k-2025');
    } finally {
      await server.close();
    }
  });
});
