#!/usr/bin/env node
'use strict';
// `lunasec-tokenizer`: runs the Dedicated Tokenizer binary from this platform's package with the
// same arguments, inherited stdio, signals forwarded and its exit status passed on.
const { spawn } = require('node:child_process');
const { binaryPath } = require('..');

let bin;
try {
  bin = binaryPath();
} catch (e) {
  process.stderr.write(`lunasec-tokenizer: ${e.message}\n`);
  process.exit(1);
}

const child = spawn(bin, process.argv.slice(2), { stdio: 'inherit', windowsHide: true });
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR2'].filter((s) => process.platform !== 'win32' || s === 'SIGINT' || s === 'SIGTERM');
const forward = (signal) => {
  if (child.exitCode === null && child.signalCode === null) child.kill(signal);
};
for (const s of SIGNALS) process.on(s, forward);

child.on('error', (e) => {
  process.stderr.write(`lunasec-tokenizer: could not start ${bin}: ${e.message}\n`);
  process.exit(1);
});
child.on('exit', (code, signal) => {
  for (const s of SIGNALS) process.removeListener(s, forward);
  if (signal) {
    // Die of the same signal, so whoever started us sees what happened to the tokenizer.
    process.kill(process.pid, signal);
    return;
  }
  process.exit(code === null ? 1 : code);
});
