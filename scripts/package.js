#!/usr/bin/env node
'use strict';
// `npm run package`: builds the host platform's binaries and writes every npm package's tarball
// into dist/ (git-ignored), the way napi-rs, esbuild and biome publish:
//
//   @lunasec-rs/node-sdk                   the SDK (JS, types, the `lunasec` CLI) with exact-version
//                                          optionalDependencies on its platform packages
//   @lunasec-rs/node-sdk-<platform>        the napi addon (.node) for one platform (npm/<platform>/)
//   @lunasec-rs/tokenizer                  `lunasec-tokenizer`: a small Node launcher (npm/tokenizer/)
//                                          with optionalDependencies on its platform packages
//   @lunasec-rs/tokenizer-<platform>       the Dedicated Tokenizer binary for one platform
//
// Only the host platform's binaries are built and packed here; the other targets (package.json
// `napi.targets`) are listed in optionalDependencies and built elsewhere.
//
// Usage: node scripts/package.js [--no-build]
//   --no-build   pack the binaries already built (lunasec.<platform>.node at the root,
//                target/<triple>/release/lunasec-tokenizer) instead of building them first
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const ROOT = path.join(__dirname, '..');
const DIST = path.join(ROOT, 'dist');

/** Rust target → npm platform suffix and the package.json fields that select it. */
const TARGETS = {
  'x86_64-unknown-linux-gnu': { platform: 'linux-x64-gnu', os: ['linux'], cpu: ['x64'], libc: ['glibc'] },
  'aarch64-unknown-linux-gnu': { platform: 'linux-arm64-gnu', os: ['linux'], cpu: ['arm64'], libc: ['glibc'] },
  'x86_64-apple-darwin': { platform: 'darwin-x64', os: ['darwin'], cpu: ['x64'] },
  'aarch64-apple-darwin': { platform: 'darwin-arm64', os: ['darwin'], cpu: ['arm64'] },
  'x86_64-pc-windows-msvc': { platform: 'win32-x64-msvc', os: ['win32'], cpu: ['x64'], exe: '.exe' },
};

const readJson = (file) => JSON.parse(fs.readFileSync(file, 'utf8'));
const writeJson = (file, value) => fs.writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);

function die(message) {
  process.stderr.write(`package: ${message}\n`);
  process.exit(1);
}

function hostPlatform() {
  const base = `${process.platform}-${process.arch}`;
  if (process.platform === 'linux') {
    const report = process.report.getReport();
    return `${base}-${report.header && report.header.glibcVersionRuntime ? 'gnu' : 'musl'}`;
  }
  return process.platform === 'win32' ? `${base}-msvc` : base;
}

function run(cmd, args, opts = {}) {
  process.stderr.write(`package: ${cmd} ${args.join(' ')}\n`);
  execFileSync(cmd, args, { stdio: 'inherit', cwd: ROOT, ...opts });
}

/** Copies a file or a directory tree (no symlinks followed out of it). */
function copy(from, to) {
  fs.cpSync(from, to, { recursive: true, dereference: false, preserveTimestamps: false });
}

/** `npm pack` of a staged directory into dist/; returns the tarball's file name. */
function pack(dir) {
  const out = execFileSync('npm', ['pack', '--json', '--pack-destination', DIST], {
    cwd: dir,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, npm_config_loglevel: 'error', npm_config_ignore_scripts: 'true' },
  });
  const [info] = JSON.parse(out);
  return info;
}

