'use strict';
// The Secure Frame end to end, in real browsers with default settings (test-support/browsers.js):
// Chromium, Firefox ESR and WebKitGTK, each against its own stack (the tokenizer binary on
// http://127.0.0.1:B and the demo app on http://localhost:A: different sites, as in production).
//
// In each engine: sign up, type an SSN and a note, upload a file, save; the stored row holds tokens;
// reload and the values are shown inside paragraph frames; the file downloads back byte-equal; a
// second user given the first user's token sees an error; a 2 s read grant expires; hostile parents
// (an unconfigured origin, forged messages, the page's own /detokenize call) get nothing; Tab moves
// through the frames in document order; screenshots of each component go to test-artifacts/.
// The cookie session mode runs in Chromium and Firefox (app cookie SameSite=None; Secure); WebKitGTK
// refuses it cleanly. axe-core scans the demo pages and each component (Chromium). Across the run the
// plaintext never reaches the app: not in its requests (DEMO_RECORD_REQUESTS), its or the tokenizer's
// logs, its stored rows, nor the DOM of its pages.
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { startStack } = require('../test-support/stack');
const { launchEngine, ENGINES } = require('../test-support/browsers');

const ARTIFACTS = path.resolve(__dirname, '..', 'test-artifacts');
const PASSWORD = 'correct horse battery staple';
const TOKEN_RE = /^lunasec-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const COOKIE_MODE_ENGINES = ['chromium', 'firefox'];

const hex = (n) => crypto.randomBytes(n).toString('hex');
const randInt = (lo, hi) => lo + crypto.randomInt(hi - lo + 1);

/** Values only the browser and the tokenizer may ever see. */
function makeSecrets(label) {
  const area = String(randInt(100, 665));
  const group = String(randInt(10, 99));
  const serial = String(randInt(1000, 9999));
  const marker = `id document ${label} ${hex(8)}`;
  const fileBytes = Buffer.concat([Buffer.from(`${marker}\n`), crypto.randomBytes(4096)]);
  return {
    ssnDigits: `${area}${group}${serial}`,
    ssn: `${area}-${group}-${serial}`,
    note: `private note ${label} ${hex(6)}`,
    fileName: `passport-${label}.bin`,
    fileBytes,
    marker,
    hostile: `hostile check ${label} ${hex(6)}`,
    bound: `session binding check ${label} ${hex(6)}`,
  };
}

/** The strings that must never show up on the app's side, by name (failures print names only). */
function needles(s) {
  return [
    ['ssn', s.ssn],
    ['ssn digits', s.ssnDigits],
    ['note', s.note],
    ['file content', s.marker],
    ['file content (base64)', s.fileBytes.subarray(0, 48).toString('base64')],
    ['hostile-test value', s.hostile],
    ['session-binding value', s.bound],
  ];
}

function leaks(secrets, text) {
  return needles(secrets)
    .filter(([, v]) => text.includes(v))
    .map(([n]) => n);
}

function expectNoLeak(secrets, where, text) {
  expect({ where, leaked: leaks(secrets, text) }).toEqual({ where, leaked: [] });
}

// ---- page helpers -------------------------------------------------------------------------------

/** Waits for the profile page to settle; returns its data-profile-state. */
async function profileSettled(page, { timeout = 30000 } = {}) {
  return page.waitFor(
    () => location.pathname === '/profile' && ['ready', 'saved', 'error'].includes(document.body.dataset.profileState) && document.body.dataset.profileState,
    { timeout },
  );
}

async function expectProfile(page, want) {
  const state = await profileSettled(page);
  // The demo's error lines never carry a value or a token.
  const errors = state === want ? '' : await page.text('#errors');
  expect({ state, errors }).toEqual({ state: want, errors: '' });
}

async function signUp(page, appUrl, username) {
  await page.goto(`${appUrl}/`);
  await page.fill('#signup-username', username);
  await page.fill('#signup-password', PASSWORD);
  await page.click('form[action="/signup"] button[type="submit"]');
  await expectProfile(page, 'ready');
}

/**
 * Logs in (a new session) without opening /profile on the way (that would create read grants), then
 * opens `profilePath`.
 */
async function logIn(page, appUrl, username, profilePath) {
  await page.goto(`${appUrl}/`);
  const status = await page.evaluate(
    async (user, password) => {
      const res = await fetch('/login', { method: 'POST', body: new URLSearchParams({ username: user, password }), redirect: 'manual' });
      return res.type;
    },
    username,
    PASSWORD,
  );
  expect(status).toBe('opaqueredirect');
  await page.goto(`${appUrl}${profilePath}`);
}

/** The text a paragraph frame shows, once it shows something (a value or a message). */
async function paragraphOutcome(frame) {
  return frame.waitFor(
    () => {
      const p = document.getElementById('lsc');
      const m = document.getElementById('lsc-msg');
      const value = p ? p.textContent : '';
      const message = m ? m.textContent : '';
      return value || message ? { value, message } : null;
    },
    { timeout: 20000 },
  );
}

/**
 * Mounts a frame with the page's own copy of the browser library, as any script in the page could
 * (here: the test standing in for a hostile or buggy script). Resolves { ok } or { ok: false, code }.
 */
function mountInPage(page, slotId, options) {
  return page.evaluate(
    async (id, opts) => {
      const { SecureFrames } = await import(`${location.origin}/lunasec/browser.mjs`);
      const main = document.getElementById('main');
      const frames = new SecureFrames({ tokenizerUrl: main.dataset.tokenizerUrl });
      const slot = document.createElement('div');
      slot.id = id;
      main.append(slot);
      try {
        await frames.mount(slot, opts);
        return { ok: true };
      } catch (e) {
        return { ok: false, code: e.code || e.name };
      }
    },
    slotId,
    options,
  );
}

