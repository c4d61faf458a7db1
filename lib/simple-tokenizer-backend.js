'use strict';
const crypto = require('node:crypto');
const native = require('./native');
const { LunaSecError, callNative, lunaSecError } = require('./errors');
const { isToken } = require('./token');
const { readJsonBody } = require('./body');
const { callWithTimeout, checkTypos, describe, parseTimeout, withSessionIdTimeout, DEFAULT_SESSION_ID_PROVIDER_TIMEOUT_MS } = require('./config');

const DEFAULT_LOCALSTACK_URL = 'http://localhost:4566';
/** Refresh provider credentials this long before they expire. */
const CREDENTIAL_REFRESH_MARGIN_MS = 5 * 60 * 1000;
/** Default cap on one value's size (the signed `content-length` of its PUT). */
const DEFAULT_MAX_SIZE = 10 * 1024 * 1024;
/** S3's limit for a single PUT. */
const MAX_PUT_SIZE = 5 * 1024 * 1024 * 1024;
const MIN_SECRET_BYTES = 32;
const DEFAULT_AUTHORIZE_TIMEOUT_MS = 5000;

const KNOWN_OPTIONS = [
  's3Bucket',
  'awsRegion',
  'awsCredentials',
  'useLocalStack',
  'localStackUrl',
  'endpoint',
  'urlExpirySeconds',
  'secret',
  'maxSize',
  'sessionIdProvider',
  'sessionIdProviderTimeoutMs',
  'authorize',
  'authorizeTimeoutMs',
  'onError',
  'dangerouslyAllowUnauthenticatedAccess',
];

/**
 * Where the version nibble of the token's UUID sits (`lunasec-xxxxxxxx-xxxx-Vxxx-…`). Tokens this
 * backend writes with SSE-C are UUIDv8 (RFC 9562's vendor-specific version, 122 random bits as in
 * v4); the original wrote v4 tokens, in plaintext objects. The token itself says how its object
 * is read, with no extra call to S3.
 */
const VERSION_AT = 'lunasec-'.length + 14;
const SSE_C_VERSION = '8';

/** HKDF-SHA256 inputs for each object's SSE-C key: the server secret, and the token in the info. */
const HKDF_SALT = Buffer.from('lunasec-rs simple tokenizer SSE-C', 'utf8');
const hkdfInfo = (tokenId) => Buffer.from(`lunasec-rs sse-c v1 ${tokenId}`, 'utf8');

function fail(res, status, name, message) {
  // Only a body we stopped reading needs the connection closed.
  if (name === 'payloadTooLarge') res.set('Connection', 'close');
  res.status(status).set('Cache-Control', 'no-store').json({ success: false, error: { name, message } });
}

function checkCredentials(c, where) {
  if (!c || typeof c.accessKeyId !== 'string' || typeof c.secretAccessKey !== 'string' || !c.accessKeyId || !c.secretAccessKey) {
    throw lunaSecError('ERR_CONFIG_INVALID', `${where} must be { accessKeyId, secretAccessKey, sessionToken? }`);
  }
  return { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, ...(c.sessionToken ? { sessionToken: c.sessionToken } : {}) };
}

/** The secret's bytes (a copy), or undefined after recording a problem. */
function secretBytes(secret, problems) {
  let bytes;
  if (Buffer.isBuffer(secret) || secret instanceof Uint8Array) bytes = Buffer.from(secret);
  else if (typeof secret === 'string') bytes = Buffer.from(secret, 'utf8');
  else if (secret instanceof crypto.KeyObject && secret.type === 'secret') bytes = secret.export();
  if (secret === undefined) {
    problems.push(
      `secret is required: ${MIN_SECRET_BYTES} or more random bytes (a Buffer, or a string such as crypto.randomBytes(32).toString('base64')). ` +
        "Each object's SSE-C encryption key is derived from it and the token; keep it as safe as your AWS credentials and never change it (objects written with it cannot be read without it)",
    );
    return undefined;
  }
  if (bytes === undefined) {
    problems.push(`secret must be a Buffer, a Uint8Array, a string or a secret KeyObject of at least ${MIN_SECRET_BYTES} bytes; got ${describe(secret)}`);
    return undefined;
  }
  if (bytes.length < MIN_SECRET_BYTES) {
    problems.push(`secret must be at least ${MIN_SECRET_BYTES} bytes (e.g. crypto.randomBytes(32).toString('base64')); got ${bytes.length}`);
    return undefined;
  }
  return bytes;
}

