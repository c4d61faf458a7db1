'use strict';
// POST {pluginBaseUrl}/.lunasec/frame-session: the Secure Frames' credential. Every answer and
// refusal, on Express 4 and 5, on an app and on a Router, with and without pluginBaseUrl — over
// real HTTP (node:http, so the Origin / Sec-Fetch-Site headers are exactly the ones we send).
const http = require('node:http');
const { LunaSec } = require('../lib');
const { rsaKeyPair, pkcs8Pem, listen, JWT_RE } = require('./helpers');

let jose;
beforeAll(async () => {
  jose = await import('jose');
});

const expressVersions = { 'express 4': require('express4'), 'express 5': require('express') };

function lunaSecWith({ signingKey, secrets, sessionIdProvider, pluginBaseUrl, onError, frameSessionOrigins } = {}) {
  const auth = {
    secrets: secrets || { provider: 'manual', signingKey: signingKey || pkcs8Pem(rsaKeyPair('frame-session')) },
    sessionIdProvider: sessionIdProvider || (() => 'session-1'),
  };
  if (pluginBaseUrl !== undefined) auth.pluginBaseUrl = pluginBaseUrl;
  if (onError !== undefined) auth.onError = onError;
  if (frameSessionOrigins !== undefined) auth.frameSessionOrigins = frameSessionOrigins;
  return new LunaSec({ tokenizerURL: 'http://127.0.0.1:37766', publicTokenizerUrl: 'http://localhost:37766/tok', auth });
}

