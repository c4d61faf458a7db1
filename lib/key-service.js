'use strict';
const native = require('./native');
const { callNative, lunaSecError, fromNative } = require('./errors');

/** A signed JWT. `toString()` gives the compact form; it is kept out of `console.log` and JSON. */
class AuthenticationJWT {
  #jwt;
  constructor(jwt) {
    this.#jwt = jwt;
  }
  toString() {
    return this.#jwt;
  }
}

async function fetchSecretText(spec) {
  let sdk;
  try {
    sdk = require('@aws-sdk/client-secrets-manager');
  } catch {
    throw lunaSecError('ERR_AWS_SDK_MISSING', "provider 'awsSecretsManager' needs the package @aws-sdk/client-secrets-manager: npm install @aws-sdk/client-secrets-manager");
  }
  const client = new sdk.SecretsManagerClient({
    ...(spec.region ? { region: spec.region } : {}),
    ...(spec.endpoint ? { endpoint: spec.endpoint } : {}),
    ...(spec.credentials ? { credentials: spec.credentials } : {}),
  });
  try {
    const out = await client.send(new sdk.GetSecretValueCommand({ SecretId: spec.secretArn }));
    const text = out.SecretString !== undefined ? out.SecretString : out.SecretBinary ? Buffer.from(out.SecretBinary).toString('utf8') : '';
    return text;
  } catch (e) {
    // Only the AWS error's name: its message can echo request details.
    throw lunaSecError('ERR_SECRET_FETCH_FAILED', `could not read the signing key from AWS Secrets Manager (${e && e.name ? e.name : 'error'}); check secretArn, region and credentials`);
  } finally {
    client.destroy();
  }
}

function keyInput(spec, text) {
  switch (spec.provider) {
    case 'environment':
      return { pem: text, kid: spec.kid, source: `environment variable ${spec.variable}`, base64: true };
    case 'manual':
      return { pem: text, kid: spec.kid, source: 'auth.secrets.signingKey', base64: false };
    default:
      // The secret's SecretString is the PEM text; the base64 form is accepted too.
      return { pem: text, kid: spec.kid, source: 'the AWS Secrets Manager secret', base64: true };
  }
}

/**
 * Loads the signing keys once (per provider) and signs JWTs with them.
 * `manual` keys are parsed at construction; `environment` keys at first use; AWS secrets are
 * fetched at first use (or by `load()`), and a failed load is retried on the next call.
 */
class KeyService {
  #specs;
  #keySet = null;
  #loading = null;

  constructor(specs) {
    this.#specs = specs;
    if (specs.every((s) => s.provider === 'manual')) this.loadSync();
  }

  #build(texts) {
    const keySet = callNative(() => new native.KeySet(this.#specs.map((s, i) => keyInput(s, texts[i]))));
    this.#keySet = keySet;
    return keySet;
  }

  /** Loads the keys synchronously. Throws for AWS-backed keys that were not loaded yet. */
  loadSync() {
    if (this.#keySet) return this.#keySet;
    const texts = this.#specs.map((s) => {
      if (s.provider === 'environment') return process.env[s.variable] || '';
      if (s.provider === 'manual') return s.pem;
      throw lunaSecError('ERR_SIGNING_KEY_MISSING', "keys from 'awsSecretsManager' load asynchronously: await lunaSec.keyService.load() first");
    });
    return this.#build(texts);
  }

  /** Loads (once) and returns the native key set. Rejects with a LunaSecError. */
  async load() {
    if (this.#keySet) return this.#keySet;
    if (!this.#loading) {
      this.#loading = (async () => {
        const texts = await Promise.all(
          this.#specs.map((s) =>
            s.provider === 'awsSecretsManager' ? fetchSecretText(s) : s.provider === 'environment' ? process.env[s.variable] || '' : s.pem,
          ),
        );
        return this.#build(texts);
      })();
      this.#loading.catch(() => {
        this.#loading = null;
      });
    }
    return this.#loading;
  }

  /** Signs a JWT: `subject` 'user' (claims.session_id required) or 'application'. */
  async createAuthenticationJWT(subject, claims = {}) {
    const keySet = await this.load();
    try {
      return new AuthenticationJWT(await keySet.sign(subject, claims));
    } catch (e) {
      throw fromNative(e);
    }
  }

  /** Synchronous `createAuthenticationJWT` (~0.3 ms of RSA on the calling thread). */
  createAuthenticationJWTSync(subject, claims = {}) {
    const keySet = this.loadSync();
    return new AuthenticationJWT(callNative(() => keySet.signSync(subject, claims)));
  }

  /** The application JWT (`sub: application`), cached until shortly before it expires. */
  async getApplicationJWT() {
    const keySet = await this.load();
    return callNative(() => keySet.applicationJwt());
  }

  /** The JWKS: `{ keys: [{ kty, n, e, kid, alg, use }] }`, oldest key first. */
  async getJwksConfig() {
    return JSON.parse(await this.getJwksJson());
  }

  getJwksConfigSync() {
    return JSON.parse(this.loadSync().jwksJson());
  }

  /** The JWKS as JSON text (built once in Rust). */
  async getJwksJson() {
    return (await this.load()).jwksJson();
  }

  /** Key ids, oldest → newest (loads the keys). */
  async kids() {
    return (await this.load()).kids;
  }
}

module.exports = { KeyService, AuthenticationJWT };
