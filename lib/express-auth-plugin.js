'use strict';
const { LunaSecError, lunaSecError } = require('./errors');
const { withSessionIdTimeout, DEFAULT_SESSION_ID_PROVIDER_TIMEOUT_MS } = require('./config');

function sendError(res, status, error) {
  res.status(status).set('Cache-Control', 'no-store').json({ success: false, error });
}

/** The media type of a request, lower-cased, without parameters (`application/json; charset=utf-8` → `application/json`). */
function mediaType(req) {
  const raw = req.get('content-type');
  if (typeof raw !== 'string') return '';
  return raw.split(';')[0].trim().toLowerCase();
}

/** The payload of a compact JWT we have just signed ourselves (no verification needed). */
function jwtPayload(jwt) {
  const part = jwt.split('.')[1];
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
}

/**
 * The auth plugin's routes, mounted by `register(app)` on an Express 4/5 app or Router:
 *
 * - `GET {pluginBaseUrl}/.lunasec/jwks.json`: the public keys the tokenizer verifies JWTs with.
 * - `GET {pluginBaseUrl}/.lunasec/secure-frame?state=…`: the session redirect. Asks the app's
 *   `sessionIdProvider(req)` who the user is, signs a user JWT and redirects (302) to
 *   `<public tokenizer url>/session/create?state=…&openid_token=…`.
 * - `POST {pluginBaseUrl}/.lunasec/frame-session`: the Secure Frames' credential (frame-token
 *   session mode). For the request's session it signs the same user JWT as the redirect flow's
 *   `openid_token` and answers `200 {"success":true,"data":{"token":"<JWT>","expiresAt":<unix s>}}`
 *   with `Cache-Control: no-store`. Same-origin only: a request whose `Sec-Fetch-Site` is present and
 *   not `same-origin`, or whose `Origin` is present and neither the request's own origin
 *   (`req.protocol` + `Host`) nor one of `auth.frameSessionOrigins`, is refused (403
 *   `crossSiteRequest`); an allow-listed `Origin` is accepted whatever its `Sec-Fetch-Site`, and
 *   `Origin: null` (sent under `Referrer-Policy: no-referrer`) only with `Sec-Fetch-Site: same-origin`. The
 *   content type must be `application/json` (415 `unsupportedMediaType`); the body is never read, so
 *   no body parser is needed. No session → 401 `sessionMissing`; a provider slower than
 *   `auth.sessionIdProviderTimeoutMs` → 504 `sessionIdProviderTimeout`. Refusals are
 *   `{"success":false,"error":{"name","message"}}`, also `no-store`.
 *
 * Nothing is logged. Failures answer JSON; unexpected ones go to `auth.onError(err, req)` if set.
 */
class LunaSecExpressAuthPlugin {
  #keyService;
  #sessionIdProvider;
  #publicTokenizerUrl;
  #onError;
  #frameSessionOrigins;

  constructor({ keyService, sessionIdProvider, publicTokenizerUrl, pluginBaseUrl = '', onError, frameSessionOrigins = [], sessionIdProviderTimeoutMs = DEFAULT_SESSION_ID_PROVIDER_TIMEOUT_MS }) {
    this.#keyService = keyService;
    // LunaSec hands over the provider already wrapped (auth.sessionIdProviderTimeoutMs); a plugin
    // built directly gets the time-out here.
    this.#sessionIdProvider = withSessionIdTimeout(sessionIdProvider, sessionIdProviderTimeoutMs);
    this.#publicTokenizerUrl = publicTokenizerUrl;
    this.#onError = onError;
    this.#frameSessionOrigins = new Set(frameSessionOrigins);
    this.pluginBaseUrl = pluginBaseUrl;
    this.jwksPath = `${pluginBaseUrl}/.lunasec/jwks.json`;
    this.secureFramePath = `${pluginBaseUrl}/.lunasec/secure-frame`;
    this.frameSessionPath = `${pluginBaseUrl}/.lunasec/frame-session`;
  }

  #report(err, req) {
    if (!this.#onError) return;
    try {
      this.#onError(err, req);
    } catch {
      // A failing error hook must not take the request down with it.
    }
  }

  /** Mounts the three routes on an Express app or Router. Returns the app for chaining. */
  register(app) {
    if (!app || typeof app.get !== 'function' || typeof app.post !== 'function') {
      throw lunaSecError('ERR_CONFIG_INVALID', 'expressAuthPlugin.register(app) needs an Express app or Router');
    }
    app.get(this.jwksPath, (req, res) => this.handleJwks(req, res));
    app.get(this.secureFramePath, (req, res) => this.handleSecureFrame(req, res));
    app.post(this.frameSessionPath, (req, res) => this.handleFrameSession(req, res));
    return app;
  }

  async handleJwks(req, res) {
    try {
      const json = await this.#keyService.getJwksJson();
      res.status(200).set('Cache-Control', 'public, max-age=300').type('application/json').send(json);
    } catch (e) {
      this.#report(e, req);
      sendError(res, 500, 'the signing keys are not available');
    }
  }