function main() {
  const args = process.argv.slice(2);
  if (args.some((a) => a !== '--no-build')) {
    process.stderr.write('usage: node scripts/package.js [--no-build]   (npm run package [-- --no-build])\n');
    process.exit(2);
  }
  const build = !args.includes('--no-build');
  const root = readJson(path.join(ROOT, 'package.json'));
  const { version } = root;
  const triples = root.napi.targets;
  for (const t of triples) if (!TARGETS[t]) die(`package.json napi.targets lists ${t}, which scripts/package.js does not know`);
  const host = hostPlatform();
  const hostTriple = triples.find((t) => TARGETS[t].platform === host);
  if (!hostTriple) die(`this platform (${host}) is not one of package.json napi.targets`);
  const target = TARGETS[hostTriple];

  const addon = path.join(ROOT, `${root.napi.binaryName}.${host}.node`);
  const tokenizerBin = path.join(ROOT, 'target', hostTriple, 'release', `lunasec-tokenizer${target.exe || ''}`);
  if (build) {
    run('npx', ['--no-install', 'napi', 'build', '--platform', '--release']);
    run('cargo', ['build', '--release', '--target', hostTriple, '-p', 'lunasec-tokenizer']);
  }
  for (const f of [addon, tokenizerBin]) {
    if (!fs.existsSync(f)) die(`${path.relative(ROOT, f)} is missing: run npm run package (without --no-build), or build it first`);
  }

  fs.rmSync(DIST, { recursive: true, force: true });
  fs.mkdirSync(DIST, { recursive: true });
  const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'lunasec-package-'));
  const tarballs = [];
  try {
    // @lunasec-rs/node-sdk-<host>: npm/<platform>/ (napi-rs's directory) + the addon.
    {
      const dir = path.join(stage, `node-sdk-${host}`);
      copy(path.join(ROOT, 'npm', host), dir);
      const pkg = readJson(path.join(dir, 'package.json'));
      if (pkg.name !== `${root.name}-${host}`) die(`npm/${host}/package.json is named ${pkg.name}, expected ${root.name}-${host}`);
      writeJson(path.join(dir, 'package.json'), { ...pkg, version });
      fs.copyFileSync(addon, path.join(dir, pkg.main));
      tarballs.push(pack(dir));
    }

    // @lunasec-rs/tokenizer-<host>: the tokenizer binary.
    {
      const dir = path.join(stage, `tokenizer-${host}`);
      const name = `@lunasec-rs/tokenizer-${host}`;
      const exe = `lunasec-tokenizer${target.exe || ''}`;
      fs.mkdirSync(path.join(dir, 'bin'), { recursive: true });
      fs.copyFileSync(tokenizerBin, path.join(dir, 'bin', exe));
      fs.chmodSync(path.join(dir, 'bin', exe), 0o755);
      writeJson(path.join(dir, 'package.json'), {
        name,
        version,
        description: `The ${hostTriple} binary of @lunasec-rs/tokenizer (the LunaSec Dedicated Tokenizer)`,
        license: root.license,
        os: target.os,
        cpu: target.cpu,
        ...(target.libc ? { libc: target.libc } : {}),
        files: [`bin/${exe}`],
        preferUnplugged: true,
      });
      fs.writeFileSync(path.join(dir, 'README.md'), `# \`${name}\`\n\nThe **${hostTriple}** binary of \`@lunasec-rs/tokenizer\`; install that package instead.\n`);
      tarballs.push(pack(dir));
    }

    // @lunasec-rs/tokenizer: the launcher, with exact-version optionalDependencies.
    {
      const dir = path.join(stage, 'tokenizer');
      copy(path.join(ROOT, 'npm', 'tokenizer'), dir);
      const pkg = readJson(path.join(dir, 'package.json'));
      pkg.version = version;
      pkg.optionalDependencies = Object.fromEntries(triples.map((t) => [`@lunasec-rs/tokenizer-${TARGETS[t].platform}`, version]));
      writeJson(path.join(dir, 'package.json'), pkg);
      tarballs.push(pack(dir));
    }

    // @lunasec-rs/node-sdk: the files package.json lists, and a manifest without the dev parts.
    {
      const dir = path.join(stage, 'node-sdk');
      fs.mkdirSync(dir);
      for (const f of [...root.files, 'README.md']) {
        if (!fs.existsSync(path.join(ROOT, f))) die(`package.json files lists ${f}, which does not exist`);
        copy(path.join(ROOT, f), path.join(dir, f));
      }
      const keep = ['name', 'version', 'description', 'license', 'keywords', 'repository', 'homepage', 'main', 'types', 'bin', 'exports', 'files', 'engines', 'peerDependencies', 'peerDependenciesMeta', 'dependencies', 'napi'];
      const pkg = {};
      for (const k of keep) if (root[k] !== undefined) pkg[k] = root[k];
      pkg.optionalDependencies = Object.fromEntries(triples.map((t) => [`${root.name}-${TARGETS[t].platform}`, version]));
      writeJson(path.join(dir, 'package.json'), pkg);
      tarballs.push(pack(dir));
    }
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
  }

  for (const t of tarballs) {
    process.stdout.write(`dist/${t.filename}  ${t.name}@${t.version}  ${(t.size / 1e6).toFixed(1)} MB, ${t.entryCount} files\n`);
  }
}

main();
