'use strict';
// Issue 12, item 6 (the SDK's part): plain http:// to a remote tokenizer refused unless explicitly
// allowed; grant batches split at the tokenizer's 1,000-token limit (against the real tokenizer);
// tokens are canonical lowercase; a JSON body already consumed by another middleware does not hang;
// `sessionIdProvider` has a time-out.
const path = require('node:path');
const crypto = require('node:crypto');
const http = require('node:http');
const express = require('express');
const { LunaSec, LunaSecError, LunaSecExpressAuthPlugin, SimpleTokenizerBackend, isToken } = require('../lib');
const { MAX_BATCH } = require('../lib/grants');
const native = require('../lib/native');
const { startStack } = require('../test-support/stack');
const { listen, pkcs8Pem, rsaKeyPair } = require('./helpers');

const signingKey = () => pkcs8Pem(rsaKeyPair());
const sdk = (config) => new LunaSec({ auth: { secrets: { provider: 'manual', signingKey: signingKey() }, sessionIdProvider: () => 's' }, ...config });
const configError = (config) => {
  try {
    sdk(config);
  } catch (e) {
    expect(e).toBeInstanceOf(LunaSecError);
    expect(e.errorCode).toBe('ERR_CONFIG_INVALID');
    return e.message;
  }
  throw new Error('expected the config to be refused');
};

describe('plain http:// only to loopback, unless explicitly allowed', () => {
  test.each([
    ['http://tokenizer.example.com', 'tokenizer.example.com'],
    ['http://10.0.0.5:37766', '10.0.0.5'],
    ['http://192.168.1.20/tok', '192.168.1.20'],
    ['http://[::2]:37766', '[::2]'],
    ['http://localhost.example.com', 'localhost.example.com'],
    ['http://127.0.0.1.nip.io', '127.0.0.1.nip.io'],
  ])('tokenizerURL %s is refused with a precise config error', (url, host) => {
    const message = configError({ tokenizerURL: url });
    expect(message).toContain(`tokenizerURL uses plain http:// to ${host}, which is not a loopback host`);
    expect(message).toContain('Use https://, or set dangerouslyAllowInsecureHttp: true');
    expect(configError({ secureFrameURL: url })).toContain('tokenizerURL (or secureFrameURL) uses plain http://');
  });

  test('publicTokenizerUrl is checked too', () => {
    expect(configError({ tokenizerURL: 'http://127.0.0.1:37766', publicTokenizerUrl: 'http://tokenizer.example.com' })).toContain(
      'publicTokenizerUrl uses plain http:// to tokenizer.example.com',
    );
  });

  test.each(['http://localhost:37766', 'http://LOCALHOST:1', 'http://127.0.0.1:37766', 'http://127.1.2.3', 'http://127.1', 'http://[::1]:37766', 'http://tok.localhost:8080', 'https://tokenizer.example.com', 'https://10.0.0.5'])(
    '%s is accepted',
    (url) => {
      expect(sdk({ tokenizerURL: url, publicTokenizerUrl: url }).config.tokenizerURL).toBe(new URL(url).href.replace(/\/+$/, ''));
    },
  );

  test('dangerouslyAllowInsecureHttp: true allows it', () => {
    const l = sdk({ tokenizerURL: 'http://tokenizer.internal:37766', publicTokenizerUrl: 'http://10.0.0.5', dangerouslyAllowInsecureHttp: true });
    expect(l.config).toMatchObject({ tokenizerURL: 'http://tokenizer.internal:37766', publicTokenizerUrl: 'http://10.0.0.5' });
  });

  test('dangerouslyAllowInsecureHttp: false does not allow it; a non-boolean is refused', () => {
    expect(configError({ tokenizerURL: 'http://tokenizer.internal', dangerouslyAllowInsecureHttp: false })).toContain('uses plain http:// to tokenizer.internal');
    expect(configError({ tokenizerURL: 'https://t.example.com', dangerouslyAllowInsecureHttp: 'yes' })).toContain('dangerouslyAllowInsecureHttp must be true or false; got a string');
    expect(configError({ tokenizerURL: 'https://t.example.com', dangerouslyallowinsecurehttp: true })).toContain('did you mean dangerouslyAllowInsecureHttp?');
  });
});