/** One HTTP request with exactly these headers; resolves { status, headers, text, json }. */
function request(url, { method = 'POST', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode, headers: res.headers, text, json });
      });
    });
    req.setTimeout(10000, () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

const JSON_HEADERS = { 'content-type': 'application/json' };

function decodePayload(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'));
}

function expectRefusal(res, status, name) {
  expect([res.status, res.json && res.json.error && res.json.error.name]).toEqual([status, name]);
  expect(res.headers['cache-control']).toBe('no-store');
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  expect(res.json).toEqual({ success: false, error: { name, message: expect.any(String) } });
  expect(res.text).not.toMatch(JWT_RE);
}

const cases = [];
for (const [ev, express] of Object.entries(expressVersions)) {
  for (const mount of ['app', 'Router']) {
    for (const base of ['', '/api/v1']) cases.push([`${ev}, ${mount}, pluginBaseUrl=${JSON.stringify(base)}`, express, mount, base]);
  }
}

describe.each(cases)('%s', (_label, express, mount, base) => {
  let server;
  let errors;
  let provider;
  let url;
  let origin;
  const pair = rsaKeyPair('frame-session');

  beforeAll(async () => {
    errors = [];
    const lunaSec = lunaSecWith({
      signingKey: pair.privateKey,
      sessionIdProvider: (req) => provider(req),
      ...(base ? { pluginBaseUrl: base } : {}),
      onError: (err) => errors.push(err),
    });
    const app = express();
    if (mount === 'app') {
      lunaSec.expressAuthPlugin.register(app);
    } else {
      const router = express.Router();
      lunaSec.expressAuthPlugin.register(router);
      app.use(router);
    }
    server = await listen(app);
    origin = server.url;
    url = `${server.url}${base}/.lunasec/frame-session`;
  });
  afterAll(() => server.close());
  beforeEach(() => {
    errors.length = 0;
    provider = async () => 'sess-abc';
  });

  test('200 with a user JWT for the session, expiresAt = its exp, no-store', async () => {
    const before = Math.floor(Date.now() / 1000);
    const res = await request(url, { headers: { ...JSON_HEADERS, origin, 'sec-fetch-site': 'same-origin' }, body: '{}' });
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(Object.keys(res.json).sort()).toEqual(['data', 'success']);
    expect(res.json.success).toBe(true);
    expect(Object.keys(res.json.data).sort()).toEqual(['expiresAt', 'token']);
    const { token, expiresAt } = res.json.data;
    expect(token).toMatch(new RegExp(`^${JWT_RE.source}$`));
    // Verified against the app's own JWKS route, as the tokenizer does.
    const jwks = jose.createRemoteJWKSet(new URL(`${server.url}${base}/.lunasec/jwks.json`));
    const { payload, protectedHeader } = await jose.jwtVerify(token, jwks, { issuer: 'node-sdk', audience: 'secure-frame', algorithms: ['RS256'] });
    expect(protectedHeader).toMatchObject({ alg: 'RS256', kid: 'lunasec-signing-key' });
    expect(payload).toMatchObject({ sub: 'user', session_id: 'sess-abc' });
    expect(expiresAt).toBe(payload.exp);
    expect(Number.isInteger(expiresAt)).toBe(true);
    expect(expiresAt).toBeGreaterThan(before);
    expect(expiresAt).toBeLessThanOrEqual(before + 16 * 60);
    expect(errors).toEqual([]);
  });

  test("the JWT has the same claims as the redirect flow's openid_token", async () => {
    const redirect = await request(`${server.url}${base}/.lunasec/secure-frame?state=s1`, { method: 'GET' });
    expect(redirect.status).toBe(302);
    const openid = new URL(redirect.headers.location).searchParams.get('openid_token');
    const res = await request(url, { headers: { ...JSON_HEADERS, origin }, body: '{}' });
    expect(res.status).toBe(200);
    const a = decodePayload(openid);
    const b = decodePayload(res.json.data.token);
    expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
    for (const claim of ['iss', 'aud', 'sub', 'session_id']) expect([claim, b[claim]]).toEqual([claim, a[claim]]);
    expect(b.exp - b.iat).toBe(a.exp - a.iat);
    const ha = JSON.parse(Buffer.from(openid.split('.')[0], 'base64url'));
    const hb = JSON.parse(Buffer.from(res.json.data.token.split('.')[0], 'base64url'));
    expect(hb).toEqual(ha);
  });

  test('accepted without Origin / Sec-Fetch-Site (not a browser), with a charset, with any body or none', async () => {
    for (const [headers, body] of [
      [JSON_HEADERS, '{}'],
      [JSON_HEADERS, undefined],
      [{ 'content-type': 'application/json; charset=utf-8', 'sec-fetch-site': 'same-origin' }, '{"ignored":true}'],
      [{ 'content-type': 'Application/JSON', origin }, 'not json at all'],
    ]) {
      const res = await request(url, { headers, body });
      expect([JSON.stringify(headers), res.status]).toEqual([JSON.stringify(headers), 200]);
      expect(res.json.data.token).toMatch(JWT_RE);
    }
  });

  test("Origin: null with Sec-Fetch-Site: same-origin (a page under Referrer-Policy: no-referrer) is accepted", async () => {
    const res = await request(url, { headers: { ...JSON_HEADERS, origin: 'null', 'sec-fetch-site': 'same-origin' }, body: '{}' });
    expect(res.status).toBe(200);
    expect(decodePayload(res.json.data.token).session_id).toBe('sess-abc');
  });

  test('a large body is not read and does not hang the request', async () => {
    const res = await request(url, { headers: { ...JSON_HEADERS, origin }, body: `{"pad":"${'x'.repeat(1 << 20)}"}` });
    expect(res.status).toBe(200);
  });

  test('numeric session ids are stringified; sync providers work', async () => {
    provider = () => 42;
    const res = await request(url, { headers: JSON_HEADERS, body: '{}' });
    expect(res.status).toBe(200);
    expect(decodePayload(res.json.data.token).session_id).toBe('42');
  });

  test('cross-site requests → 403 crossSiteRequest', async () => {
    const refused = [
      { origin: 'http://evil.example' },
      { origin: 'null' },
      { origin: 'null', 'sec-fetch-site': 'cross-site' },
      { origin: 'null', 'sec-fetch-site': 'same-site' },
      { origin: origin.replace('127.0.0.1', 'localhost') },
      { origin: origin.replace('http:', 'https:') },
      { origin: `${origin}/` },
      { 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-site' },
      { 'sec-fetch-site': 'none' },
      { origin, 'sec-fetch-site': 'cross-site' },
      { origin: 'http://evil.example', 'sec-fetch-site': 'same-origin' },
    ];
    for (const extra of refused) {
      provider = jest.fn(async () => 'sess-abc');
      const res = await request(url, { headers: { ...JSON_HEADERS, ...extra }, body: '{}' });
      expectRefusal(res, 403, 'crossSiteRequest');
      // Refused before anyone asks who the user is.
      expect(provider).not.toHaveBeenCalled();
    }
    expect(errors).toEqual([]);
  });

  test('a content type other than application/json → 415 unsupportedMediaType', async () => {
    for (const [ct, body] of [
      [undefined, '{}'],
      [undefined, undefined],
      ['text/plain', '{}'],
      ['application/x-www-form-urlencoded', 'a=1'],
      ['multipart/form-data; boundary=x', '--x--'],
      ['application/jsonx', '{}'],
      ['application/ld+json', '{}'],
    ]) {
      const headers = { origin };
      if (ct) headers['content-type'] = ct;
      const res = await request(url, { headers, body });
      expectRefusal(res, 415, 'unsupportedMediaType');
    }
  });

  test('the route answers POST only', async () => {
    const res = await request(url, { method: 'GET', headers: JSON_HEADERS });
    expect(res.status).toBe(404);
    expect(res.text).not.toMatch(JWT_RE);
  });

  test('routes live only under pluginBaseUrl', async () => {
    const elsewhere = base ? `${server.url}/.lunasec/frame-session` : `${server.url}/x/.lunasec/frame-session`;
    const res = await request(elsewhere, { headers: JSON_HEADERS, body: '{}' });
    expect(res.status).toBe(404);
  });

  test('no session (null / undefined / "") → 401 sessionMissing', async () => {
    for (const v of [null, undefined, '']) {
      provider = () => v;
      const res = await request(url, { headers: { ...JSON_HEADERS, origin }, body: '{}' });
      expectRefusal(res, 401, 'sessionMissing');
    }
    expect(errors).toEqual([]);
  });

  test('the provider throws → 500, the error goes to onError only', async () => {
    provider = async () => {
      throw new Error('db down for session sess-secret-1');
    };
    const res = await request(url, { headers: { ...JSON_HEADERS, origin }, body: '{}' });
    expectRefusal(res, 500, 'sessionIdProviderFailed');
    expect(res.text).not.toMatch(/sess-secret-1|db down/);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ errorCode: 'ERR_SESSION_ID_PROVIDER_FAILED', statusCode: 500 });
    expect(errors[0].message).not.toMatch(/sess-secret-1/);
    expect(errors[0].cause.message).toMatch(/db down/);
  });

  test('the provider returns an object → 500, reported', async () => {
    provider = () => ({ id: 1 });
    const res = await request(url, { headers: JSON_HEADERS, body: '{}' });
    expectRefusal(res, 500, 'sessionIdProviderFailed');
    expect(errors.map((e) => e.errorCode)).toEqual(['ERR_SESSION_ID_INVALID']);
  });
});

