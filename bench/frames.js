'use strict';
// Secure Frame latency in a real Chromium (Debian's /usr/bin/chromium, headless, default settings,
// the launch flags of test-support/browsers.js) on loopback: the example app on http://localhost:P,
// the tokenizer on http://127.0.0.1:Q (different sites, as in production). Timed in the app page
// with performance.now():
//
//   ready     `await frames.mount(container, { component: 'input', label: 'SSN' })`: from the call
//             to the frame's `ready` (iframe navigation, handshake over the MessageChannel, session).
//             A fresh mount each run. Two variants: the previous frame destroyed first (so each
//             mount starts a new renderer process for the tokenizer's site), and with another
//             tokenizer frame kept on the page (a form with several fields). The session is set up
//             once per page; the first mount of a fresh page is reported on its own.
//   tokenize  `await frame.tokenize()` once a value has been typed into the frame (typing is not
//             timed): CommitToken → POST /tokenize → PUT of the bytes → ReceiveCommittedToken.
//             Every token is then detokenized on the server side and compared with what was typed.
//
// Both session modes: 'token' (default: a frame token minted by the app) and 'cookie' (the original
// redirect chain with a Partitioned cookie; the app runs with DEMO_COOKIE_SAMESITE=none, which that
// mode needs). Reference: plain same-origin fetch round trips from the same page to the app.
//
// The browser is driven over a bare DevTools pipe attached to the app page only. Playwright would do
// as well for everything but the timing: it auto-attaches to every cross-site iframe and holds it
// paused until its own set-up is done, which adds ~20 ms to each `ready` here. The frames are only
// attached to after a timed run, to read their navigation timing (the `ready` breakdown).
//
//   node bench/frames.js            (or: npm run bench -- frames)
//   BENCH_FRAME_RUNS=20 BENCH_FRAME_WARMUP=3 BENCH_FRAME_COLD=5
//
// Writes bench/results/frames.md and bench/results/frames.json.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { LunaSec } = require('../lib');
const { startStack } = require('../test-support/stack');

const RUNS = Number(process.env.BENCH_FRAME_RUNS || 20);
const WARMUP = Number(process.env.BENCH_FRAME_WARMUP || 3);
const COLD = Number(process.env.BENCH_FRAME_COLD || 5);
const TARGETS = { ready: 100, tokenize: 30 }; // ms, p50, frame-token mode (the targets)
// The browser suites' Chromium and flags (../shared/notes/browser-sessions.md); nothing relaxed.
const browsers = require('../test-support/browsers');

const CHROMIUM_BIN = process.env.CHROMIUM_BIN || browsers.CHROMIUM_BIN;
const { CHROMIUM_FLAGS } = browsers;
const CALL_TIMEOUT = 30000;

// ---- statistics --------------------------------------------------------------------------------

/** Linear-interpolated percentile (the usual "type 7"). */
function percentile(values, p) {
  const s = [...values].sort((a, b) => a - b);
  const i = (s.length - 1) * p;
  const lo = Math.floor(i);
  const hi = Math.ceil(i);
  return s[lo] + (s[hi] - s[lo]) * (i - lo);
}

function summary(samples) {
  return {
    n: samples.length,
    p50: percentile(samples, 0.5),
    p95: percentile(samples, 0.95),
    min: Math.min(...samples),
    max: Math.max(...samples),
    samples: samples.map((v) => Math.round(v * 100) / 100),
  };
}

const ms = (v) => `${v.toFixed(1)} ms`;

// ---- a minimal DevTools client over --remote-debugging-pipe ------------------------------------

class Chromium {
  static async launch() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lunasec-bench-chromium-'));
    const proc = spawn(CHROMIUM_BIN, [...CHROMIUM_FLAGS, `--user-data-dir=${dir}`, '--remote-debugging-pipe', '--no-startup-window'], {
      stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'],
    });
    const c = new Chromium(proc, dir);
    const kill = () => c.proc.exitCode === null && c.proc.kill('SIGKILL'); // last resort if we die first
    process.once('exit', kill);
    c.exited.then(() => process.off('exit', kill));
    try {
      const v = await c.send('Browser.getVersion');
      c.version = v.product.replace(/^(Headless)?Chrome\//, '');
    } catch (e) {
      await c.close();
      throw new Error(`${CHROMIUM_BIN} did not start: ${e.message} ${c.stderr.slice(-300)}`);
    }
    return c;
  }