describe('tokens are canonical lowercase: an uppercase spelling is refused everywhere, before any request', () => {
  const lower = 'lunasec-351d1033-0e9f-4a1b-bbb6-adec04837a5c';
  const upper = 'lunasec-351D1033-0E9F-4A1B-BBB6-ADEC04837A5C';
  const mixed = 'lunasec-351d1033-0e9f-4a1b-bbb6-adec04837A5c';

  test('isToken', () => {
    expect(isToken(lower)).toBe(true);
    expect(isToken(upper)).toBe(false);
    expect(isToken(mixed)).toBe(false);
    expect(isToken(`LUNASEC-${lower.slice(8)}`)).toBe(false);
  });

  test('the browser library\'s isToken agrees', async () => {
    const browser = await import(path.join(__dirname, '..', 'browser', 'index.mjs'));
    expect(browser.isToken(lower)).toBe(true);
    expect(browser.isToken(upper)).toBe(false);
    expect(browser.isToken(mixed)).toBe(false);
  });

  test('grants and the server-side tokenizer refuse it with badToken (the tokenizer URL is dead: no request is made)', async () => {
    const l = sdk({ tokenizerURL: 'http://127.0.0.1:9', client: { retries: 0, timeoutMs: 1000 } });
    for (const p of [l.grants.create('s', upper), l.grants.create('s', [lower, mixed]), l.grants.verify('s', [upper])]) {
      await expect(p).rejects.toMatchObject({ name: 'badToken', errorCode: 'ERR_BAD_TOKEN' });
    }
    await expect(l.tokenizer.strict.detokenize(upper)).rejects.toMatchObject({ errorCode: 'ERR_BAD_TOKEN' });
    await expect(l.tokenizer.strict.getMetadata(mixed)).rejects.toMatchObject({ errorCode: 'ERR_BAD_TOKEN' });
    // A lowercase token does go out (and fails on the dead URL).
    await expect(l.grants.create('s', lower)).rejects.toMatchObject({ errorCode: 'ERR_TOKENIZER_UNREACHABLE' });
  });
});

describe('JSON bodies behind other body parsers never hang', () => {
  // The simple tokenizer reads its JSON body with readJsonBody; access is open here because the
  // body, not the access checks, is under test (nothing is sent to S3: URLs are only presigned).
  const backend = new SimpleTokenizerBackend({
    s3Bucket: 'body-tests',
    awsRegion: 'us-west-2',
    awsCredentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    endpoint: 'http://127.0.0.1:9',
    secret: crypto.randomBytes(32),
    dangerouslyAllowUnauthenticatedAccess: true,
  });

  async function serve(...middlewares) {
    const app = express();
    for (const m of middlewares) app.use(m);
    backend.register(app);
    return listen(app);
  }

  const send = (s, body, contentType = 'application/json') =>
    fetch(`${s.url}/.lunasec/tokenize`, { method: 'POST', headers: { 'content-type': contentType }, body, signal: AbortSignal.timeout(5000) });

  test.each([
    ['express.json()', () => express.json(), 'application/json'],
    ['express.raw() (a Buffer)', () => express.raw({ type: '*/*' }), 'application/json'],
    ['express.text() (a string)', () => express.text({ type: '*/*' }), 'text/plain'],
    ['express.json() for another type (stream left unread)', () => express.json(), 'text/plain'],
    ['express.urlencoded() (stream left unread)', () => express.urlencoded({ extended: false }), 'application/json'],
    [
      "Express 4 body-parser's placeholder {} (stream left unread)",
      () => (req, res, next) => {
        req.body = req.body || {};
        next();
      },
      'application/json',
    ],
  ])('%s: the body is used', async (_, parser, type) => {
    const s = await serve(parser());
    try {
      const res = await send(s, JSON.stringify({ size: 7 }), type);
      expect(res.status).toBe(200);
      const { data } = await res.json();
      expect(isToken(data.tokenId)).toBe(true);
      // Malformed JSON: 400 (express.json() answers it itself, before the route).
      const bad = await send(s, '{"size":', type);
      expect(bad.status).toBe(400);
      if (bad.headers.get('content-type').startsWith('application/json')) expect((await bad.json()).error.name).toBe('badRequest');
    } finally {
      await s.close();
    }
  });

  test('a middleware that consumed the stream and left no req.body: 400 bodyAlreadyRead at once', async () => {
    const consume = (req, res, next) => {
      const parts = [];
      req.on('data', (c) => parts.push(c));
      req.on('end', () => {
        req.rawBodyForSignature = Buffer.concat(parts);
        next();
      });
    };
    const s = await serve(consume);
    try {
      const t0 = Date.now();
      const res = await send(s, JSON.stringify({ size: 7 }));
      expect(Date.now() - t0).toBeLessThan(2000);
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({
        success: false,
        error: { name: 'bodyAlreadyRead', message: 'the request body was already read by another middleware, which left no req.body' },
      });
    } finally {
      await s.close();
    }
  });

  test('an oversized Buffer or string body from a parser is refused with 413', async () => {
    const s = await serve(express.raw({ type: '*/*', limit: '1mb' }));
    try {
      const res = await send(s, JSON.stringify({ size: 1, pad: 'x'.repeat(70 * 1024) }));
      expect(res.status).toBe(413);
      expect((await res.json()).error.name).toBe('payloadTooLarge');
    } finally {
      await s.close();
    }
  });
});

