'use strict';
// The demo app: an Express backend using the SDK, and pages a person can use. Sign up (or log in),
// open the profile, type an SSN, a note and upload an ID document into Secure Frames served by the
// Dedicated Tokenizer, save: this app receives and stores tokens only. It verifies the store grants
// before saving and creates read grants before the page shows the values again (through paragraph
// and download frames). /rows shows what the app stored, as it is.
//
//   APP_PORT              default 3001
//   APP_HOST              default 127.0.0.1 (the interface to listen on)
//   TOKENIZER_URL         where this backend reaches the tokenizer; default http://127.0.0.1:37766
//   PUBLIC_TOKENIZER_URL  where browsers reach it (frames, session redirect); default TOKENIZER_URL
//   LUNASEC_SIGNING_KEY   base64 of a PEM RSA private key. When unset, a throwaway key is generated
//                         (demo only: every restart invalidates the sessions the tokenizer knows).
//   DEMO_SESSION_SECRET   the secret LunaSec session ids are derived with (HMAC); random per start when unset
//   DEMO_COOKIE_SAMESITE  'lax' (default) or 'none' (→ `SameSite=None; Secure`: the legacy cookie
//                         session mode needs the app's cookie on the tokenizer's cross-site redirect)
//   DEMO_RECORD_REQUESTS  TEST ONLY, off by default: a file to append one JSON line per request to
//                         (method, url, content type, raw body; never headers or cookies), so tests
//                         can assert that no plaintext ever reached this app.
//   DEMO_SERVE_AXE        TEST ONLY, off by default: '1' serves axe-core at /test/axe.min.js, so an
//                         accessibility scan can load it as a same-origin script under the page's CSP.
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const express = require('express');
const { LunaSec, isToken } = require('../..');
const { Accounts, AccountError } = require('./accounts');
const { html, sendPage } = require('./html');

const ROOT = path.resolve(__dirname, '..', '..');
const port = Number(process.env.APP_PORT || 3001);
const host = process.env.APP_HOST || '127.0.0.1';
const tokenizerURL = process.env.TOKENIZER_URL || 'http://127.0.0.1:37766';
const publicTokenizerUrl = process.env.PUBLIC_TOKENIZER_URL || tokenizerURL;
const tokenizerOrigin = new URL(publicTokenizerUrl).origin;
const sameSiteNone = (process.env.DEMO_COOKIE_SAMESITE || 'lax').toLowerCase() === 'none';
const recordFile = process.env.DEMO_RECORD_REQUESTS || '';
const BODY_LIMIT = 64 * 1024;
const COOKIE = 'demo_session';

let secrets = { provider: 'environment' };
if (!process.env.LUNASEC_SIGNING_KEY) {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  secrets = { provider: 'manual', signingKey: privateKey };
}
const appSecret = process.env.DEMO_SESSION_SECRET ? Buffer.from(process.env.DEMO_SESSION_SECRET, 'utf8') : crypto.randomBytes(32);
const accounts = new Accounts(appSecret);

function sessionCookie(req) {
  const m = /(?:^|;\s*)demo_session=([^;]*)/.exec(req.headers.cookie || '');
  return m ? m[1].trim() : null;
}

/** The request's live session ({ id, username, guest }) or null. */
function sessionOf(req) {
  if (req.demoSession === undefined) req.demoSession = accounts.session(sessionCookie(req));
  return req.demoSession;
}

const lunaSec = new LunaSec({
  tokenizerURL,
  publicTokenizerUrl,
  auth: {
    secrets,
    // LunaSec gets an opaque id derived from the session, never the session cookie itself.
    sessionIdProvider: (req) => {
      const s = sessionOf(req);
      return s ? accounts.lunaSecId(s.id) : null;
    },
  },
});

// "The database": one row per user, holding tokens only (never plaintext).
const rows = new Map(); // lower-case username -> { username, ssn, note, documents, updatedAt }