  constructor(proc, dir) {
    this.proc = proc;
    this.dir = dir;
    this.id = 0;
    this.pending = new Map();
    this.stderr = '';
    let buf = '';
    proc.stdio[2].on('data', (c) => (this.stderr = (this.stderr + c).slice(-2000)));
    proc.stdio[4].on('data', (chunk) => {
      buf += chunk.toString('utf8');
      for (let i; (i = buf.indexOf('\0')) >= 0; ) {
        const msg = JSON.parse(buf.slice(0, i));
        buf = buf.slice(i + 1);
        const p = msg.id !== undefined && this.pending.get(msg.id);
        if (!p) continue; // events: not used
        this.pending.delete(msg.id);
        clearTimeout(p.timer);
        if (msg.error) p.reject(new Error(`${p.method}: ${msg.error.message}`));
        else p.resolve(msg.result);
      }
    });
    this.exited = new Promise((r) => proc.once('exit', r));
    this.exited.then(() => {
      for (const p of this.pending.values()) p.reject(new Error('chromium exited'));
      this.pending.clear();
    });
  }

  send(method, params = {}, sessionId) {
    if (this.proc.exitCode !== null) return Promise.reject(new Error('chromium exited'));
    const id = ++this.id;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${method}: no answer within ${CALL_TIMEOUT} ms`));
      }, CALL_TIMEOUT);
      this.pending.set(id, { resolve, reject, timer, method });
      this.proc.stdio[3].write(`${JSON.stringify(sessionId ? { id, method, params, sessionId } : { id, method, params })}\0`);
    });
  }

  /** A page in a new browser context (own cookies, storage, connections). */
  async newPage() {
    const { browserContextId } = await this.send('Target.createBrowserContext');
    const { targetId } = await this.send('Target.createTarget', { url: 'about:blank', browserContextId });
    const { sessionId } = await this.send('Target.attachToTarget', { targetId, flatten: true });
    return new CdpPage(this, browserContextId, sessionId);
  }

  async close() {
    if (this.proc.exitCode === null) {
      this.send('Browser.close').catch(() => {});
      const timer = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
      await this.exited;
      clearTimeout(timer);
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** `fn(...args)` as an expression; fn is serialised, args and result are JSON. */
const call = (fn, args) => `(${fn.toString()})(...${JSON.stringify(args)})`;

class CdpPage {
  constructor(browser, contextId, sessionId) {
    this.b = browser;
    this.contextId = contextId;
    this.sessionId = sessionId;
  }

  async evaluateIn(sessionId, fn, ...args) {
    const r = await this.b.send('Runtime.evaluate', { expression: call(fn, args), awaitPromise: true, returnByValue: true }, sessionId);
    if (r.exceptionDetails) {
      const d = r.exceptionDetails;
      throw new Error(`in page: ${(d.exception && (d.exception.description || d.exception.value)) || d.text}`.split('\n')[0]);
    }
    return r.result.value;
  }

  evaluate(fn, ...args) {
    return this.evaluateIn(this.sessionId, fn, ...args);
  }

  /** Navigates and waits for the page at `pathname` to finish loading. */
  async goto(url, pathname) {
    await this.b.send('Page.navigate', { url }, this.sessionId);
    const deadline = Date.now() + CALL_TIMEOUT;
    for (;;) {
      try {
        if (await this.evaluate((p) => location.pathname === p && document.readyState === 'complete', pathname)) return;
      } catch {
        // the old document went away mid-call
      }
      if (Date.now() > deadline) throw new Error(`${url} did not end on ${pathname}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Real key strokes to whatever has the focus (routed by the browser into the focused frame). */
  async type(text) {
    const key = (params) => this.b.send('Input.dispatchKeyEvent', params, this.sessionId);
    await key({ type: 'rawKeyDown', key: 'a', code: 'KeyA', windowsVirtualKeyCode: 65, modifiers: 2, commands: ['selectAll'] });
    await key({ type: 'keyUp', key: 'a', code: 'KeyA', windowsVirtualKeyCode: 65, modifiers: 2 });
    await key({ type: 'rawKeyDown', key: 'Backspace', code: 'Backspace', windowsVirtualKeyCode: 8 });
    await key({ type: 'keyUp', key: 'Backspace', code: 'Backspace', windowsVirtualKeyCode: 8 });
    for (const ch of text) {
      await key({ type: 'keyDown', key: ch, text: ch, unmodifiedText: ch });
      await key({ type: 'keyUp', key: ch });
    }
  }

  /** Evaluates `fn` inside the iframe whose URL is `src` (attaches to its target, then detaches). */
  async evaluateInFrame(src, fn, ...args) {
    const { targetInfos } = await this.b.send('Target.getTargets');
    const t = targetInfos.find((i) => i.type === 'iframe' && i.url === src);
    if (!t) throw new Error('the frame\'s target was not found');
    const { sessionId } = await this.b.send('Target.attachToTarget', { targetId: t.targetId, flatten: true });
    try {
      return await this.evaluateIn(sessionId, fn, ...args);
    } finally {
      await this.b.send('Target.detachFromTarget', { sessionId }).catch(() => {});
    }
  }

  close() {
    return this.b.send('Target.disposeBrowserContext', { browserContextId: this.contextId });
  }
}

// ---- in-page code (serialised; runs in the app page) -------------------------------------------

/** Loads the library and creates one SecureFrames for the page. */
async function pageSetup(tokenizerUrl, session) {
  const lib = await import('/lunasec/browser.mjs');
  window.__bench = { lib, frames: new lib.SecureFrames({ tokenizerUrl, session }), frame: null, box: null, keeper: null };
  return true;
}

/** One fresh mount (the previous one destroyed); the time from the call to `ready`. */
async function pageMount() {
  const b = window.__bench;
  if (b.frame) b.frame.destroy();
  if (b.box) b.box.remove();
  b.frame = null;
  const box = document.createElement('div');
  document.body.append(box);
  b.box = box;
  const t0 = performance.now();
  const frame = await b.frames.mount(box, { component: 'input', label: 'SSN' });
  const t1 = performance.now();
  b.frame = frame;
  if (!frame.ready || !box.contains(frame.iframe)) throw new Error('mount resolved without a ready frame');
  return { ms: t1 - t0, t0: performance.timeOrigin + t0, t1: performance.timeOrigin + t1, src: frame.iframe.src };
}

/** Mounts (or removes) a second frame that stays on the page. */
async function pageKeeper(on) {
  const b = window.__bench;
  if (!on) {
    if (b.keeper) b.keeper.destroy();
    b.keeper = null;
    return true;
  }
  const box = document.createElement('div');
  document.body.append(box);
  b.keeper = await b.frames.mount(box, { component: 'input', label: 'Other field' });
  return true;
}

/** Times the current frame's tokenize(). The token goes back to the benchmark (checked, never printed). */
async function pageTokenize() {
  const b = window.__bench;
  const t0 = performance.now();
  const token = await b.frame.tokenize();
  const t1 = performance.now();
  return { ms: t1 - t0, token };
}

async function pageFocus() {
  await window.__bench.frame.focus();
  return true;
}

/** The cookie chain alone, in a page that has no cookie session yet. */
async function pageChain() {
  const t0 = performance.now();
  await window.__bench.frames.refreshSession();
  return performance.now() - t0;
}

/** A plain same-origin fetch round trip. */
async function pageFetch(url, method) {
  const init = method === 'POST' ? { method, headers: { 'content-type': 'application/json' }, body: '{}' } : { method };
  const t0 = performance.now();
  const res = await fetch(url, { ...init, credentials: 'same-origin', cache: 'no-store' });
  await res.arrayBuffer();
  const t1 = performance.now();
  if (!res.ok) throw new Error(`${method} ${new URL(url).pathname}: ${res.status}`);
  return t1 - t0;
}

/** In the frame: when its document was requested, arrived and was parsed (absolute ms). */
function frameTiming() {
  const nav = performance.getEntriesByType('navigation')[0];
  const o = performance.timeOrigin;
  return { start: o + nav.startTime, responseEnd: o + nav.responseEnd, domContentLoaded: o + nav.domContentLoadedEventEnd };
}

// ---- the benchmark -----------------------------------------------------------------------------

async function loggedInPage(browser, appUrl) {
  const page = await browser.newPage();
  try {
    await page.goto(`${appUrl}/login`, '/'); // one-click guest session, then the home page
  } catch (e) {
    await page.close().catch(() => {});
    throw e;
  }
  return page;
}

async function timed(n, fn) {
  const out = [];
  for (let i = 0; i < n; i++) out.push(await fn(i));
  return out;
}

async function readyRuns(page) {
  const phases = { create: [], fetch: [], parse: [], handshake: [] };
  const samples = await timed(RUNS, async () => {
    const m = await page.evaluate(pageMount);
    const f = await page.evaluateInFrame(m.src, frameTiming);
    phases.create.push(f.start - m.t0);
    phases.fetch.push(f.responseEnd - f.start);
    phases.parse.push(f.domContentLoaded - f.responseEnd);
    phases.handshake.push(m.t1 - f.domContentLoaded);
    return m.ms;
  });
  return { ...summary(samples), phases: Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, summary(v)])) };
}

