'use strict';
// The simple tokenizer (inside the app, no Dedicated Tokenizer) against LocalStack, which enforces
// presigned-URL signatures and SSE-C: sessions to tokenize, the authorize hook to detokenize, the
// signed upload size, SSE-C keys derived from the secret and the token, objects written by the
// original (plaintext, key = token), the original's error bodies, and the dangerously named option
// that restores the original's open door.
const crypto = require('node:crypto');
const express = require('express');
const { S3Client, CreateBucketCommand, PutObjectCommand, GetObjectCommand } = require('@aws-sdk/client-s3');
const { SimpleTokenizerBackend, LunaSecError, isToken } = require('../lib');
const { listen } = require('./helpers');

const region = 'us-west-2';
const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };
const bucket = `simple-${crypto.randomUUID()}`;
const secret = crypto.randomBytes(32);
const SSE_ALG = 'x-amz-server-side-encryption-customer-algorithm';
const SSE_KEY = 'x-amz-server-side-encryption-customer-key';
const SSE_MD5 = 'x-amz-server-side-encryption-customer-key-md5';

/**
 * The app's own authorization, as an app would keep it: which session may read which token. The
 * session is the `x-test-session` header (the app's session mechanism, not ours).
 */
const readable = new Set();
const sessionOf = (req) => req.get('x-test-session') || null;
const authorizeCalls = [];
const authorize = async (req, tokenId) => {
  authorizeCalls.push(tokenId);
  return readable.has(`${sessionOf(req)} ${tokenId}`);
};

let s3;
let server;
const reported = [];

const base = (extra = {}) => ({ s3Bucket: bucket, awsRegion: region, awsCredentials: credentials, endpoint: process.env.LOCALSTACK_ENDPOINT, secret, ...extra });

const post = (url, path, body, { session, raw } = {}) =>
  fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(session ? { 'x-test-session': session } : {}) },
    body: raw !== undefined ? raw : JSON.stringify(body),
  });

/** HKDF-SHA256(secret, salt, info = "lunasec-rs sse-c v1 " + token), as documented in the README. */
function derivedKey(tokenId, key = secret) {
  return Buffer.from(crypto.hkdfSync('sha256', key, Buffer.from('lunasec-rs simple tokenizer SSE-C'), Buffer.from(`lunasec-rs sse-c v1 ${tokenId}`), 32));
}

/** Headers without content-length: every HTTP client computes it from the body. */
const upload = (url, headers, body, extra = {}) => fetch(url, { method: 'PUT', headers, body, ...extra });

beforeAll(async () => {
  s3 = new S3Client({ region, endpoint: process.env.LOCALSTACK_ENDPOINT, forcePathStyle: true, credentials });
  await s3.send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: region } }));
  const app = express();
  new SimpleTokenizerBackend(base({ sessionIdProvider: sessionOf, authorize, onError: (e) => reported.push(e) })).register(app);
  server = await listen(app);
});
afterAll(async () => {
  await server.close();
  s3.destroy();
});

/** Tokenizes `value` as `session`, uploads it, lets `session` read it and reads it back. */
async function roundTrip(value, { url = server.url, session = 'alice' } = {}) {
  const buf = Buffer.from(value);
  const tok = await post(url, '/.lunasec/tokenize', { size: buf.length, metadata: { dataType: 'string' } }, { session });
  expect(tok.status).toBe(200);
  const { success, data } = await tok.json();
  expect(success).toBe(true);
  expect(isToken(data.tokenId)).toBe(true);
  const put = await upload(data.uploadUrl, data.headers, buf);
  expect(put.status).toBe(200);
  readable.add(`${session} ${data.tokenId}`);
  const detok = await post(url, '/.lunasec/detokenize', { tokenId: data.tokenId }, { session });
  expect(detok.status).toBe(200);
  const d = (await detok.json()).data;
  const get = await fetch(d.downloadUrl, { headers: d.headers });
  expect(get.status).toBe(200);
  return { tokenId: data.tokenId, value: Buffer.from(await get.arrayBuffer()), downloadUrl: d.downloadUrl, uploadUrl: data.uploadUrl, putHeaders: data.headers, getHeaders: d.headers };
}