describe.each(Object.entries(expressVersions))('%s, with other middleware', (_label, express) => {
  test('works after a body parser consumed the body (express.json, express.text)', async () => {
    const lunaSec = lunaSecWith();
    const app = express();
    app.use(express.json());
    app.use(express.text({ type: 'text/*' }));
    lunaSec.expressAuthPlugin.register(app);
    const server = await listen(app);
    try {
      const url = `${server.url}/.lunasec/frame-session`;
      const ok = await request(url, { headers: { ...JSON_HEADERS, origin: server.url }, body: '{"a":1}' });
      expect(ok.status).toBe(200);
      expect(decodePayload(ok.json.data.token).session_id).toBe('session-1');
      const text = await request(url, { headers: { 'content-type': 'text/plain', origin: server.url }, body: 'hello' });
      expectRefusal(text, 415, 'unsupportedMediaType');
    } finally {
      await server.close();
    }
  });

  test('behind a proxy: the own origin follows trust proxy (X-Forwarded-Proto)', async () => {
    const lunaSec = lunaSecWith();
    const app = express();
    app.set('trust proxy', 'loopback');
    lunaSec.expressAuthPlugin.register(app);
    const server = await listen(app);
    try {
      const url = `${server.url}/.lunasec/frame-session`;
      const httpsOrigin = server.url.replace('http:', 'https:');
      const ok = await request(url, { headers: { ...JSON_HEADERS, origin: httpsOrigin, 'x-forwarded-proto': 'https', 'sec-fetch-site': 'same-origin' }, body: '{}' });
      expect(ok.status).toBe(200);
      const refused = await request(url, { headers: { ...JSON_HEADERS, origin: httpsOrigin, 'sec-fetch-site': 'same-origin' }, body: '{}' });
      expectRefusal(refused, 403, 'crossSiteRequest');
    } finally {
      await server.close();
    }
  });

  test('auth.frameSessionOrigins: allow-listed front-end origins are accepted, others are not', async () => {
    const lunaSec = lunaSecWith({ frameSessionOrigins: ['https://app.example.com/', 'http://localhost:5173'] });
    const app = express();
    lunaSec.expressAuthPlugin.register(app);
    const server = await listen(app);
    try {
      const url = `${server.url}/.lunasec/frame-session`;
      for (const [headers, status] of [
        [{ origin: 'https://app.example.com', 'sec-fetch-site': 'same-origin' }, 200],
        [{ origin: 'https://app.example.com', 'sec-fetch-site': 'same-site' }, 200],
        [{ origin: 'http://localhost:5173', 'sec-fetch-site': 'cross-site' }, 200],
        [{ origin: server.url, 'sec-fetch-site': 'same-origin' }, 200],
        [{ origin: 'https://app.example.com:8443', 'sec-fetch-site': 'same-site' }, 403],
        [{ origin: 'http://app.example.com', 'sec-fetch-site': 'same-origin' }, 403],
        [{ origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' }, 403],
        [{ 'sec-fetch-site': 'cross-site' }, 403],
      ]) {
        const res = await request(url, { headers: { ...JSON_HEADERS, ...headers }, body: '{}' });
        expect([headers, res.status]).toEqual([headers, status]);
        if (status === 403) expectRefusal(res, 403, 'crossSiteRequest');
      }
    } finally {
      await server.close();
    }
  });
});

test('signing fails (no key) → 500 jwtSignFailed, reported', async () => {
  const errors = [];
  delete process.env.LUNASEC_TEST_MISSING_KEY;
  const lunaSec = lunaSecWith({ secrets: { provider: 'environment', variable: 'LUNASEC_TEST_MISSING_KEY' }, onError: (e) => errors.push(e) });
  const app = require('express')();
  lunaSec.expressAuthPlugin.register(app);
  const server = await listen(app);
  try {
    const res = await request(`${server.url}/.lunasec/frame-session`, { headers: { ...JSON_HEADERS, origin: server.url }, body: '{}' });
    expectRefusal(res, 500, 'jwtSignFailed');
    expect(errors.map((e) => e.errorCode)).toEqual(['ERR_SIGNING_KEY_MISSING']);
  } finally {
    await server.close();
  }
});

describe('auth.frameSessionOrigins validation', () => {
  const make = (frameSessionOrigins) => () => lunaSecWith({ frameSessionOrigins });

  test('origins are normalized; an empty list is fine', () => {
    expect(make(['https://App.Example.com/', 'http://localhost:5173', 'https://a.example:443'])).not.toThrow();
    expect(make([])).not.toThrow();
  });

  test.each([
    ['a string', 'https://app.example.com', /auth\.frameSessionOrigins must be an array/],
    ['an object', { a: 1 }, /auth\.frameSessionOrigins must be an array/],
    ['an empty string', [''], /auth\.frameSessionOrigins\[0\] must be an http\(s\) origin/],
    ['a path', ['https://app.example.com/app'], /auth\.frameSessionOrigins\[0\]/],
    ['a query', ['https://app.example.com/?a=1'], /auth\.frameSessionOrigins\[0\]/],
    ['credentials', ['https://u:p@app.example.com'], /auth\.frameSessionOrigins\[0\]/],
    ['another scheme', ['ftp://app.example.com'], /auth\.frameSessionOrigins\[0\]/],
    ['not a URL', ['app.example.com'], /auth\.frameSessionOrigins\[0\]/],
    ['a number', ['https://ok.example', 42], /auth\.frameSessionOrigins\[1\] must be an http\(s\) origin .*got number/],
  ])('%s is refused with a message saying what to do', (_n, value, re) => {
    let err;
    try {
      make(value)();
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ errorCode: 'ERR_CONFIG_INVALID' });
    expect(err.message).toMatch(re);
  });

  test('a typo in the option name is caught', () => {
    const e = (() => {
      try {
        new LunaSec({ tokenizerURL: 'http://127.0.0.1:1', auth: { secrets: { provider: 'environment' }, sessionIdProvider: () => 's', frameSessionorigins: [] } });
      } catch (err) {
        return err;
      }
      return null;
    })();
    expect(e && e.message).toMatch(/did you mean auth\.frameSessionOrigins/);
  });
});
