/// <reference types="node" />
import type { KeyObject } from 'node:crypto';

/** Stable machine codes carried by `LunaSecError.errorCode`. Never renamed; only added to. */
export type LunaSecErrorCode =
  | 'ERR_CONFIG_INVALID'
  | 'ERR_SIGNING_KEY_MISSING'
  | 'ERR_SIGNING_KEY_INVALID'
  | 'ERR_SIGNING_KEY_TOO_SMALL'
  | 'ERR_KEY_SET_INVALID'
  | 'ERR_SECRET_FETCH_FAILED'
  | 'ERR_AWS_SDK_MISSING'
  | 'ERR_JWT_CLAIMS_INVALID'
  | 'ERR_JWT_SIGN_FAILED'
  | 'ERR_JWT_INVALID'
  | 'ERR_JWT_UNKNOWN_KID'
  | 'ERR_JWT_EXPIRED'
  | 'ERR_JWT_CLAIM_MISMATCH'
  | 'ERR_JWKS_INVALID'
  | 'ERR_BAD_TOKEN'
  | 'ERR_DURATION_INVALID'
  | 'ERR_SESSION_ID_PROVIDER_FAILED'
  | 'ERR_SESSION_ID_INVALID'
  | 'ERR_S3_CONFIG_INVALID'
  | 'ERR_PRESIGN_FAILED'
  | 'ERR_TOKENIZER_UNREACHABLE'
  | 'ERR_TOKENIZER_TIMEOUT'
  | 'ERR_TOKENIZER_UNAUTHORIZED'
  | 'ERR_TOKENIZER_BAD_REQUEST'
  | 'ERR_TOKENIZER_ERROR'
  | 'ERR_INVALID_GRANT'
  | 'ERR_TOKEN_NOT_FOUND'
  | 'ERR_STORAGE_TRANSFER_FAILED'
  | 'ERR_GRANT_CREATION_FAILED'
  | 'ERR_LUNASEC';

/**
 * Every error the SDK throws or rejects with. Messages never contain a token, a JWT, key
 * material, a session id or plaintext.
 */
export declare class LunaSecError extends Error {
  constructor(e: { name?: string; message?: string; code?: string; errorCode?: string; statusCode?: number; cause?: unknown });
  /** The original SDK's error name, e.g. `badToken`, `invalidGrant`, `signingKeyMissing`. */
  name: string;
  /** The original's HTTP-like code, as a string: `'400'`, `'401'`, `'500'`… */
  code: string;
  /** Stable machine code. */
  errorCode: LunaSecErrorCode | string;
  /** HTTP status for Express error handlers. */
  statusCode: number;
  toJSON(): { name: string; message: string; code: string; errorCode: string; statusCode: number };
}

/** errorCode → [name, HTTP status]. */
export declare const ERROR_CODES: Readonly<Record<LunaSecErrorCode, readonly [string, number]>>;

/** Whether `value` looks like a LunaSec token (`lunasec-` + UUID). Non-strings are not tokens. */
export declare function isToken(value: unknown): value is string;

/** A key id: 1-128 characters of `A-Z a-z 0-9 - _ . :`. Default `lunasec-signing-key`. */
type Kid = string;

export interface EnvironmentSecretConfig {
  provider?: 'environment';
  /** Older spelling of `provider`. */
  source?: 'environment';
  /** Variable holding the base64 of a PEM RSA private key (a raw PEM is accepted too). Default `LUNASEC_SIGNING_KEY`. */
  variable?: string;
  /** Default `lunasec-signing-key`. */
  kid?: Kid;
}

export interface ManualSecretConfig {
  provider?: 'manual';
  source?: 'manual';
  /** An RSA private key (≥ 2048 bits): a `KeyObject`, or PEM text (PKCS#8 or PKCS#1). Parsed at construction. */
  signingKey: KeyObject | string | Buffer;
  kid?: Kid;
}

