'use strict';
const native = require('./native');
const { callNative, lunaSecError } = require('./errors');
const { isToken } = require('./token');
const { readJsonBody } = require('./body');

const DEFAULT_LOCALSTACK_URL = 'http://localhost:4566';
/** Refresh provider credentials this long before they expire. */
const CREDENTIAL_REFRESH_MARGIN_MS = 5 * 60 * 1000;

function fail(res, status, name, message) {
  if (status === 413) res.set('Connection', 'close');
  res.status(status).set('Cache-Control', 'no-store').json({ success: false, error: { name, message } });
}

function checkCredentials(c, where) {
  if (!c || typeof c.accessKeyId !== 'string' || typeof c.secretAccessKey !== 'string' || !c.accessKeyId || !c.secretAccessKey) {
    throw lunaSecError('ERR_CONFIG_INVALID', `${where} must be { accessKeyId, secretAccessKey, sessionToken? }`);
  }
  return { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, ...(c.sessionToken ? { sessionToken: c.sessionToken } : {}) };
}

/**
 * The "simple tokenizer": tokenization inside your app, without a Dedicated Tokenizer. Values go
 * straight from the browser to S3 through presigned URLs (signed in Rust, SigV4); the object key
 * is the token, as in the original, so buckets written by `@lunasec/node-sdk` keep working.
 *
 * `register(app)` mounts `POST /.lunasec/tokenize` (`{metadata?}` → `{tokenId, uploadUrl, headers}`)
 * and `POST /.lunasec/detokenize` (`{tokenId}` → `{downloadUrl, headers}`), in the envelope
 * `{success, data | error: {name, message}}`.
 */
class SimpleTokenizerBackend {
  #presigner;
  #provider = null;
  #expiresAt = Infinity;
  #refreshing = null;

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
   */
  constructor(config) {
    if (!config || typeof config !== 'object') {
      throw lunaSecError('ERR_CONFIG_INVALID', 'You must configure SimpleTokenizerBackend: { s3Bucket, awsRegion, awsCredentials }');
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

  /** A fresh token and a presigned PUT URL to upload its value to. */
  async tokenize() {
    await this.#ensureCredentials();
    const tokenId = native.generateToken();
    const { url, headers } = callNative(() => this.#presigner.presignPut(tokenId));
    return { tokenId, uploadUrl: url, headers };
  }

  /** A presigned GET URL for a token's value. Throws `badToken` for a non-token. */
  async detokenize(tokenId) {
    if (!isToken(tokenId)) throw lunaSecError('ERR_BAD_TOKEN', 'Invalid tokenId provided to detokenize');
    await this.#ensureCredentials();
    const { url, headers } = callNative(() => this.#presigner.presignGet(tokenId));
    return { downloadUrl: url, headers };
  }

  /** Mounts `POST /.lunasec/tokenize` and `POST /.lunasec/detokenize` on an Express app or Router. */
  register(app) {
    if (!app || typeof app.post !== 'function') {
      throw lunaSecError('ERR_CONFIG_INVALID', 'SimpleTokenizerBackend.register(app) needs an Express app or Router');
    }
    app.post('/.lunasec/tokenize', (req, res) => this.#handle(req, res, async () => this.tokenize()));
    app.post('/.lunasec/detokenize', (req, res) =>
      this.#handle(req, res, async (body) => {
        const tokenId = body && typeof body === 'object' ? body.tokenId : undefined;
        if (tokenId === undefined || tokenId === null || tokenId === '') {
          return { error: [400, 'noTokenId', 'Missing tokenId to detokenize token with'] };
        }
        if (!isToken(tokenId)) return { error: [400, 'badTokenId', 'Invalid tokenId provided to detokenize'] };
        return this.detokenize(tokenId);
      }),
    );
    return app;
  }

  async #handle(req, res, action) {
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
