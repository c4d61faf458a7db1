'use strict';
const { KeyObject } = require('node:crypto');
const { lunaSecError } = require('./errors');

const PROVIDERS = ['environment', 'manual', 'awsSecretsManager'];
const PROVIDER_HINTS = { env: 'environment', aws: 'awsSecretsManager', secretsManager: 'awsSecretsManager', secretsmanager: 'awsSecretsManager' };
const DEFAULT_ENV_VARIABLE = 'LUNASEC_SIGNING_KEY';
const DEFAULT_KID = 'lunasec-signing-key';

const TOP_KEYS = ['tokenizerURL', 'secureFrameURL', 'publicTokenizerUrl', 'dangerouslyAllowInsecureHttp', 'auth', 'grants', 'tokenizer', 'client'];
const AUTH_KEYS = ['secrets', 'sessionIdProvider', 'sessionIdProviderTimeoutMs', 'pluginBaseUrl', 'payloadClaims', 'onError', 'frameSessionOrigins'];
/** How long `auth.sessionIdProvider` may take before the request fails (ERR_SESSION_ID_PROVIDER_TIMEOUT). */
const DEFAULT_SESSION_ID_PROVIDER_TIMEOUT_MS = 5000;
const MAX_HOOK_TIMEOUT_MS = 10 * 60 * 1000;
/** Marks a provider already wrapped by withSessionIdTimeout (so it is never wrapped twice). */
const TIMED = Symbol('lunasec.sessionIdProviderTimeout');

function describe(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return v === '' ? 'an empty string' : 'a string';
  return typeof v === 'object' ? 'an object' : `${typeof v}`;
}

/** Unknown keys that differ from a known one only by case are almost certainly typos. */
function checkTypos(obj, known, where, problems) {
  for (const key of Object.keys(obj)) {
    if (known.includes(key)) continue;
    const match = known.find((k) => k.toLowerCase() === key.toLowerCase());
    if (match) problems.push(`${where}${key} is not an option; did you mean ${where}${match}?`);
  }
}

/**
 * Whether a URL's host is this machine: `localhost`, `*.localhost`, 127.0.0.0/8 or `[::1]` (the
 * hostname as normalized by WHATWG URL, which turns `127.1` into `127.0.0.1`).
 */
function isLoopbackHost(hostname) {
  const h = hostname.toLowerCase().replace(/\.$/, '');
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h)) return true;
  return h === '[::1]' || /^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]$/.test(h);
}

/**
 * Plain `http://` carries JWTs and values unencrypted: allowed to a loopback host (development, a
 * sidecar), elsewhere only with `dangerouslyAllowInsecureHttp: true`.
 */
function checkTransport(url, where, allowInsecureHttp, problems) {
  if (url === undefined || allowInsecureHttp) return;
  const u = new URL(url);
  if (u.protocol === 'http:' && !isLoopbackHost(u.hostname)) {
    problems.push(
      `${where} uses plain http:// to ${u.hostname}, which is not a loopback host: JWTs, grants and values would cross the network unencrypted. ` +
        'Use https://, or set dangerouslyAllowInsecureHttp: true if the network between the app and the tokenizer is private and trusted',
    );
  }
}

/** A hook time-out option: an integer of milliseconds, 1 to 600000. */
function parseTimeout(value, where, fallback, problems) {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1 || value > MAX_HOOK_TIMEOUT_MS) {
    problems.push(`${where} must be a whole number of milliseconds from 1 to ${MAX_HOOK_TIMEOUT_MS}; got ${describe(value)}`);
    return fallback;
  }
  return value;
}

/**
 * Calls `fn(...args)` and settles with its result, or rejects with `onTimeout()` when a promise it
 * returned has not settled within `ms`. A synchronous result or throw passes straight through.
 */
function callWithTimeout(fn, args, ms, onTimeout) {
  let result;
  try {
    result = fn(...args);
  } catch (e) {
    return Promise.reject(e);
  }
  if (!result || typeof result.then !== 'function') return Promise.resolve(result);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(onTimeout()), ms);
    if (typeof timer.unref === 'function') timer.unref();
    Promise.resolve(result).then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

