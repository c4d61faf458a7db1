'use strict';
// End to end, no mocks: the real addon in the example app and in this process, the real
// tokenizer binary, and real storage (its embedded defaults, or LocalStack S3 + DynamoDB).
const crypto = require('node:crypto');
const http = require('node:http');
const { LunaSec, isToken } = require('../lib');
const { startStack } = require('../test-support/stack');
const { Browser } = require('../test-support/browser');

const JWT_RE = /eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/;
const modes = process.env.LUNASEC_E2E_MODES ? process.env.LUNASEC_E2E_MODES.split(',') : ['embedded', 'aws'];

/** The app's LunaSec, in this process (same key as the example app). */
function sdkFor(stack, tokenizerURL = stack.tokenizerUrl) {
  return new LunaSec({ tokenizerURL, auth: { secrets: { provider: 'manual', signingKey: Buffer.from(stack.signingKey, 'base64').toString() }, sessionIdProvider: (req) => req.sessionId } });
}

/** A counting HTTP proxy in front of the tokenizer: how many requests does the SDK really make? */
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

describe.each(modes)('against the tokenizer (%s storage)', (mode) => {
  let stack;
  let sdk;
  const secrets = [];
  const secret = (v) => {
    secrets.push(v);
    return v;
  };

  beforeAll(async () => {
    stack = await startStack({ mode });
    sdk = sdkFor(stack);
  }, 120000);
  afterAll(async () => {
    if (!stack) return;
    await stack.stop();
    // No token, JWT or plaintext in any log line of the tokenizer or the app.
    const logs = stack.logs();
    expect(logs).not.toMatch(JWT_RE);
    expect(logs).not.toMatch(/lunasec-[0-9a-f]{8}-[0-9a-f]{4}-/);
    for (const s of secrets) expect(logs).not.toContain(s);
  });

  test('a user stores a token through the app, reads it back with a read grant; others cannot', async () => {
    const alice = new Browser();
    await alice.loginAndOpenFrame(stack);
    const ssn = secret(`ssn-${crypto.randomUUID()}`);
    const tok = await alice.tokenize(stack.tokenizerUrl, ssn);
    expect(tok.status).toBe(200);
    expect(isToken(tok.tokenId)).toBe(true);

    // The app verifies alice's store grant before storing the token.
    const stored = await alice.json(`${stack.appUrl}/api/ssn`, { token: tok.tokenId });
    expect(stored).toMatchObject({ status: 200, body: { success: true } });

    // Mallory cannot store alice's token (no store grant for her session)…
    const mallory = new Browser();
    await mallory.loginAndOpenFrame(stack);
    const stolen = await mallory.json(`${stack.appUrl}/api/ssn`, { token: tok.tokenId });
    expect(stolen.status).toBe(401);
    expect(stolen.body.error).toMatchObject({ name: 'invalidGrant', errorCode: 'ERR_INVALID_GRANT' });
    expect(JSON.stringify(stolen.body)).not.toContain(tok.tokenId);
    // …nor detokenize it (no read grant for her session).
    expect((await mallory.detokenize(stack.tokenizerUrl, tok.tokenId)).status).toBe(403);

    // Alice gets the token back with a read grant and her frame detokenizes it.
    const back = await alice.request(`${stack.appUrl}/api/ssn`);
    const { token } = await back.json();
    expect(token).toBe(tok.tokenId);
    const detok = await alice.detokenize(stack.tokenizerUrl, token);
    expect(detok.status).toBe(200);
    expect(detok.value.toString()).toBe(ssn);
  });

  test('a read grant expires', async () => {
    const bob = new Browser();
    await bob.loginAndOpenFrame(stack);
    const tok = await bob.tokenize(stack.tokenizerUrl, secret(`v-${crypto.randomUUID()}`));
    expect((await bob.json(`${stack.appUrl}/api/ssn`, { token: tok.tokenId })).status).toBe(200);
    // The store grant made by /tokenize also lets bob read for its default lifetime; use a
    // second session's read grant, created by the app with a 2-second duration.
    const carol = new Browser();
    await carol.loginAndOpenFrame(stack);
    // The app gives LunaSec an opaque id derived from its session (never the cookie itself): read
    // it from the user JWT the app mints for carol's frames.
    const fsess = await carol.json(`${stack.appUrl}/.lunasec/frame-session`, {});
    expect(fsess.status).toBe(200);
    const carolSession = JSON.parse(Buffer.from(fsess.body.data.token.split('.')[1], 'base64url')).session_id;
    expect(carolSession).not.toBe(carol.cookie(stack.appUrl, 'demo_session'));
    await sdk.grants.create(carolSession, tok.tokenId, '2s');
    expect((await carol.detokenize(stack.tokenizerUrl, tok.tokenId)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 3200));
    expect((await carol.detokenize(stack.tokenizerUrl, tok.tokenId)).status).toBe(403);
  });

  test('grants for 100 tokens are one request each way', async () => {
    const proxy = await countingProxy(stack.tokenizerUrl);
    try {
      const viaProxy = sdkFor(stack, proxy.url);
      const tokens = await viaProxy.tokenizer.strict.tokenizeMany(Array.from({ length: 100 }, (_, i) => secret(`batch-${i}-${crypto.randomUUID()}`)));
      proxy.counts.length = 0;
      await viaProxy.grants.create('batch-session', tokens, '10m');
      expect(proxy.counts).toEqual(['POST /grant/set']);
      proxy.counts.length = 0;
      // Only the tokenizing application's own session holds store grants; batch-session does not.
      const err = await viaProxy.grants.verify('batch-session', tokens).catch((e) => e);
      expect(proxy.counts).toEqual(['POST /grant/verify']);
      expect(err).toMatchObject({ name: 'invalidGrant', code: '401' });
      expect(err.invalid).toHaveLength(100);
      expect(err.message).not.toMatch(/lunasec-/);
    } finally {
      await proxy.close();
    }
  });

  test("'' and non-tokens are handled before any request", async () => {
    const proxy = await countingProxy(stack.tokenizerUrl);
    try {
      const s = sdkFor(stack, proxy.url);
      await expect(s.grants.verify('s', '')).resolves.toBeUndefined();
      await expect(s.grants.verify('s', ['', ''])).resolves.toEqual([undefined, undefined]);
      await expect(s.grants.verify('s', '4111-1111')).rejects.toMatchObject({ name: 'badToken', code: '400', statusCode: 400 });
      await expect(s.grants.create('s', '')).rejects.toMatchObject({ name: 'badToken' });
      await expect(s.grants.create('s', ['lunasec-351d1033-0e9f-4a1b-bbb6-adec04837a5c', null])).rejects.toMatchObject({ name: 'badToken' });
      await expect(s.grants.create('s', [])).resolves.toEqual([]);
      await expect(s.grants.create('s', 'lunasec-351d1033-0e9f-4a1b-bbb6-adec04837a5c', '3 hours')).rejects.toMatchObject({ name: 'badDuration' });
      await expect(s.tokenizer.strict.detokenize('not-a-token')).rejects.toMatchObject({ name: 'badToken' });
      expect(proxy.counts).toEqual([]);
    } finally {
      await proxy.close();
    }
  });

  test('over-maximum grant durations are refused by the tokenizer with the maximum in the message', async () => {
    const t = await sdk.tokenizer.strict.tokenize('x');
    const err = await sdk.grants.create('s', t, '2h').catch((e) => e);
    expect(err).toMatchObject({ name: 'grantCreationFailure', statusCode: 400 });
    expect(err.message).toMatch(/1h/);
    await expect(sdk.grants.create('s', t, '1h')).resolves.toBeUndefined();
  });

  test.each([
    ['1 byte', 1],
    ['1 MB', 1 << 20],
    ['50 MB', 50 << 20],
  ])('server-side tokenize/detokenize of %s', async (_n, size) => {
    const value = crypto.randomBytes(size);
    const r = await sdk.tokenizer.tokenize(value, { dataType: 'file', fileinfo: { filename: 'f.bin' } });
    expect(r.success).toBe(true);
    const back = await sdk.tokenizer.detokenize(r.tokenId, { as: 'buffer' });
    expect(back.success).toBe(true);
    expect(back.value.length).toBe(size);
    expect(back.value.equals(value)).toBe(true);
    const meta = await sdk.tokenizer.getMetadata(r.tokenId);
    expect(meta).toMatchObject({ success: true, metadata: { dataType: 'file', fileinfo: { filename: 'f.bin' } } });
  }, 120000);

  test('a 401 from the tokenizer (app key not in its JWKS) is a typed error, not a crash', async () => {
    const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    const stranger = new LunaSec({ tokenizerURL: stack.tokenizerUrl, auth: { secrets: { provider: 'manual', signingKey: privateKey, kid: 'not-published' }, sessionIdProvider: () => 's' } });
    const t = await sdk.tokenizer.strict.tokenize('x');
    const err = await stranger.grants.verify('s', t).catch((e) => e);
    expect(err).toMatchObject({ name: 'tokenizerUnauthorized', errorCode: 'ERR_TOKENIZER_UNAUTHORIZED', statusCode: 502 });
    expect(err.message).not.toMatch(JWT_RE);
    const r = await stranger.tokenizer.tokenize('y');
    expect(r).toMatchObject({ success: false, error: { errorCode: 'ERR_TOKENIZER_UNAUTHORIZED' } });
  });

  test('string values and result shapes', async () => {
    const v = secret(`text-${crypto.randomUUID()}-é`);
    const r = await sdk.tokenizer.tokenize(v);
    expect(r).toEqual({ success: true, tokenId: expect.any(String) });
    expect(await sdk.tokenizer.detokenize(r.tokenId)).toEqual({ success: true, tokenId: r.tokenId, value: v });
    const url = await sdk.tokenizer.detokenizeToUrl(r.tokenId);
    expect(url).toMatchObject({ success: true, tokenId: r.tokenId, downloadUrl: expect.stringMatching(/^http/) });
    const unknown = await sdk.tokenizer.detokenize(`lunasec-${crypto.randomUUID()}`);
    expect(unknown.success).toBe(false);
    expect(unknown.error).toMatchObject({ errorCode: 'ERR_TOKEN_NOT_FOUND', statusCode: 404 });
  });
});

describe('when the tokenizer is down', () => {
  test('SDK calls fail with a clear error and the app keeps serving', async () => {
    const stack = await startStack({ mode: 'embedded' });
    try {
      const alice = new Browser();
      await alice.loginAndOpenFrame(stack);
      const tok = await alice.tokenize(stack.tokenizerUrl, 'v');
      expect((await alice.json(`${stack.appUrl}/api/ssn`, { token: tok.tokenId })).status).toBe(200);
      await stack.stopTokenizer();
      const sdk = sdkFor(stack);
      const err = await sdk.grants.create('s', tok.tokenId).catch((e) => e);
      expect(err).toMatchObject({ name: 'grantCreationFailure', errorCode: 'ERR_TOKENIZER_UNREACHABLE', statusCode: 503 });
      const viaApp = await alice.request(`${stack.appUrl}/api/ssn`);
      expect(viaApp.status).toBe(503);
      expect((await viaApp.json()).error.errorCode).toBe('ERR_TOKENIZER_UNREACHABLE');
      expect((await alice.request(`${stack.appUrl}/api/health`)).status).toBe(200);
    } finally {
      await stack.stop();
    }
  }, 60000);
});