function rowOf(username, create = false) {
  const key = username.toLowerCase();
  if (!rows.has(key) && create) rows.set(key, { username, ssn: '', note: '', documents: [], updatedAt: null });
  return rows.get(key) || null;
}

const app = express();
app.disable('x-powered-by');
app.set('query parser', 'simple');

// TEST ONLY (off unless DEMO_RECORD_REQUESTS is set): what reached the app, one JSON line per request.
function record(req, body) {
  if (!recordFile) return;
  let text = body.toString('utf8');
  // Passwords are not what the capture is for; keep them out of the file.
  if (/^application\/x-www-form-urlencoded/i.test(req.get('content-type') || '')) text = text.replace(/(^|&)(password=)[^&]*/g, '$1$2[redacted]');
  const line = JSON.stringify({ method: req.method, url: req.originalUrl, contentType: req.get('content-type') || '', body: text });
  fs.appendFileSync(recordFile, `${line}\n`);
}

// One small body reader for the whole app (no body-parser): reads at most BODY_LIMIT bytes, keeps the
// raw bytes for the recorder, parses JSON and form bodies. Parse errors never echo the body.
app.use((req, res, next) => {
  const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] || 0) > 0;
  if (!hasBody) {
    record(req, Buffer.alloc(0));
    next();
    return;
  }
  const chunks = [];
  let size = 0;
  const onData = (chunk) => {
    size += chunk.length;
    if (size <= BODY_LIMIT) {
      chunks.push(chunk);
      return;
    }
    // Too large: answer now and drop the connection rather than read on.
    req.off('data', onData);
    req.off('end', onEnd);
    record(req, Buffer.concat(chunks));
    res.set('Connection', 'close');
    fail(req, res, 413, 'payloadTooLarge', 'The request body is too large.');
  };
  const onEnd = () => {
    const raw = Buffer.concat(chunks);
    record(req, raw);
    const encoding = (req.get('content-encoding') || 'identity').toLowerCase();
    if (encoding !== 'identity') return fail(req, res, 415, 'unsupportedMediaType', 'Compressed request bodies are not accepted.');
    const type = (req.get('content-type') || '').split(';')[0].trim().toLowerCase();
    try {
      if (type === 'application/json') req.body = JSON.parse(raw.toString('utf8'));
      else if (type === 'application/x-www-form-urlencoded') req.body = new URLSearchParams(raw.toString('utf8'));
    } catch {
      return fail(req, res, 400, 'badRequest', 'The request body is not valid JSON.');
    }
    next();
  };
  req.on('data', onData);
  req.on('end', onEnd);
  req.on('error', () => {});
});

/** An error answer: JSON for the API, a page for everything else. The message is ours, never request data. */
function fail(req, res, status, name, message) {
  if (req.path.startsWith('/api/') || req.path.startsWith('/.lunasec/') || !req.accepts('html')) {
    res.status(status).set('Cache-Control', 'no-store').json({ success: false, error: { name, message } });
    return;
  }
  sendPage(res, {
    status,
    title: 'Error',
    user: sessionOf(req),
    tokenizerOrigin,
    body: html`<main id="main"><h1>Something went wrong</h1><p role="alert" class="error">${message}</p><p><a href="/">Back to the home page</a></p></main>`,
  });
}

// Cross-site requests cannot change anything (the plugin's frame-session route does its own check).
app.use((req, res, next) => {
  if (req.method === 'GET' || req.method === 'HEAD' || req.path.startsWith('/.lunasec/')) return next();
  const origin = req.get('origin');
  const site = req.get('sec-fetch-site');
  // `Origin: null` is also what a same-origin POST carries under Referrer-Policy: no-referrer.
  const originOk = origin === undefined || origin === `${req.protocol}://${req.get('host')}` || (origin === 'null' && site === 'same-origin');
  if (!originOk || (site !== undefined && site !== 'same-origin')) {
    return fail(req, res, 403, 'crossSiteRequest', 'Requests from other sites are not accepted.');
  }
  next();
});

