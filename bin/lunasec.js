#!/usr/bin/env node
'use strict';
// `lunasec`: keys, a dev tokenizer, and tokenize / detokenize / metadata for testing.
// Exit status: 0 ok, 1 failure (one line on stderr), 2 usage (the usage on stderr).
// Nothing this prints on failure contains a key, a token's value, a JWT or a secret.
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { parseArgs } = require('node:util');
const { spawn } = require('node:child_process');

const VERSION = require('../package.json').version;
const DEFAULT_TOKENIZER_URL = 'http://127.0.0.1:37766';

const COMMON_CLIENT_OPTIONS = `
  --tokenizer-url <url>  the Dedicated Tokenizer (default: $TOKENIZER_URL, else ${DEFAULT_TOKENIZER_URL})
  --key-file <file>      the app's signing key (base64 PEM, a PEM, or a keygen --out file);
                         default: $LUNASEC_SIGNING_KEY
  --kid <kid>            the key's id in the app's JWKS (default: lunasec-signing-key)`;

const HELP = {
  main: `Usage: lunasec <command> [options]

Commands:
  keygen                 a new RSA-2048 signing key (LUNASEC_SIGNING_KEY) and a tokenizer secret
  dev                    runs a Dedicated Tokenizer for local development, wired to your app
  tokenize <value|->     stores a value, prints its token
  detokenize <token>     prints a token's value, byte for byte
  metadata <token>       prints a token's metadata (JSON)

Options:
  -h, --help             help (also: lunasec <command> --help)
  -v, --version          the version

Exit status: 0 ok, 1 failure, 2 bad usage.
`,
  keygen: `Usage: lunasec keygen [--out <file>] [--force] [--key-only]

Generates an RSA-2048 signing key for the SDK, as the base64 of its PKCS#8 PEM (the value
LUNASEC_SIGNING_KEY takes), and a random 32-byte tokenizer secret (TOKENIZER_SECRET). Prints them as
environment lines (KEY=value, usable with node --env-file), or writes them to a file.

Options:
  --out <file>    write to <file> (mode 0600) instead of stdout; nothing secret is printed
  --force         replace <file> if it exists (default: refuse)
  --key-only      only the signing key, as the bare base64 value (e.g. LUNASEC_SIGNING_KEY=$(lunasec keygen --key-only))
  -h, --help      this help
`,
  dev: `Usage: lunasec dev [--app <url>] [--port <port>] [--dir <dir>] [--localstack [<url>]]

Runs the Dedicated Tokenizer (from the @lunasec-rs/tokenizer package) on its embedded defaults (records
and encrypted values in <dir>, no services), in dev mode, wired to your app: it trusts the app's
JWKS (<app>/.lunasec/jwks.json), sends sessions to the app, and lets the app's pages embed Secure
Frames. Writes the environment the app needs (TOKENIZER_URL, and a dev LUNASEC_SIGNING_KEY kept
across runs) to <dir>/app.env (mode 0600) for node --env-file. Runs until interrupted.

Options:
  --app <url>              your app's URL (default: http://localhost:3001)
  --plugin-base-url <path> the app's auth.pluginBaseUrl, if any (e.g. /api)
  --port <port>            the tokenizer's port on 127.0.0.1 (default: 37766)
  --dir <dir>              dev data: tokenizer store, dev secret, signing key (default: .lunasec)
  --localstack [<url>]     S3 + DynamoDB on LocalStack instead (default URL: http://127.0.0.1:4566);
                           creates the bucket and table when missing
  --bucket <name>          S3 bucket with --localstack (default: lunasec-dev)
  --table <name>           DynamoDB table with --localstack (default: lunasec-dev)
  -h, --help               this help

The tokenizer binary: the installed @lunasec-rs/tokenizer (npm install -D @lunasec-rs/tokenizer), or
$LUNASEC_TOKENIZER_BINARY_PATH.
`,
  tokenize: `Usage: lunasec tokenize <value|-> [--metadata <json>] [options]

Stores a value in the tokenizer through the SDK's server-side client, with the app's key, and
prints its token. '-' reads the value from stdin, byte for byte (files: lunasec tokenize - < file).

Options:
  --metadata <json>      the token's metadata, a JSON object${COMMON_CLIENT_OPTIONS}
  -h, --help             this help
`,
  detokenize: `Usage: lunasec detokenize <token> [--out <file>] [options]

Prints a token's value to stdout byte for byte (no newline added), through the SDK's server-side
client with the app's key (it needs no grant).

Options:
  --out <file>           write the value to <file> (mode 0600) instead${COMMON_CLIENT_OPTIONS}
  -h, --help             this help
`,
  metadata: `Usage: lunasec metadata <token> [options]

Prints a token's metadata as JSON, through the SDK's server-side client with the app's key.

Options:${COMMON_CLIENT_OPTIONS}
  -h, --help             this help
`,
};