describe('sessions, the authorize hook, and the signed upload size', () => {
  test('tokenize → upload → detokenize → download, with SSE-C headers signed into both URLs', async () => {
    const value = Buffer.from('4111 1111 1111 1111');
    const r = await roundTrip(value);
    expect(r.value).toEqual(value);
    // New tokens are UUIDv8 (the marker for "SSE-C object"); lowercase like every token.
    expect(r.tokenId).toMatch(/^lunasec-[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    for (const h of [r.putHeaders, r.getHeaders]) {
      expect(Object.keys(h).sort()).toEqual([SSE_ALG, SSE_KEY, SSE_MD5]);
      expect(h[SSE_KEY]).toBe(derivedKey(r.tokenId).toString('base64'));
    }
    for (const u of [r.uploadUrl, r.downloadUrl]) {
      const signed = new URL(u).searchParams.get('X-Amz-SignedHeaders').split(';');
      expect(signed).toEqual(expect.arrayContaining(['host', SSE_ALG, SSE_KEY, SSE_MD5]));
    }
    expect(new URL(r.uploadUrl).searchParams.get('X-Amz-SignedHeaders').split(';')).toContain('content-length');
    const binary = crypto.randomBytes(256 * 1024);
    expect((await roundTrip(binary)).value).toEqual(binary);
    expect((await roundTrip('')).value).toEqual(Buffer.alloc(0));
  });

  test('anonymous tokenize is refused (401 sessionMissing), before the body is read', async () => {
    for (const body of [{ size: 3 }, {}]) {
      const res = await post(server.url, '/.lunasec/tokenize', body);
      expect(res.status).toBe(401);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(await res.json()).toEqual({ success: false, error: { name: 'sessionMissing', message: 'the user of this request has no session: log in first' } });
    }
    // Even a malformed body gets the 401, not a parse error: the body is never read.
    expect((await post(server.url, '/.lunasec/tokenize', undefined, { raw: '{"size":' })).status).toBe(401);
  });

  test('authorize false → 403, true → the value; only exactly `true` opens', async () => {
    const { tokenId } = await roundTrip('alice only');
    authorizeCalls.length = 0;
    const mallory = await post(server.url, '/.lunasec/detokenize', { tokenId }, { session: 'mallory' });
    expect(mallory.status).toBe(403);
    const body = await mallory.json();
    expect(body).toEqual({ success: false, error: { name: 'notAuthorized', message: 'this request may not read this token' } });
    expect(JSON.stringify(body)).not.toContain(tokenId);
    const anonymous = await post(server.url, '/.lunasec/detokenize', { tokenId });
    expect(anonymous.status).toBe(403);
    expect(authorizeCalls).toEqual([tokenId, tokenId]);

    const alice = await post(server.url, '/.lunasec/detokenize', { tokenId }, { session: 'alice' });
    expect(alice.status).toBe(200);
    const d = (await alice.json()).data;
    expect(await (await fetch(d.downloadUrl, { headers: d.headers })).text()).toBe('alice only');

    // Truthy is not true: a hook that forgot to compare is a refusal.
    for (const answer of [1, 'yes', {}, [], undefined, null]) {
      const app = express();
      new SimpleTokenizerBackend(base({ sessionIdProvider: () => 's', authorize: async () => answer })).register(app);
      const s = await listen(app);
      try {
        expect((await post(s.url, '/.lunasec/detokenize', { tokenId })).status).toBe(403);
      } finally {
        await s.close();
      }
    }
  });

  test('hook failures and time-outs are typed, reported, and never hang or echo', async () => {
    const seen = [];
    const never = () => new Promise(() => {});
    const cases = [
      [{ sessionIdProvider: () => Promise.reject(new Error('db down: cookie=abc')) }, 'tokenize', 500, 'sessionIdProviderFailed', 'ERR_SESSION_ID_PROVIDER_FAILED'],
      [{ sessionIdProvider: () => ({ id: 1 }) }, 'tokenize', 500, 'sessionIdProviderFailed', 'ERR_SESSION_ID_INVALID'],
      [{ sessionIdProvider: never, sessionIdProviderTimeoutMs: 150 }, 'tokenize', 504, 'sessionIdProviderTimeout', 'ERR_SESSION_ID_PROVIDER_TIMEOUT'],
      [{ authorize: () => Promise.reject(new Error('db down: cookie=abc')) }, 'detokenize', 500, 'authorizeFailed', 'ERR_AUTHORIZE_FAILED'],
      [{ authorize: never, authorizeTimeoutMs: 150 }, 'detokenize', 504, 'authorizeTimeout', 'ERR_AUTHORIZE_TIMEOUT'],
    ];
    for (const [hooks, route, status, name, errorCode] of cases) {
      seen.length = 0;
      const app = express();
      new SimpleTokenizerBackend(base({ sessionIdProvider: () => 's', authorize: async () => true, onError: (e) => seen.push(e), ...hooks })).register(app);
      const s = await listen(app);
      try {
        const t0 = Date.now();
        const body = route === 'tokenize' ? { size: 1 } : { tokenId: `lunasec-${crypto.randomUUID()}` };
        const res = await post(s.url, `/.lunasec/${route}`, body);
        expect(Date.now() - t0).toBeLessThan(3000);
        expect(res.status).toBe(status);
        const text = await res.text();
        expect(JSON.parse(text).error.name).toBe(name);
        expect(text).not.toContain('cookie');
        expect(seen).toHaveLength(1);
        expect(seen[0]).toBeInstanceOf(LunaSecError);
        expect(seen[0].errorCode).toBe(errorCode);
        expect(seen[0].message).not.toContain('cookie');
      } finally {
        await s.close();
      }
    }
  });

  test('the upload size is signed: LocalStack refuses a larger, a smaller or an unsized (chunked) body', async () => {
    const res = await post(server.url, '/.lunasec/tokenize', { size: 5 }, { session: 'alice' });
    const { data } = await res.json();
    expect(data.headers['content-length']).toBeUndefined();
    const oversize = await upload(data.uploadUrl, data.headers, 'abcdefg');
    expect(oversize.status).toBe(403);
    expect(await oversize.text()).toContain('SignatureDoesNotMatch');
    expect((await upload(data.uploadUrl, data.headers, 'abc')).status).toBe(403);
    const stream = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode('0123456789'));
        c.close();
      },
    });
    expect((await upload(data.uploadUrl, data.headers, stream, { duplex: 'half' })).status).toBe(403);
    expect((await upload(data.uploadUrl, data.headers, 'abcde')).status).toBe(200);
    // Nothing but the exact upload was stored.
    const o = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: data.tokenId, SSECustomerAlgorithm: 'AES256', SSECustomerKey: derivedKey(data.tokenId) }));
    expect(await o.Body.transformToString()).toBe('abcde');
  });

  test('size is required and capped by maxSize (default 10 MiB)', async () => {
    const badSize = { success: false, error: { name: 'badSize', message: 'size must be the byte length of the value to upload, a whole number from 0 to 10485760' } };
    for (const body of [{}, { size: -1 }, { size: 1.5 }, { size: '5' }, { size: null }, undefined]) {
      const res = await post(server.url, '/.lunasec/tokenize', body, { session: 'alice' });
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual(badSize);
    }
    const big = await post(server.url, '/.lunasec/tokenize', { size: 10 * 1024 * 1024 + 1 }, { session: 'alice' });
    expect(big.status).toBe(413);
    expect(await big.json()).toEqual({ success: false, error: { name: 'valueTooLarge', message: 'values are limited to 10485760 bytes' } });
    expect((await post(server.url, '/.lunasec/tokenize', { size: 10 * 1024 * 1024 }, { session: 'alice' })).status).toBe(200);

    const small = new SimpleTokenizerBackend(base({ sessionIdProvider: () => 's', authorize: async () => true, maxSize: 1024 }));
    await expect(small.tokenize({ size: 1025 })).rejects.toMatchObject({ errorCode: 'ERR_VALUE_TOO_LARGE', name: 'valueTooLarge', statusCode: 413 });
    await expect(small.tokenize()).rejects.toMatchObject({ errorCode: 'ERR_TOKENIZER_BAD_REQUEST' });
    const ok = await small.tokenize({ size: 1024 });
    expect((await upload(ok.uploadUrl, ok.headers, crypto.randomBytes(1024))).status).toBe(200);
  });
});

