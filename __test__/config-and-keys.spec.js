'use strict';
// Config validation at construction, key provider errors, and the public helpers.
const crypto = require('node:crypto');
const { LunaSec, LunaSecError, isToken, ERROR_CODES } = require('../lib');
const { rsaKeyPair, pkcs8Pem, b64, makeLunaSec } = require('./helpers');

const provider = () => 's';
const manual = () => ({ provider: 'manual', signingKey: pkcs8Pem(rsaKeyPair()) });

function configError(config) {
  try {
    new LunaSec(config);
  } catch (e) {
    expect(e).toBeInstanceOf(LunaSecError);
    expect(e).toMatchObject({ name: 'configInvalid', errorCode: 'ERR_CONFIG_INVALID', code: '500', statusCode: 500 });
    return e.message;
  }
  throw new Error('expected the config to be refused');
}

describe('config is validated once, at construction, with precise messages', () => {
  test.each([
    [undefined, /must be an object/],
    [{}, /tokenizerURL .*must be the absolute http\(s\) URL/],
    [{ tokenizerURL: 'localhost:37766', auth: { secrets: manual(), sessionIdProvider: provider } }, /must use http: or https:|not a valid absolute URL/],
    [{ tokenizerURL: 'ftp://x', auth: { secrets: manual(), sessionIdProvider: provider } }, /must use http: or https:, not ftp:/],
    [{ tokenizerURL: 'http://x?y=1', auth: { secrets: manual(), sessionIdProvider: provider } }, /must not contain credentials, a query or a fragment/],
    [{ tokenizerUrl: 'http://x', auth: { secrets: manual(), sessionIdProvider: provider } }, /tokenizerUrl is not an option; did you mean tokenizerURL\?/],
    [{ tokenizerURL: 'http://x' }, /auth must be an object/],
    [{ tokenizerURL: 'http://x', auth: { sessionIdProvider: provider } }, /auth.secrets is required/],
    [{ tokenizerURL: 'http://x', auth: { secrets: [], sessionIdProvider: provider } }, /must not be an empty array/],
    [{ tokenizerURL: 'http://x', auth: { secrets: { provider: 'env' }, sessionIdProvider: provider } }, /did you mean 'environment'\?/],
    [{ tokenizerURL: 'http://x', auth: { secrets: { provider: 'manual' }, sessionIdProvider: provider } }, /signingKey must be an RSA private key/],
    [{ tokenizerURL: 'http://x', auth: { secrets: { provider: 'awsSecretsManager' }, sessionIdProvider: provider } }, /secretArn must be/],
    [{ tokenizerURL: 'http://x', auth: { secrets: manual() } }, /sessionIdProvider must be a function/],
    [{ tokenizerURL: 'http://x', auth: { secrets: manual(), sessionIdProvider: provider, pluginBaseUrl: 'api' } }, /pluginBaseUrl must be a path starting with '\/'/],
    [{ tokenizerURL: 'http://x', auth: { secrets: manual(), sessionIdprovider: provider } }, /did you mean auth.sessionIdProvider\?/],
    [{ tokenizerURL: 'http://x', auth: { secrets: [{ ...manual(), kid: 'a' }, { ...manual(), kid: 'a' }], sessionIdProvider: provider } }, /share the kid 'a'/],
    [{ tokenizerURL: 'http://x', auth: { secrets: { ...manual(), kid: 'bad kid' }, sessionIdProvider: provider } }, /kid must be/],
  ])('%#: %p', (config, message) => {
    expect(configError(config)).toMatch(message);
  });

  test('every problem is listed at once', () => {
    const message = configError({ auth: { secrets: { provider: 'nope' } } });
    expect(message.split('\n  - ')).toHaveLength(4);
  });

  test('the original spellings and options are accepted', () => {
    process.env.LUNASEC_TEST_CFG_KEY = b64(pkcs8Pem(rsaKeyPair()));
    const l = new LunaSec({
      secureFrameURL: 'http://localhost:37766/',
      auth: { secrets: { source: 'environment', variable: 'LUNASEC_TEST_CFG_KEY' }, sessionIdProvider: provider, payloadClaims: ['x'], pluginBaseUrl: '/api/' },
    });
    expect(l.config).toEqual({ tokenizerURL: 'http://localhost:37766', publicTokenizerUrl: 'http://localhost:37766', pluginBaseUrl: '/api' });
    expect(l.auth).toBe(l.keyService);
    expect(l.expressPlugin).toBe(l.expressAuthPlugin);
    expect(l.keyService.getJwksConfigSync().keys).toHaveLength(1);
    delete process.env.LUNASEC_TEST_CFG_KEY;
  });
});