const CLIENT_OPTIONS = {
  'tokenizer-url': { type: 'string' },
  'key-file': { type: 'string' },
  kid: { type: 'string' },
};

const COMMANDS = {
  keygen: { options: { out: { type: 'string' }, force: { type: 'boolean' }, 'key-only': { type: 'boolean' } }, positionals: [0, 0], run: keygen },
  dev: {
    options: {
      app: { type: 'string' },
      'plugin-base-url': { type: 'string' },
      port: { type: 'string' },
      dir: { type: 'string' },
      localstack: { type: 'boolean' },
      bucket: { type: 'string' },
      table: { type: 'string' },
    },
    positionals: [0, 1], // `--localstack <url>`: the URL arrives as a positional
    run: dev,
  },
  tokenize: { options: { metadata: { type: 'string' }, ...CLIENT_OPTIONS }, positionals: [1, 1], run: tokenize },
  detokenize: { options: { out: { type: 'string' }, ...CLIENT_OPTIONS }, positionals: [1, 1], run: detokenize },
  metadata: { options: { ...CLIENT_OPTIONS }, positionals: [1, 1], run: metadata },
};

class UsageError extends Error {}
class Failure extends Error {}

/** One line, whatever the message holds. */
const oneLine = (s) => String(s).replace(/\s*\n\s*/g, ' ').trim();

function parse(command, argv) {
  const spec = COMMANDS[command];
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { ...spec.options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (e) {
    // Nothing from the command line is echoed: a mistyped "option" may be a value.
    if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new UsageError('unknown option (a value that starts with "-" goes after "--", or through stdin)');
    if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') throw new UsageError('an option is missing its value');
    throw new UsageError('invalid arguments');
  }
  if (parsed.values.help) return { help: true };
  const [min, max] = spec.positionals;
  const n = parsed.positionals.length;
  if (n < min || n > max) {
    throw new UsageError(min === max && min === 1 ? 'expected exactly one argument' : max === 0 ? 'expected no arguments' : 'too many arguments');
  }
  return { values: parsed.values, positionals: parsed.positionals };
}

// ---------------------------------------------------------------- keygen

function newKeyMaterial() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' });
  return {
    signingKey: Buffer.from(pem).toString('base64'),
    tokenizerSecret: crypto.randomBytes(32).toString('base64url'),
  };
}

