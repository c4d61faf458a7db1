'use strict';
// The napi-rs generated loader (index.js at the package root) picks the right .node binary.
module.exports = require('../index.js');
