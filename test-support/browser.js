'use strict';
// A minimal browser for end-to-end tests: fetch plus a cookie jar per origin, manual redirects.
// It plays the secure frame: the session redirect chain, then tokenize/detokenize with the
// tokenizer's `__Host-access_token` cookie.

class Browser {
  constructor() {
    this.jars = new Map();
  }

  jar(origin) {
    if (!this.jars.has(origin)) this.jars.set(origin, new Map());
    return this.jars.get(origin);
  }

  cookie(url, name) {
    return this.jar(new URL(url).origin).get(name);
  }

  async request(url, init = {}) {
    const origin = new URL(url).origin;
    const jar = this.jar(origin);
    const headers = new Headers(init.headers || {});
    if (jar.size > 0) headers.set('cookie', [...jar].map(([k, v]) => `${k}=${v}`).join('; '));
    const res = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attrs.some((a) => /^\s*max-age=0\s*$/i.test(a)) || value === '';
      if (expired) jar.delete(name);
      else jar.set(name, value);
    }
    return res;
  }

  /** Follows redirects (GET), returning every response. */
  async follow(url, max = 5) {
    const chain = [];
    let next = url;
    for (let i = 0; i < max && next; i++) {
      const res = await this.request(next);
      chain.push(res);
      next = res.status >= 300 && res.status < 400 ? new URL(res.headers.get('location'), next).href : null;
    }
    return chain;
  }

  async json(url, body, init = {}) {
    const res = await this.request(url, {
      method: 'POST',
      ...init,
      headers: { 'content-type': 'application/json', ...(init.headers || {}) },
      body: JSON.stringify(body),
    });
    return { status: res.status, headers: res.headers, body: await res.json().catch(() => null) };
  }

  /** Logs in to the example app and runs the secure frame's session flow on the tokenizer. */
  async loginAndOpenFrame(stack, tokenizerUrl = stack.tokenizerUrl) {
    await this.request(`${stack.appUrl}/login`);
    const chain = await this.follow(`${tokenizerUrl}/session/ensure`);
    const last = chain[chain.length - 1];
    if (last.status !== 200) throw new Error(`session flow ended with ${last.status}: ${await last.text()}`);
    if (!this.cookie(tokenizerUrl, '__Host-access_token')) throw new Error('session flow set no __Host-access_token cookie');
    return chain;
  }

  /** What the secure frame does to tokenize a value: POST /tokenize, then PUT the value. */
  async tokenize(tokenizerUrl, value, metadata = { dataType: 'string' }) {
    const r = await this.json(`${tokenizerUrl}/tokenize`, { metadata });
    if (r.status !== 200) return r;
    const { tokenId, uploadUrl, headers } = r.body.data;
    const put = await fetch(uploadUrl, { method: 'PUT', headers: withoutHost(headers), body: value });
    return { status: put.status === 200 ? 200 : put.status, tokenId };
  }

  /** What the secure frame does to detokenize: POST /detokenize, then GET the value. */
  async detokenize(tokenizerUrl, tokenId) {
    const r = await this.json(`${tokenizerUrl}/detokenize`, { tokenId });
    if (r.status !== 200) return r;
    const { downloadUrl, headers } = r.body.data;
    const get = await fetch(downloadUrl, { headers: withoutHost(headers) });
    return { status: get.status, value: Buffer.from(await get.arrayBuffer()) };
  }
}

function withoutHost(headers) {
  const h = { ...headers };
  delete h.host;
  return h;
}

module.exports = { Browser };