lunaSec.expressAuthPlugin.register(app);

// Static files: the stylesheet, the profile page's module, and the browser library from this repo.
const noCache = (res) => res.set({ 'Cache-Control': 'no-cache', 'X-Content-Type-Options': 'nosniff' });
app.use('/static', express.static(path.join(__dirname, 'static'), {
  index: false,
  setHeaders: (res, file) => {
    noCache(res);
    if (file.endsWith('.mjs')) res.set('Content-Type', 'text/javascript; charset=utf-8');
  },
}));
app.get('/lunasec/browser.mjs', (req, res) => {
  noCache(res);
  res.type('text/javascript; charset=utf-8').sendFile(path.join(ROOT, 'browser', 'index.mjs'));
});

if (process.env.DEMO_SERVE_AXE === '1') {
  app.get('/test/axe.min.js', (req, res) => {
    noCache(res);
    res.type('text/javascript; charset=utf-8').sendFile(require.resolve('axe-core/axe.min.js'));
  });
}

function setSessionCookie(res, id) {
  res.cookie(COOKIE, id, { httpOnly: true, path: '/', sameSite: sameSiteNone ? 'none' : 'lax', secure: sameSiteNone });
}

function clearSessionCookie(res) {
  res.clearCookie(COOKIE, { httpOnly: true, path: '/', sameSite: sameSiteNone ? 'none' : 'lax', secure: sameSiteNone });
}

/** Ends the request's session (if any) and starts a new one: log-in never reuses a session id. */
function startSession(req, res, username, options) {
  const old = sessionOf(req);
  if (old) accounts.endSession(old.id);
  const id = accounts.startSession(username, options);
  setSessionCookie(res, id);
  return id;
}

// ---- pages -----------------------------------------------------------------------------------

function homePage(req, res, { status = 200, error, form, username = '' } = {}) {
  const user = sessionOf(req);
  const errorFor = (which) => (error && form === which ? html`<p class="error" role="alert" id="${which}-error">${error}</p>` : '');
  const described = (which) => (error && form === which ? html` aria-describedby="${which}-error"` : '');
  const body = user
    ? html`<main id="main">
<h1>LunaSec demo</h1>
<p>You are signed in as <strong>${user.username}</strong>${user.guest ? ' (a guest session)' : ''}.</p>
<ol class="steps">
  <li><a href="/profile">Open your profile</a>: type your SSN and a note and upload an ID document. These fields are frames served by the tokenizer; this page never sees what you type.</li>
  <li>Save: the app receives tokens, checks that your session created them, and stores them.</li>
  <li>See them again on the profile page, shown by the tokenizer's frames, and <a href="/rows">look at what the app stored</a>: tokens only.</li>
</ol>
</main>`
    : html`<main id="main">
<h1>LunaSec demo</h1>
<p>Create an account (or log in), then fill in your profile. Your SSN, note and ID document are typed into and shown by
Secure Frames served by the Dedicated Tokenizer at <code>${tokenizerOrigin}</code>: this app only ever receives and stores tokens.</p>
<div class="columns">
  <section aria-labelledby="signup-heading" class="card">
    <h2 id="signup-heading">Create an account</h2>
    ${errorFor('signup')}
    <form method="post" action="/signup">
      <p class="field"><label for="signup-username">Username</label>
        <input id="signup-username" name="username" autocomplete="username" required minlength="3" maxlength="32" value="${form === 'signup' ? username : ''}"${described('signup')}>
        <span class="hint">3 to 32 letters, digits, dots, dashes or underscores.</span></p>
      <p class="field"><label for="signup-password">Password</label>
        <input id="signup-password" name="password" type="password" autocomplete="new-password" required minlength="8" maxlength="128"${described('signup')}>
        <span class="hint">At least 8 characters.</span></p>
      <p><button type="submit">Sign up</button></p>
    </form>
  </section>
  <section aria-labelledby="login-heading" class="card">
    <h2 id="login-heading">Log in</h2>
    ${errorFor('login')}
    <form method="post" action="/login">
      <p class="field"><label for="login-username">Username</label>
        <input id="login-username" name="username" autocomplete="username" required value="${form === 'login' ? username : ''}"${described('login')}></p>
      <p class="field"><label for="login-password">Password</label>
        <input id="login-password" name="password" type="password" autocomplete="current-password" required${described('login')}></p>
      <p><button type="submit">Log in</button></p>
    </form>
    <p>Or <a href="/login">continue as a guest</a> (a throwaway session).</p>
  </section>
</div>
</main>`;
  sendPage(res, { status, title: 'Home', user, body, tokenizerOrigin, current: '/' });
}