describe('SSE-C with keys derived from the secret and the token', () => {
  test('the object is encrypted with HKDF(secret, token): readable with that key only; no SSE-C headers → refused', async () => {
    const value = `ssn-${crypto.randomUUID()}`;
    const a = await roundTrip(value);
    const b = await roundTrip(value);
    // A different key per token.
    expect(derivedKey(a.tokenId).equals(derivedKey(b.tokenId))).toBe(false);
    // Round trip with the derived key, through the AWS SDK (not our presigner).
    const o = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: a.tokenId, SSECustomerAlgorithm: 'AES256', SSECustomerKey: derivedKey(a.tokenId) }));
    expect(await o.Body.transformToString()).toBe(value);
    // Without the key LocalStack refuses: the object is SSE-C at rest.
    const noKey = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: a.tokenId })).catch((e) => e);
    expect(noKey.$metadata.httpStatusCode).toBe(400);
    expect(noKey.name).toBe('InvalidRequest');
    // Another token's key, or a key from another secret: refused.
    for (const wrong of [derivedKey(b.tokenId), derivedKey(a.tokenId, crypto.randomBytes(32))]) {
      const e = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: a.tokenId, SSECustomerAlgorithm: 'AES256', SSECustomerKey: wrong })).catch((x) => x);
      expect(e.$metadata.httpStatusCode).toBe(403);
    }
    // The presigned GET without its SSE-C headers: refused by LocalStack.
    const bare = await fetch(a.downloadUrl);
    expect(bare.status).toBe(403);
    expect(await bare.text()).not.toContain(value);
    // With another token's (validly formed) SSE-C headers: refused too — they are signed.
    expect((await fetch(a.downloadUrl, { headers: b.getHeaders })).status).toBe(403);
  });

  test('a backend with another secret cannot read the objects', async () => {
    const { tokenId } = await roundTrip('secret-bound');
    const other = new SimpleTokenizerBackend(base({ secret: crypto.randomBytes(32), sessionIdProvider: () => 's', authorize: async () => true }));
    const d = await other.detokenize(tokenId);
    const res = await fetch(d.downloadUrl, { headers: d.headers });
    expect(res.status).toBe(403);
    expect(await res.text()).not.toContain('secret-bound');
  });

  test('objects written the original way (plaintext, key = token) still detokenize', async () => {
    const tokenId = `lunasec-${crypto.randomUUID()}`; // the original's UUIDv4 tokens
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: tokenId, Body: 'legacy value' }));
    readable.add(`alice ${tokenId}`);
    const res = await post(server.url, '/.lunasec/detokenize', { tokenId }, { session: 'alice' });
    expect(res.status).toBe(200);
    const { downloadUrl, headers } = (await res.json()).data;
    expect(headers).toEqual({});
    expect(new URL(downloadUrl).searchParams.get('X-Amz-SignedHeaders')).toBe('host');
    expect(await (await fetch(downloadUrl, { headers })).text()).toBe('legacy value');
    // The authorize hook still decides for them.
    expect((await post(server.url, '/.lunasec/detokenize', { tokenId }, { session: 'mallory' })).status).toBe(403);
  });
});