export interface AwsSecretsManagerSecretConfig {
  provider?: 'awsSecretsManager';
  source?: 'awsSecretsManager';
  /** ARN (or name) of a secret whose `SecretString` is the PEM private key. Fetched once, at first use. */
  secretArn: string;
  /** Default: the ARN's region, else the AWS SDK's default resolution. */
  region?: string;
  /** Explicit credentials; default: the AWS SDK's default provider chain. `awsAccessKey`/`credentials` are accepted too. */
  awsCredentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Endpoint override (e.g. LocalStack `http://127.0.0.1:4566`). */
  endpoint?: string;
  kid?: Kid;
}

export type SecretConfig = EnvironmentSecretConfig | ManualSecretConfig | AwsSecretsManagerSecretConfig;

export type SessionIdProvider = (req: any) => string | number | null | undefined | Promise<string | number | null | undefined>;

export interface TokenizerClientConfig {
  /** Timeout of API calls in ms. Default 10000. */
  timeoutMs?: number;
  /** Timeout of value uploads/downloads in ms. Default 300000. */
  transferTimeoutMs?: number;
  /** Retries of idempotent requests (grants, detokenize, metadata, downloads) on connection errors and 502/503/504. Default 2. */
  retries?: number;
  /** Largest value `detokenize` downloads into memory. Default 1 GiB. */
  maxDownloadBytes?: number;
}

export interface LunaSecConfig {
  /** HTTP client settings for the tokenizer (one pooled keep-alive client per LunaSec). */
  client?: TokenizerClientConfig;
  /** Where the backend reaches the Dedicated Tokenizer, e.g. `http://localhost:37766`. Required (or `secureFrameURL`). */
  tokenizerURL?: string;
  /** Older name of `tokenizerURL`. */
  secureFrameURL?: string;
  /** Where browsers reach the tokenizer, if different. Default: `tokenizerURL`. */
  publicTokenizerUrl?: string;
  auth: {
    /** The signing key(s). An array is a key set for rotation, ordered oldest → newest; JWTs are signed with the newest. */
    secrets: SecretConfig | SecretConfig[];
    /** Who the user of a request is: the app's session id, or null when not logged in. May be async. */
    sessionIdProvider: SessionIdProvider;
    /** Mount point of the plugin's routes: `'/api'` → `/api/.lunasec/…`. Default `''`. */
    pluginBaseUrl?: string;
    /** Accepted and ignored, as in the original. */
    payloadClaims?: unknown;
    /** Called with unexpected errors in the plugin's routes (the SDK logs nothing itself). */
    onError?: (error: LunaSecError, req: any) => void;
    /**
     * Extra page origins allowed to call `POST {pluginBaseUrl}/.lunasec/frame-session`, besides the
     * request's own origin (`req.protocol` + `Host`): for apps behind a proxy that rewrites `Host`, or
     * whose pages are served from another front-end origin. E.g. `['https://app.example.com']`.
     */
    frameSessionOrigins?: string[];
  };
}

/** A signed JWT; `toString()` gives the compact form. Hidden from `console.log` and JSON. */
export declare class AuthenticationJWT {
  toString(): string;
}

export interface Jwk {
  kty: 'RSA';
  n: string;
  e: string;
  kid: string;
  alg: 'RS256';
  use: 'sig';
}

export interface Jwks {
  keys: Jwk[];
}

export type JwtSubject = 'user' | 'application';

export declare class KeyService {
  /** Loads (once) the signing keys; rejects with a LunaSecError. Call at startup to fail fast. */
  load(): Promise<unknown>;
  /** Signs an RS256 JWT (15 minutes). `user` needs `claims.session_id`. Reserved claims (`iss aud sub iat exp nbf jti`) cannot be overridden. */
  createAuthenticationJWT(subject: JwtSubject, claims?: Record<string, unknown>): Promise<AuthenticationJWT>;
  /** Synchronous variant (~0.3 ms of RSA on the calling thread); throws for AWS keys not loaded yet. */
  createAuthenticationJWTSync(subject: JwtSubject, claims?: Record<string, unknown>): AuthenticationJWT;
  /** The application JWT, reused until 2 minutes before it expires. */
  getApplicationJWT(): Promise<string>;
  /** The JWKS: every key of the set, oldest first. */
  getJwksConfig(): Promise<Jwks>;
  getJwksConfigSync(): Jwks;
  getJwksJson(): Promise<string>;
  kids(): Promise<string[]>;
}

