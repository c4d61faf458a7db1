'use strict';
const { normalizeConfig } = require('./config');
const { KeyService } = require('./key-service');
const { LunaSecExpressAuthPlugin } = require('./express-auth-plugin');

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
    });
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
