'use strict';
// Finds the Dedicated Tokenizer binary of this platform: it ships in a platform package
// (`@lunasec-rs/tokenizer-<platform>`, an optionalDependency that npm installs only on its own
// os/cpu/libc), the way esbuild and biome ship their binaries.
const fs = require('node:fs');
const path = require('node:path');

const PACKAGE = '@lunasec-rs/tokenizer';
/** The platforms binaries are published for. */
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

/** This platform's name: `linux-x64-gnu`, `darwin-arm64`, `win32-x64-msvc`, … */
function platformKey() {
  const base = `${process.platform}-${process.arch}`;
  if (process.platform === 'linux') return `${base}-${isMusl() ? 'musl' : 'gnu'}`;
  if (process.platform === 'win32') return `${base}-msvc`;
  return base;
}

/** The platform package for this platform. */
function platformPackage() {
  return `${PACKAGE}-${platformKey()}`;
}

/**
 * The absolute path of the `lunasec-tokenizer` binary. `LUNASEC_TOKENIZER_BINARY_PATH` overrides
 * it (e.g. a binary built with cargo). Throws one clear error naming the platform and the package
 * when it is not installed.
 */
function binaryPath() {
  const override = process.env.LUNASEC_TOKENIZER_BINARY_PATH;
  if (override) return path.resolve(override);
  const platform = platformKey();
  const pkg = platformPackage();
  if (!PLATFORMS.includes(platform)) {
    throw new Error(`${PACKAGE}: no prebuilt lunasec-tokenizer for this platform (${platform}); prebuilt for: ${PLATFORMS.join(', ')}`);
  }
  let dir;
  try {
    dir = path.dirname(require.resolve(`${pkg}/package.json`));
  } catch {
    throw new Error(
      `${PACKAGE}: the lunasec-tokenizer binary for this platform (${platform}) is missing: install the package ${pkg} (an optionalDependency of ${PACKAGE}; reinstall without --omit=optional / --no-optional)`,
    );
  }
  const file = path.join(dir, 'bin', process.platform === 'win32' ? 'lunasec-tokenizer.exe' : 'lunasec-tokenizer');
  if (!fs.existsSync(file)) throw new Error(`${PACKAGE}: ${pkg} is installed but has no bin/${path.basename(file)}`);
  return file;
}

module.exports = { binaryPath, platformPackage, platformKey, PLATFORMS };
