#!/usr/bin/env node
/**
 * Runs the compiled tests (dist/test/**\/*.test.js) with tap 21, streams
 * tap's TAP output, and ends with exactly one line `N passed, M failed`.
 *
 *   node scripts/run-tests.mjs [substring ...]   # only files whose path contains one of them
 *
 * Order: unit tests first (tap runs them in parallel, TEST_JOBS, default one
 * per CPU), then the interop tests of dist/test/interop/ one file at a time
 * (they start servers and SIPp). Compiled files whose source test/**\/*.ts is
 * gone are skipped (stale output of a deleted test).
 *
 * What is counted: the test points directly below each file, i.e. every
 * top-level `t.test(...)` subtest and every top-level assertion of a file,
 * as tap reports them (`ok` / `not ok` at depth 2 of the runner's stream).
 * Subtests nest arbitrarily deep, so counting the first level gives stable
 * numbers: a failing assertion deep inside fails exactly its top-level
 * subtest once. Skipped and todo points count as passed. A file that fails
 * without any failing point of its own (crash, import error, non-zero exit,
 * timeout) counts as one failure, and so does a tap run that fails without
 * any counted failure.
 *
 * Exit status: 0 when M is 0, else 1.
 *
 * Environment:
 *   TEST_TIMEOUT        seconds per test file (default 300)
 *   TEST_TOTAL_TIMEOUT  seconds for the whole run (default 3000); on expiry tap is killed
 *   TEST_JOBS           parallel unit-test files (default: number of CPUs)
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Parser } from 'tap-parser';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DIST_TEST = path.join(ROOT, 'dist', 'test');
const TAP_BIN = path.join(ROOT, 'node_modules', 'tap', 'dist', 'esm', 'run.mjs');

const perFileTimeout = Number(process.env.TEST_TIMEOUT ?? 300);
const totalTimeout = Number(process.env.TEST_TOTAL_TIMEOUT ?? 3000);
const jobs = Number(process.env.TEST_JOBS ?? Math.max(1, os.cpus().length));
const filters = process.argv.slice(2);
const startedAt = Date.now();

function listTests(dir) {
  if (!fs.existsSync(dir)) return [];
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listTests(full));
    else if (entry.isFile() && entry.name.endsWith('.test.js')) out.push(full);
  }
  return out.sort();
}

/** test/foo/bar.test.ts (or .mts/.tsx) exists for dist/test/foo/bar.test.js */
function hasSource(compiled) {
  const rel = path.relative(path.join(ROOT, 'dist'), compiled).replace(/\.js$/, '');
  return ['.ts', '.mts', '.tsx'].some((ext) => fs.existsSync(path.join(ROOT, rel + ext)));
}

const all = listTests(DIST_TEST).filter((f) => {
  if (hasSource(f)) return true;
  process.stdout.write(`# skipping ${path.relative(ROOT, f)}: its source is gone (stale build output)\n`);
  return false;
});
const selected = filters.length
  ? all.filter((f) => filters.some((s) => path.relative(ROOT, f).includes(s)))
  : all;
const interopDir = path.join(DIST_TEST, 'interop') + path.sep;
const unit = selected.filter((f) => !f.startsWith(interopDir));
const interop = selected.filter((f) => f.startsWith(interopDir));

let passed = 0;
let failed = 0;
const failures = [];

/** Runs tap on `files`, forwards its output and counts depth-2 points. */
function runTap(files, jobCount, label) {
  return new Promise((resolve) => {
    const remaining = totalTimeout - (Date.now() - startedAt) / 1000;
    if (remaining <= 0) {
      failed += 1;
      failures.push(`${label}: not run, TEST_TOTAL_TIMEOUT (${totalTimeout} s) used up`);
      resolve();
      return;
    }
    process.stdout.write(`# ${label}: ${files.length} file(s)\n`);
    const args = [
      TAP_BIN,
      '--disable-coverage',
      '--reporter=tap',
      `--timeout=${perFileTimeout}`,
      `--jobs=${jobCount}`,
      ...files.map((f) => path.relative(ROOT, f)),
    ];
    // Own process group, so a total timeout can end tap and the tests it runs.
    const child = spawn(process.execPath, args, {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
      detached: true,
      env: { ...process.env, FORCE_COLOR: '0' },
    });

    const parser = new Parser();
    let fileFailures = 0;
    let runFailures = 0;
    let currentFile = '';
    parser.on('child', (fileParser) => {
      fileFailures = 0;
      currentFile = fileParser.name ?? '';
      fileParser.on('assert', (res) => {
        if (!res.ok && !res.todo) {
          failed += 1;
          fileFailures += 1;
          runFailures += 1;
          failures.push(`${fileParser.name ?? currentFile}: ${res.name || `#${res.id}`}`);
        } else {
          passed += 1;
        }
      });
    });
    parser.on('assert', (res) => {
      if (!res.ok && !res.todo && fileFailures === 0) {
        failed += 1;
        runFailures += 1;
        const why = res.diag && typeof res.diag === 'object'
          ? ` (exit code ${res.diag.exitCode ?? '?'}, signal ${res.diag.signal ?? 'none'})`
          : '';
        failures.push(`${res.name}: the file failed outside its test points${why}`);
      }
      fileFailures = 0;
    });
    parser.on('bailout', (reason) => {
      failures.push(`${label}: bail out: ${reason}`);
    });

    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      parser.write(chunk);
    });

    let timedOut = false;
    const killGroup = (signal) => {
      try {
        process.kill(-child.pid, signal);
      } catch {
        // group already gone
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      process.stdout.write(`\n# TEST_TOTAL_TIMEOUT (${totalTimeout} s) reached: stopping tap\n`);
      killGroup('SIGTERM');
      setTimeout(() => killGroup('SIGKILL'), 10_000).unref();
    }, remaining * 1000);

    child.on('error', (err) => {
      process.stdout.write(`# could not start tap: ${err.message}\n`);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      parser.end();
      if ((code !== 0 || timedOut) && runFailures === 0) {
        failed += 1;
        failures.push(
          `${label}: tap exited with ${signal ?? `code ${code}`}${timedOut ? ' (total timeout)' : ''} without a failing test point`,
        );
      }
      resolve();
    });
  });
}

if (!fs.existsSync(TAP_BIN)) {
  process.stdout.write(`# tap not found at ${path.relative(ROOT, TAP_BIN)}: run npm ci\n`);
  process.stdout.write('0 passed, 1 failed\n');
  process.exit(1);
}
if (unit.length) await runTap(unit, jobs, 'unit tests');
if (interop.length) await runTap(interop, 1, 'interop tests');
if (!selected.length) process.stdout.write('# no compiled test files found under dist/test (run make build)\n');

process.stdout.write('\n');
if (failures.length) {
  process.stdout.write(`# failed:\n${failures.map((f) => `#   ${f}`).join('\n')}\n`);
}
process.stdout.write(`# total time ${((Date.now() - startedAt) / 1000).toFixed(1)} s\n`);
process.stdout.write(`${passed} passed, ${failed} failed\n`);
process.exitCode = failed > 0 ? 1 : 0;