/**
 * `provider` with a time-out: the returned function resolves what `provider(req)` resolves, or
 * rejects with a LunaSecError ERR_SESSION_ID_PROVIDER_TIMEOUT after `ms` (the provider's own
 * promise is left to settle on its own; its result is then ignored).
 */
function withSessionIdTimeout(provider, ms, where = 'auth.sessionIdProvider') {
  if (typeof provider !== 'function' || provider[TIMED]) return provider;
  const timedOut = () => lunaSecError('ERR_SESSION_ID_PROVIDER_TIMEOUT', `${where} did not answer within ${ms} ms`);
  const wrapped = function sessionIdProviderWithTimeout(req) {
    return callWithTimeout(provider, [req], ms, timedOut);
  };
  Object.defineProperty(wrapped, TIMED, { value: true });
  return wrapped;
}

function parseUrl(value, where, problems) {
  if (typeof value !== 'string' || value === '') {
    problems.push(`${where} must be the absolute http(s) URL of the tokenizer (e.g. "http://localhost:37766"); got ${describe(value)}`);
    return undefined;
  }
  let url;
  try {
    url = new URL(value);
  } catch {
    problems.push(`${where} is not a valid absolute URL (e.g. "https://tokenizer.example.com")`);
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    problems.push(`${where} must use http: or https:, not ${url.protocol}`);
    return undefined;
  }
  if (url.search || url.hash || url.username || url.password) {
    problems.push(`${where} must not contain credentials, a query or a fragment`);
    return undefined;
  }
  return url.href.replace(/\/+$/, '');
}

/** An origin like "https://app.example.com" (scheme, host, port; nothing else), normalized by URL. */
function parseOrigin(value, where, problems) {
  const hint = 'an http(s) origin such as "https://app.example.com" or "http://localhost:5173" (no path, query or credentials)';
  if (typeof value !== 'string' || value === '') {
    problems.push(`${where} must be ${hint}; got ${describe(value)}`);
    return undefined;
  }
  let url;
  try {
    url = new URL(value);
  } catch {
    problems.push(`${where} must be ${hint}; got '${value}'`);
    return undefined;
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.username || url.password || url.search || url.hash || (url.pathname !== '/' && url.pathname !== '') || !/^[a-z][a-z0-9+.-]*:\/\/[^/]+\/?$/i.test(value)) {
    problems.push(`${where} must be ${hint}; got '${value}'`);
    return undefined;
  }
  return url.origin;
}

