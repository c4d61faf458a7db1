'use strict';
// Real browsers for tests, one small API over three engines so a test is written once and runs in each:
//
//   chromium  Debian's /usr/bin/chromium through playwright-core (a fresh browser context per page)
//   firefox   Debian's /usr/bin/firefox-esr through puppeteer-core over WebDriver BiDi (a fresh
//             browser context per page)
//   webkit    WebKitGTK's MiniBrowser through selenium-webdriver and WebKitWebDriver, under Xvfb
//             (MiniBrowser has no headless mode; one WebDriver session, hence one driver, per page)
//
//   const { launchEngine, ENGINES } = require('../test-support/browsers');
//   const engine = await launchEngine('firefox');        // engine.name, engine.launchMs
//   const page = await engine.newPage();                 // its own cookies and storage
//   await page.goto(url);
//   await page.click(sel); await page.fill(sel, text);   // fill = clear, then real key strokes
//   await page.text(sel);                                // rendered text, trimmed
//   await page.evaluate((a, b) => a + b, 1, 2);          // fn is serialised; args and result are JSON
//   await page.waitFor(sel | fn, { timeout, visible, args });
//   await page.press('Tab'); await page.press('Shift+Tab');
//   const f = page.frame('iframe#x');                    // same kind of object, scoped to that
//   await f.fill(sel, t); await f.setInputFiles(sel, [path]); f.frame(...)  //  iframe's document
//   await page.screenshot(file, { selector });           // whole viewport, or one element
//   await page.close(); await engine.close();
//
// Settings are the browsers' defaults: no web-security switches, no cookie or CSP overrides, no
// relaxed profile. Chromium gets only the launch flags of ../shared/notes/browser-sessions.md
// (playwright's own default switches are not used: they turn off third-party storage partitioning
// and the popup blocker). Every wait has a time-out. Processes are ended by the handles/PIDs this
// module started, also when a test fails (call engine.close() in afterAll; an exit hook is the
// last resort).
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { freePort } = require('./stack');

const ENGINES = ['chromium', 'firefox', 'webkit'];
const DEFAULT_TIMEOUT = 10000;
const VIEWPORT = { width: 1280, height: 800 };

const CHROMIUM_BIN = '/usr/bin/chromium';
const FIREFOX_BIN = '/usr/bin/firefox-esr';
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

// Process groups (WebKitWebDriver under xvfb-run) still alive; killed on exit if a test forgot.
const liveGroups = new Set();
process.once('exit', () => {
  for (const pid of liveGroups) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});


const delay = (ms) => new Promise((r) => setTimeout(r, ms));

/** `(fn).apply(null, args)` as a string: evaluated the same way by all three drivers. */
function expression(fn, args) {
  if (typeof fn !== 'function') throw new TypeError('evaluate: pass a function');
  return `(${fn.toString()}).apply(null, ${JSON.stringify(args)})`;
}

/** Polls `check` (an async function returning a truthy value when done) every 50 ms, up to `timeout`. */
async function poll(check, timeout, what) {
  const deadline = Date.now() + timeout;
  let lastError;
  for (;;) {
    let timer;
    try {
      const left = Math.max(deadline - Date.now(), 1000);
      const v = await Promise.race([check(), new Promise((_, rej) => (timer = setTimeout(() => rej(new Error('check timed out')), left)))]);
      if (v) return v;
    } catch (e) {
      lastError = e;
    } finally {
      clearTimeout(timer);
    }
    if (Date.now() >= deadline) {
      const why = lastError ? ` (last error: ${String(lastError.message).split('\n')[0]})` : '';
      throw new Error(`timed out after ${timeout} ms waiting for ${what}${why}`);
    }
    await delay(50);
  }
}

function parseKey(key) {
  const parts = key.split('+');
  return { mods: parts.slice(0, -1), key: parts[parts.length - 1] };
}

// ---------------------------------------------------------------------------------------------
// The common surface. A Scope is a document: the page's top document, or an iframe's (by a chain of
// iframe selectors, resolved afresh on every call so a re-created iframe is found again).

class Scope {
  constructor(driver, chain) {
    this._d = driver;
    this._chain = chain;
  }

  frame(iframeSelector) {
    return new Scope(this._d, [...this._chain, iframeSelector]);
  }

  click(sel, { timeout = DEFAULT_TIMEOUT } = {}) {
    return this._d.click(this._chain, sel, timeout);
  }

