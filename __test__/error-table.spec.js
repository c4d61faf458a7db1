'use strict';
// One error table, defined in Rust (`error_table!` in crates/lunasec-core/src/error.rs): its JS
// copy, the .d.ts union and the README table are generated from it and must not drift; the JS
// layer uses only codes from it; errors from the addon carry their code natively (`err.code`).
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { parseRustTable, drift } = require('../scripts/error-table');
const native = require('../lib/native');
const { ERROR_CODES, LunaSecError, fromNative } = require('../lib/errors');
const { LunaSec } = require('../lib');

const ROOT = path.join(__dirname, '..');
const TOKEN = 'lunasec-351d1033-0e9f-4a1b-bbb6-adec04837a5c';

test('lib/error-codes.js, lib/index.d.ts and README.md are what scripts/error-table.js makes from the Rust table', () => {
  expect(drift()).toEqual([]);
  execFileSync(process.execPath, [path.join(ROOT, 'scripts/error-table.js'), '--check'], { stdio: 'pipe' });
});

test('the runtime table is the Rust table, row for row', () => {
  const rows = parseRustTable();
  expect(rows.length).toBeGreaterThanOrEqual(30);
  expect(Object.keys(ERROR_CODES)).toEqual(rows.map((r) => r.errorCode));
  for (const r of rows) expect(ERROR_CODES[r.errorCode]).toEqual([r.name, r.status, r.code]);
  // Every Rust variant is a row: the enum is defined once, by the macro, from the rows.
  const rust = fs.readFileSync(path.join(ROOT, 'crates/lunasec-core/src/error.rs'), 'utf8');
  const enums = [...rust.matchAll(/pub enum ErrorCode \{([^}]*)\}/g)];
  expect(enums).toHaveLength(1);
  expect(enums[0][1].trim()).toBe('$( $(#[doc = $doc])+ $variant, )+');
});

test('the README table lists every row once', () => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  for (const [code, [name, status, http]] of Object.entries(ERROR_CODES)) {
    const lines = readme.split('\n').filter((l) => l.startsWith(`| \`${code}\` |`));
    expect(lines).toEqual([expect.stringContaining(`| \`${code}\` | ${name} | \`'${http}'\` | ${status} |`)]);
  }
});

test('every ERR_ code the JS layer names is in the table', () => {
  const files = [];
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(c|m)?js$/.test(e.name) && e.name !== 'error-codes.js') files.push(p);
    }
  };
  walk(path.join(ROOT, 'lib'));
  files.push(path.join(ROOT, 'bin', 'lunasec.js'));
  const used = new Set();
  for (const f of files) for (const m of fs.readFileSync(f, 'utf8').matchAll(/'(ERR_[A-Z0-9_]+)'/g)) used.add(m[1]);
  // Node's own error codes, tested by the CLI's argument parsing; and the loader's own code.
  for (const nodeCode of ['ERR_PARSE_ARGS_UNKNOWN_OPTION', 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE', 'ERR_LUNASEC_NATIVE_BINARY_MISSING']) used.delete(nodeCode);
  expect([...used].filter((c) => !ERROR_CODES[c])).toEqual([]);
  expect(used.size).toBeGreaterThan(10);
});

test('grants.create failures: the original name and code, the table status', () => {
  // grantCreationFailure keeps the original SDK's code '500'; the table's status is what Express gets.
  expect(ERROR_CODES.ERR_GRANT_CREATION_FAILED).toEqual(['grantCreationFailure', 400, '500']);
  for (const [code, [, status, http]] of Object.entries(ERROR_CODES)) {
    if (code !== 'ERR_GRANT_CREATION_FAILED') expect([code, http]).toEqual([code, String(status)]);
  }
});

describe('native errors carry their code natively', () => {
  test('sync: thrown with err.code, the message without a prefix', () => {
    const err = (() => {
      try {
        native.parseDurationMs('three hours');
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(require('node:util').types.isNativeError(err)).toBe(true);
    expect(err.code).toBe('ERR_DURATION_INVALID');
    expect(err.message).not.toMatch(/^ERR_/);
    expect(() => new native.KeySet([])).toThrow(expect.objectContaining({ code: 'ERR_KEY_SET_INVALID' }));
    expect(() => new native.JwtVerifier('not json')).toThrow(expect.objectContaining({ code: 'ERR_JWKS_INVALID' }));
  });

  test('async: rejected with err.code', async () => {
    const client = new native.TokenizerClient({ url: 'http://127.0.0.1:9', retries: 0 });
    const err = await client.getMetadata('jwt', TOKEN).catch((e) => e);
    expect(require('node:util').types.isNativeError(err)).toBe(true);
    expect(err.code).toBe('ERR_TOKENIZER_UNREACHABLE');
    expect(err.message).toMatch(/^POST \/metadata\/get: /);
    await expect(client.grantSet('jwt', 's', [TOKEN], null, 'no_such_grant')).rejects.toMatchObject({ code: 'ERR_TOKENIZER_BAD_REQUEST' });
    await expect(client.detokenize('jwt', TOKEN)).rejects.toMatchObject({ code: 'ERR_TOKENIZER_UNREACHABLE' });
    const sdk = new LunaSec({ tokenizerURL: 'http://127.0.0.1:9', auth: { secrets: { provider: 'manual', signingKey: require('./helpers').pkcs8Pem(require('./helpers').rsaKeyPair()) }, sessionIdProvider: () => null } });
    await expect(sdk.keyService.createAuthenticationJWT('user', { session_id: 's' })).resolves.toBeDefined();
  });

  test('the JS layer maps err.code through the table, and nothing else', () => {
    const coded = Object.assign(new Error('the text'), { code: 'ERR_TOKEN_NOT_FOUND' });
    expect(fromNative(coded).toJSON()).toEqual({ name: 'tokenNotFound', message: 'the text', code: '404', errorCode: 'ERR_TOKEN_NOT_FOUND', statusCode: 404 });
    // A message that merely looks like a code is not parsed.
    const looksLike = Object.assign(new Error('ERR_TOKEN_NOT_FOUND: the text'), { code: 'GenericFailure' });
    expect(fromNative(looksLike)).toMatchObject({ errorCode: 'ERR_LUNASEC', name: 'lunaSecError', statusCode: 500 });
    const lse = new LunaSecError({ name: 'x', errorCode: 'ERR_BAD_TOKEN' });
    expect(fromNative(lse)).toBe(lse);
  });
});
