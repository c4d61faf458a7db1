'use strict';
// A small, dependency-free benchmark harness: each case runs for a fixed time in several rounds
// after a warm-up; we report the median round. Async cases keep `concurrency` calls in flight.

const ROUNDS = Number(process.env.BENCH_ROUNDS || 5);
const ROUND_MS = Number(process.env.BENCH_ROUND_MS || 400);

async function measure(name, fn, { concurrency = 1, async = false } = {}) {
  const runRound = async (ms) => {
    let ops = 0;
    const start = process.hrtime.bigint();
    const deadline = start + BigInt(ms) * 1_000_000n;
    if (!async) {
      while (process.hrtime.bigint() < deadline) {
        for (let i = 0; i < 16; i++) fn();
        ops += 16;
      }
    } else {
      const worker = async () => {
        while (process.hrtime.bigint() < deadline) {
          await fn();
          ops++;
        }
      };
      await Promise.all(Array.from({ length: concurrency }, worker));
    }
    const ns = Number(process.hrtime.bigint() - start);
    return ns / ops;
  };
  await runRound(Math.min(200, ROUND_MS));
  const perOp = [];
  for (let r = 0; r < ROUNDS; r++) perOp.push(await runRound(ROUND_MS));
  perOp.sort((a, b) => a - b);
  const median = perOp[Math.floor(perOp.length / 2)];
  return { name, nsPerOp: median, opsPerSec: 1e9 / median, concurrency };
}

function fmtNs(ns) {
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(1)} µs`;
  return `${ns.toFixed(0)} ns`;
}

function printTable(title, rows, baseline) {
  const base = rows.find((r) => r.name === baseline);
  process.stdout.write(`\n## ${title}\n`);
  process.stdout.write(`| case | per op | ops/s | vs ${baseline} |\n|---|---:|---:|---:|\n`);
  for (const r of rows) {
    const ratio = base ? (r.nsPerOp / base.nsPerOp).toFixed(2) : '';
    process.stdout.write(`| ${r.name} | ${fmtNs(r.nsPerOp)} | ${Math.round(r.opsPerSec).toLocaleString('en-US')} | ${ratio}× |\n`);
  }
}

module.exports = { measure, printTable, fmtNs };
