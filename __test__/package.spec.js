'use strict';
// The npm packages as a new user gets them: a fresh Express 5 app in a temp folder installs ONLY
// the tarballs of `npm run package` (dist/) plus express and jose from the registry, and runs the
// README's setup code. Nothing from the checkout is used by that app: its signing key comes from
// its own `npx lunasec keygen`, its tokenizer from its own `npx lunasec-tokenizer --dev`.
// (The test harness itself uses jose, installed in the app, and test-support's cookie-jar browser.)
//
// scripts/test.sh runs `npm run package` before jest.
const { spawn, execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Browser } = require('../test-support/browser');
const { freePort } = require('../test-support/stack');
const { JWT_RE } = require('./helpers');

const ROOT = path.join(__dirname, '..');
const DIST = path.join(ROOT, 'dist');
const { version } = require('../package.json');
const TARBALLS = [
  `lunasec-rs-node-sdk-${version}.tgz`,
  `lunasec-rs-node-sdk-linux-x64-gnu-${version}.tgz`,
  `lunasec-rs-tokenizer-${version}.tgz`,
  `lunasec-rs-tokenizer-linux-x64-gnu-${version}.tgz`,
];

jest.setTimeout(240000);

/** The first ```js block of the README's "## Use" section: the setup code a new user copies. */
function readmeSetupCode() {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const use = readme.indexOf('\n## Use');
  expect(use).toBeGreaterThan(0);
  const m = /```js\n([\s\S]*?)```/.exec(readme.slice(use));
  expect(m).not.toBeNull();
  return m[1];
}

// The app around the README's code: a stand-in session library (req.session from a cookie), a
// login route, and two routes that use grants. Express 5 sends rejected handlers to the error handler.
const SERVER_JS = `'use strict';
const crypto = require('node:crypto');
const express = require('express');
Object.defineProperty(express.request, 'session', {
  configurable: true,
  get() {
    const m = /(?:^|;\\s*)sid=([^;]+)/.exec(this.headers.cookie || '');
    return m ? { id: m[1] } : undefined;
  },
});
const { app, lunaSec } = require('./lunasec-setup');
app.get('/login', (req, res) => {
  res.setHeader('set-cookie', 'sid=' + crypto.randomUUID() + '; Path=/; HttpOnly; SameSite=Lax');
  res.json({ ok: true });
});
app.post('/api/save', express.json(), async (req, res) => {
  await lunaSec.grants.verifyWithAutomaticSessionId(req, req.body.token);
  res.json({ ok: true });
});
app.post('/api/grant', express.json(), async (req, res) => {
  await lunaSec.grants.createWithAutomaticSessionId(req, req.body.token);
  res.json({ ok: true });
});
app.use((err, req, res, next) => {
  res.status(err.statusCode || 500).json({ error: { name: err.name, errorCode: err.errorCode } });
});
app.listen(Number(process.env.PORT), '127.0.0.1', () => process.stdout.write('listening\\n'));
`;

let dir;
const procs = [];
const logs = [];

function run(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 180000, ...opts });
}