app.get('/', (req, res) => homePage(req, res));

function formField(req, name) {
  return req.body instanceof URLSearchParams ? req.body.get(name) : null;
}

app.post('/signup', async (req, res, next) => {
  const username = formField(req, 'username');
  const password = formField(req, 'password');
  try {
    const name = await accounts.signUp(typeof username === 'string' ? username.trim() : username, password);
    startSession(req, res, name);
    res.redirect(303, '/profile');
  } catch (e) {
    if (!(e instanceof AccountError)) return next(e);
    homePage(req, res, { status: 400, error: e.message, form: 'signup', username: typeof username === 'string' ? username.slice(0, 64) : '' });
  }
});

app.post('/login', async (req, res, next) => {
  const username = formField(req, 'username');
  const password = formField(req, 'password');
  try {
    const name = await accounts.logIn(typeof username === 'string' ? username.trim() : username, password);
    startSession(req, res, name);
    res.redirect(303, '/profile');
  } catch (e) {
    if (!(e instanceof AccountError)) return next(e);
    homePage(req, res, { status: 401, error: e.message, form: 'login', username: typeof username === 'string' ? username.slice(0, 64) : '' });
  }
});

// One click, no password: a guest session (also what the end-to-end tests use).
app.get('/login', (req, res) => {
  startSession(req, res, `guest-${crypto.randomBytes(4).toString('hex')}`, { guest: true });
  res.redirect('/');
});

function logout(req, res) {
  const s = sessionOf(req);
  if (s) accounts.endSession(s.id);
  clearSessionCookie(res);
  res.redirect(303, '/');
}
app.get('/logout', logout);
app.post('/logout', logout);

app.get('/profile', (req, res) => {
  const user = sessionOf(req);
  if (!user) return res.redirect(303, '/');
  const mode = req.query.session === 'cookie' ? 'cookie' : 'token';
  const other = mode === 'cookie' ? html`<a href="/profile">frame token (default)</a>` : html`<a href="/profile?session=cookie">cookie (legacy redirect flow)</a>`;
  const body = html`<main id="main" data-tokenizer-url="${publicTokenizerUrl}" data-session-mode="${mode}">
<h1>Your profile</h1>
<p>The fields below are frames served by the tokenizer at <code>${tokenizerOrigin}</code>. What you type goes to the tokenizer;
this page and this app only receive tokens.</p>
<div class="messages">
  <p id="status" role="status" aria-live="polite"></p>
  <div id="errors" role="alert" aria-live="assertive"></div>
</div>
<section aria-labelledby="edit-heading" class="card">
  <h2 id="edit-heading">Edit your details</h2>
  <noscript><p class="error">This page needs JavaScript: the secure fields are frames mounted by a script.</p></noscript>
  <form id="profile-form" method="post" action="/profile" novalidate>
    <div class="field frame-slot" id="ssn-slot"></div>
    <div class="field frame-slot" id="note-slot"></div>
    <div class="field frame-slot" id="documents-slot"></div>
    <p class="hint">Leave a field empty to keep what is saved.</p>
    <p><button type="submit" id="save" disabled>Save profile</button></p>
  </form>
</section>
<section aria-labelledby="saved-heading" class="card">
  <h2 id="saved-heading">Saved</h2>
  <p id="saved-empty">Loading…</p>
  <div id="saved" hidden>
    <div class="saved-item frame-slot" id="saved-ssn"></div>
    <div class="saved-item frame-slot" id="saved-note"></div>
    <h3 id="documents-heading">ID documents</h3>
    <ul id="saved-documents" aria-labelledby="documents-heading"></ul>
  </div>
</section>
<p class="mode">Frame session: <strong id="session-mode">${mode === 'cookie' ? 'cookie (legacy redirect flow)' : 'frame token'}</strong>. Switch to ${other}.</p>
</main>`;
  sendPage(res, { title: 'Profile', user, body, tokenizerOrigin, scripts: ['/static/profile.mjs'], current: '/profile' });
});