/** Writes `data` to `file` with mode 0600: a new file, or (force) a replacement renamed into place. */
function writeSecretFile(file, data, force) {
  const target = path.resolve(file);
  if (!force) {
    let fd;
    try {
      fd = fs.openSync(target, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
    } catch (e) {
      if (e.code === 'EEXIST') throw new Failure(`${file} exists; use --force to replace it`);
      throw new Failure(`cannot write ${file}: ${e.code || e.message}`);
    }
    try {
      fs.fchmodSync(fd, 0o600);
      fs.writeSync(fd, data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    return;
  }
  const tmp = path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`);
  try {
    const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
    try {
      fs.fchmodSync(fd, 0o600);
      fs.writeSync(fd, data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, target);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw new Failure(`cannot write ${file}: ${e.code || e.message}`);
  }
}

async function keygen({ values }) {
  const { signingKey, tokenizerSecret } = newKeyMaterial();
  const text = values['key-only'] ? `${signingKey}\n` : `LUNASEC_SIGNING_KEY=${signingKey}\nTOKENIZER_SECRET=${tokenizerSecret}\n`;
  if (values.out) {
    writeSecretFile(values.out, text, values.force);
    process.stderr.write(
      values['key-only']
        ? `lunasec keygen: wrote a signing key to ${values.out} (mode 0600)\n`
        : `lunasec keygen: wrote LUNASEC_SIGNING_KEY and TOKENIZER_SECRET to ${values.out} (mode 0600); use it with node --env-file=${values.out}, or --key-file\n`,
    );
    return;
  }
  if (values.force) throw new UsageError('--force goes with --out');
  process.stdout.write(text);
}

// ---------------------------------------------------------------- the app's key and client

/** The signing key from a --key-file: a keygen --out file (KEY=value lines), a base64 PEM, or a PEM. */
function keyFromFile(file) {
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Failure(`cannot read the key file ${file}: ${e.code || 'read error'}`);
  }
  const line = /^\s*LUNASEC_SIGNING_KEY\s*=\s*"?([A-Za-z0-9+/=\s]+?)"?\s*$/m.exec(text);
  if (line) return { provider: 'manual', signingKey: Buffer.from(line[1].replace(/\s+/g, ''), 'base64').toString('utf8') };
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) return { provider: 'manual', signingKey: text };
  const b64 = text.replace(/\s+/g, '');
  if (b64 && /^[A-Za-z0-9+/=]+$/.test(b64)) return { provider: 'manual', signingKey: Buffer.from(b64, 'base64').toString('utf8') };
  throw new Failure(`the key file ${file} holds no signing key (expected the base64 of a PEM, a PEM, or LUNASEC_SIGNING_KEY=…)`);
}

function client(values) {
  const { LunaSec } = require('../lib');
  const tokenizerURL = values['tokenizer-url'] || process.env.TOKENIZER_URL || DEFAULT_TOKENIZER_URL;
  let secret;
  if (values['key-file']) secret = keyFromFile(values['key-file']);
  else if (process.env.LUNASEC_SIGNING_KEY) secret = { provider: 'environment' };
  else throw new Failure('no signing key: set LUNASEC_SIGNING_KEY (the app\'s key; see lunasec keygen) or pass --key-file');
  if (values.kid) secret.kid = values.kid;
  const lunaSec = new LunaSec({ tokenizerURL, auth: { secrets: secret, sessionIdProvider: () => null } });
  return lunaSec.tokenizer.strict;
}

function readStdin() {
  return new Promise((resolve, reject) => {
    const chunks = [];
    process.stdin.on('data', (c) => chunks.push(c));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks)));
    process.stdin.on('error', reject);
  });
}

function writeStdout(data) {
  return new Promise((resolve, reject) => {
    process.stdout.write(data, (e) => (e ? reject(e) : resolve()));
  });
}

async function tokenize({ values, positionals }) {
  let metadata;
  if (values.metadata !== undefined) {
    try {
      metadata = JSON.parse(values.metadata);
    } catch {
      throw new UsageError('--metadata must be JSON');
    }
    if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) throw new UsageError('--metadata must be a JSON object');
  }
  const tokenizer = client(values);
  const value = positionals[0] === '-' ? await readStdin() : Buffer.from(positionals[0], 'utf8');
  const token = await tokenizer.tokenize(value, metadata);
  await writeStdout(`${token}\n`);
}

function checkToken(token) {
  const { isToken } = require('../lib');
  if (!isToken(token)) throw new UsageError('not a LunaSec token (expected lunasec-<uuid>)');
}

async function detokenize({ values, positionals }) {
  checkToken(positionals[0]);
  const value = await client(values).detokenize(positionals[0], { as: 'buffer' });
  if (values.out) writeSecretFile(values.out, value, true);
  else await writeStdout(value);
}

async function metadata({ values, positionals }) {
  checkToken(positionals[0]);
  const meta = await client(values).getMetadata(positionals[0]);
  await writeStdout(`${JSON.stringify(meta, null, 2)}\n`);
}

// ---------------------------------------------------------------- dev

function tokenizerBinary() {
  if (process.env.LUNASEC_TOKENIZER_BINARY_PATH) return path.resolve(process.env.LUNASEC_TOKENIZER_BINARY_PATH);
  let pkg;
  try {
    // Resolved from the app (the current directory) first, then from this package.
    pkg = require.resolve('@lunasec-rs/tokenizer', { paths: [process.cwd(), __dirname] });
  } catch {
    throw new Failure('lunasec dev needs the tokenizer: npm install --save-dev @lunasec-rs/tokenizer (or set LUNASEC_TOKENIZER_BINARY_PATH)');
  }
  try {
    return require(pkg).binaryPath();
  } catch (e) {
    throw new Failure(e.message);
  }
}

function parseUrl(value, what) {
  let u;
  try {
    u = new URL(value);
  } catch {
    throw new UsageError(`${what} must be a URL such as http://localhost:3001`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError(`${what} must be an http(s) URL`);
  return u;
}

async function waitForHealth(url, child, deadlineMs) {
  const deadline = Date.now() + deadlineMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) return false;
    try {
      const r = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) });
      if (r.ok) return true;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  return false;
}

