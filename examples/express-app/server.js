'use strict';
// A minimal Express backend using the SDK: a toy login that gives each browser a session, and the
// auth plugin's routes the Dedicated Tokenizer relies on (/.lunasec/jwks.json, /.lunasec/secure-frame).
//
//   APP_PORT            default 3001
//   TOKENIZER_URL       default http://localhost:37766
//   PUBLIC_TOKENIZER_URL where browsers reach the tokenizer, if different
//   LUNASEC_SIGNING_KEY base64 of a PEM RSA private key. When unset, a throwaway key is generated
//                       (demo only: every restart invalidates the sessions the tokenizer knows).
const crypto = require('node:crypto');
const express = require('express');
const { LunaSec } = require('../..');

const port = Number(process.env.APP_PORT || 3001);
const tokenizerURL = process.env.TOKENIZER_URL || 'http://localhost:37766';

let secrets = { provider: 'environment' };
if (!process.env.LUNASEC_SIGNING_KEY) {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  secrets = { provider: 'manual', signingKey: privateKey };
}

function sessionId(req) {
  const m = /(?:^|;\s*)demo_session=([A-Za-z0-9_-]{16,64})/.exec(req.headers.cookie || '');
  return m ? m[1] : null;
}

const lunaSec = new LunaSec({
  tokenizerURL,
  ...(process.env.PUBLIC_TOKENIZER_URL ? { publicTokenizerUrl: process.env.PUBLIC_TOKENIZER_URL } : {}),
  auth: { secrets, sessionIdProvider: sessionId },
});

const app = express();
app.disable('x-powered-by');
lunaSec.expressAuthPlugin.register(app);

// "The database": one sensitive field per session, stored as a token, never as plaintext.
const records = new Map();

function requireSession(req, res) {
  const id = sessionId(req);
  if (!id) res.status(401).json({ success: false, error: 'log in first' });
  return id;
}

function sendError(res, err) {
  res.status(err.statusCode || 500).json({ success: false, error: { name: err.name, errorCode: err.errorCode, message: err.message } });
}

// The browser tokenized a value through the tokenizer (secure frame) and sends the token: check
// that this session created it (store grant) before storing it.
app.post('/api/ssn', express.json({ limit: '4kb' }), async (req, res) => {
  const id = requireSession(req, res);
  if (!id) return;
  const token = req.body && req.body.token;
  try {
    await lunaSec.grants.verifyWithAutomaticSessionId(req, token);
  } catch (err) {
    return sendError(res, err);
  }
  records.set(id, token);
  res.json({ success: true });
});

// Give the token back with a read grant, so this session's secure frame can detokenize it.
app.get('/api/ssn', async (req, res) => {
  const id = requireSession(req, res);
  if (!id) return;
  const token = records.get(id);
  if (!token) return res.status(404).json({ success: false, error: 'nothing stored' });
  try {
    await lunaSec.grants.createWithAutomaticSessionId(req, token, typeof req.query.duration === 'string' ? req.query.duration : undefined);
  } catch (err) {
    return sendError(res, err);
  }
  res.json({ success: true, token });
});

app.get('/api/health', (req, res) => res.json({ success: true }));

app.get('/login', (req, res) => {
  const id = crypto.randomBytes(24).toString('base64url');
  res.cookie('demo_session', id, { httpOnly: true, sameSite: 'lax', path: '/' });
  res.redirect('/');
});

app.get('/logout', (req, res) => {
  res.clearCookie('demo_session', { path: '/' });
  res.redirect('/');
});

app.get('/', (req, res) => {
  const loggedIn = sessionId(req) !== null;
  res.type('html').send(`<!doctype html><title>LunaSec demo app</title>
<h1>LunaSec demo app</h1>
<p>${loggedIn ? 'Logged in (you have a demo session).' : 'Not logged in.'} <a href="${loggedIn ? '/logout' : '/login'}">${loggedIn ? 'Log out' : 'Log in'}</a></p>
<ul>
  <li><a href="/.lunasec/jwks.json">/.lunasec/jwks.json</a>: the public keys the tokenizer verifies this app's JWTs with</li>
  <li>/.lunasec/secure-frame?state=…: the session redirect to the tokenizer at ${tokenizerURL}</li>
  <li>POST /api/ssn {token}: stores a token after checking this session's store grant</li>
  <li>GET /api/ssn: returns the stored token with a read grant for this session</li>
</ul>`);
});

const host = process.env.APP_HOST || '127.0.0.1';
const server = app.listen(port, host, () => {
  process.stdout.write(`demo app listening on http://localhost:${port} (tokenizer: ${tokenizerURL})\n`);
});

for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => server.close(() => process.exit(0)));