describe('signing key errors are typed, name the source, and never print key material', () => {
  const small = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 });
  const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pemBody = (pem) => pem.split('\n').filter((l) => l && !l.startsWith('-----'));

  function expectClean(err, secretTexts) {
    expect(err).toBeInstanceOf(LunaSecError);
    const all = `${err.message} ${JSON.stringify(err)} ${err.stack}`;
    for (const s of secretTexts) for (const line of pemBody(s)) expect(all).not.toContain(line.slice(0, 24));
  }

  test('environment variable not set', async () => {
    delete process.env.LUNASEC_TEST_UNSET;
    const l = makeLunaSec({ secrets: { provider: 'environment', variable: 'LUNASEC_TEST_UNSET' } });
    const err = await l.keyService.createAuthenticationJWT('application').catch((e) => e);
    expect(err).toMatchObject({ errorCode: 'ERR_SIGNING_KEY_MISSING', name: 'signingKeyMissing', statusCode: 500 });
    expect(err.message).toMatch(/LUNASEC_TEST_UNSET is not set/);
  });

  test('a failed load is not cached: fixing the environment fixes the SDK', async () => {
    delete process.env.LUNASEC_TEST_LATE;
    const l = makeLunaSec({ secrets: { provider: 'environment', variable: 'LUNASEC_TEST_LATE' } });
    await expect(l.keyService.getJwksConfig()).rejects.toMatchObject({ errorCode: 'ERR_SIGNING_KEY_MISSING' });
    process.env.LUNASEC_TEST_LATE = b64(pkcs8Pem(rsaKeyPair()));
    await expect(l.keyService.getJwksConfig()).resolves.toMatchObject({ keys: [expect.objectContaining({ kty: 'RSA' })] });
    delete process.env.LUNASEC_TEST_LATE;
  });

  test.each([
    ['not base64', () => '%%% definitely not base64 %%%', 'ERR_SIGNING_KEY_INVALID', /not valid base64/],
    ['base64 of garbage', () => b64('hello'), 'ERR_SIGNING_KEY_INVALID', /not a PEM document/],
    ['a 1024-bit key', () => b64(small.privateKey.export({ type: 'pkcs8', format: 'pem' })), 'ERR_SIGNING_KEY_TOO_SMALL', /at least 2048 bits/],
    ['an EC key', () => b64(ec.privateKey.export({ type: 'pkcs8', format: 'pem' })), 'ERR_SIGNING_KEY_INVALID', /not a valid RSA private key/],
    ['a public key', () => b64(rsaKeyPair().publicKey.export({ type: 'spki', format: 'pem' })), 'ERR_SIGNING_KEY_INVALID', /public key/],
    [
      'an encrypted key',
      () => b64(rsaKeyPair().privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' })),
      'ERR_SIGNING_KEY_INVALID',
      /encrypted/,
    ],
  ])('environment holding %s', async (_n, value, errorCode, message) => {
    const v = value();
    process.env.LUNASEC_TEST_BAD = v;
    const l = makeLunaSec({ secrets: { provider: 'environment', variable: 'LUNASEC_TEST_BAD' } });
    const err = await l.keyService.createAuthenticationJWT('application').catch((e) => e);
    expect(err).toMatchObject({ errorCode });
    expect(err.message).toMatch(message);
    expect(err.message).toMatch(/LUNASEC_TEST_BAD/);
    expect(err.message).not.toContain(v.slice(0, 16));
    expectClean(err, [Buffer.from(v, 'base64').toString('utf8')]);
    delete process.env.LUNASEC_TEST_BAD;
  });

  test('manual keys are parsed at construction', () => {
    const smallPem = small.privateKey.export({ type: 'pkcs1', format: 'pem' });
    let err;
    try {
      makeLunaSec({ secrets: { provider: 'manual', signingKey: smallPem } });
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ errorCode: 'ERR_SIGNING_KEY_TOO_SMALL' });
    expectClean(err, [smallPem]);
    expect(() => makeLunaSec({ secrets: { provider: 'manual', signingKey: ec.privateKey } })).toThrow(/RSA private KeyObject/);
    expect(() => makeLunaSec({ secrets: { provider: 'manual', signingKey: rsaKeyPair().publicKey } })).toThrow(/RSA private KeyObject/);
  });

  test('AWS secret that does not exist → ERR_SECRET_FETCH_FAILED, retried on the next call', async () => {
    const l = makeLunaSec({
      secrets: {
        provider: 'awsSecretsManager',
        secretArn: 'arn:aws:secretsmanager:us-west-2:000000000000:secret:does-not-exist',
        endpoint: process.env.LOCALSTACK_ENDPOINT,
        awsCredentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      },
    });
    await expect(l.keyService.getApplicationJWT()).rejects.toMatchObject({ errorCode: 'ERR_SECRET_FETCH_FAILED', statusCode: 502 });
    await expect(l.keyService.getApplicationJWT()).rejects.toMatchObject({ errorCode: 'ERR_SECRET_FETCH_FAILED' });
    expect(() => l.keyService.createAuthenticationJWTSync('application')).toThrow(/load asynchronously/);
  });
});