/** The body of a `200` from `POST {pluginBaseUrl}/.lunasec/frame-session`. */
export interface FrameSessionResponse {
  success: true;
  data: {
    /** A user JWT for the request's session (the same claims as the redirect flow's `openid_token`). */
    token: string;
    /** When it expires, in Unix seconds (its `exp`). */
    expiresAt: number;
  };
}

/** The body of a refusal from `POST {pluginBaseUrl}/.lunasec/frame-session`. */
export interface FrameSessionError {
  success: false;
  error: {
    /** `crossSiteRequest` (403), `unsupportedMediaType` (415), `sessionMissing` (401), `sessionIdProviderFailed` or `jwtSignFailed` (500). */
    name: string;
    message: string;
  };
}

/**
 * The auth plugin's routes:
 *
 * - `GET {pluginBaseUrl}/.lunasec/jwks.json`: the public keys the tokenizer verifies JWTs with.
 * - `GET {pluginBaseUrl}/.lunasec/secure-frame?state=…`: the session redirect (cookie session mode):
 *   302 to `<publicTokenizerUrl>/session/create?state=…&openid_token=<user JWT>`.
 * - `POST {pluginBaseUrl}/.lunasec/frame-session`: the Secure Frames' short-lived credential (frame-token
 *   session mode, the browser library's default). Same-origin only (`Origin` must be the request's own
 *   origin or one of `auth.frameSessionOrigins`; `Sec-Fetch-Site`, when sent, `same-origin` unless the
 *   `Origin` is allow-listed; `Origin: null`, sent under `Referrer-Policy: no-referrer`, only with
 *   `Sec-Fetch-Site: same-origin`), `Content-Type: application/json` required, body ignored (no body parser
 *   needed). Answers `200` {@link FrameSessionResponse} or {@link FrameSessionError} (403, 415, 401, 500),
 *   always `Cache-Control: no-store`.
 */
export declare class LunaSecExpressAuthPlugin {
  readonly pluginBaseUrl: string;
  readonly jwksPath: string;
  readonly secureFramePath: string;
  readonly frameSessionPath: string;
  /** Mounts `GET {pluginBaseUrl}/.lunasec/jwks.json`, `GET {pluginBaseUrl}/.lunasec/secure-frame` and `POST {pluginBaseUrl}/.lunasec/frame-session` on an Express 4/5 app or Router. */
  register<T extends { get: (...args: any[]) => unknown }>(app: T): T;
}

export interface VerifiedJwt {
  sub: JwtSubject;
  sessionId?: string;
  exp: number;
  kid: string;
}

/** Verifies SDK JWTs as the tokenizer does (RS256 only; exp, iss, aud, sub checked). */
export declare class JwtVerifier {
  constructor(jwks: Jwks | string);
  verify(jwt: string): VerifiedJwt;
}

/** A duration in Go syntax: `45s`, `30m`, `1h10m30s`, `1.5h`, `300ms`. */
export type GoDuration = string;

/** `lunaSec.grants`: which session may store or read which token. Arrays cost one request. */
export declare class Grants {
  /** A `read_token` grant (default 15m; at most the tokenizer's maximum, 1h by default). Non-tokens → `badToken` before any request. */
  create(sessionId: string | number, token: string, customDuration?: GoDuration): Promise<void>;
  create(sessionId: string | number, tokens: string[], customDuration?: GoDuration): Promise<void[]>;
  /** Checks the `store_token` grant; `''` passes without a request. Rejects with `invalidGrant` (`invalid`: failing positions). */
  verify(sessionId: string | number, token: string): Promise<void>;
  verify(sessionId: string | number, tokens: string[]): Promise<void[]>;
  createWithAutomaticSessionId(req: any, token: string | string[], customDuration?: GoDuration): Promise<void | void[]>;
  verifyWithAutomaticSessionId(req: any, token: string | string[]): Promise<void | void[]>;
}

export type TokenizerResult<T> = ({ success: true } & T) | { success: false; error: LunaSecError };
export interface DetokenizeOptions {
  /** `'string'` (utf-8, default) or `'buffer'`. */
  as?: 'string' | 'buffer';
}

