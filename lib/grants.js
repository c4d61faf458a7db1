'use strict';
const native = require('./native');
const { LunaSecError, ERROR_CODES, lunaSecError, fromNative } = require('./errors');
const { isToken } = require('./token');

/** The tokenizer's limit on `tokenIds` per grant request; longer lists are split into several requests. */
const MAX_BATCH = 1000;

/** `items` in consecutive slices of at most `size`. */
function chunks(items, size) {
  const out = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function badToken(action) {
  return lunaSecError('ERR_BAD_TOKEN', `Attempted to ${action} a LunaSec Token Grant from a value that is not a token`);
}

function normalizeSessionId(sessionId) {
  if (typeof sessionId === 'number' && Number.isFinite(sessionId)) return String(sessionId);
  if (typeof sessionId !== 'string' || sessionId === '') {
    throw lunaSecError('ERR_SESSION_ID_INVALID', 'the session id must be a non-empty string (or a number)');
  }
  return sessionId;
}

function validateDuration(customDuration) {
  if (customDuration === undefined || customDuration === null) return undefined;
  if (typeof customDuration !== 'string') throw lunaSecError('ERR_DURATION_INVALID', 'customDuration must be a string such as "30m" or "1h10m"');
  try {
    native.parseDurationMs(customDuration);
  } catch (e) {
    throw fromNative(e);
  }
  return customDuration;
}

/**
 * `lunaSec.grants`: which session may store or read which token. Arrays go to the tokenizer as
 * batch requests of at most MAX_BATCH (1,000) tokens, its limit. The tokens are never put in error
 * messages.
 */
class Grants {
  #keyService;
  #client;
  #sessionIdProvider;

  constructor({ keyService, client, sessionIdProvider }) {
    this.#keyService = keyService;
    this.#client = client;
    this.#sessionIdProvider = sessionIdProvider;
  }

  /**
   * Lets `sessionId` read (detokenize) the token(s) for `customDuration` (Go syntax, default 15m,
   * at most the tokenizer's maximum, 1h by default). Resolves `undefined`, or an array for an array.
   */
  async create(sessionId, tokenOrTokens, customDuration) {
    const isArray = Array.isArray(tokenOrTokens);
    const tokens = isArray ? tokenOrTokens : [tokenOrTokens];
    const session = normalizeSessionId(sessionId);
    if (!tokens.every(isToken)) throw badToken('create');
    const duration = validateDuration(customDuration);
    if (tokens.length === 0) return [];
    const client = this.#client();
    // Over the tokenizer's batch limit: one request per MAX_BATCH tokens, one after the other
    // (grants are idempotent, so a failure part-way can simply be retried).
    for (const batch of chunks(tokens, MAX_BATCH)) {
      const jwt = await this.#keyService.getApplicationJWT();
      try {
        await client.grantSet(jwt, session, batch, duration, 'read_token');
      } catch (e) {
        const err = fromNative(e);
        if (err.errorCode === 'ERR_BAD_TOKEN' || err.errorCode === 'ERR_DURATION_INVALID' || err.errorCode === 'ERR_SESSION_ID_INVALID') throw err;
        // Always the original's name and code ('500'); errorCode and statusCode say why: the
        // tokenizer refused the grant (ERR_GRANT_CREATION_FAILED, 400), or the underlying failure.
        const message = `unable to set detokenization grant: ${err.message}`;
        if (err.errorCode === 'ERR_TOKENIZER_BAD_REQUEST') throw lunaSecError('ERR_GRANT_CREATION_FAILED', message, err);
        const [name, , code] = ERROR_CODES.ERR_GRANT_CREATION_FAILED;
        throw new LunaSecError({ name, message, code, errorCode: err.errorCode, statusCode: err.statusCode, cause: err });
      }
    }
    return isArray ? tokens.map(() => undefined) : undefined;
  }

  /**
   * Checks that `sessionId` created the token(s) (a `store_token` grant) before the app stores
   * them. `''` is allowed through without a call (an empty field may be stored). Rejects with
   * `invalidGrant` (its `invalid` property lists the failing positions) when any grant is missing
   * or expired.
   */
  async verify(sessionId, tokenOrTokens) {
    const isArray = Array.isArray(tokenOrTokens);
    const tokens = isArray ? tokenOrTokens : [tokenOrTokens];
    const session = normalizeSessionId(sessionId);
    if (!tokens.every((t) => t === '' || isToken(t))) throw badToken('verify');
    const positions = [];
    const toCheck = [];
    tokens.forEach((t, i) => {
      if (t !== '') {
        positions.push(i);
        toCheck.push(t);
      }
    });
    if (toCheck.length > 0) {
      const client = this.#client();
      const results = [];
      for (const batch of chunks(toCheck, MAX_BATCH)) {
        const jwt = await this.#keyService.getApplicationJWT();
        let part;
        try {
          part = await client.grantVerify(jwt, session, batch, 'store_token');
        } catch (e) {
          throw fromNative(e);
        }
        if (!Array.isArray(part) || part.length !== batch.length) {
          throw lunaSecError('ERR_TOKENIZER_ERROR', 'the tokenizer answered a grant verification with the wrong number of results');
        }
        results.push(...part);
      }
      const invalid = positions.filter((_, k) => !results[k]);
      if (invalid.length > 0) {
        const err = new LunaSecError({
          name: 'invalidGrant',
          message: isArray ? `Grant Invalid for ${invalid.length} of ${tokens.length} tokens` : 'Grant Invalid',
          code: '401',
          errorCode: 'ERR_INVALID_GRANT',
          statusCode: 401,
        });
        err.invalid = invalid;
        throw err;
      }
    }
    return isArray ? tokens.map(() => undefined) : undefined;
  }

  async #sessionIdOf(req) {
    if (typeof this.#sessionIdProvider !== 'function') {
      throw lunaSecError('ERR_SESSION_ID_INVALID', 'Attempted to grant or verifyGrant of a token automatically without auth.sessionIdProvider configured');
    }
    let sessionId;
    try {
      sessionId = await this.#sessionIdProvider(req);
    } catch (e) {
      if (e instanceof LunaSecError && e.errorCode === 'ERR_SESSION_ID_PROVIDER_TIMEOUT') throw e;
      throw lunaSecError('ERR_SESSION_ID_PROVIDER_FAILED', 'auth.sessionIdProvider threw', e);
    }
    if (sessionId === null || sessionId === undefined || sessionId === '') {
      throw lunaSecError('ERR_SESSION_ID_INVALID', 'the request has no session: auth.sessionIdProvider returned no session id');
    }
    return sessionId;
  }

  /** `create` for the session of `req` (from `auth.sessionIdProvider`). */
  async createWithAutomaticSessionId(req, tokenOrTokens, customDuration) {
    return this.create(await this.#sessionIdOf(req), tokenOrTokens, customDuration);
  }

  /** `verify` for the session of `req` (from `auth.sessionIdProvider`). */
  async verifyWithAutomaticSessionId(req, tokenOrTokens) {
    return this.verify(await this.#sessionIdOf(req), tokenOrTokens);
  }
}

module.exports = { Grants, MAX_BATCH };
