'use strict';

/**
 * Every error the SDK throws or rejects with is a LunaSecError.
 *
 * - `name`: the original SDK's error name (`badToken`, `invalidGrant`, …) — kept for compatibility.
 * - `code`: the original's HTTP-like string (`'400'`, `'401'`, `'500'`).
 * - `errorCode`: a stable machine code (`ERR_…`), listed in full in ERROR_CODES and the README
 *   (both generated from the Rust table in crates/lunasec-core/src/error.rs).
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

/**
 * errorCode → [name, statusCode, code]: generated from the one error table, in Rust
 * (crates/lunasec-core/src/error.rs), by scripts/error-table.js.
 */
const ERROR_CODES = require('./error-codes');

const known = (errorCode) => typeof errorCode === 'string' && Object.prototype.hasOwnProperty.call(ERROR_CODES, errorCode);

/** A LunaSecError for an errorCode of the table (an unknown one gets ERR_LUNASEC's name and status). */
function lunaSecError(errorCode, message, cause) {
  const [name, statusCode, code] = ERROR_CODES[known(errorCode) ? errorCode : 'ERR_LUNASEC'];
  return new LunaSecError({ name, message, errorCode, statusCode, code, cause });
}

/**
 * Turns an error thrown or rejected by the native addon into a LunaSecError. The addon's errors
 * carry their errorCode natively, as the JS error's `code` (napi-rs custom status); their
 * message is the text alone.
 */
function fromNative(err) {
  if (err instanceof LunaSecError) return err;
  const message = err && typeof err.message === 'string' && err.message ? err.message : 'native call failed';
  if (err && known(err.code)) return lunaSecError(err.code, message);
  // Not ours (e.g. a napi argument error, whose message napi builds from types only).
  return lunaSecError('ERR_LUNASEC', message);
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
