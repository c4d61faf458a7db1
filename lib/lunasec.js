'use strict';
const { normalizeConfig } = require('./config');
const { KeyService } = require('./key-service');
const { LunaSecExpressAuthPlugin } = require('./express-auth-plugin');
const { Grants } = require('./grants');
const { Tokenizer } = require('./tokenizer');
const { TokenDirective } = require('./graphql/token-directive');
const native = require('./native');
const { callNative } = require('./errors');

/**
 * The SDK entry point, with the original `@lunasec/node-sdk` config shape. The config is validated
 * once, here; an invalid one throws a LunaSecError (ERR_CONFIG_INVALID) listing every problem.
 */
class LunaSec {
  constructor(config) {
    const c = normalizeConfig(config);
    this.config = Object.freeze({ tokenizerURL: c.tokenizerUrl, publicTokenizerUrl: c.publicTokenizerUrl, pluginBaseUrl: c.pluginBaseUrl });
    this.keyService = new KeyService(c.secrets);
    this.expressAuthPlugin = new LunaSecExpressAuthPlugin({
      keyService: this.keyService,
      sessionIdProvider: c.sessionIdProvider,
      publicTokenizerUrl: c.publicTokenizerUrl,
      pluginBaseUrl: c.pluginBaseUrl,
      onError: c.onError,
      frameSessionOrigins: c.frameSessionOrigins,
    });
    // One pooled keep-alive HTTP client (Rust, reqwest), created at first use.
    let client = null;
    const getClient = () => {
      if (!client) client = callNative(() => new native.TokenizerClient({ url: c.tokenizerUrl, ...c.client }));
      return client;
    };
    this.grants = new Grants({ keyService: this.keyService, client: getClient, sessionIdProvider: c.sessionIdProvider });
    this.tokenizer = new Tokenizer(this.keyService, getClient);
    // The GraphQL `@token` directive: `typeDefs` + `transform(schema)` (graphql is loaded lazily).
    this.tokenDirective = new TokenDirective({ grants: this.grants, sessionIdProvider: c.sessionIdProvider, onError: c.onError });
  }

  /** Older name of `keyService`. */
  get auth() {
    return this.keyService;
  }

  /** Older name of `expressAuthPlugin`. */
  get expressPlugin() {
    return this.expressAuthPlugin;
  }
}

module.exports = { LunaSec };