// Without JavaScript the profile form has nothing to send; a plain POST just goes back to the page.
app.post('/profile', (req, res) => res.redirect(303, '/profile'));

function allRows() {
  return [...rows.values()].map((r) => ({ username: r.username, ssn: r.ssn, note: r.note, documents: [...r.documents] }));
}

app.get('/rows', (req, res) => {
  const list = allRows();
  const token = (t) => (t ? html`<code>${t}</code>` : html`<span class="muted">(empty)</span>`);
  const body = html`<main id="main">
<h1>Stored rows</h1>
<p>What this app stored, as it is: usernames and tokens. The values themselves are only in the tokenizer's vault. JSON: <a href="/api/rows">/api/rows</a>.</p>
${list.length === 0
    ? html`<p id="rows-empty">Nothing stored yet.</p>`
    : html`<div class="table-wrap"><table id="rows">
  <caption>One row per user</caption>
  <thead><tr><th scope="col">Username</th><th scope="col">SSN</th><th scope="col">Note</th><th scope="col">ID documents</th></tr></thead>
  <tbody>
  ${list.map((r) => html`<tr><th scope="row">${r.username}</th><td>${token(r.ssn)}</td><td>${token(r.note)}</td><td>${r.documents.length ? r.documents.map((d) => html`<code>${d}</code> `) : token('')}</td></tr>
  `)}
  </tbody>
</table></div>`}
</main>`;
  sendPage(res, { title: 'Stored rows', user: sessionOf(req), body, tokenizerOrigin, current: '/rows' });
});

// ---- API ---------------------------------------------------------------------------------------

function json(res, status, body) {
  res.status(status).set('Cache-Control', 'no-store').json(body);
}

app.get('/api/rows', (req, res) => json(res, 200, { success: true, rows: allRows() }));

app.get('/api/health', (req, res) => json(res, 200, { success: true }));

/** The session of an API request, or a 401 answer (and null). */
function apiSession(req, res) {
  const s = sessionOf(req);
  if (!s) json(res, 401, { success: false, error: { name: 'sessionMissing', message: 'log in first' } });
  return s;
}

/** An SDK error as JSON: its own status, name and message (which never carry tokens or values). */
function sdkError(res, err) {
  const status = err && Number.isInteger(err.statusCode) ? err.statusCode : 500;
  json(res, status, { success: false, error: { name: (err && err.name) || 'error', errorCode: err && err.errorCode, message: (err && err.message) || 'failed' } });
}

