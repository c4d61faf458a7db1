'use strict';
const { LunaSec } = require('./lunasec');
const { LunaSecError, ERROR_CODES } = require('./errors');
const { isToken } = require('./token');
const { KeyService, AuthenticationJWT } = require('./key-service');
const { LunaSecExpressAuthPlugin } = require('./express-auth-plugin');
const { JwtVerifier } = require('./verifier');
const { SimpleTokenizerBackend } = require('./simple-tokenizer-backend');
const { TokenDirective, TOKEN_DIRECTIVE_TYPE_DEFS: tokenDirectiveTypeDefs, TOKEN_DIRECTIVE_ERROR_CODES: tokenDirectiveErrorCodes } = require('./graphql/token-directive');

module.exports = { LunaSec, LunaSecError, ERROR_CODES, isToken, KeyService, AuthenticationJWT, LunaSecExpressAuthPlugin, JwtVerifier, SimpleTokenizerBackend, TokenDirective, tokenDirectiveTypeDefs, tokenDirectiveErrorCodes };
