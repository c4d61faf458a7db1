'use strict';
const { LunaSec } = require('./lunasec');
const { LunaSecError, ERROR_CODES } = require('./errors');
const { isToken } = require('./token');
const { KeyService, AuthenticationJWT } = require('./key-service');
const { LunaSecExpressAuthPlugin } = require('./express-auth-plugin');
const { JwtVerifier } = require('./verifier');
const { SimpleTokenizerBackend } = require('./simple-tokenizer-backend');

module.exports = { LunaSec, LunaSecError, ERROR_CODES, isToken, KeyService, AuthenticationJWT, LunaSecExpressAuthPlugin, JwtVerifier, SimpleTokenizerBackend };