async function dev({ values, positionals }) {
  const app = parseUrl(values.app || 'http://localhost:3001', '--app');
  if (positionals.length > 0 && !values.localstack) throw new UsageError('expected no arguments');
  const localstack = values.localstack ? parseUrl(positionals[0] || 'http://127.0.0.1:4566', '--localstack').origin : null;
  const port = Number(values.port || 37766);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError('--port must be a port number');
  let base = values['plugin-base-url'] || '';
  if (base && !base.startsWith('/')) throw new UsageError('--plugin-base-url must start with /');
  base = base.replace(/\/+$/, '');
  const dir = path.resolve(values.dir || '.lunasec');
  const bin = tokenizerBinary();

  fs.mkdirSync(path.join(dir, 'tokenizer'), { recursive: true, mode: 0o700 });
  const tokenizerUrl = `http://127.0.0.1:${port}`;
  // The app's environment, kept in <dir>/app.env (0600): the dev signing key stays across runs.
  const appEnvFile = path.join(dir, 'app.env');
  let signingKey;
  try {
    signingKey = /^LUNASEC_SIGNING_KEY=([A-Za-z0-9+/=]+)$/m.exec(fs.readFileSync(appEnvFile, 'utf8'))[1];
  } catch {
    signingKey = newKeyMaterial().signingKey;
  }
  writeSecretFile(appEnvFile, `TOKENIZER_URL=${tokenizerUrl}\nLUNASEC_SIGNING_KEY=${signingKey}\n`, true);

  const appUrl = `${app.origin}${app.pathname.replace(/\/+$/, '')}`;
  const env = {
    ...process.env,
    TOKENIZER_ENV: 'dev',
    TOKENIZER_HTTP_ADDR: `127.0.0.1:${port}`,
    TOKENIZER_PUBLIC_URL: tokenizerUrl,
    TOKENIZER_DATA_DIR: path.join(dir, 'tokenizer'),
    SESSION_JWKS_URL: `${appUrl}${base}/.lunasec/jwks.json`,
    AUTH_PROVIDERS: JSON.stringify({ app: { url: `${appUrl}${base}`, default: true } }),
    APPLICATION_FRONT_END: app.origin,
  };
  if (localstack) {
    Object.assign(env, {
      LOCALSTACK_URL: localstack,
      STORAGE_BACKEND: 'dynamodb',
      DYNAMODB_TABLE: values.table || 'lunasec-dev',
      DYNAMODB_CREATE_TABLE: 'true',
      CIPHERTEXT_BACKEND: 's3',
      CIPHERTEXT_VAULT_S3_BUCKET: values.bucket || 'lunasec-dev',
      S3_CREATE_BUCKET: 'true',
    });
  } else if (values.bucket || values.table) {
    throw new UsageError('--bucket and --table go with --localstack');
  }

  const child = spawn(bin, [], { env, stdio: ['ignore', 'inherit', 'inherit'] });
  const stop = (signal) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  };
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(s, stop);
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
    child.on('error', (e) => resolve({ error: e }));
  });

  if (await waitForHealth(tokenizerUrl, child, 60000)) {
    const rel = path.relative(process.cwd(), appEnvFile) || appEnvFile;
    process.stdout.write(
      [
        `# lunasec dev: the tokenizer is up on ${tokenizerUrl} (${localstack ? `S3 + DynamoDB on LocalStack ${localstack}` : `embedded storage in ${path.join(dir, 'tokenizer')}`}),`,
        `# trusting ${env.SESSION_JWKS_URL} and serving Secure Frames to ${app.origin}.`,
        `# Your app (${appUrl}) needs TOKENIZER_URL and LUNASEC_SIGNING_KEY; both are in ${rel} (mode 0600):`,
        `#   node --env-file=${rel} server.js`,
        '# (or keep your own LUNASEC_SIGNING_KEY: the tokenizer trusts whatever keys the app\'s JWKS lists)',
        `TOKENIZER_URL=${tokenizerUrl}`,
        '',
      ].join('\n'),
    );
  } else if (child.exitCode === null && child.signalCode === null) {
    stop('SIGTERM');
    await exited;
    throw new Failure(`the tokenizer did not come up on ${tokenizerUrl} within 60 s`);
  }
  const { code, signal, error } = await exited;
  if (error) throw new Failure(`could not start the tokenizer (${error.code || 'spawn error'})`);
  if (signal === 'SIGINT' || signal === 'SIGTERM') return;
  if (code !== 0 && code !== null) throw new Failure(`the tokenizer exited with status ${code}`);
}