describe('auth.sessionIdProvider has a time-out', () => {
  const never = () => new Promise(() => {});
  const frameSession = (url) => fetch(`${url}/.lunasec/frame-session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}', signal: AbortSignal.timeout(15000) });

  async function appFor(lunaSec) {
    const app = express();
    lunaSec.expressAuthPlugin.register(app);
    return listen(app);
  }

  test('a provider that never answers: 504 sessionIdProviderTimeout after auth.sessionIdProviderTimeoutMs, reported as a typed error', async () => {
    const reported = [];
    const l = sdk({ tokenizerURL: 'http://127.0.0.1:9', auth: { secrets: { provider: 'manual', signingKey: signingKey() }, sessionIdProvider: never, sessionIdProviderTimeoutMs: 200, onError: (e) => reported.push(e) } });
    const s = await appFor(l);
    try {
      const t0 = Date.now();
      const res = await frameSession(s.url);
      const elapsed = Date.now() - t0;
      expect(elapsed).toBeGreaterThanOrEqual(190);
      expect(elapsed).toBeLessThan(2000);
      expect(res.status).toBe(504);
      expect(await res.json()).toEqual({ success: false, error: { name: 'sessionIdProviderTimeout', message: 'unable to authenticate the user of this request: the session id provider timed out' } });
      const redirect = await fetch(`${s.url}/.lunasec/secure-frame?state=abc`, { redirect: 'manual', signal: AbortSignal.timeout(5000) });
      expect(redirect.status).toBe(504);
      expect(reported).toHaveLength(2);
      for (const e of reported) {
        expect(e).toBeInstanceOf(LunaSecError);
        expect(e).toMatchObject({ errorCode: 'ERR_SESSION_ID_PROVIDER_TIMEOUT', name: 'sessionIdProviderTimeout', statusCode: 504, message: 'auth.sessionIdProvider did not answer within 200 ms' });
      }
    } finally {
      await s.close();
    }
    // grants.*WithAutomaticSessionId reject with the same typed error.
    const req = new http.IncomingMessage(null);
    await expect(l.grants.createWithAutomaticSessionId(req, 'lunasec-351d1033-0e9f-4a1b-bbb6-adec04837a5c')).rejects.toMatchObject({ errorCode: 'ERR_SESSION_ID_PROVIDER_TIMEOUT' });
    await expect(l.grants.verifyWithAutomaticSessionId(req, 'lunasec-351d1033-0e9f-4a1b-bbb6-adec04837a5c')).rejects.toMatchObject({ errorCode: 'ERR_SESSION_ID_PROVIDER_TIMEOUT' });
  });

  test('the default is 5 seconds; a slow provider within the limit works', async () => {
    const l = sdk({ tokenizerURL: 'http://127.0.0.1:9', auth: { secrets: { provider: 'manual', signingKey: signingKey() }, sessionIdProvider: never } });
    const slow = sdk({
      tokenizerURL: 'http://127.0.0.1:9',
      auth: { secrets: { provider: 'manual', signingKey: signingKey() }, sessionIdProvider: () => new Promise((r) => setTimeout(() => r('alice'), 300)), sessionIdProviderTimeoutMs: 2000 },
    });
    const s = await appFor(l);
    const s2 = await appFor(slow);
    try {
      const t0 = Date.now();
      const [res, ok] = await Promise.all([frameSession(s.url), frameSession(s2.url)]);
      const elapsed = Date.now() - t0;
      expect(res.status).toBe(504);
      expect(elapsed).toBeGreaterThanOrEqual(4900);
      expect(elapsed).toBeLessThan(8000);
      expect(ok.status).toBe(200);
      expect((await ok.json()).data.token).toMatch(/^eyJ/);
    } finally {
      await s.close();
      await s2.close();
    }
  }, 20000);

  test('an Express plugin built directly gets the time-out too', async () => {
    const l = sdk({ tokenizerURL: 'http://127.0.0.1:9' });
    const plugin = new LunaSecExpressAuthPlugin({ keyService: l.keyService, sessionIdProvider: never, publicTokenizerUrl: 'http://127.0.0.1:9', sessionIdProviderTimeoutMs: 100 });
    const app = express();
    plugin.register(app);
    const s = await listen(app);
    try {
      expect((await frameSession(s.url)).status).toBe(504);
    } finally {
      await s.close();
    }
  });

  test.each([0, -1, 1.5, '5000', 600001])('auth.sessionIdProviderTimeoutMs %p is refused', (v) => {
    expect(configError({ tokenizerURL: 'http://127.0.0.1:9', auth: { secrets: { provider: 'manual', signingKey: signingKey() }, sessionIdProvider: () => 's', sessionIdProviderTimeoutMs: v } })).toContain(
      'auth.sessionIdProviderTimeoutMs must be a whole number of milliseconds from 1 to 600000',
    );
  });
});

describe('grant batches over the tokenizer limit are split (real tokenizer)', () => {
  let stack;
  let lunaSec;
  let proxy;
  const randomTokens = (n) => Array.from({ length: n }, () => `lunasec-${crypto.randomUUID()}`);

  /** A counting HTTP proxy in front of the tokenizer. */
  async function countingProxy(target) {
    const t = new URL(target);
    const counts = [];
    const server = http.createServer((req, res) => {
      counts.push(`${req.method} ${req.url}`);
      const up = http.request({ host: t.hostname, port: t.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode, r.headers);
        r.pipe(res);
      });
      req.pipe(up);
    });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    return { url: `http://127.0.0.1:${server.address().port}`, counts, close: () => new Promise((r) => server.close(r)) };
  }

  beforeAll(async () => {
    stack = await startStack({ mode: 'embedded' });
    proxy = await countingProxy(stack.tokenizerUrl);
    lunaSec = new LunaSec({ tokenizerURL: proxy.url, auth: { secrets: { provider: 'manual', signingKey: Buffer.from(stack.signingKey, 'base64').toString() }, sessionIdProvider: () => null } });
  }, 120000);
  afterAll(async () => {
    if (proxy) await proxy.close();
    if (stack) await stack.stop();
  });

  test('the tokenizer itself refuses more than MAX_BATCH tokens in one request', async () => {
    expect(MAX_BATCH).toBe(1000);
    const client = new native.TokenizerClient({ url: stack.tokenizerUrl });
    const jwt = await lunaSec.keyService.getApplicationJWT();
    await expect(client.grantSet(jwt, 'direct', randomTokens(MAX_BATCH + 1), '10m', 'read_token')).rejects.toMatchObject({ code: 'ERR_TOKENIZER_BAD_REQUEST' });
  });

  test('create: 2,500 tokens → 3 requests; every grant is set', async () => {
    const tokens = randomTokens(2500);
    proxy.counts.length = 0;
    const out = await lunaSec.grants.create('batch-reader', tokens, '10m');
    expect(out).toHaveLength(2500);
    expect(proxy.counts).toEqual(['POST /grant/set', 'POST /grant/set', 'POST /grant/set']);
    const client = new native.TokenizerClient({ url: stack.tokenizerUrl });
    const jwt = await lunaSec.keyService.getApplicationJWT();
    for (const batch of [tokens.slice(0, 1000), tokens.slice(1000, 2000), tokens.slice(2000)]) {
      expect(await client.grantVerify(jwt, 'batch-reader', batch, 'read_token')).toEqual(batch.map(() => true));
    }
    // One token in, undefined out.
    await expect(lunaSec.grants.create('batch-reader', tokens[0])).resolves.toBeUndefined();
  });

  test('verify: 2,500 tokens → 3 requests; failing positions reported in order across batches', async () => {
    const tokens = randomTokens(2500);
    const valid = [0, 999, 1000, 1001, 1999, 2000, 2499];
    // Store grants for a few positions, set by the tokenizer's own API (as the frame's tokenize does).
    const client = new native.TokenizerClient({ url: stack.tokenizerUrl });
    const jwt = await lunaSec.keyService.getApplicationJWT();
    await client.grantSet(jwt, 'batch-writer', valid.map((i) => tokens[i]), '10m', 'store_token');
    // '' entries are skipped without a request and shift nothing.
    const withEmpty = [...tokens.slice(0, 1500), '', ...tokens.slice(1500)];
    proxy.counts.length = 0;
    const err = await lunaSec.grants.verify('batch-writer', withEmpty).catch((e) => e);
    expect(proxy.counts).toEqual(['POST /grant/verify', 'POST /grant/verify', 'POST /grant/verify']);
    expect(err).toMatchObject({ name: 'invalidGrant', errorCode: 'ERR_INVALID_GRANT' });
    const validPositions = new Set([...valid.map((i) => (i >= 1500 ? i + 1 : i)), 1500]);
    expect(err.invalid).toEqual(withEmpty.map((_, i) => i).filter((i) => !validPositions.has(i)));
    expect(err.message).toBe('Grant Invalid for 2493 of 2501 tokens');
    // All valid, over the limit: resolves.
    const mine = randomTokens(1200);
    await client.grantSet(jwt, 'batch-writer', mine.slice(0, 1000), '10m', 'store_token');
    await client.grantSet(jwt, 'batch-writer', mine.slice(1000), '10m', 'store_token');
    await expect(lunaSec.grants.verify('batch-writer', mine)).resolves.toHaveLength(1200);
  });
});
