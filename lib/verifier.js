'use strict';
const native = require('./native');
const { callNative } = require('./errors');

/**
 * Verifies SDK JWTs against a JWKS the way the tokenizer does: RS256 only, `exp` (30 s leeway),
 * `iss: node-sdk`, `aud: secure-frame`, `sub` user/application, a lifetime of at most 16 minutes
 * (`ERR_JWT_LIFETIME_TOO_LONG`). Keys are parsed once.
 */
class JwtVerifier {
  #inner;
  constructor(jwks) {
    const json = typeof jwks === 'string' ? jwks : JSON.stringify(jwks);
    this.#inner = callNative(() => new native.JwtVerifier(json));
  }

  /** Returns `{ sub, sessionId?, exp, kid }`; throws a LunaSecError (`ERR_JWT_*`, status 401). */
  verify(jwt) {
    return callNative(() => this.#inner.verifySync(String(jwt)));
  }
}

module.exports = { JwtVerifier };