describe('the original behaviour, only by its name', () => {
  test('dangerouslyAllowUnauthenticatedAccess: anyone tokenizes, anyone holding a token reads it', async () => {
    const app = express();
    new SimpleTokenizerBackend(base({ dangerouslyAllowUnauthenticatedAccess: true })).register(app);
    const s = await listen(app);
    try {
      const tok = await post(s.url, '/.lunasec/tokenize', { size: 4 });
      expect(tok.status).toBe(200);
      const { data } = await tok.json();
      expect((await upload(data.uploadUrl, data.headers, 'open')).status).toBe(200);
      const detok = await post(s.url, '/.lunasec/detokenize', { tokenId: data.tokenId });
      expect(detok.status).toBe(200);
      const d = (await detok.json()).data;
      expect(await (await fetch(d.downloadUrl, { headers: d.headers })).text()).toBe('open');
      // The size cap and SSE-C stay.
      expect((await post(s.url, '/.lunasec/tokenize', {})).status).toBe(400);
      expect(d.headers[SSE_KEY]).toBe(derivedKey(data.tokenId).toString('base64'));
      // And the protected backend refuses the same anonymous requests.
      expect((await post(server.url, '/.lunasec/tokenize', { size: 4 })).status).toBe(401);
      expect((await post(server.url, '/.lunasec/detokenize', { tokenId: data.tokenId })).status).toBe(403);
    } finally {
      await s.close();
    }
  });
});