/**
 * The "simple tokenizer": tokenization inside your app, without a Dedicated Tokenizer. Values go
 * straight from the browser to S3 through presigned URLs (signed in Rust, SigV4); the object key
 * is the token, as in the original, so buckets written by `@lunasec/node-sdk` keep working.
 *
 * `register(app)` mounts, in the envelope `{success, data | error: {name, message}}`:
 * - `POST /.lunasec/tokenize` (`{size, metadata?}` → `{tokenId, uploadUrl, headers}`): only for a
 *   request with a session (`sessionIdProvider`); the PUT URL is signed for exactly `size` bytes
 *   (at most `maxSize`) and for the object's SSE-C headers, which `headers` lists.
 * - `POST /.lunasec/detokenize` (`{tokenId}` → `{downloadUrl, headers}`): only when
 *   `authorize(req, tokenId)` resolves `true`.
 * `dangerouslyAllowUnauthenticatedAccess: true` drops both checks (the original's behaviour).
 */
class SimpleTokenizerBackend {
  #presigner;
  #provider = null;
  #expiresAt = Infinity;
  #refreshing = null;
  #secret;
  #maxSize;
  #open;
  #sessionIdProvider;
  #authorize;
  #authorizeTimeoutMs;
  #onError;

  /**
   * @param {object} config
   * @param {string} config.s3Bucket
   * @param {string} config.awsRegion
   * @param {object|Function} [config.awsCredentials] `{accessKeyId, secretAccessKey, sessionToken?}` or an
   *   AWS SDK style provider `() => Promise<credentials & {expiration?: Date}>`. Default: the
   *   AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN environment variables.
   * @param {boolean} [config.useLocalStack] sign for LocalStack (`localStackUrl`, default http://localhost:4566).
   * @param {string} [config.endpoint] any S3-compatible endpoint (path-style); overrides useLocalStack.
   * @param {number} [config.urlExpirySeconds] lifetime of presigned URLs. Default 900.
   * @param {Buffer|string} config.secret at least 32 bytes; each new object's SSE-C key is derived from it and the token.
   * @param {number} [config.maxSize] largest value accepted, in bytes. Default 10 MiB.
   * @param {Function} [config.sessionIdProvider] `(req) => sessionId | null` (may be async): tokenize needs a session.
   * @param {Function} [config.authorize] `async (req, tokenId) => boolean`: may this request read this token?
   * @param {number} [config.sessionIdProviderTimeoutMs] Default 5000.
   * @param {number} [config.authorizeTimeoutMs] Default 5000.
   * @param {Function} [config.onError] `(error, req) => void`: hook failures and time-outs.
   * @param {boolean} [config.dangerouslyAllowUnauthenticatedAccess] anyone may tokenize, anyone holding a token may read it.
   */
  constructor(config) {
    if (!config || typeof config !== 'object') {
      throw lunaSecError(
        'ERR_CONFIG_INVALID',
        'You must configure SimpleTokenizerBackend: { s3Bucket, awsRegion, awsCredentials, secret, sessionIdProvider, authorize }',
      );
    }
    const { s3Bucket, awsRegion, awsCredentials, useLocalStack, localStackUrl, endpoint, urlExpirySeconds } = config;
    let initial;
    if (typeof awsCredentials === 'function') {
      this.#provider = awsCredentials;
      // Placeholder until the provider answers; never used to sign (see #ensureCredentials).
      initial = { accessKeyId: 'pending', secretAccessKey: 'pending' };
      this.#expiresAt = 0;
    } else if (awsCredentials !== undefined) {
      initial = checkCredentials(awsCredentials, 'awsCredentials');
    } else {
      initial = checkCredentials(
        { accessKeyId: process.env.AWS_ACCESS_KEY_ID, secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY, sessionToken: process.env.AWS_SESSION_TOKEN },
        'awsCredentials (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)',
      );
    }
    const ep = endpoint || (useLocalStack ? localStackUrl || DEFAULT_LOCALSTACK_URL : undefined);
    this.#presigner = callNative(
      () =>
        new native.S3Presigner({
          bucket: String(s3Bucket || ''),
          region: String(awsRegion || ''),
          ...(ep ? { endpoint: ep } : {}),
          credentials: initial,
          ...(urlExpirySeconds !== undefined ? { expiresInSeconds: urlExpirySeconds } : {}),
        }),
    );
    this.#configureAccess(config);
  }

  /** Validates the access and encryption options; one ERR_CONFIG_INVALID lists every problem. */
  #configureAccess(config) {
    const problems = [];
    checkTypos(config, KNOWN_OPTIONS, '', problems);
    const { maxSize, sessionIdProvider, authorize, onError, dangerouslyAllowUnauthenticatedAccess: open } = config;
    if (open !== undefined && typeof open !== 'boolean') {
      problems.push(`dangerouslyAllowUnauthenticatedAccess must be true or false; got ${describe(open)}`);
    }
    this.#open = open === true;
    this.#secret = secretBytes(config.secret, problems);
    this.#maxSize = DEFAULT_MAX_SIZE;
    if (maxSize !== undefined) {
      if (!Number.isSafeInteger(maxSize) || maxSize < 1 || maxSize > MAX_PUT_SIZE) {
        problems.push(`maxSize must be a whole number of bytes from 1 to ${MAX_PUT_SIZE} (S3's limit for one PUT); got ${describe(maxSize)}`);
      } else {
        this.#maxSize = maxSize;
      }
    }
    const providerTimeout = parseTimeout(config.sessionIdProviderTimeoutMs, 'sessionIdProviderTimeoutMs', DEFAULT_SESSION_ID_PROVIDER_TIMEOUT_MS, problems);
    this.#authorizeTimeoutMs = parseTimeout(config.authorizeTimeoutMs, 'authorizeTimeoutMs', DEFAULT_AUTHORIZE_TIMEOUT_MS, problems);
    if (this.#open) {
      if (sessionIdProvider !== undefined || authorize !== undefined) {
        problems.push('dangerouslyAllowUnauthenticatedAccess: true turns off sessionIdProvider and authorize: remove them, or remove the option');
      }
    } else {
      if (typeof sessionIdProvider !== 'function') {
        problems.push(
          `sessionIdProvider is required: a function (req) => sessionId | null (may be async), e.g. the one in LunaSec's auth.sessionIdProvider; ` +
            `only a request with a session may tokenize; got ${describe(sessionIdProvider)}`,
        );
      }
      if (typeof authorize !== 'function') {
        problems.push(
          `authorize is required: an async function (req, tokenId) => boolean that says whether this request may read this token ` +
            `(e.g. the token is in a record of the request's user); without it anyone holding a token could read its value; got ${describe(authorize)}`,
        );
      }
    }
    if (onError !== undefined && typeof onError !== 'function') problems.push('onError must be a function (error, req) => void');
    if (problems.length > 0) {
      throw lunaSecError('ERR_CONFIG_INVALID', `Invalid SimpleTokenizerBackend config:\n  - ${problems.join('\n  - ')}`);
    }
    this.#sessionIdProvider = this.#open ? null : withSessionIdTimeout(sessionIdProvider, providerTimeout, 'sessionIdProvider');
    this.#authorize = this.#open ? null : authorize;
    this.#onError = onError;
  }

  async #ensureCredentials() {
    if (!this.#provider || Date.now() < this.#expiresAt - CREDENTIAL_REFRESH_MARGIN_MS) return;
    if (!this.#refreshing) {
      this.#refreshing = (async () => {
        let c;
        try {
          c = await this.#provider();
        } catch (e) {
          throw lunaSecError('ERR_SECRET_FETCH_FAILED', `the awsCredentials provider failed (${e && e.name ? e.name : 'error'})`);
        }
        callNative(() => this.#presigner.setCredentials(checkCredentials(c, 'the awsCredentials provider result')));
        this.#expiresAt = c.expiration instanceof Date ? c.expiration.getTime() : Infinity;
      })().finally(() => {
        this.#refreshing = null;
      });
    }
    await this.#refreshing;
  }

  /** The SSE-C headers of a token's object: AES256 with HKDF-SHA256(secret, info = … token). */
  #sseHeaders(tokenId) {
    const key = Buffer.from(crypto.hkdfSync('sha256', this.#secret, HKDF_SALT, hkdfInfo(tokenId), 32));
    return {
      'x-amz-server-side-encryption-customer-algorithm': 'AES256',
      'x-amz-server-side-encryption-customer-key': key.toString('base64'),
      'x-amz-server-side-encryption-customer-key-md5': crypto.createHash('md5').update(key).digest('base64'),
    };
  }

  /**
   * A fresh token and a presigned PUT URL to upload its value to: signed for exactly `size` bytes
   * (the request's `content-length`, at most `maxSize`) and for the SSE-C headers in `headers`,
   * which must be sent with it. No session check: this is for server code (`register` checks).
   */
  async tokenize(options) {
    const size = options !== null && typeof options === 'object' ? options.size : undefined;
    if (!Number.isSafeInteger(size) || size < 0) {
      throw lunaSecError('ERR_TOKENIZER_BAD_REQUEST', `tokenize({ size }): size must be the byte length of the value to upload, a whole number from 0 to ${this.#maxSize}`);
    }
    if (size > this.#maxSize) throw lunaSecError('ERR_VALUE_TOO_LARGE', `values are limited to ${this.#maxSize} bytes (maxSize)`);
    await this.#ensureCredentials();
    const uuid = crypto.randomUUID();
    const tokenId = `lunasec-${uuid.slice(0, 14)}${SSE_C_VERSION}${uuid.slice(15)}`;
    const { url, headers } = callNative(() => this.#presigner.presignPut(tokenId, { 'content-length': String(size), ...this.#sseHeaders(tokenId) }));
    // The body's length is sent by every HTTP client (browsers refuse to set it by hand).
    delete headers['content-length'];
    return { tokenId, uploadUrl: url, headers };
  }

  /**
   * A presigned GET URL for a token's value, with the headers to send: the SSE-C headers for an
   * object this backend wrote, none for one written by the original (a UUIDv4 token, in
   * plaintext). Throws `badToken` for a non-token. No authorization: this is for server code
   * (`register` asks `authorize`).
   */
  async detokenize(tokenId) {
    if (!isToken(tokenId)) throw lunaSecError('ERR_BAD_TOKEN', 'Invalid tokenId provided to detokenize');
    await this.#ensureCredentials();
    const sse = tokenId[VERSION_AT] === SSE_C_VERSION ? this.#sseHeaders(tokenId) : undefined;
    const { url, headers } = callNative(() => this.#presigner.presignGet(tokenId, sse));
    return { downloadUrl: url, headers };
  }

  /** Mounts `POST /.lunasec/tokenize` and `POST /.lunasec/detokenize` on an Express app or Router. */
  register(app) {
    if (!app || typeof app.post !== 'function') {
      throw lunaSecError('ERR_CONFIG_INVALID', 'SimpleTokenizerBackend.register(app) needs an Express app or Router');
    }
    app.post('/.lunasec/tokenize', (req, res) =>
      this.#handle(req, res, (r) => this.#requireSession(r), async (body) => {
        const size = body && typeof body === 'object' ? body.size : undefined;
        if (!Number.isSafeInteger(size) || size < 0) {
          return { error: [400, 'badSize', `size must be the byte length of the value to upload, a whole number from 0 to ${this.#maxSize}`] };
        }
        if (size > this.#maxSize) return { error: [413, 'valueTooLarge', `values are limited to ${this.#maxSize} bytes`] };
        return this.tokenize({ size });
      }),
    );
    app.post('/.lunasec/detokenize', (req, res) =>
      this.#handle(req, res, null, async (body) => {
        const tokenId = body && typeof body === 'object' ? body.tokenId : undefined;
        if (tokenId === undefined || tokenId === null || tokenId === '') {
          return { error: [400, 'noTokenId', 'Missing tokenId to detokenize token with'] };
        }
        if (!isToken(tokenId)) return { error: [400, 'badTokenId', 'Invalid tokenId provided to detokenize'] };
        const refused = await this.#requireAuthorization(req, tokenId);
        if (refused) return refused;
        return this.detokenize(tokenId);
      }),
    );
    return app;
  }

  #report(err, req) {
    if (!this.#onError) return;
    try {
      this.#onError(err, req);
    } catch {
      // A failing error hook must not take the request down with it.
    }
  }

  /** `undefined` when the request has a session (or access is open), else `{ error }`. */
  async #requireSession(req) {
    if (this.#open) return undefined;
    let sessionId;
    try {
      sessionId = await this.#sessionIdProvider(req);
    } catch (e) {
      if (e instanceof LunaSecError && e.errorCode === 'ERR_SESSION_ID_PROVIDER_TIMEOUT') {
        this.#report(e, req);
        return { error: [504, 'sessionIdProviderTimeout', 'unable to authenticate the user of this request: the session id provider timed out'] };
      }
      // The provider's error may carry anything (cookies, ids): never echo it.
      this.#report(lunaSecError('ERR_SESSION_ID_PROVIDER_FAILED', 'sessionIdProvider threw', e), req);
      return { error: [500, 'sessionIdProviderFailed', 'unable to authenticate the user of this request: the session id provider failed'] };
    }
    if (sessionId === null || sessionId === undefined || sessionId === '') {
      return { error: [401, 'sessionMissing', 'the user of this request has no session: log in first'] };
    }
    if (typeof sessionId !== 'string' && !(typeof sessionId === 'number' && Number.isFinite(sessionId))) {
      this.#report(lunaSecError('ERR_SESSION_ID_INVALID', `sessionIdProvider must return a string, a number or null; it returned ${typeof sessionId}`), req);
      return { error: [500, 'sessionIdProviderFailed', 'unable to authenticate the user of this request: the session id provider returned an unusable value'] };
    }
    return undefined;
  }

  /** `undefined` when `authorize(req, tokenId)` resolved exactly `true` (or access is open), else `{ error }`. */
  async #requireAuthorization(req, tokenId) {
    if (this.#open) return undefined;
    const ms = this.#authorizeTimeoutMs;
    let allowed;
    try {
      allowed = await callWithTimeout(this.#authorize, [req, tokenId], ms, () => lunaSecError('ERR_AUTHORIZE_TIMEOUT', `authorize did not answer within ${ms} ms`));
    } catch (e) {
      if (e instanceof LunaSecError && e.errorCode === 'ERR_AUTHORIZE_TIMEOUT') {
        this.#report(e, req);
        return { error: [504, 'authorizeTimeout', 'unable to authorize this request: the authorize hook timed out'] };
      }
      this.#report(lunaSecError('ERR_AUTHORIZE_FAILED', 'authorize threw', e), req);
      return { error: [500, 'authorizeFailed', 'unable to authorize this request: the authorize hook failed'] };
    }
    // Only `true` opens: a forgotten `return`, a truthy object or a string is a refusal.
    if (allowed !== true) return { error: [403, 'notAuthorized', 'this request may not read this token'] };
    return undefined;
  }

  async #handle(req, res, gate, action) {
    try {
      // The session is checked before the body is read: anonymous requests cost nothing more.
      const refused = gate ? await gate(req) : undefined;
      if (refused) {
        fail(res, ...refused.error);
        return;
      }
    } catch (e) {
      fail(res, 500, 'simpleTokenizerError', 'unable to check the request');
      this.#report(e, req);
      return;
    }
    let body;
    try {
      body = await readJsonBody(req);
    } catch (e) {
      fail(res, e.status || 400, e.name || 'badRequest', e.message || 'bad request');
      return;
    }
    try {
      const data = await action(body);
      if (data.error) {
        fail(res, ...data.error);
        return;
      }
      res.status(200).set('Cache-Control', 'no-store').json({ success: true, data });
    } catch (e) {
      fail(res, e.statusCode || 500, e.name || 'simpleTokenizerError', e.message || 'presigning failed');
    }
  }
}

module.exports = { SimpleTokenizerBackend };
