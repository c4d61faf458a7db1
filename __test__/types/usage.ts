// Compile-only check of lib/index.d.ts (run by scripts/test.sh with `tsc -p __test__/types`).
import { generateKeyPairSync } from 'node:crypto';
import { LunaSec, LunaSecError, isToken, JwtVerifier, ERROR_CODES, type LunaSecErrorCode, type Jwks } from '../../lib';

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });

const lunaSec = new LunaSec({
  tokenizerURL: 'http://localhost:37766',
  auth: {
    secrets: [
      { provider: 'manual', signingKey: privateKey, kid: 'k1' },
      { source: 'environment', variable: 'LUNASEC_SIGNING_KEY', kid: 'k2' },
      { provider: 'awsSecretsManager', secretArn: 'arn:aws:secretsmanager:us-west-2:1:secret:x', region: 'us-west-2' },
    ],
    sessionIdProvider: async (req: { session?: { id: string } }) => req.session?.id ?? null,
    pluginBaseUrl: '/api',
    onError: (err: LunaSecError) => {
      const code: string = err.errorCode;
      const status: number = err.statusCode;
      void code;
      void status;
    },
  },
});

async function use(): Promise<void> {
  const jwt: string = String(await lunaSec.keyService.createAuthenticationJWT('user', { session_id: 's' }));
  const jwks: Jwks = await lunaSec.auth.getJwksConfig();
  const verified = new JwtVerifier(jwks).verify(jwt);
  const sub: 'user' | 'application' = verified.sub;
  const app: string = await lunaSec.keyService.getApplicationJWT();
  const ok: boolean = isToken(app);
  const c: LunaSecErrorCode = 'ERR_BAD_TOKEN';
  const [name, status] = ERROR_CODES[c];
  void [sub, ok, name, status];
  lunaSec.expressPlugin.register({ get: () => undefined });
  // @ts-expect-error: only 'user' and 'application' are subjects
  await lunaSec.keyService.createAuthenticationJWT('admin');
}
void use;

// @ts-expect-error: a typo of tokenizerURL is caught at compile time too
new LunaSec({ tokenizerUrl: 'http://x', auth: { secrets: { provider: 'environment' }, sessionIdProvider: () => null } });

import { SimpleTokenizerBackend } from '../../lib';
const simple = new SimpleTokenizerBackend({
  s3Bucket: 'b',
  awsRegion: 'us-west-2',
  awsCredentials: async () => ({ accessKeyId: 'a', secretAccessKey: 's' }),
  useLocalStack: true,
  secret: Buffer.alloc(32),
  maxSize: 1024,
  sessionIdProvider: (req: { sessionId?: string }) => req.sessionId ?? null,
  authorize: async (_req: unknown, tokenId: string) => tokenId.length === 44,
});
void simple.tokenize({ size: 10 }).then((t) => t.uploadUrl.length + t.tokenId.length + Object.keys(t.headers).length);
new SimpleTokenizerBackend({ s3Bucket: 'b', awsRegion: 'us-west-2', secret: 'x'.repeat(32), dangerouslyAllowUnauthenticatedAccess: true });
// @ts-expect-error: without dangerouslyAllowUnauthenticatedAccess, authorize (and sessionIdProvider) are required
new SimpleTokenizerBackend({ s3Bucket: 'b', awsRegion: 'us-west-2', secret: 'x'.repeat(32), sessionIdProvider: () => 's' });
// @ts-expect-error: the open door takes no hooks
new SimpleTokenizerBackend({ s3Bucket: 'b', awsRegion: 'us-west-2', secret: 'x'.repeat(32), dangerouslyAllowUnauthenticatedAccess: true, authorize: async () => true });
// @ts-expect-error: tokenize needs the size of the value
void simple.tokenize();
new LunaSec({ tokenizerURL: 'http://tokenizer.internal', dangerouslyAllowInsecureHttp: true, auth: { secrets: { provider: 'environment' }, sessionIdProvider: () => null, sessionIdProviderTimeoutMs: 2000 } });

async function grantsAndTokenizer(): Promise<void> {
  await lunaSec.grants.create('s', 'lunasec-351d1033-0e9f-4a1b-bbb6-adec04837a5c', '30m');
  const many: void[] = await lunaSec.grants.create(42, ['a', 'b']);
  await lunaSec.grants.verify('s', '');
  const r = await lunaSec.tokenizer.tokenize('4111');
  if (r.success) {
    const t: string = r.tokenId;
    const buf: Buffer = await lunaSec.tokenizer.strict.detokenize(t, { as: 'buffer' });
    const str: string = await lunaSec.tokenizer.strict.detokenize(t);
    void [buf, str];
  } else {
    const code: string = r.error.errorCode;
    void code;
  }
  void many;
}
void grantsAndTokenizer;

// ---- Types match the runtime: misuse that must not compile (tsc fails on an unused @ts-expect-error).
import { KeyService, AuthenticationJWT, LunaSecExpressAuthPlugin, Grants, Tokenizer, StrictTokenizer } from '../../lib';

// @ts-expect-error: Grants is an interface (lunaSec.grants), not a class the package exports
new Grants();
// @ts-expect-error: Tokenizer is an interface (lunaSec.tokenizer)
new Tokenizer();
// @ts-expect-error: StrictTokenizer is an interface (lunaSec.tokenizer.strict)
new StrictTokenizer();
// @ts-expect-error: a LunaSec makes its KeyService; the class is exported for instanceof only
new KeyService();
// @ts-expect-error: made by createAuthenticationJWT
new AuthenticationJWT();
// @ts-expect-error: lunaSec.expressAuthPlugin is the instance
new LunaSecExpressAuthPlugin();
const grants: Grants = lunaSec.grants;
const tokenizer: Tokenizer = lunaSec.tokenizer;
const strict: StrictTokenizer = lunaSec.tokenizer.strict;
void [grants, tokenizer, strict, lunaSec.keyService instanceof KeyService, lunaSec.expressAuthPlugin instanceof LunaSecExpressAuthPlugin];

// ERROR_CODES is typed as it is: literal names, statuses and codes, read-only, no other keys.
const badTokenStatus: 400 = ERROR_CODES.ERR_BAD_TOKEN[1];
const grantFailure: readonly ['grantCreationFailure', 400, '500'] = ERROR_CODES.ERR_GRANT_CREATION_FAILED;
void [badTokenStatus, grantFailure];
// @ts-expect-error: not a code
void ERROR_CODES.ERR_NOT_A_CODE;
// @ts-expect-error: read-only
ERROR_CODES.ERR_BAD_TOKEN = ['x', 1, '1'];
// @ts-expect-error: not a LunaSecErrorCode
const notACode: LunaSecErrorCode = 'ERR_NOT_A_CODE';
void notACode;

async function misuse(): Promise<void> {
  // @ts-expect-error: a token is a string
  await lunaSec.grants.create('s', 42);
  // @ts-expect-error: { as: 'buffer' } resolves a Buffer, not a string
  const s: string = await lunaSec.tokenizer.strict.detokenize('t', { as: 'buffer' });
  // @ts-expect-error: only 'string' or 'buffer'
  await lunaSec.tokenizer.detokenize('t', { as: 'base64' });
  // @ts-expect-error: the result may be a failure; tokenId is only on success
  const id: string = (await lunaSec.tokenizer.tokenize('v')).tokenId;
  void [s, id];
}
void misuse;

// @ts-expect-error: auth is required
new LunaSec({ tokenizerURL: 'http://x' });
