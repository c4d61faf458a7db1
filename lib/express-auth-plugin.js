'use strict';
const { lunaSecError } = require('./errors');

function sendError(res, status, error) {
  res.status(status).set('Cache-Control', 'no-store').json({ success: false, error });
}

/**
 * The auth plugin's two routes, mounted by `register(app)` on an Express 4/5 app or Router:
 *
 * - `GET {pluginBaseUrl}/.lunasec/jwks.json`: the public keys the tokenizer verifies JWTs with.
 * - `GET {pluginBaseUrl}/.lunasec/secure-frame?state=…`: the session redirect. Asks the app's
 *   `sessionIdProvider(req)` who the user is, signs a user JWT and redirects (302) to
 *   `<public tokenizer url>/session/create?state=…&openid_token=…`.
 *
 * Nothing is logged. Failures answer JSON; unexpected ones go to `auth.onError(err, req)` if set.
 */
class LunaSecExpressAuthPlugin {
  #keyService;
  #sessionIdProvider;
  #publicTokenizerUrl;
  #onError;

  constructor({ keyService, sessionIdProvider, publicTokenizerUrl, pluginBaseUrl = '', onError }) {
    this.#keyService = keyService;
    this.#sessionIdProvider = sessionIdProvider;
    this.#publicTokenizerUrl = publicTokenizerUrl;
    this.#onError = onError;
    this.pluginBaseUrl = pluginBaseUrl;
    this.jwksPath = `${pluginBaseUrl}/.lunasec/jwks.json`;
    this.secureFramePath = `${pluginBaseUrl}/.lunasec/secure-frame`;
  }

  #report(err, req) {
    if (!this.#onError) return;
    try {
      this.#onError(err, req);
    } catch {
      // A failing error hook must not take the request down with it.
    }
  }

  /** Mounts both routes on an Express app or Router. Returns the app for chaining. */
  register(app) {
    if (!app || typeof app.get !== 'function') {
      throw lunaSecError('ERR_CONFIG_INVALID', 'expressAuthPlugin.register(app) needs an Express app or Router');
    }
    app.get(this.jwksPath, (req, res) => this.handleJwks(req, res));
    app.get(this.secureFramePath, (req, res) => this.handleSecureFrame(req, res));
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

  async handleSecureFrame(req, res) {
    const state = req.query ? req.query.state : undefined;
    if (typeof state !== 'string' || state === '') {
      sendError(res, 400, 'state is not set in request');
      return;
    }
    let sessionId;
    try {
      sessionId = await this.#sessionIdProvider(req);
    } catch (e) {
      // The provider's error may carry anything (cookies, ids): never echo it.
      this.#report(lunaSecError('ERR_SESSION_ID_PROVIDER_FAILED', 'auth.sessionIdProvider threw', e), req);
      sendError(res, 500, 'unable to authenticate the user of this request: the session id provider failed');
      return;
    }
    if (sessionId === null || sessionId === undefined || sessionId === '') {
      sendError(res, 400, 'unable to authenticate the user of this request');
      return;
    }
    if (typeof sessionId === 'number' && Number.isFinite(sessionId)) sessionId = String(sessionId);
    if (typeof sessionId !== 'string') {
      this.#report(lunaSecError('ERR_SESSION_ID_INVALID', `auth.sessionIdProvider must return a string, a number or null; it returned ${typeof sessionId}`), req);
      sendError(res, 500, 'unable to authenticate the user of this request: the session id provider returned an unusable value');
      return;
    }
    let jwt;
    try {
      jwt = String(await this.#keyService.createAuthenticationJWT('user', { session_id: sessionId }));
    } catch (e) {
      this.#report(e, req);
      sendError(res, 500, 'unable to sign the session token');
      return;
    }
    const location = `${this.#publicTokenizerUrl}/session/create?state=${encodeURIComponent(state)}&openid_token=${encodeURIComponent(jwt)}`;
    // The URL carries a JWT: keep it out of caches and Referer headers.
    res.set('Cache-Control', 'no-store').set('Referrer-Policy', 'no-referrer');
    res.redirect(302, location);
  }
}

module.exports = { LunaSecExpressAuthPlugin };
