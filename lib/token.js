'use strict';
const native = require('./native');

/**
 * Whether `value` is a LunaSec token: `lunasec-` + a UUID in its canonical form, lowercase hex.
 * Tokens are generated lowercase and compared byte for byte (they name records and objects), so an
 * uppercase spelling is refused rather than folded: it would name a different, unknown record.
 * Non-strings are not tokens.
 */
function isToken(value) {
  return typeof value === 'string' && value.length === 44 && !/[A-F]/.test(value) && native.isToken(value);
}

module.exports = { isToken };