function normalizeSecret(spec, where, problems) {
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) {
    problems.push(`${where} must be an object like { provider: 'environment' }; got ${describe(spec)}`);
    return undefined;
  }
  const provider = spec.provider !== undefined ? spec.provider : spec.source;
  if (!PROVIDERS.includes(provider)) {
    const hint = PROVIDER_HINTS[provider] ? ` (did you mean '${PROVIDER_HINTS[provider]}'?)` : '';
    problems.push(`${where}.provider must be one of ${PROVIDERS.map((p) => `'${p}'`).join(', ')}; got ${typeof provider === 'string' ? `'${provider}'` : describe(provider)}${hint}`);
    return undefined;
  }
  const kid = spec.kid === undefined ? DEFAULT_KID : spec.kid;
  if (typeof kid !== 'string' || !/^[A-Za-z0-9._:-]{1,128}$/.test(kid)) {
    problems.push(`${where}.kid must be 1-128 characters of A-Z a-z 0-9 - _ . :`);
  }
  switch (provider) {
    case 'environment': {
      const variable = spec.variable === undefined ? DEFAULT_ENV_VARIABLE : spec.variable;
      if (typeof variable !== 'string' || variable === '') problems.push(`${where}.variable must name an environment variable`);
      return { provider, kid, variable };
    }
    case 'manual': {
      const key = spec.signingKey;
      if (key instanceof KeyObject) {
        if (key.type !== 'private' || key.asymmetricKeyType !== 'rsa') {
          problems.push(`${where}.signingKey must be an RSA private KeyObject; got a ${key.type} ${key.asymmetricKeyType || ''} key`.trim());
          return undefined;
        }
        return { provider, kid, pem: key.export({ type: 'pkcs8', format: 'pem' }) };
      }
      if (Buffer.isBuffer(key)) return { provider, kid, pem: key.toString('utf8') };
      if (typeof key === 'string' && key.trim() !== '') return { provider, kid, pem: key };
      problems.push(`${where}.signingKey must be an RSA private key: a PEM string or a crypto KeyObject; got ${describe(key)}`);
      return undefined;
    }
    case 'awsSecretsManager': {
      const { secretArn, endpoint } = spec;
      if (typeof secretArn !== 'string' || secretArn === '') {
        problems.push(`${where}.secretArn must be the ARN (or name) of the secret holding the PEM private key`);
      }
      const arnRegion = typeof secretArn === 'string' ? (/^arn:aws[\w-]*:secretsmanager:([a-z0-9-]+):/.exec(secretArn) || [])[1] : undefined;
      const region = spec.region || arnRegion;
      if (region !== undefined && (typeof region !== 'string' || !/^[a-z0-9-]+$/.test(region))) {
        problems.push(`${where}.region must be an AWS region like 'us-west-2'`);
      }
      const creds = spec.awsCredentials || spec.credentials || spec.awsAccessKey;
      if (creds !== undefined && (typeof creds !== 'object' || typeof creds.accessKeyId !== 'string' || typeof creds.secretAccessKey !== 'string')) {
        problems.push(`${where}.awsCredentials must be { accessKeyId, secretAccessKey, sessionToken? }`);
      }
      let endpointUrl;
      if (endpoint !== undefined) endpointUrl = parseUrl(endpoint, `${where}.endpoint`, problems);
      return { provider, kid, secretArn, region, credentials: creds, endpoint: endpointUrl };
    }
    default:
      return undefined;
  }
}

/**
 * Validates a LunaSec config once, at construction. Throws one LunaSecError (ERR_CONFIG_INVALID)
 * listing every problem, each with what to do about it.
 */
