'use strict';
// The end-to-end rig: our Dedicated Tokenizer (the release binary) and the example Express app
// using the SDK, on free loopback ports, wired to each other. Storage is either the tokenizer's
// embedded defaults (no services) or LocalStack (S3 ciphertext + DynamoDB records).
//
//   const stack = await startStack({ mode: 'aws' | 'embedded' });
//   stack.tokenizerUrl, stack.appUrl, stack.signingKey (base64 PEM), stack.logs(), await stack.stop()
//
// `appHost: 'localhost'` puts the app on http://localhost:<port> (it still listens on 127.0.0.1), a
// different site from the tokenizer's http://127.0.0.1:<port>, as in production: browser tests use it.
//
// The tokenizer binary comes from LUNASEC_TOKENIZER_BIN or target/<host>/release/lunasec-tokenizer
// (scripts/test.sh builds it). Every process's output is captured for leak assertions.
const { spawn, execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');

function tokenizerBinary() {
  if (process.env.LUNASEC_TOKENIZER_BIN) return process.env.LUNASEC_TOKENIZER_BIN;
  const host = execFileSync('rustc', ['-vV'], { encoding: 'utf8' }).match(/^host: (.+)$/m)[1];
  return path.join(ROOT, 'target', host, 'release', 'lunasec-tokenizer');
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitFor(url, ms, proc) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (proc && proc.exitCode !== null) throw new Error(`${url}: process exited with ${proc.exitCode}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (res.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not become ready within ${ms} ms`);
}

function launch(name, cmd, args, env, logs) {
  const proc = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const append = (chunk) => logs.push({ name, text: chunk.toString('utf8') });
  proc.stdout.on('data', append);
  proc.stderr.on('data', append);
  return proc;
}

async function stopProc(proc) {
  if (!proc || proc.exitCode !== null || proc.signalCode) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/** Environment for a tokenizer process. */
function tokenizerEnv({ mode, port, appUrl, dataDir, secret, bucket, table, extra }) {
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    TOKENIZER_HTTP_ADDR: `127.0.0.1:${port}`,
    TOKENIZER_PUBLIC_URL: `http://127.0.0.1:${port}`,
    SESSION_JWKS_URL: `${appUrl}/.lunasec/jwks.json`,
    AUTH_PROVIDERS: JSON.stringify({ app: { url: appUrl, default: true } }),
    APPLICATION_FRONT_END: appUrl,
    TOKENIZER_DATA_DIR: dataDir,
    TOKENIZER_SECRET: secret,
    TOKENIZER_LOG_FORMAT: 'json',
    RUST_LOG: 'info',
  };
  if (mode === 'aws') {
    if (!process.env.LOCALSTACK_ENDPOINT) throw new Error('mode aws needs LOCALSTACK_ENDPOINT (jest global setup starts LocalStack)');
    Object.assign(env, {
      STORAGE_BACKEND: 'dynamodb',
      DYNAMODB_TABLE: table,
      DYNAMODB_CREATE_TABLE: 'true',
      CIPHERTEXT_BACKEND: 's3',
      CIPHERTEXT_VAULT_S3_BUCKET: bucket,
      S3_CREATE_BUCKET: 'true',
      LOCALSTACK_URL: process.env.LOCALSTACK_ENDPOINT,
      AWS_REGION: 'us-west-2',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
    });
  }
  return { ...env, ...extra };
}

/**
 * Starts the example app and one or more tokenizers sharing storage (several tokenizers behind
 * one app model a load-balanced deployment; they share DynamoDB + S3 in mode 'aws').
 */
async function startStack({ mode = 'embedded', tokenizers = 1, tokenizerEnv: extraEnv = {}, appEnv = {}, appHost = '127.0.0.1' } = {}) {
  const logs = [];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lunasec-stack-'));
  const id = crypto.randomBytes(4).toString('hex');
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const signingKey = Buffer.from(privateKey.export({ type: 'pkcs8', format: 'pem' })).toString('base64');
  const secret = crypto.randomBytes(32).toString('hex');
  const appPort = await freePort();
  const appUrl = `http://${appHost}:${appPort}`;
  const ports = [];
  for (let i = 0; i < tokenizers; i++) ports.push(await freePort());
  const procs = [];
  const tokenizerProcs = [];
  const stop = async () => {
    await Promise.all(procs.map(stopProc));
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    const app = launch(
      'app',
      process.execPath,
      [path.join(ROOT, 'examples/express-app/server.js')],
      {
        PATH: process.env.PATH,
        APP_PORT: String(appPort),
        TOKENIZER_URL: `http://127.0.0.1:${ports[0]}`,
        LUNASEC_SIGNING_KEY: signingKey,
        ...appEnv,
      },
      logs,
    );
    procs.push(app);
    await waitFor(`${appUrl}/api/health`, 15000, app);
    const bucket = `lunasec-${id}`;
    const table = `lunasec-${id}`;
    for (let i = 0; i < tokenizers; i++) {
      const env = tokenizerEnv({ mode, port: ports[i], appUrl, dataDir: path.join(dir, `tokenizer-${i}`), secret, bucket, table, extra: extraEnv });
      const proc = launch(`tokenizer-${i}`, tokenizerBinary(), [], env, logs);
      procs.push(proc);
      tokenizerProcs.push(proc);
      await waitFor(`http://127.0.0.1:${ports[i]}/health`, 30000, proc);
    }
  } catch (e) {
    await stop();
    throw new Error(`${e.message}\n--- logs ---\n${logs.map((l) => `[${l.name}] ${l.text}`).join('').slice(-4000)}`);
  }
  return {
    mode,
    appUrl,
    tokenizerUrl: `http://127.0.0.1:${ports[0]}`,
    tokenizerUrls: ports.map((p) => `http://127.0.0.1:${p}`),
    signingKey,
    logs: () => logs.map((l) => l.text).join(''),
    /** Stops tokenizer `i` only (SIGTERM, graceful), leaving the app running. */
    stopTokenizer: (i = 0) => stopProc(tokenizerProcs[i]),
    stop,
  };
}

module.exports = { startStack, freePort, tokenizerBinary };
