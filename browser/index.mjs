// @lunasec-rs/node-sdk/browser: mounts LunaSec Secure Frames (cross-origin iframes served by the
// Dedicated Tokenizer) in the app's page. An ES module with no dependencies and no build step.
// The wire protocol between this library and the frame is browser/PROTOCOL.md.
// Nothing here ever sees plaintext: the frame keeps values to itself and hands out tokens.

const COMPONENTS = ['input', 'textarea', 'paragraph', 'upload', 'download'];
const EVENTS = ['ready', 'change', 'blur', 'focus', 'submit', 'error', 'progress', 'tokens'];
// Canonical lowercase only, as the SDK and the tokenizer accept (an uppercase spelling names nothing).
const TOKEN_RE = /^lunasec-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const DEFAULT_SESSION_URL = '/.lunasec/frame-session';
const REFRESH_MARGIN_MS = 60 * 1000; // refresh the frame token this long before it expires
const LOAD_GRACE_MS = 2000; // after the iframe's load event, how long NotifyOnStart may still take
const REPLIES = {
  Attributes: 'ReceiveAttributesConfirmation',
  CommitToken: 'ReceiveCommittedToken',
  SetSessionToken: 'ReceiveSessionTokenConfirmation',
  EndSession: 'ReceiveEndSessionConfirmation',
  Focus: 'ReceiveFocusConfirmation',
};
const STYLE_PROPS = ['color', 'backgroundColor', 'background', 'fontFamily', 'fontSize', 'fontWeight',
  'fontStyle', 'lineHeight', 'letterSpacing', 'textAlign', 'padding', 'paddingTop', 'paddingRight',
  'paddingBottom', 'paddingLeft', 'border', 'borderColor', 'borderWidth', 'borderStyle', 'borderRadius',
  'boxShadow', 'outline', 'width', 'height', 'textTransform'];
const STYLE_VARIANTS = ['base', 'invalid', 'focus', 'placeholder'];
const BAD_STYLE_VALUE = /[;{}<>\\]|url\(|expression\(|@|\/\*/i;
// Taken from the computed style of the element a frame replaces (layout-only ones are left out).
const COMPUTED_PROPS = ['color', 'backgroundColor', 'fontFamily', 'fontSize', 'fontWeight', 'fontStyle',
  'lineHeight', 'letterSpacing', 'textAlign', 'textTransform', 'paddingTop', 'paddingRight',
  'paddingBottom', 'paddingLeft', 'borderColor', 'borderWidth', 'borderStyle', 'borderRadius',
  'boxShadow', 'outline'];
// Taken from a container's computed style (the inherited text properties only).
const INHERITED_PROPS = ['color', 'fontFamily', 'fontSize', 'fontWeight', 'fontStyle', 'lineHeight',
  'letterSpacing', 'textAlign', 'textTransform'];

// Which mount options each component takes ('component', 'title', 'label', 'labelHidden' go with all).
const OPTIONS = {
  input: ['name', 'placeholder', 'required', 'type', 'validator', 'pattern', 'format', 'token', 'metadata', 'style', 'errorMessages'],
  textarea: ['name', 'placeholder', 'required', 'validator', 'pattern', 'token', 'metadata', 'style', 'errorMessages'],
  paragraph: ['token', 'copyButton', 'style'],
  upload: ['name', 'required', 'multiple', 'accept', 'metadata', 'style', 'errorMessages'],
  download: ['token', 'style'],
};
const COMMON_OPTIONS = ['component', 'title', 'label', 'labelHidden'];
const ALL_OPTIONS = [...COMMON_OPTIONS, ...new Set(Object.values(OPTIONS).flat())];
const CHOICES = {
  type: ['text', 'email', 'tel', 'password'],
  validator: ['Email', 'SSN', 'EIN', 'SSN_EIN', 'CardNumber'],
  format: ['ssn', 'card'],
};

/** Every error this library throws, rejects with or emits. `name` and `code` are the same short code. */
export class LunaSecFrameError extends Error {
  constructor(code, message) {
    super(redact(message || code));
    this.name = code;
    this.code = code;
  }
}

/** Whether `value` is a LunaSec token (`lunasec-` followed by a UUID). */
export function isToken(value) {
  return typeof value === 'string' && TOKEN_RE.test(value);
}

// Messages never carry a token or a JWT, even one that a frame put into its error text.
function redact(text) {
  return String(text)
    .replace(/lunasec-[0-9a-f-]{8,}/gi, '[token]')
    .replace(/eyJ[\w-]*\.[\w-]*\.?[\w-]*/g, '[jwt]')
    .slice(0, 300);
}

const fail = (code, message) => new LunaSecFrameError(code, message);
const optionError = (message) => fail('invalidOptions', message);
const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

/** 128 bits from crypto.getRandomValues, as 22 base64url characters. */
function randomId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function distance(a, b) {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const keep = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = keep;
    }
  }
  return row[b.length];
}

