'use strict';
// The `lunasec` CLI (bin/lunasec.js), run as a user runs it: a child process, real tokenizer.
const { spawn, spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const express = require('express');
const { LunaSec } = require('../lib');
const { startStack, freePort, tokenizerBinary } = require('../test-support/stack');
const { JWT_RE } = require('./helpers');

const CLI = path.join(__dirname, '..', 'bin', 'lunasec.js');
const TOKEN = 'lunasec-351d1033-0e9f-4a1b-bbb6-adec04837a5c';

let tmp;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lunasec-cli-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Runs the CLI; stdout as a Buffer. `env` replaces the key/URL variables (never inherited). */
function cli(args, { input, env = {}, cwd = tmp, shell } = {}) {
  const base = { ...process.env };
  delete base.LUNASEC_SIGNING_KEY;
  delete base.TOKENIZER_URL;
  const r = shell
    ? spawnSync('sh', ['-c', shell], { cwd, env: { ...base, ...env, CLI } })
    : spawnSync(process.execPath, [CLI, ...args], { cwd, env: { ...base, ...env }, input });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString('utf8') };
}

const modeOf = (file) => fs.statSync(file).mode & 0o777;

function parseEnv(text) {
  return Object.fromEntries(
    text
      .trim()
      .split('\n')
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

describe('lunasec keygen', () => {
  test('prints an RSA-2048 key that loads as LUNASEC_SIGNING_KEY, and a 32-byte tokenizer secret', async () => {
    const r = cli(['keygen']);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    const env = parseEnv(r.stdout.toString('utf8'));
    expect(Object.keys(env)).toEqual(['LUNASEC_SIGNING_KEY', 'TOKENIZER_SECRET']);
    const pem = Buffer.from(env.LUNASEC_SIGNING_KEY, 'base64').toString('utf8');
    expect(pem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    const key = crypto.createPrivateKey(pem);
    expect(key.asymmetricKeyType).toBe('rsa');
    expect(key.asymmetricKeyDetails.modulusLength).toBe(2048);
    expect(Buffer.from(env.TOKENIZER_SECRET, 'base64url')).toHaveLength(32);
    // The SDK loads it from the environment and signs with it.
    process.env.LUNASEC_CLI_TEST_KEY = env.LUNASEC_SIGNING_KEY;
    try {
      const sdk = new LunaSec({ tokenizerURL: 'http://127.0.0.1:1', auth: { secrets: { provider: 'environment', variable: 'LUNASEC_CLI_TEST_KEY' }, sessionIdProvider: () => null } });
      const jwks = await sdk.keyService.getJwksConfig();
      expect(jwks.keys[0].n).toBe(key.export({ format: 'jwk' }).n);
    } finally {
      delete process.env.LUNASEC_CLI_TEST_KEY;
    }
    // Fresh material every time.
    expect(parseEnv(cli(['keygen']).stdout.toString('utf8')).LUNASEC_SIGNING_KEY).not.toBe(env.LUNASEC_SIGNING_KEY);
  });

  test('--out writes a 0600 file (whatever the umask), prints no key, refuses to overwrite without --force', () => {
    const file = path.join(tmp, 'keys.env');
    const r = cli([], { shell: `umask 000 && "${process.execPath}" "$CLI" keygen --out keys.env` });
    expect(r.status).toBe(0);
    expect(r.stdout.toString('utf8')).toBe('');
    const text = fs.readFileSync(file, 'utf8');
    const env = parseEnv(text);
    expect(modeOf(file)).toBe(0o600);
    expect(r.stderr).toContain('keys.env (mode 0600)');
    expect(r.stderr).not.toContain(env.LUNASEC_SIGNING_KEY.slice(0, 40));
    expect(r.stderr).not.toContain(env.TOKENIZER_SECRET);
    crypto.createPrivateKey(Buffer.from(env.LUNASEC_SIGNING_KEY, 'base64').toString('utf8'));

    const again = cli(['keygen', '--out', 'keys.env']);
    expect(again.status).toBe(1);
    expect(again.stderr).toBe('lunasec keygen: keys.env exists; use --force to replace it\n');
    expect(fs.readFileSync(file, 'utf8')).toBe(text);

    const forced = cli([], { shell: `umask 000 && "${process.execPath}" "$CLI" keygen --out keys.env --force --key-only` });
    expect(forced.status).toBe(0);
    expect(modeOf(file)).toBe(0o600);
    const only = fs.readFileSync(file, 'utf8');
    expect(only).toMatch(/^[A-Za-z0-9+/]+=*\n$/);
    expect(only.trim()).not.toBe(env.LUNASEC_SIGNING_KEY);
    expect(fs.readdirSync(tmp).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});

describe('usage', () => {
  test.each([
    [[], 'Usage: lunasec <command>'],
    [['frobnicate'], 'Usage: lunasec <command>'],
    [['keygen', 'extra'], 'Usage: lunasec keygen'],
    [['keygen', '--force'], 'Usage: lunasec keygen'],
    [['tokenize'], 'Usage: lunasec tokenize'],
    [['tokenize', 'a', 'b'], 'Usage: lunasec tokenize'],
    [['tokenize', 'v', '--bogus'], 'unknown option'],
    [['tokenize', 'v', '--metadata', 'not json'], '--metadata must be JSON'],
    [['tokenize', 'v', '--metadata', '[1]'], '--metadata must be a JSON object'],
    [['tokenize', 'v', '--tokenizer-url'], 'an option is missing its value'],
    [['detokenize'], 'Usage: lunasec detokenize'],
    [['detokenize', 'not-a-token'], 'not a LunaSec token'],
    [['metadata', TOKEN, TOKEN], 'Usage: lunasec metadata'],
    [['dev', '--port', 'x'], '--port must be a port number'],
    [['dev', '--app', 'nope'], '--app must be a URL'],
  ])('lunasec %j → usage on stderr, exit 2', (args, expected) => {
    const r = cli(args, { env: { LUNASEC_SIGNING_KEY: 'x' } });
    expect(r.status).toBe(2);
    expect(r.stdout.toString('utf8')).toBe('');
    expect(r.stderr).toContain(expected);
    expect(r.stderr).toContain('Usage: lunasec');
  });

  test('a value that looks like an option is not echoed back', () => {
    for (const v of ['-s3cr3tvalue', '--s3cr3tvalue', '--s3cr3t=value']) {
      const r = cli(['tokenize', v]);
      expect(r.status).toBe(2);
      expect(r.stderr).not.toContain('s3cr3t');
      expect(r.stderr).toContain('goes after "--"');
    }
  });

  test.each(['keygen', 'dev', 'tokenize', 'detokenize', 'metadata'])('lunasec %s --help → its usage on stdout, exit 0', (command) => {
    for (const flag of ['--help', '-h']) {
      const r = cli([command, flag]);
      expect(r.status).toBe(0);
      expect(r.stdout.toString('utf8')).toMatch(new RegExp(`^Usage: lunasec ${command}`));
      expect(r.stderr).toBe('');
    }
    expect(cli(['help', command]).stdout.toString('utf8')).toMatch(new RegExp(`^Usage: lunasec ${command}`));
  });

  test('lunasec --help and --version', () => {
    expect(cli(['--help']).stdout.toString('utf8')).toMatch(/^Usage: lunasec <command>/);
    expect(cli(['--version']).stdout.toString('utf8')).toBe(`${require('../package.json').version}\n`);
  });
});

describe('failures: exit 1, one line, no key or value', () => {
  const key = Buffer.from(crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' })).toString('base64');
  let deadUrl;
  beforeAll(async () => {
    deadUrl = `http://127.0.0.1:${await freePort()}`;
  });

  const check = (r, prefix, secrets) => {
    expect(r.status).toBe(1);
    expect(r.stdout.toString('utf8')).toBe('');
    expect(r.stderr.split('\n')).toHaveLength(2); // one line and its newline
    expect(r.stderr.startsWith(prefix)).toBe(true);
    for (const s of secrets) expect(r.stderr).not.toContain(s);
    expect(r.stderr).not.toMatch(JWT_RE);
    expect(r.stderr).not.toContain(key.slice(0, 40));
  };

  test('an unreachable tokenizer', () => {
    const value = `value-${crypto.randomUUID()}`;
    check(cli(['tokenize', value], { env: { LUNASEC_SIGNING_KEY: key, TOKENIZER_URL: deadUrl } }), 'lunasec tokenize: ERR_TOKENIZER_UNREACHABLE: ', [value]);
    check(cli(['tokenize', '-'], { input: Buffer.from(value), env: { LUNASEC_SIGNING_KEY: key, TOKENIZER_URL: deadUrl } }), 'lunasec tokenize: ERR_TOKENIZER_UNREACHABLE: ', [value]);
    check(cli(['detokenize', TOKEN, '--tokenizer-url', deadUrl], { env: { LUNASEC_SIGNING_KEY: key } }), 'lunasec detokenize: ERR_TOKENIZER_UNREACHABLE: ', [TOKEN]);
    check(cli(['metadata', TOKEN], { env: { LUNASEC_SIGNING_KEY: key, TOKENIZER_URL: deadUrl } }), 'lunasec metadata: ERR_TOKENIZER_UNREACHABLE: ', [TOKEN]);
  });

  test('no key, or a bad one', () => {
    check(cli(['tokenize', 'v'], { env: { TOKENIZER_URL: deadUrl } }), 'lunasec tokenize: no signing key', []);
    const bad = Buffer.from('-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n').toString('base64');
    check(cli(['tokenize', 'v'], { env: { TOKENIZER_URL: deadUrl, LUNASEC_SIGNING_KEY: bad } }), 'lunasec tokenize: ERR_SIGNING_KEY_INVALID: ', [bad.slice(0, 30)]);
    check(cli(['tokenize', 'v', '--key-file', path.join(tmp, 'missing')], { env: { TOKENIZER_URL: deadUrl } }), 'lunasec tokenize: cannot read the key file', []);
  });
});

describe('against a tokenizer', () => {
  let stack;
  beforeAll(async () => {
    stack = await startStack({ mode: 'embedded' });
  });
  afterAll(() => stack && stack.stop());

  test('tokenize → detokenize of a 1 MB binary file through stdin and stdout, byte for byte; metadata', () => {
    const env = { LUNASEC_SIGNING_KEY: stack.signingKey, TOKENIZER_URL: stack.tokenizerUrl };
    const data = crypto.randomBytes(1 << 20);
    fs.writeFileSync(path.join(tmp, 'in.bin'), data);
    const t = cli([], { env, shell: `"${process.execPath}" "$CLI" tokenize - --metadata '{"dataType":"file","fileinfo":{"filename":"in.bin"}}' < in.bin` });
    expect(t.stderr).toBe('');
    expect(t.status).toBe(0);
    const token = t.stdout.toString('utf8').trim();
    expect(token).toMatch(/^lunasec-[0-9a-f-]{36}$/);
    expect(t.stdout.toString('utf8')).toBe(`${token}\n`);

    const d = cli([], { env, shell: `"${process.execPath}" "$CLI" detokenize ${token} > out.bin` });
    expect(d.status).toBe(0);
    expect(d.stderr).toBe('');
    expect(fs.readFileSync(path.join(tmp, 'out.bin')).equals(data)).toBe(true);
    const piped = cli(['detokenize', token], { env });
    expect(piped.stdout.equals(data)).toBe(true);

    expect(cli(['detokenize', token, '--out', 'out2.bin'], { env }).status).toBe(0);
    expect(modeOf(path.join(tmp, 'out2.bin'))).toBe(0o600);
    expect(fs.readFileSync(path.join(tmp, 'out2.bin')).equals(data)).toBe(true);

    const m = cli(['metadata', token], { env });
    expect(m.status).toBe(0);
    expect(JSON.parse(m.stdout.toString('utf8'))).toMatchObject({ dataType: 'file', fileinfo: { filename: 'in.bin' } });

    // A string argument, with its exact bytes (no newline added on the way back).
    const s = cli(['tokenize', 'héllo\n'], { env });
    expect(cli(['detokenize', s.stdout.toString('utf8').trim()], { env }).stdout.toString('utf8')).toBe('héllo\n');
    // Empty stdin is an empty value.
    const empty = cli(['tokenize', '-'], { env, input: Buffer.alloc(0) });
    expect(empty.status).toBe(0);
    expect(cli(['detokenize', empty.stdout.toString('utf8').trim()], { env }).stdout).toHaveLength(0);
  });

  test('a key the tokenizer does not trust, a token it does not know: exit 1, one line', () => {
    const stranger = cli(['keygen', '--key-only']).stdout.toString('utf8').trim();
    const r = cli(['tokenize', 'v'], { env: { LUNASEC_SIGNING_KEY: stranger, TOKENIZER_URL: stack.tokenizerUrl } });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^lunasec tokenize: ERR_TOKENIZER_UNAUTHORIZED: [^\n]*\n$/);
    const unknown = `lunasec-${crypto.randomUUID()}`;
    const d = cli(['detokenize', unknown], { env: { LUNASEC_SIGNING_KEY: stack.signingKey, TOKENIZER_URL: stack.tokenizerUrl } });
    expect(d.status).toBe(1);
    expect(d.stderr).toMatch(/^lunasec detokenize: ERR_TOKEN_NOT_FOUND: [^\n]*\n$/);
    expect(d.stderr).not.toContain(unknown);
  });
});

/** `lunasec dev` with an app that uses the key it wrote; returns the CLI's env for that app. */
async function devRoundTrip(extraArgs, label) {
  const dir = path.join(tmp, `dev-${label}`);
  const port = await freePort();
  const appPort = await freePort();
  const tokenizerUrl = `http://127.0.0.1:${port}`;
  // The app: its JWKS from the key `lunasec dev` keeps in <dir>/app.env (written before the
  // tokenizer starts; read per request, as the tokenizer may ask before the test reads it).
  const app = express();
  app.get('/.lunasec/jwks.json', async (req, res) => {
    const key = parseEnv(fs.readFileSync(path.join(dir, 'app.env'), 'utf8')).LUNASEC_SIGNING_KEY;
    const sdk = new LunaSec({ tokenizerURL: tokenizerUrl, auth: { secrets: { provider: 'manual', signingKey: Buffer.from(key, 'base64').toString('utf8') }, sessionIdProvider: () => null } });
    res.json(await sdk.keyService.getJwksConfig());
  });
  const server = await new Promise((resolve) => {
    const s = app.listen(appPort, '127.0.0.1', () => resolve(s));
  });
  const proc = spawn(process.execPath, [CLI, 'dev', '--app', `http://127.0.0.1:${appPort}`, '--port', String(port), '--dir', dir, ...extraArgs], {
    cwd: tmp,
    env: { ...process.env, LUNASEC_TOKENIZER_BINARY_PATH: tokenizerBinary() },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stdout.on('data', (c) => (out += c));
  proc.stderr.on('data', (c) => (err += c));
  const exited = new Promise((r) => proc.once('exit', (code, signal) => r({ code, signal })));
  try {
    const deadline = Date.now() + 60000;
    while (!out.includes('TOKENIZER_URL=') && Date.now() < deadline && proc.exitCode === null) await new Promise((r) => setTimeout(r, 100));
    expect(out).toContain(`TOKENIZER_URL=${tokenizerUrl}\n`);
    expect(out).toContain('node --env-file=');
    const envFile = path.join(dir, 'app.env');
    expect(modeOf(envFile)).toBe(0o600);
    const appEnv = parseEnv(fs.readFileSync(envFile, 'utf8'));
    expect(appEnv.TOKENIZER_URL).toBe(tokenizerUrl);
    const appKey = appEnv.LUNASEC_SIGNING_KEY;
    expect(out).not.toContain(appKey.slice(0, 40));
    crypto.createPrivateKey(Buffer.from(appKey, 'base64').toString('utf8'));

    // Ready (the app's keys loaded, the stores checked) before the first request; a tokenizer
    // without GET /ready (404) is ready once it answers.
    const readyBy = Date.now() + 30000;
    let ready;
    do {
      ready = (await fetch(`${tokenizerUrl}/ready`)).status;
      if (ready !== 200 && ready !== 404) await new Promise((r) => setTimeout(r, 100));
    } while (ready !== 200 && ready !== 404 && Date.now() < readyBy);
    expect([200, 404]).toContain(ready);

    // The CLI with the app's key: the tokenizer trusts it through the app's JWKS.
    const value = crypto.randomBytes(4096);
    const t = cli(['tokenize', '-', '--key-file', envFile], { input: value, env: { TOKENIZER_URL: tokenizerUrl } });
    expect(t.stderr).toBe('');
    const token = t.stdout.toString('utf8').trim();
    expect(cli(['detokenize', token, '--key-file', envFile, '--tokenizer-url', tokenizerUrl]).stdout.equals(value)).toBe(true);
    expect(`${out}${err}`).not.toContain(value.toString('base64').slice(0, 24));
    proc.kill('SIGTERM');
    expect(await exited).toEqual({ code: 0, signal: null });
    await expect(fetch(`${tokenizerUrl}/health`)).rejects.toThrow();
    return { out, err, appKey };
  } finally {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    await exited;
    await new Promise((r) => server.close(r));
  }
}

describe('lunasec dev', () => {
  test('starts the tokenizer on embedded storage wired to the app, writes the app env (0600), stops on SIGTERM', async () => {
    const first = await devRoundTrip([], 'embedded');
    expect(first.out).toContain('embedded storage');
    // The dev key stays across runs.
    const second = await devRoundTrip([], 'embedded');
    expect(second.appKey).toBe(first.appKey);
  }, 120000);

  test('--localstack: S3 + DynamoDB on LocalStack (bucket and table created)', async () => {
    const id = crypto.randomBytes(4).toString('hex');
    const { out } = await devRoundTrip(['--localstack', process.env.LOCALSTACK_ENDPOINT, '--bucket', `lunasec-dev-${id}`, '--table', `lunasec-dev-${id}`], 'localstack');
    expect(out).toContain(`S3 + DynamoDB on LocalStack ${process.env.LOCALSTACK_ENDPOINT}`);
  }, 120000);

  test('without the tokenizer package: one clear line, exit 1', () => {
    const r = spawnSync(process.execPath, [CLI, 'dev', '--dir', path.join(tmp, 'dev-none')], { cwd: tmp, encoding: 'utf8', env: { ...process.env, LUNASEC_TOKENIZER_BINARY_PATH: '' } });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('lunasec dev: lunasec dev needs the tokenizer: npm install --save-dev @lunasec-rs/tokenizer (or set LUNASEC_TOKENIZER_BINARY_PATH)\n');
  });
});