/** The server-side tokenizer, promise style: resolves values, rejects with LunaSecError. */
export declare class StrictTokenizer {
  tokenize(value: string | Buffer | Uint8Array, metadata?: Record<string, unknown>): Promise<string>;
  detokenize(tokenId: string, options?: { as?: 'string' }): Promise<string>;
  detokenize(tokenId: string, options: { as: 'buffer' }): Promise<Buffer>;
  detokenizeToUrl(tokenId: string): Promise<{ downloadUrl: string; headers: Record<string, string> }>;
  getMetadata(tokenId: string): Promise<Record<string, unknown>>;
  tokenizeMany(values: Array<string | Buffer | Uint8Array>, metadata?: Record<string, unknown>): Promise<string[]>;
  detokenizeMany(tokenIds: string[], options?: DetokenizeOptions): Promise<Array<string | Buffer>>;
}

/** The server-side tokenizer with the original client's result shapes: never rejects. */
export declare class Tokenizer {
  readonly strict: StrictTokenizer;
  tokenize(value: string | Buffer | Uint8Array, metadata?: Record<string, unknown>): Promise<TokenizerResult<{ tokenId: string }>>;
  detokenize(tokenId: string, options?: DetokenizeOptions): Promise<TokenizerResult<{ tokenId: string; value: string | Buffer }>>;
  detokenizeToUrl(tokenId: string): Promise<TokenizerResult<{ tokenId: string; downloadUrl: string; headers: Record<string, string> }>>;
  getMetadata(tokenId: string): Promise<TokenizerResult<{ tokenId: string; metadata: Record<string, unknown> }>>;
  tokenizeMany(values: Array<string | Buffer | Uint8Array>, metadata?: Record<string, unknown>): Promise<Array<TokenizerResult<{ tokenId: string }>>>;
  detokenizeMany(tokenIds: string[], options?: DetokenizeOptions): Promise<Array<TokenizerResult<{ tokenId: string; value: string | Buffer }>>>;
}

export declare class LunaSec {
  readonly grants: Grants;
  readonly tokenizer: Tokenizer;
  /** Validates the config; throws LunaSecError `ERR_CONFIG_INVALID` listing every problem. */
  constructor(config: LunaSecConfig);
  readonly config: Readonly<{ tokenizerURL: string; publicTokenizerUrl: string; pluginBaseUrl: string }>;
  readonly keyService: KeyService;
  /** Older name of `keyService`. */
  readonly auth: KeyService;
  readonly expressAuthPlugin: LunaSecExpressAuthPlugin;
  /** Older name of `expressAuthPlugin`. */
  readonly expressPlugin: LunaSecExpressAuthPlugin;
}

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface SimpleTokenizerBackendConfig {
  /** Bucket holding the values (object key = token, as in the original). */
  s3Bucket: string;
  /** e.g. `us-west-2`. */
  awsRegion: string;
  /** Static credentials or an AWS SDK style provider (refreshed 5 minutes before `expiration`). Default: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN. */
  awsCredentials?: AwsCredentials | (() => Promise<AwsCredentials & { expiration?: Date }>);
  /** Sign for LocalStack at `localStackUrl` (default `http://localhost:4566`), path-style. */
  useLocalStack?: boolean;
  localStackUrl?: string;
  /** Any S3-compatible endpoint (path-style); overrides `useLocalStack`. */
  endpoint?: string;
  /** Lifetime of presigned URLs in seconds. Default 900; at most 7 days. */
  urlExpirySeconds?: number;
}

/**
 * Tokenization inside your app, without a Dedicated Tokenizer: presigned S3 URLs (SigV4, signed
 * in Rust) for the browser to upload and download values.
 */
export declare class SimpleTokenizerBackend {
  constructor(config: SimpleTokenizerBackendConfig);
  /** A fresh token and a presigned PUT URL (send `headers` with it). */
  tokenize(): Promise<{ tokenId: string; uploadUrl: string; headers: Record<string, string> }>;
  /** A presigned GET URL; rejects with `badToken` for a non-token. */
  detokenize(tokenId: string): Promise<{ downloadUrl: string; headers: Record<string, string> }>;
  /** Mounts `POST /.lunasec/tokenize` and `POST /.lunasec/detokenize`. */
  register<T extends { post: (...args: any[]) => unknown }>(app: T): T;
}