/** Starts a process in its own process group (so npx and everything under it can be stopped). */
function start(name, cmd, args, env = {}) {
  const proc = spawn(cmd, args, { cwd: dir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  proc.stdout.on('data', (c) => logs.push(`[${name}] ${c}`));
  proc.stderr.on('data', (c) => logs.push(`[${name}] ${c}`));
  procs.push(proc);
  return proc;
}

async function waitFor(url, ms = 30000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(url, { signal: AbortSignal.timeout(1000) })).ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not come up\n${logs.join('').slice(-3000)}`);
}

async function down(url) {
  try {
    await fetch(url, { signal: AbortSignal.timeout(1000) });
    return false;
  } catch {
    return true;
  }
}

function stopGroup(proc) {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  const exited = new Promise((r) => proc.once('exit', r));
  try {
    process.kill(-proc.pid, 'SIGTERM');
  } catch {
    // already gone
  }
  return exited;
}

let app;
let appUrl;
let tokenizerUrl;

beforeAll(async () => {
  for (const t of TARBALLS) {
    if (!fs.existsSync(path.join(DIST, t))) throw new Error(`dist/${t} is missing: run npm run package first`);
  }
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lunasec-fresh-app-'));
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'fresh-app', version: '1.0.0', private: true }, null, 2));
  run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', ...TARBALLS.map((t) => path.join(DIST, t)), 'express@5', 'jose@6']);
  fs.writeFileSync(path.join(dir, 'lunasec-setup.js'), `${readmeSetupCode()}\nmodule.exports = { app, lunaSec };\n`);
  fs.writeFileSync(path.join(dir, 'server.js'), SERVER_JS);

  // The app's key, from the installed CLI.
  run('npx', ['--no-install', 'lunasec', 'keygen', '--out', '.env']);

  const appPort = await freePort();
  const tokenizerPort = await freePort();
  appUrl = `http://127.0.0.1:${appPort}`;
  tokenizerUrl = `http://127.0.0.1:${tokenizerPort}`;
  app = start('app', process.execPath, ['--env-file=.env', 'server.js'], { PORT: String(appPort), TOKENIZER_URL: tokenizerUrl });
  start('tokenizer', 'npx', [
    '--no-install',
    'lunasec-tokenizer',
    '--dev',
    '--http-addr', `127.0.0.1:${tokenizerPort}`,
    '--data-dir', path.join(dir, '.lunasec-tokenizer'),
    '--session-jwks-url', `${appUrl}/.lunasec/jwks.json`,
    '--auth-providers', JSON.stringify({ app: { url: appUrl, default: true } }),
    '--application-front-end', appUrl,
  ]);
  await waitFor(`${appUrl}/.lunasec/jwks.json`);
  await waitFor(`${tokenizerUrl}/health`);
  // Ready: the app's keys loaded (a tokenizer without GET /ready answers 404 there).
  const readyBy = Date.now() + 30000;
  let ready;
  do {
    ready = (await fetch(`${tokenizerUrl}/ready`)).status;
    if (ready !== 200 && ready !== 404) await new Promise((r) => setTimeout(r, 100));
  } while (ready !== 200 && ready !== 404 && Date.now() < readyBy);
  expect([200, 404]).toContain(ready);
});