function normalizeConfig(config) {
  const problems = [];
  if (config === null || typeof config !== 'object') {
    throw lunaSecError('ERR_CONFIG_INVALID', `LunaSec config must be an object like { tokenizerURL, auth: { secrets, sessionIdProvider } }; got ${describe(config)}`);
  }
  checkTypos(config, TOP_KEYS, '', problems);
  const rawUrl = config.tokenizerURL !== undefined ? config.tokenizerURL : config.secureFrameURL;
  const tokenizerUrl = parseUrl(rawUrl, config.tokenizerURL !== undefined ? 'tokenizerURL' : 'tokenizerURL (or secureFrameURL)', problems);
  const publicTokenizerUrl = config.publicTokenizerUrl === undefined ? tokenizerUrl : parseUrl(config.publicTokenizerUrl, 'publicTokenizerUrl', problems);
  const allowInsecureHttp = config.dangerouslyAllowInsecureHttp;
  if (allowInsecureHttp !== undefined && typeof allowInsecureHttp !== 'boolean') {
    problems.push(`dangerouslyAllowInsecureHttp must be true or false; got ${describe(allowInsecureHttp)}`);
  }
  checkTransport(tokenizerUrl, config.tokenizerURL !== undefined ? 'tokenizerURL' : 'tokenizerURL (or secureFrameURL)', allowInsecureHttp === true, problems);
  if (config.publicTokenizerUrl !== undefined) checkTransport(publicTokenizerUrl, 'publicTokenizerUrl', allowInsecureHttp === true, problems);

  const auth = config.auth;
  let secrets = [];
  let sessionIdProvider;
  let pluginBaseUrl = '';
  let onError;
  let frameSessionOrigins = [];
  let sessionIdProviderTimeoutMs = DEFAULT_SESSION_ID_PROVIDER_TIMEOUT_MS;
  if (auth === null || typeof auth !== 'object') {
    problems.push(`auth must be an object { secrets, sessionIdProvider }; got ${describe(auth)}`);
  } else {
    checkTypos(auth, AUTH_KEYS, 'auth.', problems);
    const specs = Array.isArray(auth.secrets) ? auth.secrets : [auth.secrets];
    if (auth.secrets === undefined) {
      problems.push("auth.secrets is required: e.g. { provider: 'environment' } to read LUNASEC_SIGNING_KEY");
    } else if (specs.length === 0) {
      problems.push('auth.secrets must not be an empty array');
    } else {
      secrets = specs.map((s, i) => normalizeSecret(s, Array.isArray(auth.secrets) ? `auth.secrets[${i}]` : 'auth.secrets', problems));
      const kids = secrets.filter(Boolean).map((s) => s.kid);
      const dup = kids.find((k, i) => kids.indexOf(k) !== i);
      if (dup) problems.push(`auth.secrets: two keys share the kid '${dup}'; give each key its own kid`);
    }
    sessionIdProvider = auth.sessionIdProvider;
    if (typeof sessionIdProvider !== 'function') {
      problems.push(`auth.sessionIdProvider must be a function (req) => sessionId | null (may be async); got ${describe(sessionIdProvider)}`);
    }
    sessionIdProviderTimeoutMs = parseTimeout(auth.sessionIdProviderTimeoutMs, 'auth.sessionIdProviderTimeoutMs', DEFAULT_SESSION_ID_PROVIDER_TIMEOUT_MS, problems);
    if (auth.pluginBaseUrl !== undefined) {
      const b = auth.pluginBaseUrl;
      if (typeof b !== 'string' || (b !== '' && !/^\/[A-Za-z0-9._~!$&'()*+,;=:@/-]*$/.test(b))) {
        problems.push(`auth.pluginBaseUrl must be a path starting with '/' (e.g. '/api'); got ${typeof b === 'string' ? `'${b}'` : describe(b)}`);
      } else {
        pluginBaseUrl = b.replace(/\/+$/, '');
      }
    }
    if (auth.onError !== undefined && typeof auth.onError !== 'function') {
      problems.push('auth.onError must be a function (error, req) => void');
    }
    onError = auth.onError;
    if (auth.frameSessionOrigins !== undefined) {
      const list = auth.frameSessionOrigins;
      if (!Array.isArray(list)) {
        problems.push(`auth.frameSessionOrigins must be an array of origins (e.g. ['https://app.example.com']); got ${describe(list)}`);
      } else {
        frameSessionOrigins = list.map((o, i) => parseOrigin(o, `auth.frameSessionOrigins[${i}]`, problems)).filter(Boolean);
      }
    }
  }
  const client = {};
  if (config.client !== undefined) {
    const cl = config.client;
    if (cl === null || typeof cl !== 'object') {
      problems.push('client must be an object { timeoutMs?, transferTimeoutMs?, retries?, maxDownloadBytes? }');
    } else {
      for (const k of ['timeoutMs', 'transferTimeoutMs', 'retries', 'maxDownloadBytes']) {
        if (cl[k] === undefined) continue;
        if (!Number.isInteger(cl[k]) || cl[k] < 0 || (k !== 'maxDownloadBytes' && cl[k] > 0xffffffff)) problems.push(`client.${k} must be a non-negative integer`);
        else client[k] = cl[k];
      }
    }
  }
  if (problems.length > 0) {
    throw lunaSecError('ERR_CONFIG_INVALID', `Invalid LunaSec config:\n  - ${problems.join('\n  - ')}`);
  }
  // Every caller of the provider (the Express plugin, grants, the @token directive) gets the time-out.
  sessionIdProvider = withSessionIdTimeout(sessionIdProvider, sessionIdProviderTimeoutMs);
  return { tokenizerUrl, publicTokenizerUrl, secrets, sessionIdProvider, sessionIdProviderTimeoutMs, pluginBaseUrl, onError, frameSessionOrigins, client };
}

module.exports = {
  normalizeConfig,
  normalizeSecret,
  isLoopbackHost,
  checkTypos,
  parseTimeout,
  callWithTimeout,
  withSessionIdTimeout,
  describe,
  DEFAULT_KID,
  DEFAULT_ENV_VARIABLE,
  DEFAULT_SESSION_ID_PROVIDER_TIMEOUT_MS,
};