// Save the profile: { ssn, note, documents: [tokens] } from the frames. '' (an empty field) keeps what is saved.
app.post('/api/profile', async (req, res) => {
  const s = apiSession(req, res);
  if (!s) return;
  const body = req.body && typeof req.body === 'object' && !(req.body instanceof URLSearchParams) ? req.body : null;
  if (!body) return json(res, 415, { success: false, error: { name: 'unsupportedMediaType', message: 'send the profile as application/json' } });
  const { ssn = '', note = '', documents = [] } = body;
  const shapeOk = typeof ssn === 'string' && typeof note === 'string' && Array.isArray(documents) && documents.length <= 20 && documents.every((d) => typeof d === 'string');
  if (!shapeOk) return json(res, 400, { success: false, error: { name: 'badRequest', message: 'expected { ssn: token, note: token, documents: [tokens] }' } });
  const docs = documents.filter((d) => d !== '');
  const all = [ssn, note, ...docs];
  if (!all.every((t) => t === '' || isToken(t))) return json(res, 400, { success: false, error: { name: 'badToken', message: 'every field must be a token (or empty)' } });
  try {
    // One request to the tokenizer for every token: did this session create them?
    await lunaSec.grants.verify(accounts.lunaSecId(s.id), all);
  } catch (err) {
    if (err && err.name === 'invalidGrant') {
      return json(res, 403, { success: false, error: { name: 'invalidGrant', message: 'these values were not entered in this session; nothing was saved' } });
    }
    return sdkError(res, err);
  }
  const row = rowOf(s.username, true);
  if (ssn) row.ssn = ssn;
  if (note) row.note = note;
  if (docs.length) row.documents = docs;
  row.updatedAt = new Date().toISOString();
  json(res, 200, { success: true });
});

// The saved tokens, each with a read grant for this session so its frames can show them.
// `?grant=2s` sets the grant's duration (default 15m).
app.get('/api/profile', async (req, res) => {
  const s = apiSession(req, res);
  if (!s) return;
  const row = rowOf(s.username);
  if (!row) return json(res, 200, { success: true, profile: null });
  const tokens = [row.ssn, row.note, ...row.documents].filter((t) => t !== '');
  const duration = typeof req.query.grant === 'string' ? req.query.grant : '15m';
  try {
    await lunaSec.grants.create(accounts.lunaSecId(s.id), tokens, duration);
  } catch (err) {
    return sdkError(res, err);
  }
  json(res, 200, { success: true, profile: { username: row.username, ssn: row.ssn, note: row.note, documents: [...row.documents], updatedAt: row.updatedAt } });
});

// The one-field API the end-to-end tests use: store a token after checking this session's store
// grant; give it back with a read grant (`?duration=`).
app.post('/api/ssn', async (req, res) => {
  const s = apiSession(req, res);
  if (!s) return;
  const token = req.body && typeof req.body === 'object' && !(req.body instanceof URLSearchParams) ? req.body.token : undefined;
  try {
    await lunaSec.grants.verifyWithAutomaticSessionId(req, token);
  } catch (err) {
    return sdkError(res, err);
  }
  const row = rowOf(s.username, true);
  row.ssn = token;
  row.updatedAt = new Date().toISOString();
  json(res, 200, { success: true });
});

app.get('/api/ssn', async (req, res) => {
  const s = apiSession(req, res);
  if (!s) return;
  const row = rowOf(s.username);
  if (!row || !row.ssn) return json(res, 404, { success: false, error: { name: 'notFound', message: 'nothing stored' } });
  try {
    await lunaSec.grants.createWithAutomaticSessionId(req, row.ssn, typeof req.query.duration === 'string' ? req.query.duration : undefined);
  } catch (err) {
    return sdkError(res, err);
  }
  json(res, 200, { success: true, token: row.ssn });
});

// GraphQL mode: the same sensitive field read and written through GraphQL (POST /graphql).
require('./graphql').mountGraphQL(app, { lunaSec, sessionOf, rowOf });

app.use((req, res) => fail(req, res, 404, 'notFound', 'There is nothing here.'));

// Errors are answered, never printed (a stack trace or a parse error could carry request data).
// eslint-disable-next-line no-unused-vars
app.use((err, req, res, next) => {
  if (res.headersSent) return;
  fail(req, res, 500, 'internalError', 'Something went wrong on our side.');
});

const server = app.listen(port, host, () => {
  process.stdout.write(`demo app listening on http://localhost:${port} (tokenizer: ${publicTokenizerUrl})\n`);
});

for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => server.close(() => process.exit(0)));