afterAll(async () => {
  await Promise.all(procs.map(stopGroup));
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('installs from the tarballs alone: the platform packages come from dist, nothing from the checkout', () => {
  const lock = JSON.parse(fs.readFileSync(path.join(dir, 'package-lock.json'), 'utf8'));
  const pkgs = lock.packages;
  for (const name of ['@lunasec-rs/node-sdk', '@lunasec-rs/node-sdk-linux-x64-gnu', '@lunasec-rs/tokenizer', '@lunasec-rs/tokenizer-linux-x64-gnu']) {
    expect(pkgs[`node_modules/${name}`]).toMatchObject({ version });
    expect(fs.lstatSync(path.join(dir, 'node_modules', name)).isSymbolicLink()).toBe(false);
  }
  const sdk = JSON.parse(fs.readFileSync(path.join(dir, 'node_modules/@lunasec-rs/node-sdk/package.json'), 'utf8'));
  expect(sdk.optionalDependencies).toEqual({
    '@lunasec-rs/node-sdk-linux-x64-gnu': version,
    '@lunasec-rs/node-sdk-linux-arm64-gnu': version,
    '@lunasec-rs/node-sdk-darwin-x64': version,
    '@lunasec-rs/node-sdk-darwin-arm64': version,
    '@lunasec-rs/node-sdk-win32-x64-msvc': version,
  });
  expect(sdk.devDependencies).toBeUndefined();
  expect(sdk.scripts).toBeUndefined();
  // The .node is in the platform package only; the SDK loads it from there.
  expect(fs.existsSync(path.join(dir, 'node_modules/@lunasec-rs/node-sdk-linux-x64-gnu/lunasec.linux-x64-gnu.node'))).toBe(true);
  expect(fs.readdirSync(path.join(dir, 'node_modules/@lunasec-rs/node-sdk')).some((f) => f.endsWith('.node'))).toBe(false);
  const out = run(process.execPath, ['-e', "process.stdout.write(require.resolve('@lunasec-rs/node-sdk') + '\\n' + Object.keys(require('@lunasec-rs/node-sdk')).join(','))"]);
  expect(out.split('\n')[0]).toBe(path.join(fs.realpathSync(dir), 'node_modules/@lunasec-rs/node-sdk/lib/index.js'));
  expect(out).toMatch(/LunaSec,LunaSecError,ERROR_CODES/);
});

test('the README setup code serves a JWKS that jose verifies the secure-frame redirect JWT with', async () => {
  const jwks = await fetch(`${appUrl}/.lunasec/jwks.json`);
  expect(jwks.status).toBe(200);
  const { keys } = await jwks.json();
  expect(keys).toEqual([expect.objectContaining({ kty: 'RSA', alg: 'RS256', use: 'sig', kid: 'lunasec-signing-key' })]);

  const browser = new Browser();
  await browser.request(`${appUrl}/login`);
  const sid = browser.cookie(appUrl, 'sid');
  expect(sid).toBeTruthy();
  const redirect = await browser.request(`${appUrl}/.lunasec/secure-frame?state=abc123`);
  expect(redirect.status).toBe(302);
  const location = new URL(redirect.headers.get('location'));
  expect(`${location.origin}${location.pathname}`).toBe(`${tokenizerUrl}/session/create`);
  expect(location.searchParams.get('state')).toBe('abc123');

  // jose, as installed in the app, verifies the user JWT against the app's JWKS.
  const verify = `
    const { createRemoteJWKSet, jwtVerify } = await import('jose');
    const keys = createRemoteJWKSet(new URL(process.argv[1]));
    const { payload, protectedHeader } = await jwtVerify(process.argv[2], keys, { issuer: 'node-sdk', audience: 'secure-frame', algorithms: ['RS256'] });
    process.stdout.write(JSON.stringify({ sub: payload.sub, session_id: payload.session_id, alg: protectedHeader.alg }));`;
  const out = run(process.execPath, ['--input-type=module', '-e', verify, `${appUrl}/.lunasec/jwks.json`, location.searchParams.get('openid_token')]);
  expect(JSON.parse(out)).toEqual({ sub: 'user', session_id: sid, alg: 'RS256' });
  // A tampered JWT does not verify.
  const tampered = location.searchParams.get('openid_token').replace(/\.([^.]{4})/, '.AAAA');
  expect(() => run(process.execPath, ['--input-type=module', '-e', verify, `${appUrl}/.lunasec/jwks.json`, tampered])).toThrow();
});

test('grants against the npx lunasec-tokenizer --dev tokenizer: a store grant verified, a read grant created for another session', async () => {
  const browser = new Browser();
  await browser.request(`${appUrl}/login`);
  const chain = await browser.follow(`${tokenizerUrl}/session/ensure`);
  expect(chain.some((r) => (r.headers.get('location') || '').startsWith(`${appUrl}/.lunasec/secure-frame?`))).toBe(true);
  expect(chain[chain.length - 1].status).toBe(200);
  expect(browser.cookie(tokenizerUrl, '__Host-access_token')).toBeTruthy();

  const value = `fresh-${crypto.randomUUID()}`;
  const tok = await browser.tokenize(tokenizerUrl, value);
  expect(tok.status).toBe(200);
  // The app checks the store grant (this session created the token) …
  expect((await browser.json(`${appUrl}/api/save`, { token: tok.tokenId })).status).toBe(200);
  // … which another session does not have.
  const other = new Browser();
  await other.request(`${appUrl}/login`);
  expect((await other.follow(`${tokenizerUrl}/session/ensure`)).pop().status).toBe(200);
  expect((await other.json(`${appUrl}/api/save`, { token: tok.tokenId })).body).toEqual({ error: { name: 'invalidGrant', errorCode: 'ERR_INVALID_GRANT' } });

  // The other session cannot read the value until the app creates a read grant for it.
  expect((await other.detokenize(tokenizerUrl, tok.tokenId)).status).toBe(403);
  expect((await other.json(`${appUrl}/api/grant`, { token: tok.tokenId })).status).toBe(200);
  const read = await other.detokenize(tokenizerUrl, tok.tokenId);
  expect(read.status).toBe(200);
  expect(read.value.toString('utf8')).toBe(value);

  // The installed CLI reads it too, with the app's key.
  const viaCli = run('npx', ['--no-install', 'lunasec', 'detokenize', tok.tokenId, '--key-file', '.env', '--tokenizer-url', tokenizerUrl]);
  expect(viaCli).toBe(value);
  expect(logs.join('')).not.toContain(value);
  expect(logs.join('')).not.toMatch(JWT_RE);
});

test('ESM: named imports from the package, its browser entry and package.json resolve', () => {
  const code = `
    import { LunaSec, LunaSecError, ERROR_CODES, isToken } from '@lunasec-rs/node-sdk';
    import sdk from '@lunasec-rs/node-sdk';
    import { createRequire } from 'node:module';
    const require = createRequire(import.meta.url);
    const lunaSec = new LunaSec({ tokenizerURL: 'http://127.0.0.1:1', auth: { secrets: { provider: 'environment' }, sessionIdProvider: () => null } });
    process.stdout.write(JSON.stringify({
      same: sdk.LunaSec === LunaSec && require('@lunasec-rs/node-sdk').LunaSec === LunaSec,
      plugin: typeof lunaSec.expressAuthPlugin.register,
      error: new LunaSecError({ name: 'badToken', code: '400' }) instanceof Error,
      codes: ERROR_CODES.ERR_BAD_TOKEN,
      token: isToken('lunasec-351d1033-0e9f-4a1b-bbb6-adec04837a5c'),
      browser: import.meta.resolve('@lunasec-rs/node-sdk/browser').endsWith('/node_modules/@lunasec-rs/node-sdk/browser/index.mjs'),
      version: require('@lunasec-rs/node-sdk/package.json').version,
    }));`;
  const out = JSON.parse(run(process.execPath, ['--input-type=module', '-e', code]));
  expect(out).toEqual({ same: true, plugin: 'function', error: true, codes: ['badToken', 400, '400'], token: true, browser: true, version });
});

test('a missing platform package is one clear error naming the platform and the package', () => {
  const failWithout = (pkg, cmd, args) => {
    const from = path.join(dir, 'node_modules', pkg);
    const aside = path.join(dir, 'aside');
    fs.renameSync(from, aside);
    try {
      const r = require('node:child_process').spawnSync(cmd, args, { cwd: dir, encoding: 'utf8' });
      return r;
    } finally {
      fs.renameSync(aside, from);
    }
  };
  const sdk = failWithout('@lunasec-rs/node-sdk-linux-x64-gnu', process.execPath, ['-e', "require('@lunasec-rs/node-sdk')"]);
  expect(sdk.status).toBe(1);
  expect(sdk.stderr).toContain('@lunasec-rs/node-sdk: the native binary for this platform (linux-x64-gnu) is missing: install the package @lunasec-rs/node-sdk-linux-x64-gnu');
  const tok = failWithout('@lunasec-rs/tokenizer-linux-x64-gnu', 'npx', ['--no-install', 'lunasec-tokenizer', '--version']);
  expect(tok.status).toBe(1);
  expect(tok.stderr.trim()).toBe(
    'lunasec-tokenizer: @lunasec-rs/tokenizer: the lunasec-tokenizer binary for this platform (linux-x64-gnu) is missing: install the package @lunasec-rs/tokenizer-linux-x64-gnu (an optionalDependency of @lunasec-rs/tokenizer; reinstall without --omit=optional / --no-optional)',
  );
});

test('the lunasec-tokenizer launcher passes arguments and exit status through and forwards SIGTERM', async () => {
  const launcher = path.join(dir, 'node_modules/.bin/lunasec-tokenizer');
  const version = run(launcher, ['--version']);
  expect(version.trim()).toMatch(/^lunasec-tokenizer \d+\.\d+\.\d+/);
  // Bad configuration: the tokenizer exits 2, and so does the launcher.
  const bad = require('node:child_process').spawnSync(launcher, ['--http-addr', 'not-an-address'], { cwd: dir, encoding: 'utf8', env: { ...process.env, TOKENIZER_ENV: 'dev' } });
  expect(bad.status).toBe(2);

  const port = await freePort();
  const proc = spawn(launcher, ['--dev', '--http-addr', `127.0.0.1:${port}`, '--data-dir', path.join(dir, '.t2'), '--session-jwks-url', `${appUrl}/.lunasec/jwks.json`], { cwd: dir, stdio: 'ignore' });
  procs.push(proc);
  await waitFor(`http://127.0.0.1:${port}/health`);
  const exited = new Promise((r) => proc.once('exit', (code, signal) => r({ code, signal })));
  proc.kill('SIGTERM'); // the launcher only: it forwards the signal to the tokenizer
  const { code, signal } = await exited;
  expect(signal === 'SIGTERM' || code === 0).toBe(true);
  expect(await down(`http://127.0.0.1:${port}/health`)).toBe(true);
});
