'use strict';
// The napi-rs generated loader (index.js at the package root) picks the right .node binary: the
// one built next to it in a checkout, else the installed platform package
// (`@lunasec-rs/node-sdk-<platform>`, an optionalDependency). When neither loads, this throws one
// clear error naming the platform and the package to install, instead of napi's generic one.
const path = require('node:path');

const PACKAGE = '@lunasec-rs/node-sdk';
/** The platforms platform packages are published for (package.json `napi.targets`). */
const PLATFORMS = ['linux-x64-gnu', 'linux-arm64-gnu', 'darwin-x64', 'darwin-arm64', 'win32-x64-msvc'];

function isMusl() {
  if (process.platform !== 'linux') return false;
  try {
    const report = process.report && process.report.getReport();
    return !(report && report.header && report.header.glibcVersionRuntime);
  } catch {
    return false;
  }
}

/** napi-rs's name for this platform: `linux-x64-gnu`, `darwin-arm64`, `win32-x64-msvc`, … */
function platformKey() {
  const base = `${process.platform}-${process.arch}`;
  if (process.platform === 'linux') return `${base}-${isMusl() ? 'musl' : 'gnu'}`;
  if (process.platform === 'win32') return `${base}-msvc`;
  return base;
}

function loadError(cause) {
  const platform = platformKey();
  const pkg = `${PACKAGE}-${platform}`;
  let installed = false;
  try {
    require.resolve(`${pkg}/package.json`);
    installed = true;
  } catch {
    // not installed
  }
  let message;
  if (!PLATFORMS.includes(platform)) {
    message = `${PACKAGE}: no prebuilt native binary for this platform (${platform}); prebuilt for: ${PLATFORMS.join(', ')}`;
  } else if (installed) {
    // napi's loader chains every attempt's message; the interesting one is not a "Cannot find module".
    let reason = '';
    for (let c = cause && cause.cause; c; c = c.cause) {
      const m = String(c.message || '');
      if (m && !m.startsWith('Cannot find module')) reason = `: ${m.split('\n')[0]}`;
    }
    message = `${PACKAGE}: the native binary in ${pkg} (platform ${platform}) failed to load${reason}`;
  } else {
    message = `${PACKAGE}: the native binary for this platform (${platform}) is missing: install the package ${pkg} (an optionalDependency of ${PACKAGE}; reinstall without --omit=optional / --no-optional)`;
  }
  const err = new Error(message, { cause });
  err.code = 'ERR_LUNASEC_NATIVE_BINARY_MISSING';
  err.platform = platform;
  err.package = pkg;
  return err;
}

let binding;
try {
  binding = require(path.join(__dirname, '..', 'index.js'));
} catch (e) {
  throw loadError(e);
}

module.exports = binding;
