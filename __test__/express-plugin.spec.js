'use strict';
// The auth plugin's routes, every status and body, on Express 4 and 5, on an app and on a Router,
// with and without pluginBaseUrl — over real HTTP.
const { rsaKeyPair, listen, makeLunaSec, JWT_RE } = require('./helpers');

let jose;
beforeAll(async () => {
  jose = await import('jose');
});

const expressVersions = { 'express 4': require('express4'), 'express 5': require('express') };
const mounts = {
  app: (express, lunaSec) => {
    const app = express();
    lunaSec.expressAuthPlugin.register(app);
    return app;
  },
  Router: (express, lunaSec) => {
    const app = express();
    const router = express.Router();
    lunaSec.expressAuthPlugin.register(router);
    app.use(router);
    return app;
  },
};

const cases = [];
for (const [ev, express] of Object.entries(expressVersions)) {
  for (const [mount, build] of Object.entries(mounts)) {
    for (const base of ['', '/api/v1']) cases.push([`${ev}, ${mount}, pluginBaseUrl=${JSON.stringify(base)}`, express, build, base]);
  }
}

test('the two Express majors really are different versions', () => {
  expect(require('express4/package.json').version).toMatch(/^4\./);
  expect(require('express/package.json').version).toMatch(/^5\./);
});

describe.each(cases)('%s', (_label, express, build, base) => {
  let server;
  let errors;
  let provider;
  const pair = rsaKeyPair('plugin-suite');

  beforeAll(async () => {
    errors = [];
    const lunaSec = makeLunaSec({
      secrets: { provider: 'manual', signingKey: pair.privateKey },
      tokenizerURL: 'http://127.0.0.1:37766',
      publicTokenizerUrl: 'http://localhost:37766/tok',
      sessionIdProvider: (req) => provider(req),
      ...(base ? { pluginBaseUrl: base } : {}),
      onError: (err) => errors.push(err),
    });
    server = await listen(build(express, lunaSec));
  });
  afterAll(() => server.close());
  beforeEach(() => {
    errors.length = 0;
    provider = async () => 'sess-abc';
  });

  const get = (path) => fetch(`${server.url}${base}${path}`, { redirect: 'manual' });

  test('GET /.lunasec/jwks.json → 200 JWKS', async () => {
    const res = await get('/.lunasec/jwks.json');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const body = await res.json();
    expect(body.keys).toHaveLength(1);
    expect(Object.keys(body.keys[0]).sort()).toEqual(['alg', 'e', 'kid', 'kty', 'n', 'use']);
    expect(body.keys[0]).toMatchObject({ kty: 'RSA', e: 'AQAB', kid: 'lunasec-signing-key', alg: 'RS256', use: 'sig' });
  });

  test('routes live only under pluginBaseUrl', async () => {
    if (!base) return;
    const res = await fetch(`${server.url}/.lunasec/jwks.json`);
    expect(res.status).toBe(404);
  });

  test('secure-frame without state → 400', async () => {
    for (const q of ['', '?state=', '?other=1', '?state=a&state=b', '?state[x]=1']) {
      const res = await get(`/.lunasec/secure-frame${q}`);
      expect([q, res.status]).toEqual([q, 400]);
      expect(await res.json()).toEqual({ success: false, error: 'state is not set in request' });
    }
  });

  test('secure-frame when the provider returns null / undefined / "" → 400', async () => {
    for (const v of [null, undefined, '']) {
      provider = () => v;
      const res = await get('/.lunasec/secure-frame?state=s1');
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({ success: false, error: 'unable to authenticate the user of this request' });
    }
    expect(errors).toEqual([]);
  });

  test('secure-frame when the provider throws → 500 JSON, error reported to onError only', async () => {
    provider = async () => {
      throw new Error('db down for session sess-secret-1');
    };
    const res = await get('/.lunasec/secure-frame?state=s1');
    expect(res.status).toBe(500);
    const body = await res.json();
    expect(body.success).toBe(false);
    expect(body.error).toMatch(/session id provider failed/);
    expect(JSON.stringify(body)).not.toMatch(/sess-secret-1/);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ errorCode: 'ERR_SESSION_ID_PROVIDER_FAILED', statusCode: 500 });
    expect(errors[0].message).not.toMatch(/sess-secret-1/);
  });

  test('secure-frame when the provider returns an object → 500 JSON', async () => {
    provider = () => ({ id: 1 });
    const res = await get('/.lunasec/secure-frame?state=s1');
    expect(res.status).toBe(500);
    expect((await res.json()).success).toBe(false);
    expect(errors[0]).toMatchObject({ errorCode: 'ERR_SESSION_ID_INVALID' });
  });

  test('secure-frame → 302 to <public tokenizer>/session/create with state and a user JWT', async () => {
    const state = 'a b&c=d/é';
    const res = await get(`/.lunasec/secure-frame?state=${encodeURIComponent(state)}`);
    expect(res.status).toBe(302);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    const location = res.headers.get('location');
    expect(location.startsWith('http://localhost:37766/tok/session/create?state=')).toBe(true);
    const url = new URL(location);
    expect([...url.searchParams.keys()]).toEqual(['state', 'openid_token']);
    expect(url.searchParams.get('state')).toBe(state);
    const key = await jose.importJWK({ ...pair.publicKey.export({ format: 'jwk' }), alg: 'RS256' });
    const { payload } = await jose.jwtVerify(url.searchParams.get('openid_token'), key, { issuer: 'node-sdk', audience: 'secure-frame' });
    expect(payload).toMatchObject({ sub: 'user', session_id: 'sess-abc' });
  });

  test('numeric session ids are stringified; sync providers work', async () => {
    provider = () => 42;
    const res = await get('/.lunasec/secure-frame?state=s');
    expect(res.status).toBe(302);
    const jwt = new URL(res.headers.get('location')).searchParams.get('openid_token');
    expect(JWT_RE.test(jwt)).toBe(true);
    expect(JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url')).session_id).toBe('42');
  });
});

describe('when the signing key cannot be loaded', () => {
  test('both routes answer 500 JSON and report a typed error', async () => {
    const errors = [];
    delete process.env.LUNASEC_TEST_MISSING_KEY;
    const lunaSec = makeLunaSec({ secrets: { provider: 'environment', variable: 'LUNASEC_TEST_MISSING_KEY' }, onError: (e) => errors.push(e) });
    const app = require('express')();
    lunaSec.expressAuthPlugin.register(app);
    const server = await listen(app);
    try {
      const jwks = await fetch(`${server.url}/.lunasec/jwks.json`);
      expect(jwks.status).toBe(500);
      expect(await jwks.json()).toEqual({ success: false, error: 'the signing keys are not available' });
      const frame = await fetch(`${server.url}/.lunasec/secure-frame?state=x`, { redirect: 'manual' });
      expect(frame.status).toBe(500);
      expect(await frame.json()).toEqual({ success: false, error: 'unable to sign the session token' });
      expect(errors.map((e) => e.errorCode)).toEqual(['ERR_SIGNING_KEY_MISSING', 'ERR_SIGNING_KEY_MISSING']);
      expect(errors[0].message).toMatch(/LUNASEC_TEST_MISSING_KEY/);
    } finally {
      await server.close();
    }
  });
});

test('register() refuses something that is not an app or router', () => {
  const lunaSec = makeLunaSec();
  expect(() => lunaSec.expressAuthPlugin.register({})).toThrow(expect.objectContaining({ errorCode: 'ERR_CONFIG_INVALID' }));
});