function hint(word, choices) {
  const lower = String(word).toLowerCase();
  const best = choices.find((c) => c.toLowerCase() === lower)
    || choices.find((c) => distance(lower, c.toLowerCase()) <= 2);
  return best ? ` (did you mean '${best}'?)` : ` (expected one of: ${choices.join(', ')})`;
}

function checkKeys(obj, known, what) {
  for (const key of Object.keys(obj)) {
    if (!known.includes(key)) throw optionError(`${what}: unknown option '${key}'${hint(key, known)}`);
  }
}

function checkChoice(value, choices, what) {
  if (!choices.includes(value)) throw optionError(`${what} must be one of ${choices.join(', ')}; got '${String(value).slice(0, 40)}'${hint(value, choices)}`);
}

function parseTokenizerUrl(value) {
  if (typeof value !== 'string' || !value) throw optionError('tokenizerUrl is required: the Dedicated Tokenizer\'s URL, e.g. \'https://tokenizer.example.com\'');
  let url;
  try { url = new URL(value); } catch { throw optionError('tokenizerUrl is not an absolute URL (e.g. \'https://tokenizer.example.com\')'); }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw optionError('tokenizerUrl must be an http(s) URL');
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname) || url.hostname.endsWith('.localhost');
  if (url.protocol === 'http:' && !loopback) throw optionError('tokenizerUrl must use https (plain http is accepted for localhost and 127.0.0.1 only)');
  if (url.username || url.password || url.search || url.hash) throw optionError('tokenizerUrl must not contain credentials, a query or a fragment');
  if (url.origin === location.origin) throw optionError('tokenizerUrl must be on a different origin from this page: a same-origin frame does not protect anything from the page\'s scripts');
  return { origin: url.origin, base: url.origin + url.pathname.replace(/\/+$/, '') };
}

function camel(key) { return key.replace(/-([a-z])/g, (_, c) => c.toUpperCase()); }
function kebab(key) { return key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase()); }

function checkStyle(style) {
  if (!isObject(style)) throw optionError('style must be an object like { base: { color: \'#333\' }, invalid: {…}, focus: {…}, placeholder: {…} }');
  checkKeys(style, STYLE_VARIANTS, 'style');
  const out = {};
  for (const [variant, props] of Object.entries(style)) {
    if (props === undefined) continue;
    if (!isObject(props)) throw optionError(`style.${variant} must be an object of CSS properties`);
    out[variant] = {};
    for (const [key, value] of Object.entries(props)) {
      const prop = camel(key);
      if (!STYLE_PROPS.includes(prop)) throw optionError(`style.${variant}: property '${key}' is not allowed${hint(prop, STYLE_PROPS)}`);
      if (typeof value !== 'string' && typeof value !== 'number') throw optionError(`style.${variant}.${key} must be a string or a number`);
      if (BAD_STYLE_VALUE.test(String(value))) throw optionError(`style.${variant}.${key}: the value may not contain ; { } < > \\ @ /* url( or expression(`);
      out[variant][prop] = String(value);
    }
  }
  return out;
}

function computedStyle(el, props) {
  const cs = getComputedStyle(el);
  const out = {};
  for (const prop of props) {
    const side = prop.replace(/^border(Color|Width|Style)$/, 'borderTop$1').replace(/^borderRadius$/, 'borderTopLeftRadius');
    const value = cs.getPropertyValue(kebab(prop)) || cs.getPropertyValue(kebab(side));
    if (value && !BAD_STYLE_VALUE.test(value)) out[prop] = value;
  }
  return out;
}

/** Validates mount options and returns the frame's Attributes (without session fields). */
function buildAttributes(options) {
  if (!isObject(options)) throw optionError('mount options must be an object like { component: \'input\' }');
  const { component } = options;
  if (component === undefined) throw optionError(`mount: the 'component' option is required (one of ${COMPONENTS.join(', ')})`);
  checkChoice(component, COMPONENTS, 'component');
  checkKeys(options, ALL_OPTIONS, 'mount');
  const allowed = [...COMMON_OPTIONS, ...OPTIONS[component]];
  const attrs = { component };
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined || key === 'component') continue;
    if (!allowed.includes(key)) throw optionError(`mount: option '${key}' does not apply to component '${component}'`);
    if (['title', 'label', 'name', 'placeholder', 'accept'].includes(key)) {
      if (typeof value !== 'string') throw optionError(`mount: option '${key}' must be a string`);
    } else if (['required', 'copyButton', 'multiple', 'labelHidden'].includes(key)) {
      if (typeof value !== 'boolean') throw optionError(`mount: option '${key}' must be true or false`);
    } else if (CHOICES[key]) {
      checkChoice(value, CHOICES[key], `mount: option '${key}'`);
    } else if (key === 'pattern') {
      if (typeof value !== 'string') throw optionError('mount: option \'pattern\' must be a string (a regular expression source)');
      try { new RegExp(value, 'u'); } catch { throw optionError('mount: option \'pattern\' is not a valid regular expression'); }
    } else if (key === 'token') {
      if (value === '' && (component === 'input' || component === 'textarea')) continue; // an empty field: nothing to pre-fill
      if (!isToken(value)) throw optionError(`mount: option 'token' is not a LunaSec token (expected 'lunasec-' followed by a UUID)${value === '' ? '; \'\' is an empty field\'s token and has nothing to show' : ''}`);
    } else if (key === 'metadata') {
      if (!isObject(value)) throw optionError('mount: option \'metadata\' must be a plain object (extra customFields for the token\'s metadata)');
      try { attrs.metadata = JSON.parse(JSON.stringify(value)); } catch { throw optionError('mount: option \'metadata\' must be JSON-serializable'); }
      continue;
    } else if (key === 'errorMessages') {
      if (!isObject(value)) throw optionError('mount: option \'errorMessages\' must be an object like { invalid: \'…\', required: \'…\' }');
      checkKeys(value, ['invalid', 'required'], 'errorMessages');
      for (const [k, v] of Object.entries(value)) if (typeof v !== 'string') throw optionError(`errorMessages.${k} must be a string`);
      attrs.errorMessages = { ...value };
      continue;
    } else if (key === 'style') {
      attrs.style = checkStyle(value);
      continue;
    }
    attrs[key] = value;
  }
  if ((component === 'paragraph' || component === 'download') && !attrs.token) {
    throw optionError(`mount: component '${component}' needs a 'token' option (the token to show)`);
  }
  return attrs;
}