test('presigned URLs are really signed: tampering is refused by S3', async () => {
  const { downloadUrl, uploadUrl, getHeaders, putHeaders } = await roundTrip('x');
  const sig = new URL(downloadUrl).searchParams.get('X-Amz-Signature');
  const tampered = downloadUrl.replace(sig, sig.replace(/^./, (c) => (c === 'a' ? 'b' : 'a')));
  expect((await fetch(tampered, { headers: getHeaders })).status).toBe(403);
  const otherKey = uploadUrl.replace(/lunasec-[0-9a-f-]{36}/, `lunasec-${crypto.randomUUID()}`);
  expect((await upload(otherKey, putHeaders, 'x')).status).toBe(403);
  const getWithPutUrl = await fetch(uploadUrl, { headers: putHeaders });
  expect(getWithPutUrl.status).toBe(403);
});

test('expired URLs are refused', async () => {
  const short = new SimpleTokenizerBackend(base({ sessionIdProvider: () => 's', authorize: async () => true, urlExpirySeconds: 1 }));
  const { tokenId, uploadUrl, headers } = await short.tokenize({ size: 4 });
  expect(isToken(tokenId)).toBe(true);
  await new Promise((r) => setTimeout(r, 2100));
  expect((await upload(uploadUrl, headers, 'late')).status).toBe(403);
});

test('detokenize errors keep the original bodies', async () => {
  for (const body of [{}, { tokenId: '' }, { tokenId: null }]) {
    const res = await post(server.url, '/.lunasec/detokenize', body, { session: 'alice' });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ success: false, error: { name: 'noTokenId', message: 'Missing tokenId to detokenize token with' } });
  }
  // An uppercase spelling is not a token (tokens are canonical lowercase).
  for (const tokenId of ['4111111111111111', 'lunasec-xyz', 42, 'lunasec-351D1033-0E9F-4A1B-BBB6-ADEC04837A5C']) {
    const res = await post(server.url, '/.lunasec/detokenize', { tokenId }, { session: 'alice' });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ success: false, error: { name: 'badTokenId', message: 'Invalid tokenId provided to detokenize' } });
  }
  const malformed = await post(server.url, '/.lunasec/detokenize', undefined, { session: 'alice', raw: '{"tokenId":' });
  expect(malformed.status).toBe(400);
  expect((await malformed.json()).error.name).toBe('badRequest');
  const big = await post(server.url, '/.lunasec/tokenize', undefined, { session: 'alice', raw: JSON.stringify({ size: 1, metadata: { x: 'a'.repeat(100 * 1024) } }) });
  expect(big.status).toBe(413);
  expect((await big.json()).error.name).toBe('payloadTooLarge');
});

test('works behind express.json() and with an async credentials provider', async () => {
  let calls = 0;
  const backend = new SimpleTokenizerBackend(
    base({
      sessionIdProvider: async (req) => sessionOf(req),
      authorize,
      awsCredentials: async () => {
        calls++;
        return { ...credentials, expiration: new Date(Date.now() + 3600_000) };
      },
    }),
  );
  const app = express();
  app.use(express.json());
  backend.register(app);
  const s = await listen(app);
  try {
    for (let i = 0; i < 3; i++) {
      expect((await roundTrip(`v${i}`, { url: s.url, session: 'bob' })).value.toString()).toBe(`v${i}`);
    }
    expect(calls).toBe(1);
  } finally {
    await s.close();
  }
});