  /**
   * Who the user of `req` is and their user JWT (the redirect flow's `openid_token`), as
   * `{ jwt }` or `{ failure: 'noSession' | 'providerFailed' | 'providerTimeout' | 'providerInvalid' | 'signFailed' }`.
   * Failures other than `noSession` are reported to `auth.onError`.
   */
  async #userJwt(req) {
    let sessionId;
    try {
      sessionId = await this.#sessionIdProvider(req);
    } catch (e) {
      // The time-out (auth.sessionIdProviderTimeoutMs) is our own error: report it as it is.
      if (e instanceof LunaSecError && e.errorCode === 'ERR_SESSION_ID_PROVIDER_TIMEOUT') {
        this.#report(e, req);
        return { failure: 'providerTimeout' };
      }
      // The provider's error may carry anything (cookies, ids): never echo it.
      this.#report(lunaSecError('ERR_SESSION_ID_PROVIDER_FAILED', 'auth.sessionIdProvider threw', e), req);
      return { failure: 'providerFailed' };
    }
    if (sessionId === null || sessionId === undefined || sessionId === '') return { failure: 'noSession' };
    if (typeof sessionId === 'number' && Number.isFinite(sessionId)) sessionId = String(sessionId);
    if (typeof sessionId !== 'string') {
      this.#report(lunaSecError('ERR_SESSION_ID_INVALID', `auth.sessionIdProvider must return a string, a number or null; it returned ${typeof sessionId}`), req);
      return { failure: 'providerInvalid' };
    }
    try {
      return { jwt: String(await this.#keyService.createAuthenticationJWT('user', { session_id: sessionId })) };
    } catch (e) {
      this.#report(e, req);
      return { failure: 'signFailed' };
    }
  }

  async handleSecureFrame(req, res) {
    const state = req.query ? req.query.state : undefined;
    if (typeof state !== 'string' || state === '') {
      sendError(res, 400, 'state is not set in request');
      return;
    }
    const { jwt, failure } = await this.#userJwt(req);
    switch (failure) {
      case undefined:
        break;
      case 'noSession':
        sendError(res, 400, 'unable to authenticate the user of this request');
        return;
      case 'providerFailed':
        sendError(res, 500, 'unable to authenticate the user of this request: the session id provider failed');
        return;
      case 'providerTimeout':
        sendError(res, 504, 'unable to authenticate the user of this request: the session id provider timed out');
        return;
      case 'providerInvalid':
        sendError(res, 500, 'unable to authenticate the user of this request: the session id provider returned an unusable value');
        return;
      default:
        sendError(res, 500, 'unable to sign the session token');
        return;
    }
    const location = `${this.#publicTokenizerUrl}/session/create?state=${encodeURIComponent(state)}&openid_token=${encodeURIComponent(jwt)}`;
    // The URL carries a JWT: keep it out of caches and Referer headers.
    res.set('Cache-Control', 'no-store').set('Referrer-Policy', 'no-referrer');
    res.redirect(302, location);
  }

  /** Is `req` from a page of this app (same origin, or an allow-listed front-end origin)? */
  #sameOrigin(req) {
    const origin = req.get('origin');
    const fetchSite = req.get('sec-fetch-site');
    // `Origin: null` is what browsers send on same-origin POSTs from a page whose Referrer-Policy is
    // `no-referrer` (helmet's default), and also from sandboxed or opaque documents: only the
    // browser-set `Sec-Fetch-Site: same-origin` tells the first apart.
    if (origin === 'null') return fetchSite === 'same-origin';
    if (origin !== undefined) {
      if (this.#frameSessionOrigins.has(origin)) return true;
      const host = req.get('host');
      if (!host || origin !== `${req.protocol}://${host}`.toLowerCase()) return false;
    }
    return fetchSite === undefined || fetchSite === 'same-origin';
  }

  async handleFrameSession(req, res) {
    // The body is never read: nothing in it is needed, and a body parser may already have consumed it.
    if (!this.#sameOrigin(req)) {
      sendError(res, 403, { name: 'crossSiteRequest', message: 'the frame session is only given to pages of this application (same origin)' });
      return;
    }
    if (mediaType(req) !== 'application/json') {
      sendError(res, 415, { name: 'unsupportedMediaType', message: 'POST the frame session request as application/json' });
      return;
    }
    const { jwt, failure } = await this.#userJwt(req);
    switch (failure) {
      case undefined:
        break;
      case 'noSession':
        sendError(res, 401, { name: 'sessionMissing', message: 'the user of this request has no session: log in first' });
        return;
      case 'providerFailed':
        sendError(res, 500, { name: 'sessionIdProviderFailed', message: 'unable to authenticate the user of this request: the session id provider failed' });
        return;
      case 'providerTimeout':
        sendError(res, 504, { name: 'sessionIdProviderTimeout', message: 'unable to authenticate the user of this request: the session id provider timed out' });
        return;
      case 'providerInvalid':
        sendError(res, 500, { name: 'sessionIdProviderFailed', message: 'unable to authenticate the user of this request: the session id provider returned an unusable value' });
        return;
      default:
        sendError(res, 500, { name: 'jwtSignFailed', message: 'unable to sign the session token' });
        return;
    }
    let expiresAt;
    try {
      expiresAt = jwtPayload(jwt).exp;
    } catch {
      expiresAt = undefined;
    }
    if (!Number.isInteger(expiresAt)) {
      this.#report(lunaSecError('ERR_JWT_SIGN_FAILED', 'the signed session token has no usable exp claim'), req);
      sendError(res, 500, { name: 'jwtSignFailed', message: 'unable to sign the session token' });
      return;
    }
    res.status(200).set('Cache-Control', 'no-store').json({ success: true, data: { token: jwt, expiresAt } });
  }
}

module.exports = { LunaSecExpressAuthPlugin };
