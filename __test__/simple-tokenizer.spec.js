'use strict';
// The simple tokenizer (inside the app, no Dedicated Tokenizer) against LocalStack, which enforces
// presigned-URL signatures: round trips, tampering, expiry, and the original's error bodies.
const crypto = require('node:crypto');
const express = require('express');
const { S3Client, CreateBucketCommand, PutObjectCommand } = require('@aws-sdk/client-s3');
const { SimpleTokenizerBackend, isToken } = require('../lib');
const { listen } = require('./helpers');

const region = 'us-west-2';
const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };
const bucket = `simple-${crypto.randomUUID()}`;
let s3;
let server;

const post = (path, body, raw) =>
  fetch(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: raw !== undefined ? raw : JSON.stringify(body) });

beforeAll(async () => {
  s3 = new S3Client({ region, endpoint: process.env.LOCALSTACK_ENDPOINT, forcePathStyle: true, credentials });
  await s3.send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: region } }));
  const app = express();
  new SimpleTokenizerBackend({ s3Bucket: bucket, awsRegion: region, awsCredentials: credentials, endpoint: process.env.LOCALSTACK_ENDPOINT }).register(app);
  server = await listen(app);
});
afterAll(async () => {
  await server.close();
  s3.destroy();
});

async function roundTrip(value) {
  const tok = await post('/.lunasec/tokenize', { metadata: { dataType: 'string' } });
  expect(tok.status).toBe(200);
  const { success, data } = await tok.json();
  expect(success).toBe(true);
  expect(isToken(data.tokenId)).toBe(true);
  const put = await fetch(data.uploadUrl, { method: 'PUT', headers: data.headers, body: value });
  expect(put.status).toBe(200);
  const detok = await post('/.lunasec/detokenize', { tokenId: data.tokenId });
  expect(detok.status).toBe(200);
  const d = (await detok.json()).data;
  const get = await fetch(d.downloadUrl, { headers: d.headers });
  expect(get.status).toBe(200);
  return { tokenId: data.tokenId, value: Buffer.from(await get.arrayBuffer()), downloadUrl: d.downloadUrl, uploadUrl: data.uploadUrl };
}

test('tokenize → upload → detokenize → download', async () => {
  const value = Buffer.from('4111 1111 1111 1111');
  expect((await roundTrip(value)).value).toEqual(value);
  const binary = crypto.randomBytes(256 * 1024);
  expect((await roundTrip(binary)).value).toEqual(binary);
});

test('presigned URLs are really signed: tampering is refused by S3', async () => {
  const { downloadUrl, uploadUrl } = await roundTrip('x');
  const sig = new URL(downloadUrl).searchParams.get('X-Amz-Signature');
  const tampered = downloadUrl.replace(sig, sig.replace(/^./, (c) => (c === 'a' ? 'b' : 'a')));
  expect((await fetch(tampered)).status).toBe(403);
  const otherKey = uploadUrl.replace(/lunasec-[0-9a-f-]{36}/, `lunasec-${crypto.randomUUID()}`);
  expect((await fetch(otherKey, { method: 'PUT', body: 'evil' })).status).toBe(403);
  const getWithPutUrl = await fetch(uploadUrl);
  expect(getWithPutUrl.status).toBe(403);
});

test('expired URLs are refused', async () => {
  const short = new SimpleTokenizerBackend({ s3Bucket: bucket, awsRegion: region, awsCredentials: credentials, endpoint: process.env.LOCALSTACK_ENDPOINT, urlExpirySeconds: 1 });
  const { tokenId, uploadUrl } = await short.tokenize();
  expect(isToken(tokenId)).toBe(true);
  await new Promise((r) => setTimeout(r, 2100));
  expect((await fetch(uploadUrl, { method: 'PUT', body: 'late' })).status).toBe(403);
});

test('objects written by the original SDK (key = token) are readable', async () => {
  const tokenId = `lunasec-${crypto.randomUUID()}`;
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: tokenId, Body: 'legacy value' }));
  const res = await post('/.lunasec/detokenize', { tokenId });
  const { downloadUrl, headers } = (await res.json()).data;
  expect(await (await fetch(downloadUrl, { headers })).text()).toBe('legacy value');
});

test('detokenize errors keep the original bodies', async () => {
  for (const body of [{}, { tokenId: '' }, { tokenId: null }]) {
    const res = await post('/.lunasec/detokenize', body);
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ success: false, error: { name: 'noTokenId', message: 'Missing tokenId to detokenize token with' } });
  }
  for (const tokenId of ['4111111111111111', 'lunasec-xyz', 42]) {
    const res = await post('/.lunasec/detokenize', { tokenId });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ success: false, error: { name: 'badTokenId', message: 'Invalid tokenId provided to detokenize' } });
  }
  const malformed = await post('/.lunasec/detokenize', undefined, '{"tokenId":');
  expect(malformed.status).toBe(400);
  expect((await malformed.json()).error.name).toBe('badRequest');
  const big = await post('/.lunasec/tokenize', undefined, JSON.stringify({ metadata: { x: 'a'.repeat(100 * 1024) } }));
  expect(big.status).toBe(413);
});

test('works behind express.json() and with an async credentials provider', async () => {
  let calls = 0;
  const backend = new SimpleTokenizerBackend({
    s3Bucket: bucket,
    awsRegion: region,
    endpoint: process.env.LOCALSTACK_ENDPOINT,
    awsCredentials: async () => {
      calls++;
      return { ...credentials, expiration: new Date(Date.now() + 3600_000) };
    },
  });
  const app = express();
  app.use(express.json());
  backend.register(app);
  const s = await listen(app);
  try {
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${s.url}/.lunasec/tokenize`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      const { data } = await res.json();
      expect((await fetch(data.uploadUrl, { method: 'PUT', body: 'v' })).status).toBe(200);
    }
    expect(calls).toBe(1);
  } finally {
    await s.close();
  }
});

test('config errors are LunaSecErrors that say what is wrong', () => {
  expect(() => new SimpleTokenizerBackend()).toThrow(/You must configure SimpleTokenizerBackend/);
  expect(() => new SimpleTokenizerBackend({ s3Bucket: 'Bad_Bucket', awsRegion: region, awsCredentials: credentials })).toThrow(
    expect.objectContaining({ errorCode: 'ERR_S3_CONFIG_INVALID', message: expect.stringMatching(/valid S3 bucket name/) }),
  );
  expect(() => new SimpleTokenizerBackend({ s3Bucket: 'ok-bucket', awsRegion: region, awsCredentials: { accessKeyId: 'x' } })).toThrow(/awsCredentials must be/);
  expect(() => new SimpleTokenizerBackend({ s3Bucket: 'ok-bucket', awsRegion: region, awsCredentials: credentials, endpoint: 'localhost:4566' })).toThrow(/endpoint must be/);
});