async function benchMode(browser, mode) {
  const appEnv = mode === 'cookie' ? { DEMO_COOKIE_SAMESITE: 'none' } : {};
  const stack = await startStack({ appHost: 'localhost', appEnv });
  const pem = Buffer.from(stack.signingKey, 'base64').toString();
  const lunaSec = new LunaSec({ tokenizerURL: stack.tokenizerUrl, auth: { secrets: { provider: 'manual', signingKey: pem }, sessionIdProvider: () => 'bench' } });
  const rows = {};
  try {
    // One-time costs, each in a fresh browser context (own cookies, connections, partitioned cache).
    const cold = [];
    const chain = [];
    for (let i = 0; i < COLD; i++) {
      const page = await loggedInPage(browser, stack.appUrl);
      try {
        await page.evaluate(pageSetup, stack.tokenizerUrl, mode);
        cold.push((await page.evaluate(pageMount)).ms);
      } finally {
        await page.close();
      }
      if (mode === 'cookie') {
        const p2 = await loggedInPage(browser, stack.appUrl);
        try {
          await p2.evaluate(pageSetup, stack.tokenizerUrl, mode);
          chain.push(await p2.evaluate(pageChain));
        } finally {
          await p2.close();
        }
      }
    }
    rows.first = summary(cold);
    if (chain.length) rows.chain = summary(chain);

    // Steady state, in one page.
    const page = await loggedInPage(browser, stack.appUrl);
    try {
      await page.evaluate(pageSetup, stack.tokenizerUrl, mode);
      await timed(WARMUP + 1, () => page.evaluate(pageMount)); // +1: the page's first mount sets the session up
      rows.ready = await readyRuns(page);
      await page.evaluate(pageKeeper, true);
      await timed(WARMUP, () => page.evaluate(pageMount));
      rows.readyKept = await readyRuns(page);
      await page.evaluate(pageKeeper, false);

      const typed = [];
      const tokens = [];
      const tokenizeOnce = async (i) => {
        const value = `123-45-${String(i).padStart(4, '0')}`;
        await page.evaluate(pageFocus);
        await page.type(value); // not timed
        const r = await page.evaluate(pageTokenize);
        typed.push(value);
        tokens.push(r.token);
        return r.ms;
      };
      await timed(WARMUP, (i) => tokenizeOnce(9000 + i));
      rows.tokenize = summary(await timed(RUNS, tokenizeOnce));
      // Every token holds exactly what was typed into the frame.
      for (let i = 0; i < tokens.length; i++) {
        const value = await lunaSec.tokenizer.strict.detokenize(tokens[i]);
        if (value !== typed[i]) throw new Error(`${mode}: tokenize run ${i}: the token does not hold the typed value`);
      }

      if (mode === 'token') {
        const health = `${stack.appUrl}/api/health`;
        await timed(WARMUP, () => page.evaluate(pageFetch, health, 'GET'));
        rows.fetchHealth = summary(await timed(RUNS, () => page.evaluate(pageFetch, health, 'GET')));
        const mint = `${stack.appUrl}/.lunasec/frame-session`;
        await timed(WARMUP, () => page.evaluate(pageFetch, mint, 'POST'));
        rows.fetchMint = summary(await timed(RUNS, () => page.evaluate(pageFetch, mint, 'POST')));
      }
    } finally {
      await page.close();
    }
  } finally {
    await stack.stop();
  }
  return rows;
}

