'use strict';
const { fromNative, lunaSecError } = require('./errors');
const { isToken } = require('./token');

const BATCH_CONCURRENCY = 8;

async function mapLimit(items, limit, fn) {
  const out = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

function toBuffer(value) {
  if (Buffer.isBuffer(value)) return value;
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  throw lunaSecError('ERR_TOKENIZER_BAD_REQUEST', 'tokenize(value): value must be a string, a Buffer or a Uint8Array');
}

function checkToken(tokenId) {
  if (!isToken(tokenId)) throw lunaSecError('ERR_BAD_TOKEN', 'value is not a LunaSec token (expected lunasec-<uuid>)');
}

/**
 * `lunaSec.tokenizer.strict`: the server-side tokenizer, promise style — each method resolves
 * with the result or rejects with a LunaSecError.
 */
class StrictTokenizer {
  #keyService;
  #client;

  constructor(keyService, client) {
    this.#keyService = keyService;
    this.#client = client;
  }

  async #call(fn) {
    const client = this.#client();
    const jwt = await this.#keyService.getApplicationJWT();
    try {
      return await fn(client, jwt);
    } catch (e) {
      throw fromNative(e);
    }
  }

  /** Tokenizes a string (utf-8) or bytes; resolves the token. Metadata defaults to `{dataType:'string'}`. */
  async tokenize(value, metadata) {
    const body = toBuffer(value);
    const meta = metadata === undefined ? { dataType: 'string' } : metadata;
    if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) {
      throw lunaSecError('ERR_TOKENIZER_BAD_REQUEST', 'metadata must be a plain object');
    }
    return this.#call((c, jwt) => c.tokenize(jwt, body, meta));
  }

  /** The value of a token: a utf-8 string, or a Buffer with `{ as: 'buffer' }`. */
  async detokenize(tokenId, { as = 'string' } = {}) {
    checkToken(tokenId);
    const buf = await this.#call((c, jwt) => c.detokenize(jwt, tokenId));
    return as === 'buffer' ? buf : buf.toString('utf8');
  }

  /** `{ downloadUrl, headers }` for a token, for streaming the value yourself. */
  async detokenizeToUrl(tokenId) {
    checkToken(tokenId);
    return this.#call((c, jwt) => c.detokenizeToUrl(jwt, tokenId));
  }

  /** The metadata stored with a token. */
  async getMetadata(tokenId) {
    checkToken(tokenId);
    return this.#call((c, jwt) => c.getMetadata(jwt, tokenId));
  }

  /** Tokenizes many values (8 in flight over the pooled connection); resolves the tokens in order. */
  async tokenizeMany(values, metadata) {
    return mapLimit(values, BATCH_CONCURRENCY, (v) => this.tokenize(v, metadata));
  }

  /** Detokenizes many tokens; resolves the values in order. */
  async detokenizeMany(tokenIds, options) {
    tokenIds.forEach(checkToken);
    return mapLimit(tokenIds, BATCH_CONCURRENCY, (t) => this.detokenize(t, options));
  }
}

function settle(promise, key) {
  return promise.then(
    (v) => ({ success: true, ...key(v) }),
    (error) => ({ success: false, error: fromNative(error) }),
  );
}

/**
 * `lunaSec.tokenizer`: the server-side tokenizer with the original tokenizer client's result
 * shapes — methods never reject: `{ success: true, … }` or `{ success: false, error: LunaSecError }`.
 * `lunaSec.tokenizer.strict` has the same methods, resolving values and rejecting on errors.
 */
class Tokenizer {
  constructor(keyService, client) {
    this.strict = new StrictTokenizer(keyService, client);
  }

  /** → `{ success: true, tokenId }` */
  tokenize(value, metadata) {
    return settle(this.strict.tokenize(value, metadata), (tokenId) => ({ tokenId }));
  }

  /** → `{ success: true, tokenId, value }` (value: string, or Buffer with `{ as: 'buffer' }`) */
  detokenize(tokenId, options) {
    return settle(this.strict.detokenize(tokenId, options), (value) => ({ tokenId, value }));
  }

  /** → `{ success: true, tokenId, downloadUrl, headers }` */
  detokenizeToUrl(tokenId) {
    return settle(this.strict.detokenizeToUrl(tokenId), (d) => ({ tokenId, downloadUrl: d.downloadUrl, headers: d.headers }));
  }

  /** → `{ success: true, tokenId, metadata }` */
  getMetadata(tokenId) {
    return settle(this.strict.getMetadata(tokenId), (metadata) => ({ tokenId, metadata }));
  }

  /** → one `tokenize` result per value, in order. */
  tokenizeMany(values, metadata) {
    return mapLimit(values, BATCH_CONCURRENCY, (v) => this.tokenize(v, metadata));
  }

  /** → one `detokenize` result per token, in order. */
  detokenizeMany(tokenIds, options) {
    return mapLimit(tokenIds, BATCH_CONCURRENCY, (t) => this.detokenize(t, options));
  }
}

module.exports = { Tokenizer, StrictTokenizer };