  fill(sel, text, { timeout = DEFAULT_TIMEOUT } = {}) {
    return this._d.fill(this._chain, sel, String(text), timeout);
  }

  async text(sel, { timeout = DEFAULT_TIMEOUT } = {}) {
    return String(await this._d.text(this._chain, sel, timeout)).trim();
  }

  evaluate(fn, ...args) {
    return this._d.evaluate(this._chain, expression(fn, args), DEFAULT_TIMEOUT);
  }

  /**
   * Runs a script's source text in this document (e.g. axe-core's), the way a debugger would: not a
   * <script> element, so the document's CSP does not apply to it.
   */
  addScript(source) {
    return this._d.evaluate(this._chain, `(function () {\n${source}\n})(), true`, 60000);
  }

  /** A selector (present, or visible with { visible: true }) or a function returning truthy. */
  waitFor(target, { timeout = DEFAULT_TIMEOUT, visible = false, args = [] } = {}) {
    if (typeof target === 'string') return this._d.waitForSelector(this._chain, target, visible, timeout);
    const expr = expression(target, args);
    return poll(() => this._d.evaluate(this._chain, expr, timeout), timeout, 'a condition');
  }

  setInputFiles(sel, paths, { timeout = DEFAULT_TIMEOUT } = {}) {
    return this._d.setInputFiles(this._chain, sel, paths.map((p) => path.resolve(p)), timeout);
  }
}

class Page extends Scope {
  constructor(driver, engineName) {
    super(driver, []);
    this.engine = engineName;
  }

  goto(url, { timeout = 30000 } = {}) {
    return this._d.goto(url, timeout);
  }

  reload({ timeout = 30000 } = {}) {
    return this._d.reload(timeout);
  }

  url() {
    return this._d.url();
  }

  /** A key (or 'Shift+Tab') to whatever has focus, in whichever frame. */
  press(key) {
    return this._d.press(key);
  }

  async screenshot(file, { selector, timeout = DEFAULT_TIMEOUT } = {}) {
    fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    const png = await this._d.screenshot(selector, timeout);
    fs.writeFileSync(file, png);
    return file;
  }

  /**
   * Runs `trigger` (an async function that makes the page download something) and resolves the
   * download as { filename, bytes }. Chromium only: the other two drivers have no download events.
   */
  captureDownload(trigger, { timeout = 30000 } = {}) {
    if (!this._d.captureDownload) throw new Error(`captureDownload is not supported in ${this.engine}`);
    return this._d.captureDownload(trigger, timeout);
  }