// ---------------------------------------------------------------- main

async function main(argv) {
  const [command, ...rest] = argv;
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    if (command === 'help' && rest[0] && HELP[rest[0]]) {
      process.stdout.write(HELP[rest[0]]);
      return 0;
    }
    (command === undefined ? process.stderr : process.stdout).write(HELP.main);
    return command === undefined ? 2 : 0;
  }
  if (command === '-v' || command === '--version') {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  if (!Object.prototype.hasOwnProperty.call(COMMANDS, command)) {
    process.stderr.write(`lunasec: unknown command\n\n${HELP.main}`);
    return 2;
  }
  try {
    const args = parse(command, rest);
    if (args.help) {
      process.stdout.write(HELP[command]);
      return 0;
    }
    await COMMANDS[command].run(args);
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`lunasec ${command}: ${e.message}\n\n${HELP[command]}`);
      return 2;
    }
    if (e instanceof Failure) {
      process.stderr.write(`lunasec ${command}: ${oneLine(e.message)}\n`);
      return 1;
    }
    if (e && typeof e.errorCode === 'string') {
      // A LunaSecError: its message never holds a token, a value, a JWT or key material.
      process.stderr.write(`lunasec ${command}: ${e.errorCode}: ${oneLine(e.message)}\n`);
      return 1;
    }
    process.stderr.write(`lunasec ${command}: unexpected error${e && e.code ? ` (${e.code})` : ''}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  () => {
    process.exitCode = 1;
  },
);
