'use strict';
// LocalStack (S3 + DynamoDB + Secrets Manager, host mode, no Docker) for tests.
//
//   const { startLocalStack } = require('../test-support/localstack');
//   const ls = await startLocalStack();          // { endpoint, port, reused, stop }
//   ... use ls.endpoint with credentials test/test, any region, path-style S3 ...
//   await ls.stop();
//
// Or as jest globalSetup/globalTeardown (the endpoint reaches the test workers through
// process.env.LOCALSTACK_ENDPOINT, which jest workers inherit):
//   globalSetup:    '<rootDir>/test-support/localstack-global-setup.js'
//      module.exports = require('./localstack').globalSetup;
//   globalTeardown: module.exports = require('./localstack').globalTeardown;
//
// Reuse: if LOCALSTACK_ENDPOINT is set and its /_localstack/health answers, that instance is used
// and stop() does nothing (a developer can keep one running across jest runs).
//
// Under the hood: scripts/localstack/install.sh (a no-op taking milliseconds once cached in
// ${LUNASEC_CACHE_DIR:-~/.cache/lunasec-rs}/localstack), then scripts/localstack/start.sh PORT and,
// on stop, scripts/localstack/stop.sh PORT. Silent unless something fails; a failure's Error
// carries the scripts' stderr (including the last 50 lines of LocalStack's log).

const { execFile, spawnSync } = require('node:child_process');
const net = require('node:net');
const http = require('node:http');
const path = require('node:path');

const SCRIPTS = path.resolve(__dirname, '..', 'scripts', 'localstack');
const INSTALL_TIMEOUT_MS = 15 * 60 * 1000; // cold install is ~90 s; leave room for slow mirrors
const START_TIMEOUT_MS = 3 * 60 * 1000; // start.sh gives up after 90 s (+ DynamoDB warm-up)
const STOP_TIMEOUT_MS = 60 * 1000; // stop.sh: 15 s TERM grace, then KILL

function runScript(name, args, timeoutMs) {
  return new Promise((resolve, reject) => {
    execFile(
      'bash',
      [path.join(SCRIPTS, name), ...args],
      { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024, env: process.env },
      (err, stdout, stderr) => {
        if (err) {
          const why = err.killed ? `timed out after ${timeoutMs} ms` : `exit code ${err.code}`;
          const e = new Error(`scripts/localstack/${name} ${args.join(' ')} failed (${why}):\n${stderr}`);
          e.stderr = stderr;
          reject(e);
        } else {
          resolve({ stdout, stderr });
        }
      },
    );
  });
}

/** Resolves true if GET <endpoint>/_localstack/health answers 200 within timeoutMs. */
function isHealthy(endpoint, timeoutMs = 2000) {
  return new Promise((resolve) => {
    let url;
    try {
      url = new URL('/_localstack/health', endpoint);
    } catch {
      resolve(false);
      return;
    }
    // agent: false = a fresh connection each time. Node's global agent keeps connections alive, and
    // reusing one that the server closed while idle fails with ECONNRESET (a false "unhealthy").
    const req = http.get(url, { timeout: timeoutMs, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

/** A loopback port that was free a moment ago (start.sh re-checks; we retry on a race). */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

let installed = null; // one install.sh run per process is enough
function ensureInstalled() {
  if (!installed) {
    installed = runScript('install.sh', [], INSTALL_TIMEOUT_MS).catch((e) => {
      installed = null;
      throw e;
    });
  }
  return installed;
}

/**
 * Start (or reuse) a LocalStack instance.
 * @param {{ port?: number, reuse?: boolean }} [opts]
 *   port:  fixed port (default: a free loopback port)
 *   reuse: honour LOCALSTACK_ENDPOINT (default true)
 * @returns {Promise<{ endpoint: string, port: number, reused: boolean, stop: () => Promise<void> }>}
 */
async function startLocalStack({ port, reuse = true } = {}) {
  const existing = process.env.LOCALSTACK_ENDPOINT;
  if (reuse && existing) {
    if (await isHealthy(existing)) {
      const endpoint = existing.replace(/\/+$/, '');
      return { endpoint, port: Number(new URL(endpoint).port) || 80, reused: true, stop: async () => {} };
    }
    console.warn(`LOCALSTACK_ENDPOINT=${existing} is not healthy; starting a private LocalStack instead`);
  }

  await ensureInstalled();

  const fixedPort = port !== undefined && port !== null;
  let lastErr;
  for (let attempt = 0; attempt < (fixedPort ? 1 : 3); attempt++) {
    const p = fixedPort ? Number(port) : await freePort();
    try {
      await runScript('start.sh', [String(p)], START_TIMEOUT_MS);
    } catch (e) {
      lastErr = e;
      // Only a lost race for an auto-picked port is worth another try.
      if (!fixedPort && /already in use/.test(e.stderr || '')) continue;
      throw e;
    }
    return makeHandle(p);
  }
  throw lastErr;
}

// Ports of instances this process started and has not stopped yet. Safety net: if the process
// exits (or is interrupted) without calling stop() — crash, forgotten teardown, Ctrl-C — stop them
// synchronously so no LocalStack or JVM outlives the test run. (LocalStack runs in its own session,
// so a Ctrl-C on the terminal does not reach it by itself.)
const live = new Set();
let hooked = false;

function stopAllSync() {
  for (const port of live) {
    spawnSync('bash', [path.join(SCRIPTS, 'stop.sh'), String(port)], { stdio: 'ignore', timeout: STOP_TIMEOUT_MS });
  }
  live.clear();
}

function hookProcess() {
  if (hooked) return;
  hooked = true;
  process.on('exit', stopAllSync);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    const onSignal = () => {
      process.removeListener(sig, onSignal);
      stopAllSync();
      // Keep the default behaviour (die by that signal) unless someone else handles it.
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
}

function makeHandle(port) {
  live.add(port);
  hookProcess();
  let stopping = null;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    reused: false,
    stop() {
      if (!stopping) {
        stopping = runScript('stop.sh', [String(port)], STOP_TIMEOUT_MS).then(() => {
          live.delete(port);
        });
      }
      return stopping;
    },
  };
}

// ---- jest globalSetup / globalTeardown helpers ---------------------------------------------------
// globalSetup and globalTeardown run in the same process (globalThis is shared between them), and
// the workers jest spawns afterwards inherit process.env.
const GLOBAL_KEY = Symbol.for('lunasec.localstack');

async function globalSetup() {
  const ls = await startLocalStack();
  globalThis[GLOBAL_KEY] = { ls, previous: process.env.LOCALSTACK_ENDPOINT };
  process.env.LOCALSTACK_ENDPOINT = ls.endpoint;
}

async function globalTeardown() {
  const state = globalThis[GLOBAL_KEY];
  if (!state) return;
  delete globalThis[GLOBAL_KEY];
  if (state.previous === undefined) delete process.env.LOCALSTACK_ENDPOINT;
  else process.env.LOCALSTACK_ENDPOINT = state.previous;
  await state.ls.stop();
}

module.exports = { startLocalStack, isHealthy, globalSetup, globalTeardown };
