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
const simple = new SimpleTokenizerBackend({ s3Bucket: 'b', awsRegion: 'us-west-2', awsCredentials: async () => ({ accessKeyId: 'a', secretAccessKey: 's' }), useLocalStack: true });
void simple.tokenize().then((t) => t.uploadUrl.length + t.tokenId.length);

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