class Emitter {
  #listeners = new Map();

  /** Adds a listener; returns a function that removes it. */
  on(name, fn) {
    if (!EVENTS.includes(name)) throw optionError(`unknown event '${String(name).slice(0, 40)}'${hint(name, EVENTS)}`);
    if (typeof fn !== 'function') throw optionError(`on('${name}', listener): the listener must be a function`);
    if (!this.#listeners.has(name)) this.#listeners.set(name, new Set());
    this.#listeners.get(name).add(fn);
    return () => this.off(name, fn);
  }

  off(name, fn) {
    const set = this.#listeners.get(name);
    if (!set) return;
    for (const f of set) if (f === fn || f.listener === fn) set.delete(f);
  }

  once(name, fn) {
    const wrapper = (value) => { this.off(name, wrapper); fn(value); };
    wrapper.listener = fn;
    return this.on(name, wrapper);
  }

  emit(name, value) {
    for (const fn of [...(this.#listeners.get(name) || [])]) {
      try {
        fn(value);
      } catch (err) { // a throwing listener does not stop the others
        if (typeof reportError === 'function') reportError(err); else setTimeout(() => { throw err; });
      }
    }
  }

  clear() { this.#listeners.clear(); }
}

/** Frame-token session (PROTOCOL §4): one shared token, one in-flight refresh, refreshed before expiry. */
class TokenSession {
  mode = 'token';
  #source; #hooks; #current = null; #inflight = null; #timer = 0;

  constructor(source, hooks) {
    this.#source = source;
    this.#hooks = hooks;
  }

  #fresh() { return this.#current && this.#current.expiresAt * 1000 - Date.now() > REFRESH_MARGIN_MS; }

  get() { return this.#fresh() ? Promise.resolve(this.#current) : this.refresh(); }

  /** A frame's token did not work: the current one if it is another and fresh, else a new one. */
  replace(stale) { return this.#fresh() && this.#current !== stale ? Promise.resolve(this.#current) : this.refresh(); }

  /** Fetches a new token (shared with any refresh in flight) and hands it to every frame. */
  refresh() {
    if (this.#inflight) return this.#inflight;
    this.#inflight = this.#fetch().then((session) => {
      this.#current = session;
      this.#schedule(session);
      this.#hooks.onToken(session);
      return session;
    }, (err) => {
      this.#current = null;
      if (err.code === 'sessionMissing') this.#hooks.onMissing(err);
      throw err;
    }).finally(() => { this.#inflight = null; });
    return this.#inflight;
  }

  async #fetch() {
    let body;
    if (this.#source.getToken) {
      try {
        body = { success: true, data: await this.#source.getToken() };
      } catch (err) {
        if (err instanceof LunaSecFrameError) throw err;
        throw fail('sessionFetchFailed', 'session.getToken() failed');
      }
    } else {
      let res;
      try {
        res = await fetch(this.#source.url, {
          method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}',
          credentials: 'same-origin', cache: 'no-store',
        });
      } catch {
        throw fail('sessionFetchFailed', 'could not reach the frame-session endpoint');
      }
      if (res.status === 401) throw fail('sessionMissing', 'no user session: the frame-session endpoint answered 401 (log in first)');
      if (!res.ok) throw fail('sessionFetchFailed', `the frame-session endpoint answered ${res.status}`);
      try { body = await res.json(); } catch { body = null; }
    }
    const data = body && body.success === true && body.data;
    if (!data || typeof data.token !== 'string' || !data.token || !Number.isFinite(data.expiresAt)) {
      throw fail('sessionFetchFailed', 'the frame-session answer is not { success: true, data: { token, expiresAt } }');
    }
    if (data.expiresAt > 1e11) throw fail('sessionFetchFailed', 'expiresAt must be in Unix seconds, not milliseconds');
    return { token: data.token, expiresAt: data.expiresAt };
  }

  #schedule({ expiresAt }) {
    clearTimeout(this.#timer);
    const left = expiresAt * 1000 - Date.now();
    const delay = Math.min(Math.max(left - REFRESH_MARGIN_MS, left / 2, 1000), 2 ** 31 - 1);
    this.#timer = setTimeout(() => {
      if (this.#hooks.active()) this.refresh().catch(() => {}); // a frame that then meets a 401 asks again
    }, delay);
  }

  stop() { clearTimeout(this.#timer); }
}

/** Cookie session (PROTOCOL §4): the original redirect chain, run once from the page, shared. */
class CookieSession {
  mode = 'cookie';
  #base; #ready = null;

  constructor(base) { this.#base = base; }

  get() {
    if (!this.#ready) {
      this.#ready = this.#chain();
      this.#ready.catch(() => { this.#ready = null; }); // a later mount tries again
    }
    return this.#ready;
  }

  refresh() {
    this.#ready = null;
    return this.get();
  }

  async #chain() {
    // /session/verify answers 200 either way (the original's behaviour): the body says which.
    const verify = () => fetch(`${this.#base}/session/verify`, { credentials: 'include', cache: 'no-store' })
      .then((res) => (res.ok ? res.json() : null))
      .then((body) => Boolean(body && body.success === true), () => false);
    if (await verify()) return null;
    await fetch(`${this.#base}/session/ensure`, { mode: 'no-cors', credentials: 'include', cache: 'no-store' }).catch(() => {});
    if (await verify()) return null;
    throw fail('cookieSessionFailed', 'the cookie session could not be established (not logged in, or this browser blocks the tokenizer\'s cookies; the default session: \'token\' works in every browser)');
  }

  stop() {}
}

const START = Symbol('start');
const HANDSHAKE = Symbol('handshake');
const PUSH_SESSION = Symbol('pushSession');
const END_SESSION = Symbol('endSession');
const FAIL = Symbol('fail');
const SUBMITTABLE = ['input', 'textarea', 'upload'];

/** One mounted frame. Created by SecureFrames.mount(). */
class SecureFrame extends Emitter {
  #ctx; #target; #attrs; #nonce = randomId(); #iframe; #port = null; #pending = new Map();
  #state; #tokens = []; #ready = false; #destroyed = false; #settle = null; #sessionPromise = null;
  #timer = 0; #restore = []; #lastSession = null;

  constructor(ctx, target, attrs) {
    super();
    this.#ctx = ctx;
    this.#target = target;
    this.#attrs = attrs;
    this.#state = { empty: !attrs.token, valid: true, complete: false };
  }

  /** The iframe element. */
  get iframe() { return this.#iframe; }
  /** The component: 'input', 'textarea', 'paragraph', 'upload' or 'download'. */
  get component() { return this.#attrs.component; }
  /** The `name` the form helper uses (from the options or the replaced element). */
  get name() { return this.#attrs.name; }
  get required() { return this.#attrs.required === true; }
  /** The last validation state reported by the frame (never the value). */
  get state() { return { ...this.#state }; }
  /** upload: the current tokens, one per file. */
  get tokens() { return [...this.#tokens]; }
  get ready() { return this.#ready; }
  get destroyed() { return this.#destroyed; }

  [START]() {
    const ctx = this.#ctx;
    const ready = new Promise((resolve, reject) => { this.#settle = { resolve, reject }; });
    this.#sessionPromise = ctx.session.get();
    this.#sessionPromise.catch(() => {}); // awaited in the handshake
    const iframe = this.#iframe = document.createElement('iframe');
    this.#adopt(this.#target);
    const attrs = this.#attrs;
    iframe.title = titleOf(attrs);
    if (attrs.component === 'paragraph' && attrs.copyButton) iframe.setAttribute('allow', 'clipboard-write');
    iframe.setAttribute('data-lunasec-frame', attrs.component);
    Object.assign(iframe.style, { border: 'none', width: '100%', display: 'block' });
    const src = new URL(`${ctx.base}/frame`);
    src.search = new URLSearchParams({ n: this.#nonce, origin: location.origin, component: attrs.component }).toString();
    iframe.src = src.href;
    ctx.starting.set(this.#nonce, this);
    ctx.frames.add(this);
    this.#arm(ctx.timeout, 'frameLoadFailed', `the frame did not start within ${ctx.timeout} ms`);
    iframe.addEventListener('load', () => {
      if (ctx.starting.has(this.#nonce)) {
        this.#arm(LOAD_GRACE_MS, 'frameLoadFailed', 'the frame page loaded but did not start: check tokenizerUrl and that this page\'s origin is among the tokenizer\'s front-end origins');
      }
    }, { once: true });
    if (this.#replaced()) this.#target.before(iframe); else this.#target.append(iframe);
    return ready;
  }

  #replaced() { return this.#target.tagName === 'INPUT' || this.#target.tagName === 'TEXTAREA'; }

  // Defaults from the element the frame replaces (or the container), and what destroy() puts back.
  #adopt(el) {
    const attrs = this.#attrs;
    const user = (attrs.style && attrs.style.base) || {};
    if (!this.#replaced()) {
      attrs.style = { ...attrs.style, base: { ...computedStyle(el, INHERITED_PROPS), ...user } };
      return;
    }
    attrs.style = { ...attrs.style, base: { ...computedStyle(el, COMPUTED_PROPS), ...user } };
    const label = (el.labels && el.labels[0] && el.labels[0].textContent.trim()) || el.getAttribute('aria-label') || '';
    if (attrs.label === undefined && label) {
      attrs.label = label;
      if (attrs.labelHidden === undefined && el.labels && el.labels.length) attrs.labelHidden = true; // the page shows it
    }
    if (SUBMITTABLE.includes(attrs.component)) {
      if (attrs.name === undefined && el.name) attrs.name = el.name;
      if (attrs.required === undefined && el.required) attrs.required = true;
    }
    if ((attrs.component === 'input' || attrs.component === 'textarea') && attrs.placeholder === undefined && el.placeholder) attrs.placeholder = el.placeholder;
    if (attrs.component === 'input' && attrs.type === undefined && CHOICES.type.includes(el.type)) attrs.type = el.type;
    if (el.offsetHeight) this.#iframe.style.height = `${el.offsetHeight}px`; // until the frame reports its own
    const saved = { name: el.getAttribute('name'), required: el.required, disabled: el.disabled,
      display: [el.style.getPropertyValue('display'), el.style.getPropertyPriority('display')] };
    el.removeAttribute('name'); // out of the form submission and of constraint validation
    el.required = false;
    el.disabled = true;
    el.style.setProperty('display', 'none', 'important');
    const focusFrame = (event) => { event.preventDefault(); this.focus().catch(() => {}); };
    const labels = [...(el.labels || [])];
    for (const l of labels) l.addEventListener('click', focusFrame);
    this.#ctx.replaced.add(el);
    this.#restore.push(() => {
      if (saved.name !== null) el.setAttribute('name', saved.name);
      Object.assign(el, { required: saved.required, disabled: saved.disabled });
      el.style.setProperty('display', ...saved.display);
      for (const l of labels) l.removeEventListener('click', focusFrame);
      this.#ctx.replaced.delete(el);
    });
  }

  #arm(ms, code, message) {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#abort(fail(code, message)), ms);
  }

  // NotifyOnStart was accepted (SecureFrames checked origin, source and nonce): hand over the port.
  async [HANDSHAKE]() {
    this.#arm(this.#ctx.timeout, 'timeout', `the frame was not ready within ${this.#ctx.timeout} ms`);
    let session;
    try { session = await this.#sessionPromise; } catch (err) { this.#abort(err); return; }
    if (this.#destroyed) return;
    const channel = new MessageChannel();
    this.#port = channel.port1;
    this.#port.onmessage = (event) => this.#onMessage(event.data);
    const data = { ...this.#attrs, session: this.#ctx.session.mode };
    delete data.title; // the iframe's, not the frame's
    if (session) {
      data.sessionToken = { token: session.token, expiresAt: session.expiresAt };
      this.#lastSession = session;
    }
    try {
      const reply = await this.#request('Attributes', data, { transfer: [channel.port2] });
      if (reply.success !== true) throw frameError(reply.error, 'attributesRejected');
    } catch (err) {
      this.#abort(err);
    }
  }

  // A failure on our side before 'ready': nothing is left behind.
  #abort(err) {
    if (!this.#settle || this.#destroyed) return;
    this.#settle.reject(err);
    this.destroy();
  }

  // A failure to report: rejects mount() before 'ready' (the frame stays, showing its message; err.frame), else 'error'.
  [FAIL](err) {
    if (this.#destroyed || !this.#port) return; // not connected yet: the mount fails through #abort
    if (!this.#ready && this.#settle) {
      clearTimeout(this.#timer);
      err.frame = this;
      this.#settle.reject(err);
      this.#settle = null;
    }
    this.emit('error', err);
  }

  #request(command, data, { timeout = this.#ctx.timeout, idle = false, transfer } = {}) {
    if (this.#destroyed) return Promise.reject(fail('destroyed', 'the frame was destroyed'));
    if (!this.#port) return Promise.reject(fail('notReady', 'the frame is not connected yet'));
    const target = transfer && this.#iframe.contentWindow;
    if (transfer && !target) return Promise.reject(fail('frameGone', 'the iframe was removed from the document'));
    const correlationToken = randomId();
    return new Promise((resolve, reject) => {
      const entry = { reply: REPLIES[command], resolve, reject, idle, timer: 0 };
      entry.arm = () => {
        clearTimeout(entry.timer);
        entry.timer = setTimeout(() => {
          this.#pending.delete(correlationToken);
          reject(fail('timeout', `no ${entry.reply} from the frame within ${timeout} ms`));
        }, timeout);
      };
      entry.arm();
      this.#pending.set(correlationToken, entry);
      const message = { command, correlationToken, frameNonce: this.#nonce, data };
      if (transfer) target.postMessage(message, this.#ctx.origin, transfer);
      else this.#port.postMessage(message);
    });
  }

  #onMessage(m) {
    if (this.#destroyed || !isObject(m) || typeof m.command !== 'string') return;
    const data = isObject(m.data) ? m.data : {};
    if (m.correlationToken !== undefined) { // a reply: to a request of ours, once, of the right kind
      const entry = typeof m.correlationToken === 'string' && this.#pending.get(m.correlationToken);
      if (!entry || entry.reply !== m.command) return;
      this.#pending.delete(m.correlationToken);
      clearTimeout(entry.timer);
      entry.resolve(data);
      return;
    }
    if (m.frameNonce !== this.#nonce) return;
    switch (m.command) {
      case 'NotifyOnFullyLoaded':
        this.#ready = true;
        clearTimeout(this.#timer);
        if (this.#settle) this.#settle.resolve(this);
        this.#settle = null;
        this.emit('ready', {});
        break;
      case 'NotifyOnValidate':
        this.#state = { empty: data.empty === true, valid: data.valid === true, complete: data.complete === true };
        this.emit('change', this.state);
        break;
      case 'NotifyOnToken':
        this.#tokens = Array.isArray(data.tokens) ? data.tokens.filter(isToken) : [];
        this.emit('tokens', this.tokens);
        break;
      case 'NotifyOnProgress': {
        for (const entry of this.#pending.values()) if (entry.idle) entry.arm(); // still moving bytes
        const { loaded, total } = data;
        if (Number.isFinite(loaded)) this.emit('progress', { loaded, total: Number.isFinite(total) ? total : undefined });
        break;
      }
      case 'NotifyOnResize': {
        const height = Number(data.height);
        if (Number.isFinite(height) && height >= 0) this.#iframe.style.height = `${Math.min(Math.ceil(height), 100000)}px`;
        break;
      }
      case 'NotifyOnSessionRequired':
        if (this.#ctx.session.mode === 'token') {
          this.#ctx.session.replace(this.#lastSession).then((s) => this[PUSH_SESSION](s), (err) => {
            if (err.code !== 'sessionMissing') this[FAIL](err); // sessionMissing already went to every frame
          });
        }
        break;
      case 'NotifyOnError':
        this[FAIL](frameError(data, 'frameError'));
        break;
      case 'NotifyOnBlur': this.emit('blur', {}); break;
      case 'NotifyOnFocus': this.emit('focus', {}); break;
      case 'NotifyOnSubmit':
        this.emit('submit', {});
        for (const form of this.#ctx.forms) if (form.contains(this.#iframe)) form.requestSubmit();
        break;
      default: // unknown notifications are dropped
    }
  }

  [END_SESSION]() {
    if (!this.#port || this.#destroyed) return;
    this.#lastSession = null;
    this.#request('EndSession', {}).catch(() => {});
  }

  [PUSH_SESSION](session) {
    if (!this.#port || this.#destroyed || session === this.#lastSession) return;
    this.#lastSession = session;
    this.#request('SetSessionToken', { token: session.token, expiresAt: session.expiresAt }).catch(() => {});
  }

  /** input/textarea: the value's token ('' when empty). upload: the tokens of all files, once uploads finish. */
  async tokenize() {
    const component = this.#attrs.component;
    if (!SUBMITTABLE.includes(component)) throw fail('notSupported', `tokenize() is for input, textarea and upload frames, not '${component}'`);
    const upload = component === 'upload';
    const reply = await this.#request('CommitToken', {}, upload ? { timeout: this.#ctx.uploadTimeout, idle: true } : {});
    if (reply.success !== true) throw frameError(reply.error, 'tokenizeFailed');
    if (upload) {
      if (Array.isArray(reply.tokens)) this.#tokens = reply.tokens.filter(isToken);
      return this.tokens;
    }
    if (reply.token === '' || isToken(reply.token)) return reply.token;
    throw fail('badReply', 'the frame answered CommitToken with something that is not a token');
  }

  /** Moves the keyboard focus into the frame's control. */
  async focus() {
    this.#iframe.focus();
    const reply = await this.#request('Focus', {});
    if (reply.success !== true) throw frameError(reply.error, 'focusFailed');
  }

  /** Sends changed attributes to the frame (same validation as mount; the component cannot change). */
  async update(attributes) {
    if (!isObject(attributes)) throw optionError('update(attributes): attributes must be an object');
    if (attributes.component !== undefined && attributes.component !== this.component) throw optionError('update: the component of a mounted frame cannot change');
    const attrs = buildAttributes({ ...this.#attrs, ...attributes, component: this.component });
    const data = { ...attrs, session: this.#ctx.session.mode };
    delete data.title;
    const reply = await this.#request('Attributes', data);
    if (reply.success !== true) throw frameError(reply.error, 'attributesRejected');
    this.#attrs = attrs;
    this.#iframe.title = titleOf(attrs);
  }

  /** Closes the port, removes the iframe, restores the replaced element, rejects what is pending. */
  destroy() {
    if (this.#destroyed) return;
    this.#destroyed = true;
    clearTimeout(this.#timer);
    const err = fail('destroyed', 'the frame was destroyed');
    if (this.#settle) this.#settle.reject(err);
    this.#settle = null;
    for (const entry of this.#pending.values()) { clearTimeout(entry.timer); entry.reject(err); }
    this.#pending.clear();
    this.#ctx.starting.delete(this.#nonce);
    this.#ctx.frames.delete(this);
    if (this.#port) { this.#port.onmessage = null; this.#port.close(); }
    if (this.#iframe) this.#iframe.remove();
    for (const undo of this.#restore.reverse()) undo();
    this.#restore = [];
    this.clear();
  }
}

function titleOf(attrs) {
  return attrs.title || attrs.label || `Secure ${attrs.component} field`;
}

function frameError(error, fallback) {
  const name = isObject(error) && typeof error.name === 'string' && /^[A-Za-z][\w]{0,63}$/.test(error.name) ? error.name : fallback;
  const message = isObject(error) && typeof error.message === 'string' ? error.message : `the frame reported ${name}`;
  return fail(name, message);
}

/** Mounts Secure Frames served by one Dedicated Tokenizer and shares their session. */
export class SecureFrames {
  #ctx; #destroyed = false; #detachers = new Set();

  constructor(options) {
    if (typeof window === 'undefined' || typeof document === 'undefined') throw fail('unsupportedEnvironment', 'SecureFrames runs in a browser page');
    if (!isObject(options)) throw optionError('new SecureFrames({ tokenizerUrl }): options must be an object');
    checkKeys(options, ['tokenizerUrl', 'session', 'timeout', 'uploadTimeout'], 'SecureFrames');
    if (location.origin === 'null') throw fail('unsupportedEnvironment', 'this page has an opaque origin (file: or a sandbox); frames need a real origin');
    const { origin, base } = parseTokenizerUrl(options.tokenizerUrl);
    const ms = (key, fallback) => {
      const value = options[key] === undefined ? fallback : options[key];
      if (!Number.isInteger(value) || value < 100) throw optionError(`${key} must be a whole number of milliseconds ≥ 100`);
      return value;
    };
    const ctx = this.#ctx = {
      origin, base, timeout: ms('timeout', 10000), uploadTimeout: ms('uploadTimeout', 120000),
      frames: new Set(), starting: new Map(), forms: new Set(), replaced: new WeakSet(), session: null,
    };
    const live = () => [...ctx.frames];
    const hooks = {
      active: () => ctx.frames.size > 0,
      onToken: (session) => { for (const f of live()) f[PUSH_SESSION](session); },
      // The user has no session any more (logout): the frames must stop using the JWT they hold.
      onMissing: (err) => { for (const f of live()) { f[END_SESSION](); f[FAIL](fail(err.code, err.message)); } },
    };
    const session = options.session === undefined ? 'token' : options.session;
    if (session === 'cookie') {
      ctx.session = new CookieSession(base);
    } else if (session === 'token') {
      ctx.session = new TokenSession({ url: DEFAULT_SESSION_URL }, hooks);
    } else if (isObject(session)) {
      checkKeys(session, ['url', 'getToken'], 'session');
      if (session.getToken !== undefined) {
        if (typeof session.getToken !== 'function' || session.url !== undefined) throw optionError('session: give either { url } or { getToken: async () => ({ token, expiresAt }) }');
        ctx.session = new TokenSession({ getToken: session.getToken }, hooks);
      } else {
        let url;
        try { url = new URL(session.url, location.href); } catch { url = null; }
        if (typeof session.url !== 'string' || !url) throw optionError('session.url must be a URL (e.g. \'/api/.lunasec/frame-session\')');
        if (url.origin !== location.origin) throw optionError('session.url must be on this page\'s origin (it is called with the page\'s own cookies)');
        ctx.session = new TokenSession({ url: url.href }, hooks);
      }
    } else {
      throw optionError(`session must be 'token', 'cookie', { url } or { getToken }; got '${String(session).slice(0, 40)}'${hint(session, ['token', 'cookie'])}`);
    }
    window.addEventListener('message', this.#onWindowMessage);
  }

  // The only window message accepted: NotifyOnStart, from the tokenizer's origin, sent by that very
  // iframe's window, carrying the nonce put in its URL. Everything else is dropped without a word.
  #onWindowMessage = (event) => {
    const ctx = this.#ctx;
    if (event.origin !== ctx.origin) return;
    const m = event.data;
    if (!isObject(m) || m.command !== 'NotifyOnStart' || typeof m.frameNonce !== 'string') return;
    const frame = ctx.starting.get(m.frameNonce);
    if (!frame || !event.source || event.source !== frame.iframe.contentWindow) return;
    ctx.starting.delete(m.frameNonce);
    frame[HANDSHAKE]();
  };

  /** Mounts a frame in `target` (a container) or in place of `target` (an input or textarea); resolves on 'ready'. */
  async mount(target, options) {
    if (this.#destroyed) throw fail('destroyed', 'this SecureFrames was destroyed');
    const attrs = buildAttributes(options);
    if (!target || target.nodeType !== 1) throw fail('invalidElement', 'mount(target, options): target must be an element');
    if (!target.isConnected) throw fail('invalidElement', 'mount: the target element is not in the document');
    if (this.#ctx.replaced.has(target)) throw fail('invalidElement', 'mount: a frame already replaces this element; destroy it first');
    return new SecureFrame(this.#ctx, target, attrs)[START]();
  }

  /** The live frames (mounted or mounting). */
  get frames() { return [...this.#ctx.frames]; }

  /** Token mode: fetches a fresh frame token now and hands it to every frame. Cookie mode: runs the chain again. */
  async refreshSession() {
    if (this.#destroyed) throw fail('destroyed', 'this SecureFrames was destroyed');
    await this.#ctx.session.refresh();
  }

  /**
   * On submit: tokenizes every frame inside the form, puts the tokens into hidden inputs named after the
   * frames' `name`, then submits the form again (or calls onSubmit). Returns a function that detaches it.
   */
  attachForm(form, options = {}) {
    if (this.#destroyed) throw fail('destroyed', 'this SecureFrames was destroyed');
    if (!form || form.tagName !== 'FORM') throw fail('invalidElement', 'attachForm(form): form must be a <form> element');
    if (!isObject(options)) throw optionError('attachForm(form, options): options must be an object');
    checkKeys(options, ['onSubmit', 'onError'], 'attachForm');
    for (const key of ['onSubmit', 'onError']) {
      if (options[key] !== undefined && typeof options[key] !== 'function') throw optionError(`attachForm: ${key} must be a function`);
    }
    const ctx = this.#ctx;
    let busy = false;
    let bypass = false;
    let hidden = [];
    const report = (err, frame) => {
      if (frame) frame.focus().catch(() => {});
      if (options.onError) options.onError(Object.assign(err, { frame }));
    };
    // Validates and tokenizes every submittable frame in the form; fills the hidden inputs.
    const collect = async () => {
      const frames = [...ctx.frames].filter((f) => SUBMITTABLE.includes(f.component) && form.contains(f.iframe));
      const invalid = frames.find((f) => {
        const { empty, valid } = f.state;
        return !valid || (f.required && (f.component === 'upload' ? f.tokens.length === 0 : empty));
      });
      if (invalid) {
        const what = invalid.state.valid ? 'required' : 'not valid';
        return report(fail('invalid', `the ${invalid.name ? `'${invalid.name}' ` : ''}field is ${what}`), invalid);
      }
      const results = await Promise.allSettled(frames.map((f) => f.tokenize()));
      const failed = results.findIndex((r) => r.status === 'rejected');
      if (failed >= 0) return report(results[failed].reason, frames[failed]);
      for (const input of hidden) input.remove();
      hidden = [];
      const values = {};
      frames.forEach((f, i) => {
        if (!f.name) return;
        const value = results[i].value;
        values[f.name] = value;
        const input = document.createElement('input');
        Object.assign(input, { type: 'hidden', name: f.name, value: Array.isArray(value) ? JSON.stringify(value) : value });
        input.setAttribute('data-lunasec-token', '');
        form.append(input);
        hidden.push(input);
      });
      return values;
    };
    const onSubmitEvent = async (event) => {
      if (bypass) return; // our own resubmission, after tokenizing: let it through to the app
      event.preventDefault();
      event.stopImmediatePropagation(); // the app's own submit handlers run on the resubmission
      if (busy) return;
      busy = true;
      try {
        const values = await collect();
        if (!values) return;
        if (options.onSubmit) {
          await options.onSubmit(values, event);
          return;
        }
        bypass = true;
        const submitter = event.submitter && event.submitter.form === form ? event.submitter : null;
        try { form.requestSubmit(submitter); } catch { form.requestSubmit(); }
      } finally {
        bypass = false;
        busy = false;
      }
    };
    form.addEventListener('submit', onSubmitEvent, true);
    ctx.forms.add(form);
    const detach = () => {
      form.removeEventListener('submit', onSubmitEvent, true);
      ctx.forms.delete(form);
      for (const input of hidden) input.remove();
      hidden = [];
      this.#detachers.delete(detach);
    };
    this.#detachers.add(detach);
    return detach;
  }

  /** Destroys every frame, detaches every form, stops the session refresh. */
  destroy() {
    if (this.#destroyed) return;
    this.#destroyed = true;
    window.removeEventListener('message', this.#onWindowMessage);
    for (const frame of [...this.#ctx.frames]) frame.destroy();
    for (const detach of [...this.#detachers]) detach();
    this.#ctx.session.stop();
  }
}
