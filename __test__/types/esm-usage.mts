// Compile-only check of the package's exports map for ES module users (node16 resolution, the
// `import` condition): named imports from '@lunasec-rs/node-sdk' are typed by lib/index.d.ts.
import { LunaSec, LunaSecError, ERROR_CODES, isToken, type LunaSecErrorCode } from '@lunasec-rs/node-sdk';
import type { SecureFrames } from '@lunasec-rs/node-sdk/browser';

const lunaSec = new LunaSec({ tokenizerURL: 'http://localhost:37766', auth: { secrets: { provider: 'environment' }, sessionIdProvider: () => null } });
const code: LunaSecErrorCode = 'ERR_TOKENIZER_UNREACHABLE';
const status: 503 = ERROR_CODES[code][1];
const ok: boolean = isToken('x') && new LunaSecError({ errorCode: code }) instanceof Error;
void [lunaSec.grants, status, ok];
type Frames = SecureFrames;
import { Grants as NotAValue } from '@lunasec-rs/node-sdk';
// @ts-expect-error: Grants is a type only
new NotAValue();
export type { Frames };