describe('JWT API', () => {
  const l = makeLunaSec();

  test('sync and async signing agree on claims; reserved claims cannot be overridden', async () => {
    const a = String(l.keyService.createAuthenticationJWTSync('user', { session_id: 7, exp: 1, sub: 'application', tenant: 'acme' }));
    const b = String(await l.keyService.createAuthenticationJWT('user', { session_id: 7, tenant: 'acme' }));
    const claims = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url'));
    expect(claims(a)).toMatchObject({ sub: 'user', session_id: '7', tenant: 'acme' });
    expect(claims(a).exp - claims(a).iat).toBe(900);
    expect({ ...claims(a), iat: 0, exp: 0 }).toEqual({ ...claims(b), iat: 0, exp: 0 });
  });

  test('bad subjects and claims are typed errors', async () => {
    await expect(l.keyService.createAuthenticationJWT('admin')).rejects.toMatchObject({ errorCode: 'ERR_JWT_CLAIMS_INVALID' });
    await expect(l.keyService.createAuthenticationJWT('user', {})).rejects.toMatchObject({ errorCode: 'ERR_JWT_CLAIMS_INVALID' });
    expect(() => l.keyService.createAuthenticationJWTSync('user', { session_id: '' })).toThrow(expect.objectContaining({ errorCode: 'ERR_JWT_CLAIMS_INVALID' }));
  });

  test('AuthenticationJWT does not show the JWT when logged or serialized', async () => {
    const jwt = await l.keyService.createAuthenticationJWT('application');
    expect(require('node:util').inspect(jwt)).toBe('AuthenticationJWT {}');
    expect(JSON.stringify({ jwt })).toBe('{"jwt":{}}');
    expect(String(jwt).split('.')).toHaveLength(3);
  });
});

describe('helpers', () => {
  test('isToken', () => {
    expect(isToken('lunasec-351d1033-0e9f-4a1b-bbb6-adec04837a5c')).toBe(true);
    for (const v of ['', 'lunasec-', 'lunasec-351d1033-0e9f-4a1b-bbb6-adec04837a5', null, undefined, 42, {}, ['lunasec-351d1033-0e9f-4a1b-bbb6-adec04837a5c']]) {
      expect(isToken(v)).toBe(false);
    }
  });

  test('LunaSecError shape and the documented code list', () => {
    const e = new LunaSecError({ name: 'badToken', message: 'm', code: '400' });
    expect(e).toBeInstanceOf(Error);
    expect(e.toJSON()).toEqual({ name: 'badToken', message: 'm', code: '400', errorCode: 'ERR_LUNASEC', statusCode: 400 });
    for (const [code, [name, status]] of Object.entries(ERROR_CODES)) {
      expect(code).toMatch(/^ERR_[A-Z0-9_]+$/);
      expect(name).toMatch(/^[a-z][A-Za-z0-9]+$/);
      expect(status).toBeGreaterThanOrEqual(400);
    }
  });
});