describe('configuration', () => {
  const configError = (config) => {
    try {
      new SimpleTokenizerBackend(config);
    } catch (e) {
      expect(e).toBeInstanceOf(LunaSecError);
      return e;
    }
    throw new Error('expected the config to be refused');
  };

  test('S3 and credential errors say what is wrong', () => {
    expect(configError().message).toMatch(/You must configure SimpleTokenizerBackend/);
    expect(configError(base({ s3Bucket: 'Bad_Bucket', sessionIdProvider: () => 's', authorize }))).toMatchObject({
      errorCode: 'ERR_S3_CONFIG_INVALID',
      message: expect.stringMatching(/valid S3 bucket name/),
    });
    expect(configError(base({ awsCredentials: { accessKeyId: 'x' } })).message).toMatch(/awsCredentials must be/);
    expect(configError(base({ endpoint: 'localhost:4566' })).message).toMatch(/endpoint must be/);
  });

  test('no authorize hook, no session provider, no secret: refused at construction, every problem listed', () => {
    const e = configError({ s3Bucket: bucket, awsRegion: region, awsCredentials: credentials });
    expect(e).toMatchObject({ errorCode: 'ERR_CONFIG_INVALID', name: 'configInvalid' });
    const lines = e.message.split('\n  - ');
    expect(lines[0]).toBe('Invalid SimpleTokenizerBackend config:');
    expect(lines.slice(1).map((l) => l.split(' ')[0])).toEqual(['secret', 'sessionIdProvider', 'authorize']);
    expect(e.message).toMatch(/authorize is required: an async function \(req, tokenId\) => boolean/);
    expect(configError(base({ sessionIdProvider: () => 's' })).message).toMatch(/authorize is required/);
    expect(configError(base({ authorize })).message).toMatch(/sessionIdProvider is required/);
  });

  test.each([
    [{ secret: 'too short' }, /secret must be at least 32 bytes .*; got 9$/],
    [{ secret: 42 }, /secret must be a Buffer/],
    [{ maxSize: 0 }, /maxSize must be a whole number of bytes from 1/],
    [{ maxSize: 6 * 1024 ** 3 }, /maxSize must be/],
    [{ authorizeTimeoutMs: 0 }, /authorizeTimeoutMs must be a whole number of milliseconds/],
    [{ sessionIdProviderTimeoutMs: 'x' }, /sessionIdProviderTimeoutMs must be/],
    [{ onError: 'x' }, /onError must be a function/],
    [{ Authorize: authorize }, /Authorize is not an option; did you mean authorize\?/],
    [{ dangerouslyAllowUnauthenticatedAccess: 'yes' }, /dangerouslyAllowUnauthenticatedAccess must be true or false/],
    [{ dangerouslyAllowUnauthenticatedAccess: true, authorize }, /turns off sessionIdProvider and authorize/],
  ])('%#: %p', (extra, message) => {
    const e = configError(base({ sessionIdProvider: () => 's', authorize, ...extra }));
    expect(e.errorCode).toBe('ERR_CONFIG_INVALID');
    expect(e.message).toMatch(message);
  });

  test('the secret never appears in errors; strings and KeyObjects are accepted', () => {
    const weak = 'p@ssw0rd-short';
    expect(configError(base({ secret: weak, sessionIdProvider: () => 's', authorize })).message).not.toContain(weak);
    expect(() => new SimpleTokenizerBackend(base({ secret: crypto.randomBytes(32).toString('base64'), sessionIdProvider: () => 's', authorize }))).not.toThrow();
    expect(() => new SimpleTokenizerBackend(base({ secret: crypto.createSecretKey(crypto.randomBytes(32)), sessionIdProvider: () => 's', authorize }))).not.toThrow();
  });
});
