// tests/e2e/harness.mjs — what both browser suites share: where Chromium and the
// server binary are, Chromium's flags (DESIGN.md), the fake-media init script,
// the Kaigi server as a child process, waiting, and naming a colour.
//
// Importing it exits 77 (skip) when Chromium or playwright-core is missing.

import { test } from 'node:test';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const BINARY = path.resolve(HERE, process.env.KAIGI_BINARY || '../../build/src/kaigi');
export const ARTIFACTS = path.join(HERE, 'artifacts');
export const SKIP = 77;
export const UI_TIMEOUT = 10_000;

if (!fs.existsSync(CHROMIUM)) {
  console.log(`# SKIP: ${CHROMIUM} not found (apt-get install chromium)`);
  process.exit(SKIP);
}
export let chromium;
try {
  ({ chromium } = await import('playwright-core'));
} catch (e) {
  console.log(`# SKIP: playwright-core not installed (run npm install in ${HERE}): ${e.message}`);
  process.exit(SKIP);
}

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  '--allow-loopback-in-peer-connection',
];

export const FAKE_MEDIA_SRC = fs.readFileSync(path.join(HERE, 'fake-media.js'), 'utf8').trim().replace(/;\s*$/, '');

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function waitFor(what, fn, { timeout = UI_TIMEOUT, interval = 250 } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  let lastErr;
  for (;;) {
    try {
      last = await fn();
      lastErr = undefined;
      if (last) return last;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() > deadline) {
      const detail = lastErr ? `last error: ${lastErr.message}` : `last value: ${JSON.stringify(last)}`;
      throw new Error(`timed out after ${timeout} ms waiting for ${what} (${detail})`);
    }
    await sleep(interval);
  }
}

export function colourName([r, g, b]) {
  const max = Math.max(r, g, b);
  if (max < 80) return 'black';
  if (r > 120 && g < 90 && b < 90) return 'red';
  if (g > 100 && r < 90 && b < 90) return 'green';
  if (b > 120 && r < 90 && g < 90) return 'blue';
  if (r > 120 && g > 120 && b < 90) return 'yellow';
  return `rgb(${r},${g},${b})`;
}

/** Starts the server on 127.0.0.1, port 0, with @extraArgs; resolves once it listens. */
export async function startServer(extraArgs = []) {
  if (!fs.existsSync(BINARY)) throw new Error(`server binary ${BINARY} not found (set KAIGI_BINARY or build with ninja -C build)`);
  const child = spawn(BINARY, ['--address', '127.0.0.1', '--port', '0', ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env },
  });
  const log = [];
  const keep = (prefix) => (chunk) => {
    for (const line of chunk.toString().split('\n')) if (line) log.push(`${prefix}${line}`);
    if (log.length > 4000) log.splice(0, log.length - 4000);
  };
  child.stderr.on('data', keep('[server:err] '));
  const url = await new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`server did not print "Kaigi listening on" within 20 s\n${log.join('\n')}`)), 20_000);
    child.stdout.on('data', (chunk) => {
      keep('[server:out] ')(chunk);
      buf += chunk.toString();
      const m = buf.match(/Kaigi listening on (http:\/\/[^\s]+?)\/?\s/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    child.on('exit', (code, sig) => { clearTimeout(timer); reject(new Error(`server exited early (code ${code}, signal ${sig})\n${log.join('\n')}`)); });
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
  });
  child.removeAllListeners('exit');
  const exited = new Promise((r) => child.once('exit', (code, sig) => r({ code, sig })));
  process.on('exit', () => { try { child.kill('SIGKILL'); } catch { /* gone */ } });
  return {
    url,
    log,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      const r = await exited;
      clearTimeout(t);
      return r;
    },
  };
}

/**
 * A scenario of steps that build on each other: after a failed step the
 * rest are skipped, and @onFailure(reason) collects diagnostics once.
 * Returns { step(name, fn), hasFailed() }.
 */
export function scenario(onFailure) {
  let failed = false;
  const step = (name, fn) => {
    test(name, { timeout: 180_000 }, async (t) => {
      if (failed) {
        t.skip('an earlier step failed');
        return;
      }
      try {
        await fn(t);
      } catch (e) {
        failed = true;
        await onFailure(`${name}: ${e.message}`);
        throw e;
      }
    });
  };
  return { step, hasFailed: () => failed };
}
