'use strict';

/**
 * Every error the SDK throws or rejects with is a LunaSecError.
 *
 * - `name`: the original SDK's error name (`badToken`, `invalidGrant`, …) — kept for compatibility.
 * - `code`: the original's HTTP-like string (`'400'`, `'401'`, `'500'`).
 * - `errorCode`: a stable machine code (`ERR_…`), listed in full in ERROR_CODES and the README.
 * - `statusCode`: a number, for Express error handlers.
 *
 * Messages never contain a token, a JWT, key material, a session id or plaintext.
 */
class LunaSecError extends Error {
  constructor({ name, message, code, errorCode, statusCode, cause } = {}) {
    super(message || 'LunaSec error', cause === undefined ? undefined : { cause });
    const status = Number(statusCode || code) || 500;
    Object.defineProperty(this, 'name', { value: name || 'lunaSecError', enumerable: true, writable: true, configurable: true });
    this.code = code ? String(code) : String(status);
    this.errorCode = errorCode || 'ERR_LUNASEC';
    this.statusCode = status;
  }

  toJSON() {
    return { name: this.name, message: this.message, code: this.code, errorCode: this.errorCode, statusCode: this.statusCode };
  }
}

/** errorCode → [name, HTTP status]. Never rename an entry; only add. */
const ERROR_CODES = Object.freeze({
  ERR_CONFIG_INVALID: ['configInvalid', 500],
  ERR_SIGNING_KEY_MISSING: ['signingKeyMissing', 500],
  ERR_SIGNING_KEY_INVALID: ['signingKeyInvalid', 500],
  ERR_SIGNING_KEY_TOO_SMALL: ['signingKeyTooSmall', 500],
  ERR_KEY_SET_INVALID: ['keySetInvalid', 500],
  ERR_SECRET_FETCH_FAILED: ['secretFetchFailed', 502],
  ERR_AWS_SDK_MISSING: ['awsSdkMissing', 500],
  ERR_JWT_CLAIMS_INVALID: ['jwtClaimsInvalid', 500],
  ERR_JWT_SIGN_FAILED: ['jwtSignFailed', 500],
  ERR_JWT_INVALID: ['jwtInvalid', 401],
  ERR_JWT_UNKNOWN_KID: ['jwtUnknownKid', 401],
  ERR_JWT_EXPIRED: ['jwtExpired', 401],
  ERR_JWT_CLAIM_MISMATCH: ['jwtClaimMismatch', 401],
  ERR_JWKS_INVALID: ['jwksInvalid', 500],
  ERR_BAD_TOKEN: ['badToken', 400],
  ERR_DURATION_INVALID: ['badDuration', 400],
  ERR_SESSION_ID_PROVIDER_FAILED: ['sessionIdProviderFailed', 500],
  ERR_SESSION_ID_INVALID: ['sessionError', 401],
  ERR_S3_CONFIG_INVALID: ['s3ConfigInvalid', 500],
  ERR_PRESIGN_FAILED: ['presignFailed', 500],
  ERR_TOKENIZER_UNREACHABLE: ['tokenizerUnreachable', 503],
  ERR_TOKENIZER_TIMEOUT: ['tokenizerTimeout', 504],
  ERR_TOKENIZER_UNAUTHORIZED: ['tokenizerUnauthorized', 502],
  ERR_TOKENIZER_BAD_REQUEST: ['tokenizerBadRequest', 400],
  ERR_TOKENIZER_ERROR: ['tokenizerError', 502],
  ERR_INVALID_GRANT: ['invalidGrant', 401],
  ERR_TOKEN_NOT_FOUND: ['tokenNotFound', 404],
  ERR_STORAGE_TRANSFER_FAILED: ['storageTransferFailed', 502],
  ERR_GRANT_CREATION_FAILED: ['grantCreationFailure', 500],
});

/** A LunaSecError for a known errorCode. */
function lunaSecError(errorCode, message, cause) {
  const [name, statusCode] = ERROR_CODES[errorCode] || ['lunaSecError', 500];
  return new LunaSecError({ name, message, errorCode, statusCode, code: String(statusCode), cause });
}

const NATIVE_MESSAGE = /^(ERR_[A-Z0-9_]+): ([\s\S]*)$/;

/** Turns an error thrown by the native addon (`ERR_CODE: text`) into a LunaSecError. */
function fromNative(err) {
  if (err instanceof LunaSecError) return err;
  const m = NATIVE_MESSAGE.exec(err && err.message ? err.message : '');
  if (m) return lunaSecError(m[1], m[2]);
  // Not ours (e.g. a napi argument error): keep the message, which napi builds from types only.
  return lunaSecError('ERR_LUNASEC', err && err.message ? err.message : 'native call failed');
}

/** Runs a native call, rethrowing its errors as LunaSecErrors. */
function callNative(fn) {
  try {
    return fn();
  } catch (e) {
    throw fromNative(e);
  }
}

module.exports = { LunaSecError, ERROR_CODES, lunaSecError, fromNative, callNative };