  close() {
    return this._d.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Chromium: playwright-core. Frames resolve through ElementHandle.contentFrame().

class PlaywrightDriver {
  constructor(context, page) {
    this.context = context;
    this.page = page;
  }

  async frameOf(chain, timeout) {
    let f = this.page.mainFrame();
    for (const sel of chain) {
      const h = await f.waitForSelector(sel, { state: 'attached', timeout });
      const cf = await h.contentFrame();
      await h.dispose();
      if (!cf) throw new Error(`${sel} is not an iframe`);
      f = cf;
    }
    return f;
  }

  async click(chain, sel, timeout) {
    await (await this.frameOf(chain, timeout)).click(sel, { timeout });
  }

  async fill(chain, sel, text, timeout) {
    const loc = (await this.frameOf(chain, timeout)).locator(sel);
    await loc.fill('', { timeout });
    await loc.pressSequentially(text, { timeout });
  }

  async text(chain, sel, timeout) {
    return (await this.frameOf(chain, timeout)).innerText(sel, { timeout });
  }

  async evaluate(chain, expr, timeout) {
    return (await this.frameOf(chain, timeout)).evaluate(expr);
  }

  async waitForSelector(chain, sel, visible, timeout) {
    const h = await (await this.frameOf(chain, timeout)).waitForSelector(sel, { state: visible ? 'visible' : 'attached', timeout });
    await h.dispose();
  }

  async setInputFiles(chain, sel, paths, timeout) {
    await (await this.frameOf(chain, timeout)).setInputFiles(sel, paths, { timeout });
  }

  async goto(url, timeout) {
    await this.page.goto(url, { waitUntil: 'load', timeout });
  }

  async reload(timeout) {
    await this.page.reload({ waitUntil: 'load', timeout });
  }

  async url() {
    return this.page.url();
  }

  async press(key) {
    await this.page.keyboard.press(key);
  }

  async captureDownload(trigger, timeout) {
    const [download] = await Promise.all([this.page.waitForEvent('download', { timeout }), trigger()]);
    const file = await download.path();
    const bytes = fs.readFileSync(file);
    await download.delete();
    return { filename: download.suggestedFilename(), bytes };
  }

  async screenshot(selector, timeout) {
    if (selector) return this.page.locator(selector).screenshot({ timeout });
    return this.page.screenshot();
  }

  async close() {
    await this.context.close();
  }
}

async function launchChromium() {
  const { chromium } = require('playwright-core');
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lunasec-chromium-'));
  let browser;
  try {
    browser = await chromium.launch({
      executablePath: CHROMIUM_BIN,
      headless: true,
      // Exactly our flags: playwright's defaults disable ThirdPartyStoragePartitioning and more.
      ignoreDefaultArgs: true,
      args: [...CHROMIUM_FLAGS, `--user-data-dir=${userDataDir}`, '--remote-debugging-pipe', '--no-startup-window'],
      timeout: 30000,
    });
  } catch (e) {
    fs.rmSync(userDataDir, { recursive: true, force: true });
    throw e;
  }
  return {
    version: browser.version(),
    async newDriver() {
      const context = await browser.newContext({ viewport: VIEWPORT });
      const page = await context.newPage();
      return new PlaywrightDriver(context, page);
    },
    async close() {
      try {
        await browser.close();
      } finally {
        fs.rmSync(userDataDir, { recursive: true, force: true });
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Firefox ESR: puppeteer-core over WebDriver BiDi.

const PPTR_KEYS = { Control: 'Control', Shift: 'Shift', Alt: 'Alt', Meta: 'Meta' };

class PuppeteerDriver {
  constructor(context, page) {
    this.context = context;
    this.page = page;
  }

  async frameOf(chain, timeout) {
    let f = this.page.mainFrame();
    for (const sel of chain) {
      const h = await f.waitForSelector(sel, { timeout });
      const cf = await h.contentFrame();
      await h.dispose();
      if (!cf) throw new Error(`${sel} is not an iframe`);
      f = cf;
    }
    return f;
  }

  async element(chain, sel, timeout, visible = false) {
    const f = await this.frameOf(chain, timeout);
    return f.waitForSelector(sel, { timeout, visible });
  }

  async click(chain, sel, timeout) {
    const f = await this.frameOf(chain, timeout);
    await f.locator(sel).setTimeout(timeout).click();
  }

  async fill(chain, sel, text, timeout) {
    const f = await this.frameOf(chain, timeout);
    await f.locator(sel).setTimeout(timeout).fill(text);
  }

  async text(chain, sel, timeout) {
    const h = await this.element(chain, sel, timeout);
    try {
      return await h.evaluate((el) => el.innerText);
    } finally {
      await h.dispose();
    }
  }

  async evaluate(chain, expr, timeout) {
    return (await this.frameOf(chain, timeout)).evaluate(expr);
  }

  async waitForSelector(chain, sel, visible, timeout) {
    await (await this.element(chain, sel, timeout, visible)).dispose();
  }

  async setInputFiles(chain, sel, paths, timeout) {
    const h = await this.element(chain, sel, timeout);
    try {
      await h.uploadFile(...paths);
    } finally {
      await h.dispose();
    }
  }

  async goto(url, timeout) {
    await this.page.goto(url, { waitUntil: 'load', timeout });
  }

  async reload(timeout) {
    await this.page.reload({ waitUntil: 'load', timeout });
  }

  async url() {
    return this.page.url();
  }

  async press(key) {
    const { mods, key: k } = parseKey(key);
    for (const m of mods) await this.page.keyboard.down(PPTR_KEYS[m] || m);
    await this.page.keyboard.press(k);
    for (const m of mods.reverse()) await this.page.keyboard.up(PPTR_KEYS[m] || m);
  }

  async screenshot(selector, timeout) {
    if (!selector) return Buffer.from(await this.page.screenshot());
    const h = await this.element([], selector, timeout);
    try {
      return Buffer.from(await h.screenshot());
    } finally {
      await h.dispose();
    }
  }

  async close() {
    await this.context.close();
  }
}

async function launchFirefox() {
  const puppeteer = require('puppeteer-core');
  const browser = await puppeteer.launch({
    browser: 'firefox',
    protocol: 'webDriverBiDi',
    executablePath: FIREFOX_BIN,
    headless: true,
    timeout: 60000,
    // puppeteer writes automation prefs into its temporary profile. Put back Firefox's defaults for
    // the two that would relax page security (file: origins, popup blocker); the cookie policy is
    // left alone (Firefox's default, Total Cookie Protection; __test__/browsers.spec.js checks it).
    extraPrefsFirefox: {
      'security.fileuri.strict_origin_policy': true,
      'dom.disable_open_during_load': true,
    },
  });
  return {
    version: await browser.version(),
    async newDriver() {
      const context = await browser.createBrowserContext();
      const page = await context.newPage();
      await page.setViewport(VIEWPORT);
      return new PuppeteerDriver(context, page);
    },
    async close() {
      await browser.close();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// WebKitGTK: selenium-webdriver against WebKitWebDriver (one session per driver process, so one
// driver per page), under xvfb-run. Selenium has one current frame per session: every call switches
// into its frame chain and back to the top document, under a per-page lock.

class WebDriverDriver {
  constructor(driver, stopDriver) {
    this.driver = driver;
    this.stopDriver = stopDriver;
    this.lock = Promise.resolve();
    this.webdriver = require('selenium-webdriver');
  }

  /** Runs fn with the session switched into `chain`; always switches back. */
  inFrame(chain, timeout, fn) {
    const run = async () => {
      const { By, until } = this.webdriver;
      const d = this.driver;
      try {
        for (const sel of chain) {
          const el = await d.wait(until.elementLocated(By.css(sel)), timeout, `iframe ${sel}`);
          // WebKit neither scrolls a frame into view for a click inside it nor focuses controls of
          // a frame outside the viewport (playwright and puppeteer scroll by themselves).
          await d.executeScript('arguments[0].scrollIntoView({ block: "nearest" })', el);
          await d.switchTo().frame(el);
        }
        return await fn(d);
      } finally {
        if (chain.length) await d.switchTo().defaultContent();
      }
    };
    const result = this.lock.then(run, run);
    this.lock = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  async located(d, sel, timeout, visible = false) {
    const { By, until } = this.webdriver;
    const el = await d.wait(until.elementLocated(By.css(sel)), timeout, `element ${sel}`);
    if (visible) await d.wait(until.elementIsVisible(el), timeout, `visible ${sel}`);
    return el;
  }

  click(chain, sel, timeout) {
    return this.inFrame(chain, timeout, async (d) => {
      const el = await this.located(d, sel, timeout, true);
      await el.click();
    });
  }

  fill(chain, sel, text, timeout) {
    return this.inFrame(chain, timeout, async (d) => {
      const el = await this.located(d, sel, timeout, true);
      // WebKit refuses keys to an element of a cross-origin frame that never had focus: click first.
      await el.click();
      await el.clear();
      await el.sendKeys(text);
    });
  }

  text(chain, sel, timeout) {
    return this.inFrame(chain, timeout, async (d) => (await this.located(d, sel, timeout)).getText());
  }

  evaluate(chain, expr, timeout) {
    return this.inFrame(chain, timeout, async (d) => {
      const script =
        'const done = arguments[arguments.length - 1];' +
        `Promise.resolve().then(() => ${expr}).then(` +
        '(v) => done({ ok: true, v: v === undefined ? null : JSON.parse(JSON.stringify(v)) }),' +
        '(e) => done({ ok: false, e: String(e && e.message || e) }));';
      const r = await d.executeAsyncScript(script);
      if (!r.ok) throw new Error(`evaluate: ${r.e}`);
      return r.v;
    });
  }

  waitForSelector(chain, sel, visible, timeout) {
    return this.inFrame(chain, timeout, async (d) => {
      await this.located(d, sel, timeout, visible);
    });
  }

  setInputFiles(chain, sel, paths, timeout) {
    return this.inFrame(chain, timeout, async (d) => {
      const el = await this.located(d, sel, timeout);
      await el.sendKeys(paths.join('\n'));
    });
  }

  goto(url) {
    return this.inFrame([], 0, (d) => d.get(url));
  }

  reload() {
    return this.inFrame([], 0, (d) => d.navigate().refresh());
  }

  url() {
    return this.inFrame([], 0, (d) => d.getCurrentUrl());
  }

  press(key) {
    const { Key } = this.webdriver;
    const names = { Tab: Key.TAB, Enter: Key.ENTER, Escape: Key.ESCAPE, Backspace: Key.BACK_SPACE, Shift: Key.SHIFT, Control: Key.CONTROL, Alt: Key.ALT, Space: Key.SPACE, ArrowDown: Key.ARROW_DOWN, ArrowUp: Key.ARROW_UP };
    const { mods, key: k } = parseKey(key);
    const code = (n) => names[n] || n;
    return this.inFrame([], 0, async (d) => {
      let a = d.actions();
      for (const m of mods) a = a.keyDown(code(m));
      a = a.sendKeys(code(k));
      for (const m of [...mods].reverse()) a = a.keyUp(code(m));
      await a.perform();
    });
  }

  screenshot(selector, timeout) {
    return this.inFrame([], timeout, async (d) => {
      if (!selector) return Buffer.from(await d.takeScreenshot(), 'base64');
      // WebKitGTK's element screenshot of an iframe comes back black (the frame's content is drawn
      // by another process): crop the viewport's screenshot to the element instead.
      const el = await this.located(d, selector, timeout);
      const rect = await d.executeScript(
        'arguments[0].scrollIntoView({ block: "nearest" });' +
          'const r = arguments[0].getBoundingClientRect();' +
          'return { x: r.left, y: r.top, width: r.width, height: r.height, dpr: window.devicePixelRatio };',
        el,
      );
      const s = rect.dpr || 1;
      return cropPng(Buffer.from(await d.takeScreenshot(), 'base64'), {
        x: Math.round(rect.x * s),
        y: Math.round(rect.y * s),
        width: Math.round(rect.width * s),
        height: Math.round(rect.height * s),
      });
    });
  }

  async close() {
    try {
      await this.driver.quit();
    } finally {
      await this.stopDriver();
    }
  }
}

// A PNG crop (8-bit RGB/RGBA, not interlaced: what WebKitWebDriver returns), without dependencies.
function cropPng(png, box) {
  const zlib = require('node:zlib');
  const width = png.readUInt32BE(16);
  const height = png.readUInt32BE(20);
  const depth = png[24];
  const colorType = png[25];
  const interlace = png[28];
  const bpp = { 2: 3, 6: 4 }[colorType];
  if (depth !== 8 || !bpp || interlace !== 0) throw new Error(`cropPng: unsupported PNG (depth ${depth}, colour type ${colorType})`);
  const idat = [];
  for (let off = 8; off < png.length; ) {
    const len = png.readUInt32BE(off);
    const type = png.toString('latin1', off + 4, off + 8);
    if (type === 'IDAT') idat.push(png.subarray(off + 8, off + 8 + len));
    off += 12 + len;
  }
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const stride = width * bpp;
  const pixels = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const out = pixels.subarray(y * stride, (y + 1) * stride);
    const prev = y ? pixels.subarray((y - 1) * stride, y * stride) : Buffer.alloc(stride);
    for (let i = 0; i < stride; i++) {
      const a = i >= bpp ? out[i - bpp] : 0;
      const b = prev[i];
      const c = i >= bpp ? prev[i - bpp] : 0;
      let v = line[i];
      if (filter === 1) v += a;
      else if (filter === 2) v += b;
      else if (filter === 3) v += (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      out[i] = v & 0xff;
    }
  }
  const x0 = Math.max(0, Math.min(width - 1, box.x));
  const y0 = Math.max(0, Math.min(height - 1, box.y));
  const w = Math.max(1, Math.min(width - x0, box.width));
  const h = Math.max(1, Math.min(height - y0, box.height));
  const rows = [];
  for (let y = y0; y < y0 + h; y++) rows.push(Buffer.from([0]), pixels.subarray(y * stride + x0 * bpp, y * stride + (x0 + w) * bpp));
  const crcTable = [];
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    crcTable[n] = c >>> 0;
  }
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const byte of buf) c = crcTable[(c ^ byte) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(data.length, 0);
    head.write(type, 4, 'latin1');
    const tail = Buffer.alloc(4);
    tail.writeUInt32BE(crc(Buffer.concat([head.subarray(4), data])), 0);
    return Buffer.concat([head, data, tail]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8;
  ihdr[9] = colorType;
  return Buffer.concat([png.subarray(0, 8), chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(Buffer.concat(rows))), chunk('IEND', Buffer.alloc(0))]);
}

/** Starts `xvfb-run -a WebKitWebDriver --port=N` in its own process group; retries a lost display race. */
async function startWebKitDriver() {
  let lastErr;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const out = [];
    const proc = spawn(
      'xvfb-run',
      ['-a', '-s', `-screen 0 ${VIEWPORT.width}x${VIEWPORT.height + 200}x24 -nolisten tcp`, 'WebKitWebDriver', `--port=${port}`],
      { detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    liveGroups.add(proc.pid);
    proc.stdout.on('data', (c) => out.push(c));
    proc.stderr.on('data', (c) => out.push(c));
    const exited = new Promise((r) => proc.once('exit', r));
    const stop = async () => {
      if (proc.exitCode === null && proc.signalCode === null) {
        try {
          process.kill(-proc.pid, 'SIGTERM');
        } catch {
          // gone
        }
        const timer = setTimeout(() => {
          try {
            process.kill(-proc.pid, 'SIGKILL');
          } catch {
            // gone
          }
        }, 3000);
        await exited;
        clearTimeout(timer);
      }
      liveGroups.delete(proc.pid);
    };
    try {
      await poll(
        async () => {
          if (proc.exitCode !== null) throw new Error(`WebKitWebDriver exited (${proc.exitCode}): ${Buffer.concat(out).toString().slice(-500)}`);
          const res = await fetch(`http://127.0.0.1:${port}/status`, { signal: AbortSignal.timeout(1000) });
          return res.ok;
        },
        15000,
        'WebKitWebDriver',
      );
      return { url: `http://127.0.0.1:${port}`, stop };
    } catch (e) {
      lastErr = e;
      await stop();
    }
  }
  throw lastErr;
}

async function launchWebKit({ itp = false } = {}) {
  const { Builder } = require('selenium-webdriver');
  const version = await new Promise((resolve) => {
    const p = spawn('dpkg-query', ['-W', '-f=${Version}', 'webkit2gtk-driver'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let s = '';
    p.stdout.on('data', (c) => (s += c));
    p.on('close', () => resolve(`WebKitGTK ${s.trim()}`));
    p.on('error', () => resolve('WebKitGTK'));
  });
  const drivers = new Set();
  return {
    version,
    async newDriver() {
      const server = await startWebKitDriver();
      let driver;
      try {
        driver = await new Builder()
          .usingServer(server.url)
          .withCapabilities({
            browserName: 'MiniBrowser',
            'webkitgtk:browserOptions': { args: itp ? ['--automation', '--enable-itp'] : ['--automation'] },
          })
          .build();
        await driver.manage().setTimeouts({ script: 30000, pageLoad: 30000 });
        // The window includes MiniBrowser's toolbar; this leaves a viewport of about VIEWPORT.
        await driver.manage().window().setRect({ width: VIEWPORT.width, height: VIEWPORT.height + 40 });
      } catch (e) {
        await server.stop();
        throw e;
      }
      const wd = new WebDriverDriver(driver, async () => {
        drivers.delete(wd);
        await server.stop();
      });
      drivers.add(wd);
      return wd;
    },
    async close() {
      await Promise.all([...drivers].map((d) => d.close().catch(() => d.stopDriver())));
    },
  };
}

// ---------------------------------------------------------------------------------------------

/**
 * Launches one engine. `name`: 'chromium' | 'firefox' | 'webkit'. Options: `{ itp: true }` (WebKit:
 * Intelligent Tracking Prevention on, closer to Safari).
 */
async function launchEngine(name, options = {}) {
  const t0 = Date.now();
  let impl;
  if (name === 'chromium') impl = await launchChromium(options);
  else if (name === 'firefox') impl = await launchFirefox(options);
  else if (name === 'webkit') impl = await launchWebKit(options);
  else throw new Error(`unknown engine ${name} (one of ${ENGINES.join(', ')})`);
  const pages = new Set();
  let closed = false;
  return {
    name,
    version: impl.version,
    launchMs: Date.now() - t0,
    /** A new page in a new, isolated browser context (own cookies and storage). */
    async newPage() {
      if (closed) throw new Error(`${name}: engine closed`);
      const driver = await impl.newDriver();
      const page = new Page(driver, name);
      const close = page.close.bind(page);
      page.close = async () => {
        if (!pages.delete(page)) return;
        await close();
      };
      pages.add(page);
      return page;
    },
    async close() {
      if (closed) return;
      closed = true;
      await Promise.allSettled([...pages].map((p) => p.close()));
      await impl.close();
    },
  };
}

module.exports = { launchEngine, ENGINES, DEFAULT_TIMEOUT, CHROMIUM_BIN, CHROMIUM_FLAGS };
