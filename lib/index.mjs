// The ES module entry of @lunasec-rs/node-sdk (`import { LunaSec } from '@lunasec-rs/node-sdk'`):
// the CommonJS API re-exported, one module instance for both (no dual-package hazard).
// __test__/exports.spec.js checks that this list matches lib/index.js.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const sdk = require('./index.js');

export const {
  LunaSec,
  LunaSecError,
  ERROR_CODES,
  isToken,
  KeyService,
  AuthenticationJWT,
  LunaSecExpressAuthPlugin,
  JwtVerifier,
  SimpleTokenizerBackend,
  TokenDirective,
  tokenDirectiveTypeDefs,
  tokenDirectiveErrorCodes,
} = sdk;

export default sdk;