function markdown(results) {
  const { token, cookie } = results.modes;
  const m = results.machine;
  const lines = [
    '## Secure Frames in Chromium (loopback)',
    '',
    `Machine: ${m.cpu}, ${m.cores} cores, Node ${m.node}, ${m.browser} (headless, default settings); load average ${m.loadavg1} at start.`,
    `${RUNS} runs after ${WARMUP} warm-ups; p50/p95 interpolated. App on http://localhost, tokenizer on http://127.0.0.1`,
    '(different sites), embedded storage. `ready` = `await mount(…)`; `tokenize` = `await frame.tokenize()` after typing.',
    '',
    '| mode | metric | p50 | p95 | min | max | target | met? |',
    '|---|---|---:|---:|---:|---:|---:|:---:|',
  ];
  const row = (mode, metric, s, target) => {
    const t = target === undefined ? '—' : `≤ ${target} ms p50`;
    const met = target === undefined ? '—' : s.p50 <= target ? 'yes' : '**no**';
    lines.push(`| ${mode} | ${metric} | ${ms(s.p50)} | ${ms(s.p95)} | ${ms(s.min)} | ${ms(s.max)} | ${t} | ${met} |`);
  };
  row('frame token', 'ready, alone on the page', token.ready, TARGETS.ready);
  row('frame token', 'ready, next to another frame', token.readyKept, TARGETS.ready);
  row('frame token', 'tokenize', token.tokenize, TARGETS.tokenize);
  row('cookie', 'ready, alone on the page', cookie.ready);
  row('cookie', 'ready, next to another frame', cookie.readyKept);
  row('cookie', 'tokenize', cookie.tokenize);
  lines.push('');
  lines.push('"Alone": the previous frame is destroyed before each mount, so Chromium starts a new renderer process for the');
  lines.push('tokenizer\'s site each time; "next to another frame": a second tokenizer frame stays mounted (a form with several');
  lines.push('fields) and its process is reused.');
  lines.push('');
  lines.push('Where `ready` goes (p50 of each phase, from the frame document\'s navigation timing):');
  lines.push('');
  lines.push('| mode | case | mount → frame navigation | `GET /frame` | parse + run frame.js | handshake → `ready` |');
  lines.push('|---|---|---:|---:|---:|---:|');
  for (const [label, r] of [['frame token', token], ['cookie', cookie]]) {
    for (const [kase, s] of [['alone', r.ready], ['next to another', r.readyKept]]) {
      const p = s.phases;
      lines.push(`| ${label} | ${kase} | ${ms(p.create.p50)} | ${ms(p.fetch.p50)} | ${ms(p.parse.p50)} | ${ms(p.handshake.p50)} |`);
    }
  }
  lines.push('');
  lines.push(`One-time, per page (${COLD} fresh browser contexts; not in the figures above):`);
  lines.push('');
  lines.push('| mode | metric | p50 | p95 | min | max |', '|---|---|---:|---:|---:|---:|');
  const row2 = (mode, metric, s) => lines.push(`| ${mode} | ${metric} | ${ms(s.p50)} | ${ms(s.p95)} | ${ms(s.min)} | ${ms(s.max)} |`);
  row2('frame token', 'first mount (incl. minting the frame token)', token.first);
  row2('cookie', 'first mount (incl. the redirect chain)', cookie.first);
  row2('cookie', 'the redirect chain alone (verify, ensure → app → create, verify)', cookie.chain);
  lines.push('');
  lines.push(`Reference, from the same page (${RUNS} runs):`);
  lines.push('');
  lines.push('| request | p50 | p95 | min | max |', '|---|---:|---:|---:|---:|');
  const row3 = (what, s) => lines.push(`| ${what} | ${ms(s.p50)} | ${ms(s.p95)} | ${ms(s.min)} | ${ms(s.max)} |`);
  row3('same-origin `fetch` GET `/api/health`', token.fetchHealth);
  row3('same-origin `fetch` POST `/.lunasec/frame-session` (mints a frame token)', token.fetchMint);
  lines.push('');
  return lines.join('\n');
}

async function main() {
  const load = os.loadavg();
  const browser = await Chromium.launch();
  const results = {
    machine: {
      cpu: os.cpus()[0].model.trim(),
      cores: os.cpus().length,
      node: process.version,
      browser: `Chromium ${browser.version}`,
      loadavg1: Math.round(load[0] * 100) / 100,
    },
    runs: RUNS,
    warmup: WARMUP,
    cold: COLD,
    targets: TARGETS,
    modes: {},
  };
  try {
    for (const mode of ['token', 'cookie']) results.modes[mode] = await benchMode(browser, mode);
  } finally {
    await browser.close();
  }
  const md = markdown(results);
  process.stdout.write(`\n${md}`);
  const dir = path.join(__dirname, 'results');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'frames.md'), md);
  fs.writeFileSync(path.join(dir, 'frames.json'), JSON.stringify(results, null, 2));
  return results;
}

module.exports = main;
if (require.main === module) {
  main().catch((e) => {
    process.stderr.write(`frames benchmark failed: ${e && e.stack}\n`);
    process.exit(1);
  });
}
