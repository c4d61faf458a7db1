'use strict';
const native = require('./native');

/** Whether `value` looks like a LunaSec token (`lunasec-` + UUID). Non-strings are not tokens. */
function isToken(value) {
  return typeof value === 'string' && value.length === 44 && native.isToken(value);
}

module.exports = { isToken };