const outerHtml = (page) => page.evaluate(() => document.documentElement.outerHTML);

async function getRows(appUrl) {
  const res = await fetch(`${appUrl}/api/rows`);
  expect(res.status).toBe(200);
  return res.json();
}

function listen(handler) {
  const server = http.createServer(handler);
  return new Promise((resolve, reject) => {
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

function frameUrl(tokenizerUrl, { n, origin, component }) {
  return `${tokenizerUrl}/frame?${new URLSearchParams({ n, origin, component })}`;
}

const nonce = () => crypto.randomBytes(16).toString('base64url');

// ---- the suite ----------------------------------------------------------------------------------

const axeSource = fs.readFileSync(require.resolve('axe-core'), 'utf8');

describe.each(ENGINES)('%s', (name) => {
  let engine;
  let stack;
  let tmp;
  let recordFile;
  let pageA; // the first user's page
  const userA = `alice-${name}-${hex(3)}`;
  const userB = `bob-${name}-${hex(3)}`;
  const secrets = makeSecrets(name);
  const doms = []; // [label, outerHTML] of the app's pages along the way
  let rowA; // the first user's stored row (tokens)

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), `secure-frame-${name}-`));
    recordFile = path.join(tmp, 'requests.jsonl');
    fs.writeFileSync(path.join(tmp, secrets.fileName), secrets.fileBytes);
    [stack, engine] = await Promise.all([
      startStack({ appHost: 'localhost', appEnv: { DEMO_RECORD_REQUESTS: recordFile } }),
      launchEngine(name),
    ]);
    pageA = await engine.newPage();
  }, 120000);

  afterAll(async () => {
    await Promise.allSettled([engine && engine.close(), stack && stack.stop()]);
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  }, 60000);

  test('sign up, type an SSN and a note, upload a file, save: the stored row holds tokens only', async () => {
    await signUp(pageA, stack.appUrl, userA);
    expect(await pageA.text('#session-mode')).toBe('frame token');

    const ssn = pageA.frame('#ssn-slot iframe');
    await ssn.fill('#lsc', secrets.ssnDigits);
    // Formatted as typed, inside the frame.
    expect(await ssn.evaluate(() => document.getElementById('lsc').value)).toBe(secrets.ssn);
    await pageA.frame('#note-slot iframe').fill('#lsc', secrets.note);
    const upload = pageA.frame('#documents-slot iframe');
    await upload.setInputFiles('#lsc', [path.join(tmp, secrets.fileName)]);
    await upload.waitFor(() => [...document.querySelectorAll('.ls-file-name')].map((e) => e.textContent).join('|'), { timeout: 20000 });
    expect(await upload.text('.ls-file-name')).toBe(secrets.fileName);
    doms.push(['profile, typed', await outerHtml(pageA)]);
    await pageA.screenshot(path.join(ARTIFACTS, `${name}-profile-filled.png`));

    await pageA.click('#save');
    await expectProfile(pageA, 'saved');

    const { rows } = await getRows(stack.appUrl);
    rowA = rows.find((r) => r.username === userA);
    expect(rowA).toBeDefined();
    expect(rowA.ssn).toMatch(TOKEN_RE);
    expect(rowA.note).toMatch(TOKEN_RE);
    expect(rowA.documents).toHaveLength(1);
    expect(rowA.documents[0]).toMatch(TOKEN_RE);
    expectNoLeak(secrets, 'stored rows', JSON.stringify(rows));
    doms.push(['profile, saved', await outerHtml(pageA)]);
  });

  test('reload: the values are shown inside the paragraph frames; screenshots of each component', async () => {
    await pageA.reload();
    await expectProfile(pageA, 'ready');
    expect(await paragraphOutcome(pageA.frame('#saved-ssn iframe'))).toEqual({ value: secrets.ssn, message: '' });
    expect(await paragraphOutcome(pageA.frame('#saved-note iframe'))).toEqual({ value: secrets.note, message: '' });
    const download = pageA.frame('#saved-documents iframe');
    await download.waitFor(() => document.getElementById('lsc').getAttribute('aria-disabled') !== 'true', { timeout: 20000 });
    expect(await download.text('#lsc')).toBe(secrets.fileName);
    doms.push(['profile, values shown', await outerHtml(pageA)]);

    await pageA.screenshot(path.join(ARTIFACTS, `${name}-profile.png`));
    const components = [
      ['input', '#ssn-slot iframe'],
      ['textarea', '#note-slot iframe'],
      ['upload', '#documents-slot iframe'],
      ['paragraph', '#saved-ssn iframe'],
      ['download', '#saved-documents iframe'],
    ];
    for (const [component, selector] of components) {
      const file = await pageA.screenshot(path.join(ARTIFACTS, `${name}-${component}.png`), { selector });
      expect(fs.statSync(file).size).toBeGreaterThan(500);
    }
  });

  test('the uploaded file downloads back byte-equal', async () => {
    const download = pageA.frame('#saved-documents iframe');
    await download.waitFor(() => document.getElementById('lsc').getAttribute('aria-disabled') !== 'true', { timeout: 20000 });
    // Keep the Blob the link will serve (the frame's CSP rightly keeps fetch() away from blob: URLs).
    await download.evaluate(() => {
      const create = URL.createObjectURL;
      URL.createObjectURL = function (blob) {
        window.__lastBlob = blob;
        return create.call(URL, blob);
      };
    });
    if (name === 'chromium') {
      // The real download, as the browser saves it.
      const got = await pageA.captureDownload(() => download.click('#lsc'));
      expect(got.filename).toBe(secrets.fileName);
      expect(got.bytes.equals(secrets.fileBytes)).toBe(true);
    } else {
      await download.click('#lsc');
    }
    const served = await download.waitFor(
      async () => {
        const a = document.getElementById('lsc');
        if (!window.__lastBlob || !a.href.startsWith('blob:')) return null;
        const bytes = new Uint8Array(await window.__lastBlob.arrayBuffer());
        let s = '';
        for (const b of bytes) s += String.fromCharCode(b);
        return { b64: btoa(s), download: a.getAttribute('download') };
      },
      { timeout: 20000 },
    );
    expect(served.download).toBe(secrets.fileName);
    expect(Buffer.from(served.b64, 'base64').equals(secrets.fileBytes)).toBe(true);
  });

  // While the keys are pressed, where the focus is is read in the top document only; what each
  // frame's focusin saw is read after the keys. Entering a frame in between would move the focus:
  // WebKitWebDriver's Switch To Frame (which every in-frame call of the WebKit driver makes) makes
  // that frame WebKit's focused frame without telling the top document, and the next Tab starts
  // from there (three plain cross-site iframes, a script run inside the third, then Tab from an
  // input before them: the focus lands in the third). A driver artefact: a person's Tab is not
  // affected.
  test('Tab moves into, through and out of the frames in document order', async () => {
    await pageA.reload();
    await expectProfile(pageA, 'ready');
    const slots = ['#ssn-slot', '#note-slot', '#documents-slot'];
    const watch = () => {
      window.__focusin = [];
      document.addEventListener('focusin', (e) => {
        if (e.target.tagName !== 'IFRAME') window.__focusin.push([performance.timeOrigin + performance.now(), e.target.id || e.target.tagName]);
      }, true);
    };
    await pageA.evaluate(watch);
    for (const slot of slots) await pageA.frame(`${slot} iframe`).evaluate(watch);
    // The top document's focused element; when it is an iframe, that iframe's slot.
    const active = () => {
      const a = document.activeElement;
      if (a && a.tagName === 'IFRAME') return `#${a.parentElement.id}`;
      return `top:${a ? a.id || a.tagName : ''}`;
    };
    // Every focusin since the last call, in all four documents, in time order.
    const focusLog = async () => {
      const take = () => window.__focusin.splice(0);
      const all = (await pageA.evaluate(take)).map(([t, id]) => [t, `top:${id}`]);
      for (const slot of slots) {
        for (const [t, id] of await pageA.frame(`${slot} iframe`).evaluate(take)) all.push([t, `${slot}:${id}`]);
      }
      return all.sort((a, b) => a[0] - b[0]).map(([, where]) => where);
    };
    // Each key, then the top document's view once it has moved on (a move between cross-site
    // frames can reach the top document a moment after the key event is done); `settle` bounds
    // that wait.
    const walk = async (keys, settle) => {
      const steps = [];
      let before = await pageA.evaluate(active);
      for (const key of keys) {
        await pageA.press(key);
        const moved = (prev) => {
          const a = document.activeElement; // as active(): a waited-for function is serialised alone
          const now = a && a.tagName === 'IFRAME' ? `#${a.parentElement.id}` : `top:${a ? a.id || a.tagName : ''}`;
          return now !== prev && now;
        };
        before = await pageA.waitFor(moved, { timeout: settle, args: [before] }).catch(() => pageA.evaluate(active));
        steps.push(before);
      }
      return { steps, log: await focusLog() };
    };

    // From the form's heading (not itself a tab stop): forwards through the frames to the button,
    // then backwards out of the first frame.
    await pageA.evaluate(() => {
      const h = document.getElementById('edit-heading');
      h.tabIndex = -1;
      h.focus();
    });
    expect(await pageA.evaluate(active)).toBe('top:edit-heading');
    const fromHeading = await walk(['Tab', 'Tab', 'Tab', 'Tab', 'Shift+Tab', 'Shift+Tab', 'Shift+Tab', 'Shift+Tab'], 5000);
    expect(fromHeading.steps.slice(0, 7)).toEqual(['#ssn-slot', '#note-slot', '#documents-slot', 'top:save', '#documents-slot', '#note-slot', '#ssn-slot']);
    // Out of the first frame, backwards: to the page, before the form.
    expect(fromHeading.steps[7]).toMatch(/^top:/);
    expect(fromHeading.steps[7]).not.toBe('top:save');
    // Inside each frame, its control got the focus, each time.
    expect(fromHeading.log).toEqual([
      'top:edit-heading',
      '#ssn-slot:lsc',
      '#note-slot:lsc',
      '#documents-slot:lsc',
      'top:save',
      '#documents-slot:lsc',
      '#note-slot:lsc',
      '#ssn-slot:lsc',
      fromHeading.steps[7],
    ]);

    // From inside the first frame, entered by a click: Tab goes on through the next frames to the
    // button. Only the frames' own logs tell here: after the driver's click inside a frame (a Switch
    // To Frame again), WebKit's top document keeps its old focused element while the focus moves
    // from frame to frame.
    await pageA.frame('#ssn-slot iframe').click('#lsc');
    const fromSsn = await walk(['Tab', 'Tab', 'Tab'], 500);
    expect(fromSsn.log).toEqual(['#ssn-slot:lsc', '#note-slot:lsc', '#documents-slot:lsc', 'top:save']);
    expect(fromSsn.steps[2]).toBe('top:save');
  });

  test('a second user (own browser context) given the first user\'s tokens sees an error, not the value', async () => {
    const pageB = await engine.newPage();
    try {
      await signUp(pageB, stack.appUrl, userB);
      const shown = await mountInPage(pageB, 'stolen-ssn', { component: 'paragraph', token: rowA.ssn, label: 'Stolen SSN' });
      expect(shown).toEqual({ ok: false, code: 'invalidGrant' });
      const outcome = await paragraphOutcome(pageB.frame('#stolen-ssn iframe'));
      expect(outcome.value).toBe('');
      expect(outcome.message).toMatch(/not available/i);
      expectNoLeak(secrets, 'second user\'s frame', await pageB.frame('#stolen-ssn iframe').evaluate(() => document.documentElement.outerHTML));

      const file = await mountInPage(pageB, 'stolen-file', { component: 'download', token: rowA.documents[0], label: 'Stolen file' });
      expect(file).toEqual({ ok: false, code: 'invalidGrant' });

      // Nor can the second user store the first user's token as their own (no store grant).
      const saved = await pageB.evaluate(async (token) => {
        const res = await fetch('/api/profile', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ssn: token }) });
        return { status: res.status, name: (await res.json()).error.name };
      }, rowA.ssn);
      expect(saved).toEqual({ status: 403, name: 'invalidGrant' });
      doms.push(['second user\'s profile', await outerHtml(pageB)]);
    } finally {
      await pageB.close();
    }
  });

  test('a frame whose session changed (log out, log in as someone else) stops with sessionChanged; after a log-out alone, sessionMissing', async () => {
    const page = await engine.newPage();
    const first = `erin-${name}-${hex(3)}`;
    const second = `frank-${name}-${hex(3)}`;
    try {
      // The second account exists; the page then signs up (and is logged in) as the first.
      await signUp(page, stack.appUrl, second);
      expect(await page.evaluate(async () => (await fetch('/logout', { method: 'POST', redirect: 'manual' })).type)).toBe('opaqueredirect');
      await signUp(page, stack.appUrl, first);

      // A fresh SecureFrames and input frame, as the first user; something typed into it.
      await page.evaluate(async () => {
        const { SecureFrames } = await import(`${location.origin}/lunasec/browser.mjs`);
        const main = document.getElementById('main');
        const slot = document.createElement('div');
        slot.id = 'bound-slot';
        main.append(slot);
        const frames = new SecureFrames({ tokenizerUrl: main.dataset.tokenizerUrl });
        const frame = await frames.mount(slot, { component: 'input', label: 'Bound field' });
        const errors = [];
        frame.on('error', (e) => errors.push(e.code));
        window.__bound = { frames, frame, errors };
      });
      const bound = page.frame('#bound-slot iframe');
      await bound.fill('#lsc', secrets.bound);

      // Same page, no reload: log out and log in as the second user through the app's routes, then
      // hand the frame the new session's token.
      const switched = await page.evaluate(
        async (user, password) => {
          const out = {};
          out.logout = (await fetch('/logout', { method: 'POST', redirect: 'manual' })).type;
          out.login = (await fetch('/login', { method: 'POST', body: new URLSearchParams({ username: user, password }), redirect: 'manual' })).type;
          out.signedInAs = (await (await fetch('/')).text()).includes(`<strong>${user}</strong>`);
          try {
            await window.__bound.frames.refreshSession();
            out.refreshed = true;
          } catch (e) {
            out.refreshed = e.code || e.name;
          }
          try {
            const token = await window.__bound.frame.tokenize();
            out.tokenized = token === '' ? 'empty' : 'a token'; // (a failure message names no token)
          } catch (e) {
            out.rejected = e.code || e.name;
          }
          return out;
        },
        second,
        PASSWORD,
      );
      expect(switched).toEqual({ logout: 'opaqueredirect', login: 'opaqueredirect', signedInAs: true, refreshed: true, rejected: 'sessionChanged' });
      expect(await page.waitFor(() => window.__bound.errors.includes('sessionChanged') && window.__bound.errors, { timeout: 10000 })).toContain('sessionChanged');
      // The frame stopped: what was typed is gone, the control is disabled, it says why.
      expect(await bound.evaluate(() => {
        const el = document.getElementById('lsc');
        return { disabled: el.disabled, value: el.value, message: document.getElementById('lsc-msg').textContent };
      })).toEqual({ disabled: true, value: '', message: expect.stringMatching(/session changed/i) });
      // And stays stopped: a second attempt gets no token either.
      expect(await page.evaluate(() => window.__bound.frame.tokenize().then((t) => ({ tokenized: t === '' ? 'empty' : 'a token' }), (e) => ({ rejected: e.code })))).toEqual({ rejected: 'sessionChanged' });
      doms.push(['profile after the session changed', await outerHtml(page)]);

      // Log-out alone: a frame mounted as the second user; after the log-out, refreshSession()
      // rejects and the frame emits 'error', both with sessionMissing, and the frame stops using
      // the JWT it still holds (EndSession): tokenize() rejects with sessionEnded.
      const missing = await page.evaluate(async () => {
        const { SecureFrames } = await import(`${location.origin}/lunasec/browser.mjs`);
        const main = document.getElementById('main');
        const slot = document.createElement('div');
        slot.id = 'logout-slot';
        main.append(slot);
        const frames = new SecureFrames({ tokenizerUrl: main.dataset.tokenizerUrl });
        const frame = await frames.mount(slot, { component: 'input', label: 'Field before log-out' });
        const errors = [];
        frame.on('error', (e) => errors.push(e.code));
        const out = { logout: (await fetch('/logout', { method: 'POST', redirect: 'manual' })).type };
        try {
          await frames.refreshSession();
          out.refreshed = true;
        } catch (e) {
          out.refreshed = e.code || e.name;
        }
        out.tokenize = await frame.tokenize().then((t) => (t === '' ? 'empty' : 'a token'), (e) => e.code);
        out.errors = errors;
        return out;
      });
      expect(missing).toEqual({ logout: 'opaqueredirect', refreshed: 'sessionMissing', tokenize: 'sessionEnded', errors: ['sessionMissing', 'sessionEnded'] });
    } finally {
      await page.close();
    }
  });

  test('after a 2s read grant expires the value is no longer shown', async () => {
    // A new session (log-in never reuses one): only the 2 s grant this page asks for applies.
    const page = await engine.newPage();
    try {
      await logIn(page, stack.appUrl, userA, '/profile?grant=2s');
      const granted = Date.now();
      await expectProfile(page, 'ready');
      expect(await paragraphOutcome(page.frame('#saved-ssn iframe'))).toEqual({ value: secrets.ssn, message: '' });
      await new Promise((r) => setTimeout(r, Math.max(0, granted + 3500 - Date.now())));
      const late = await mountInPage(page, 'late-ssn', { component: 'paragraph', token: rowA.ssn, label: 'SSN, later' });
      expect(late).toEqual({ ok: false, code: 'invalidGrant' });
      const outcome = await paragraphOutcome(page.frame('#late-ssn iframe'));
      expect(outcome.value).toBe('');
      expect(outcome.message).toMatch(/not available/i);
      doms.push(['profile after the grant expired', await outerHtml(page)]);
    } finally {
      await page.close();
    }
  });

  test('hostile parent: a page on an origin that is not configured cannot embed the frame', async () => {
    const appOrigin = new URL(stack.appUrl).origin;
    let evilOrigin;
    const n1 = nonce();
    const n2 = nonce();
    const evil = await listen((req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(`<!doctype html><html lang="en"><title>not the app</title>
<script>window.got = []; window.loaded = []; addEventListener('message', (e) => got.push({ origin: e.origin, command: e.data && e.data.command }));</script>
<iframe id="own-origin" title="a" onload="loaded.push(this.id)" src="${frameUrl(stack.tokenizerUrl, { n: n1, origin: evilOrigin, component: 'input' })}"></iframe>
<iframe id="claims-app" title="b" onload="loaded.push(this.id)" src="${frameUrl(stack.tokenizerUrl, { n: n2, origin: appOrigin, component: 'input' })}"></iframe>`);
    });
    evilOrigin = `http://localhost:${evil.address().port}`;
    const page = await engine.newPage();
    try {
      // The tokenizer's answers: 400 (no frame) for an unconfigured origin; for a configured one, a
      // CSP whose frame-ancestors names only the configured origins.
      const refused = await fetch(frameUrl(stack.tokenizerUrl, { n: n1, origin: evilOrigin, component: 'input' }));
      expect(refused.status).toBe(400);
      expect(refused.headers.get('content-type')).toMatch(/application\/json/);
      expect(await refused.text()).not.toMatch(/<script/i);
      const served = await fetch(frameUrl(stack.tokenizerUrl, { n: n2, origin: appOrigin, component: 'input' }));
      expect(served.status).toBe(200);
      const ancestors = /frame-ancestors ([^;]*)/.exec(served.headers.get('content-security-policy'))[1].trim().split(/\s+/);
      expect(ancestors).toEqual([appOrigin]);

      // In the browser: neither frame starts, nothing reaches the hostile page.
      await page.goto(`${evilOrigin}/`);
      await page.waitFor(() => window.loaded.length === 2, { timeout: 15000 });
      await new Promise((r) => setTimeout(r, 1000)); // room for a (wrong) late NotifyOnStart
      expect(await page.evaluate(() => window.got)).toEqual([]);
      for (const id of ['#own-origin', '#claims-app']) {
        // A blocked frame is an error page (or nothing the driver can enter): no frame control in it.
        const inside = await page
          .frame(id)
          .evaluate(() => ({ meta: !!document.querySelector('meta[name="lunasec-frame"]'), control: !!document.getElementById('lsc') }))
          .catch(() => ({ meta: false, control: false, unreachable: true }));
        expect({ id, meta: inside.meta, control: inside.control }).toEqual({ id, meta: false, control: false });
      }
    } finally {
      await page.close();
      await new Promise((r) => evil.close(r));
    }
  });

  test('hostile parent: forged messages from a script in the app page change nothing', async () => {
    await pageA.goto(`${stack.appUrl}/profile`);
    await expectProfile(pageA, 'ready');
    // The script records every port message the library sends (to learn correlation tokens) and
    // mounts its own input frame.
    const mounted = await pageA.evaluate(async () => {
      const sent = [];
      const ports = new Set();
      const post = MessagePort.prototype.postMessage;
      MessagePort.prototype.postMessage = function (msg, ...rest) {
        ports.add(this);
        sent.push({ command: msg && msg.command, correlationToken: msg && msg.correlationToken });
        return post.call(this, msg, ...rest);
      };
      const { SecureFrames } = await import(`${location.origin}/lunasec/browser.mjs`);
      const main = document.getElementById('main');
      const frames = new SecureFrames({ tokenizerUrl: main.dataset.tokenizerUrl });
      const slot = document.createElement('div');
      slot.id = 'evil-slot';
      main.append(slot);
      const frame = await frames.mount(slot, { component: 'input', label: 'Hostile test field' });
      const changes = [];
      frame.on('change', (s) => changes.push(s));
      window.__evil = { frame, sent, ports, changes };
      return true;
    });
    expect(mounted).toBe(true);
    await pageA.frame('#evil-slot iframe').fill('#lsc', secrets.hostile);
    await pageA.waitFor(() => window.__evil.changes.some((c) => c.empty === false), { timeout: 10000 });

    const result = await pageA.evaluate(async () => {
      const E = window.__evil;
      const iframe = E.frame.iframe;
      const src = new URL(iframe.src);
      const n = src.searchParams.get('n');
      const tokenizerOrigin = src.origin;
      const fromFrame = [];
      const onWindow = [];
      window.addEventListener('message', (e) => onWindow.push({ origin: e.origin, data: e.data }));
      const wait = (ms) => new Promise((r) => setTimeout(r, ms));
      // A first, genuine commit: the library's end of the port shows itself to the recorder.
      const first = await E.frame.tokenize();
      for (const p of E.ports) p.addEventListener('message', (e) => fromFrame.push(e.data));
      const changesBefore = E.changes.length;

      // 1. To the library, pretending to be the frame (wrong source, wrong origin, right nonce).
      for (const msg of [
        { command: 'NotifyOnValidate', frameNonce: n, data: { empty: true, valid: false, complete: false } },
        { command: 'NotifyOnToken', frameNonce: n, data: { tokens: ['lunasec-00000000-0000-4000-8000-000000000000'] } },
        { command: 'NotifyOnError', frameNonce: n, data: { name: 'forged', message: 'forged' } },
      ]) window.postMessage(msg, '*');

      // 2. To the frame through the window after the handshake: a second Attributes with a new
      //    port, a CommitToken and unknown commands: all to be ignored.
      const probe = new MessageChannel();
      const probeReplies = [];
      probe.port1.onmessage = (e) => probeReplies.push(e.data);
      iframe.contentWindow.postMessage(
        { command: 'Attributes', frameNonce: n, correlationToken: 'forgedattributes000000001', data: { component: 'paragraph', session: 'token' } },
        tokenizerOrigin,
        [probe.port2],
      );
      iframe.contentWindow.postMessage({ command: 'CommitToken', frameNonce: n, correlationToken: 'forgedcommit0000000000001', data: {} }, tokenizerOrigin);
      iframe.contentWindow.postMessage({ command: 'GetValue', frameNonce: n, correlationToken: 'forgedgetvalue00000000001', data: {} }, tokenizerOrigin);

      // 3. Unknown commands over the real port (the page owns the library's end).
      for (const p of E.ports) {
        p.postMessage({ command: 'GetValue', correlationToken: 'unknowncommand0000000001', data: {} });
        p.postMessage({ command: 'Detokenize', correlationToken: 'unknowncommand0000000002', data: {} });
      }
      await wait(300);

      // 4. A reply to someone else's correlation token: race the library's CommitToken with forged
      //    ReceiveCommittedToken messages carrying the token it just sent.
      const fake = 'lunasec-11111111-1111-4111-8111-111111111111';
      const pending = E.frame.tokenize();
      await Promise.resolve();
      const commit = E.sent.filter((s) => s.command === 'CommitToken').pop();
      const forgedReply = { command: 'ReceiveCommittedToken', correlationToken: commit && commit.correlationToken, data: { success: true, token: fake } };
      window.postMessage(forgedReply, '*');
      iframe.contentWindow.postMessage(forgedReply, tokenizerOrigin);
      const token = await pending;
      await wait(1000);
      return {
        firstIsToken: typeof first === 'string' && first.startsWith('lunasec-'),
        ports: E.ports.size,
        sawCommit: !!commit,
        token,
        isFake: token === fake,
        forgedChanges: E.changes.slice(changesBefore),
        tokens: E.frame.tokens,
        probeReplies,
        fromFrame,
        onWindowFromFrame: onWindow.filter((m) => m.origin === tokenizerOrigin),
      };
    });
    expect(result.firstIsToken).toBe(true);
    expect(result.ports).toBeGreaterThan(0);
    expect(result.sawCommit).toBe(true);
    expect(result.isFake).toBe(false);
    expect(result.token).toMatch(TOKEN_RE);
    // Late genuine events say empty: false; the forged one said empty: true.
    expect(result.forgedChanges.filter((c) => c.empty === true)).toEqual([]);
    expect(result.tokens).toEqual([]);
    expect(result.probeReplies).toEqual([]);
    expect(result.onWindowFromFrame).toEqual([]);
    // What the frame did send on its port: replies and notifications, never the value.
    expectNoLeak(secrets, 'messages from the frame', JSON.stringify(result.fromFrame));
    // The frame is still the same input, with what was typed.
    const control = await pageA.frame('#evil-slot iframe').evaluate(() => {
      const el = document.getElementById('lsc');
      return { tag: el.tagName, same: el.value.length > 0 };
    });
    expect(control).toEqual({ tag: 'INPUT', same: true });
    expect(await pageA.frame('#evil-slot iframe').evaluate(() => document.getElementById('lsc').value)).toBe(secrets.hostile);
    doms.push(['profile with a hostile script', await outerHtml(pageA)]);
  });

  test('hostile parent: the frame ignores a handshake from a window that is not its parent', async () => {
    await pageA.goto(`${stack.appUrl}/profile`);
    await expectProfile(pageA, 'ready');
    const n = nonce();
    await pageA.evaluate(
      (frameSrc, nonceValue) => {
        window.__victim = { starts: [] };
        const main = document.getElementById('main');
        const victim = document.createElement('iframe');
        victim.id = 'victim';
        victim.title = 'victim';
        window.addEventListener('message', (e) => {
          if (e.data && e.data.command === 'NotifyOnStart' && e.data.frameNonce === nonceValue) {
            window.__victim.starts.push({ origin: e.origin, fromVictim: e.source === victim.contentWindow });
          }
        });
        victim.src = frameSrc;
        main.append(victim);
        const sibling = document.createElement('iframe'); // about:blank: same origin as the page
        sibling.id = 'sibling';
        sibling.title = 'sibling';
        main.append(sibling);
      },
      frameUrl(stack.tokenizerUrl, { n, origin: new URL(stack.appUrl).origin, component: 'input' }),
      n,
    );
    const starts = await pageA.waitFor(() => window.__victim.starts.length > 0 && window.__victim.starts, { timeout: 10000 });
    expect(starts).toEqual([{ origin: new URL(stack.tokenizerUrl).origin, fromVictim: true }]);

    // Attributes with a port, from the sibling (same origin as the parent, wrong window): ignored.
    const handshake = (nonceValue, tokenizerOrigin, from) => {
      const victimWin = (from === 'sibling' ? parent.document : document).getElementById('victim').contentWindow;
      return new Promise((resolve) => {
        const ch = new MessageChannel();
        const got = [];
        ch.port1.onmessage = (e) => got.push(e.data && e.data.command);
        victimWin.postMessage(
          { command: 'Attributes', frameNonce: nonceValue, correlationToken: `handshake${from}0000000000000`, data: { component: 'input', session: 'token' } },
          tokenizerOrigin,
          [ch.port2],
        );
        setTimeout(() => resolve(got), 1500);
      });
    };
    const tokenizerOrigin = new URL(stack.tokenizerUrl).origin;
    expect(await pageA.frame('#sibling').evaluate(handshake, n, tokenizerOrigin, 'sibling')).toEqual([]);
    // The same message from the parent is accepted: the refusal above was about the sender.
    const fromParent = await pageA.evaluate(handshake, n, tokenizerOrigin, 'parent');
    expect(fromParent).toContain('ReceiveAttributesConfirmation');
  });

  test('hostile parent: the app page\'s own fetch to /detokenize with the frame token gets no readable answer', async () => {
    await pageA.goto(`${stack.appUrl}/profile`);
    await expectProfile(pageA, 'ready'); // creates this session's read grants
    const out = await pageA.evaluate(
      async (tokenizerUrl, token) => {
        const session = await (await fetch('/.lunasec/frame-session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).json();
        const jwt = session.data.token;
        const result = { jwt };
        try {
          const res = await fetch(`${tokenizerUrl}/detokenize`, {
            method: 'POST',
            headers: { authorization: `Bearer ${jwt}`, 'content-type': 'application/json' },
            body: JSON.stringify({ tokenId: token }),
          });
          result.cors = { readable: true, status: res.status, length: (await res.text()).length };
        } catch (e) {
          result.cors = { readable: false, error: e.name };
        }
        try {
          const res = await fetch(`${tokenizerUrl}/detokenize`, { method: 'POST', mode: 'no-cors', credentials: 'include', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ tokenId: token }) });
          result.noCors = { type: res.type, status: res.status, length: (await res.text()).length };
        } catch (e) {
          result.noCors = { error: e.name };
        }
        return result;
      },
      stack.tokenizerUrl,
      rowA.ssn,
    );
    expect(out.cors).toEqual({ readable: false, error: 'TypeError' });
    expect(out.noCors).toEqual({ type: 'opaque', status: 0, length: 0 });
    // The credential itself is good (so only the browser's same-origin policy stood in the way):
    // the same call from outside a browser is answered.
    const direct = await fetch(`${stack.tokenizerUrl}/detokenize`, {
      method: 'POST',
      headers: { authorization: `Bearer ${out.jwt}`, 'content-type': 'application/json' },
      body: JSON.stringify({ tokenId: rowA.ssn }),
    });
    expect(direct.status).toBe(200);
    const answer = await direct.json();
    expect({ success: answer.success, downloadUrl: typeof (answer.data && answer.data.downloadUrl) }).toEqual({ success: true, downloadUrl: 'string' });
    // And the tokenizer grants no CORS to the app's origin for it.
    const preflight = await fetch(`${stack.tokenizerUrl}/detokenize`, {
      method: 'OPTIONS',
      headers: { origin: new URL(stack.appUrl).origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
    });
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
  });

  if (name === 'chromium') {
    test('axe-core: no serious or critical violations on the demo pages and in each frame component', async () => {
      const scan = async (scope) => {
        await scope.addScript(axeSource);
        const r = await scope.evaluate(async () => {
          const out = await window.axe.run(document, { resultTypes: ['violations'], iframes: false });
          return {
            passes: out.passes.length,
            serious: out.violations
              .filter((v) => v.impact === 'serious' || v.impact === 'critical')
              .map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3).map((x) => x.target.join(' ')) })),
          };
        });
        expect(r.passes).toBeGreaterThan(0); // axe ran its rules in this document
        return r.serious;
      };
      const found = {};
      const visitor = await engine.newPage();
      try {
        await visitor.goto(`${stack.appUrl}/`);
        found['home (signed out)'] = await scan(visitor);
      } finally {
        await visitor.close();
      }
      await pageA.goto(`${stack.appUrl}/`);
      found['home (signed in)'] = await scan(pageA);
      await pageA.goto(`${stack.appUrl}/rows`);
      found.rows = await scan(pageA);
      await pageA.goto(`${stack.appUrl}/profile`);
      await expectProfile(pageA, 'ready');
      await paragraphOutcome(pageA.frame('#saved-ssn iframe'));
      found.profile = await scan(pageA);
      for (const [component, selector] of [
        ['input', '#ssn-slot iframe'],
        ['textarea', '#note-slot iframe'],
        ['upload', '#documents-slot iframe'],
        ['paragraph', '#saved-ssn iframe'],
        ['download', '#saved-documents iframe'],
      ]) {
        found[`frame: ${component}`] = await scan(pageA.frame(selector));
      }
      // The input with an invalid value shown (aria-invalid + message).
      const ssn = pageA.frame('#ssn-slot iframe');
      await ssn.fill('#lsc', '12');
      await pageA.press('Tab');
      await ssn.waitFor(() => document.getElementById('lsc').getAttribute('aria-invalid') === 'true', { timeout: 5000 });
      found['frame: input, invalid'] = await scan(ssn);
      const expected = Object.fromEntries(Object.keys(found).map((k) => [k, []]));
      expect(found).toEqual(expected);
    });
  }

  if (COOKIE_MODE_ENGINES.includes(name)) {
    describe('cookie session mode (legacy redirect flow; app cookie SameSite=None; Secure)', () => {
      let cookieStack;
      let cookieRecord;
      const cookieSecrets = makeSecrets(`${name}-cookie`);
      const cookieUser = `carol-${name}-${hex(3)}`;

      beforeAll(async () => {
        cookieRecord = path.join(tmp, 'requests-cookie.jsonl');
        cookieStack = await startStack({ appHost: 'localhost', appEnv: { DEMO_RECORD_REQUESTS: cookieRecord, DEMO_COOKIE_SAMESITE: 'none' } });
      }, 60000);

      afterAll(async () => {
        if (cookieStack) await cookieStack.stop();
      });

      test('sign up, type an SSN, save, reload: the value is shown; the app never sees it', async () => {
        const page = await engine.newPage();
        try {
          await signUp(page, cookieStack.appUrl, cookieUser);
          await page.goto(`${cookieStack.appUrl}/profile?session=cookie`);
          await expectProfile(page, 'ready');
          expect(await page.text('#session-mode')).toMatch(/^cookie/);
          const before = fs.readFileSync(cookieRecord, 'utf8');
          // The session came through the redirect chain (its middle hop is the app), not the frame token.
          expect(before).toMatch(/"url":"\/\.lunasec\/secure-frame\?/);
          const afterSwitch = before.slice(before.lastIndexOf('"url":"/profile?session=cookie"'));
          expect(afterSwitch).not.toMatch(/frame-session/);

          await page.frame('#ssn-slot iframe').fill('#lsc', cookieSecrets.ssnDigits);
          await page.frame('#note-slot iframe').fill('#lsc', cookieSecrets.note);
          await page.click('#save');
          await expectProfile(page, 'saved');
          const { rows } = await getRows(cookieStack.appUrl);
          const row = rows.find((r) => r.username === cookieUser);
          expect(row.ssn).toMatch(TOKEN_RE);
          expect(row.note).toMatch(TOKEN_RE);

          await page.reload();
          await expectProfile(page, 'ready');
          expect(await paragraphOutcome(page.frame('#saved-ssn iframe'))).toEqual({ value: cookieSecrets.ssn, message: '' });
          expect(await paragraphOutcome(page.frame('#saved-note iframe'))).toEqual({ value: cookieSecrets.note, message: '' });
          await page.screenshot(path.join(ARTIFACTS, `${name}-profile-cookie-mode.png`));

          expectNoLeak(cookieSecrets, 'app page DOM (cookie mode)', await outerHtml(page));
          expectNoLeak(cookieSecrets, 'requests to the app (cookie mode)', fs.readFileSync(cookieRecord, 'utf8'));
          expectNoLeak(cookieSecrets, 'app and tokenizer logs (cookie mode)', cookieStack.logs());
          expectNoLeak(cookieSecrets, 'stored rows (cookie mode)', JSON.stringify(rows));
        } finally {
          await page.close();
        }
      });
    });
  } else {
    test('cookie session mode: refused cleanly (WebKitGTK keeps no cookie from the cross-site tokenizer)', async () => {
      await pageA.goto(`${stack.appUrl}/profile?session=cookie`);
      await expectProfile(pageA, 'error');
      expect(await pageA.text('#errors')).toMatch(/cookie session could not be set up/i);
    });
  }

  test('across the run, the values never reached the app: requests, logs, stored rows, page DOM', async () => {
    const requests = fs.readFileSync(recordFile, 'utf8');
    // The capture is real: it saw the saves (tokens) and the frame-session calls.
    expect(requests).toMatch(/"method":"POST","url":"\/api\/profile"/);
    expect(requests).toMatch(/"url":"\/\.lunasec\/frame-session"/);
    expectNoLeak(secrets, 'requests to the app', requests);
    expectNoLeak(secrets, 'app and tokenizer logs', stack.logs());
    expectNoLeak(secrets, 'stored rows', JSON.stringify(await getRows(stack.appUrl)));
    expect(doms.length).toBeGreaterThanOrEqual(6);
    for (const [where, dom] of doms) expectNoLeak(secrets, `DOM: ${where}`, dom);
  });
});
