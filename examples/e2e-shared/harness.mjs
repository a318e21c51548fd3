// What the examples' end-to-end suites (examples/demo/e2e,
// examples/bevy-world/e2e) share: the deadline every wait has, polling
// until a condition holds, running a server binary until it says it is
// ready, and the options of headless Chromium (Debian's binary).
//
// Node built-ins only: each suite has its own node_modules (playwright-core)
// and passes Chromium's options to its own `chromium.launch`. This is test
// scaffolding, not something a page or a server imports.

import { spawn } from 'node:child_process';

/** The longest any single wait may take before the test fails. */
export const STUCK = 30_000;

/** Polls `check` (a DOM question, usually) until it is truthy, or fails after `timeout` ms. */
export async function until(what, check, timeout = STUCK) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await check();
      if (last) return last;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what} (last: ${last})`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Runs `bin` with `args` and resolves with `{ ready, kill }` once
 * `isReady(out)` returns something truthy (`ready`) for what the process
 * has printed so far (stdout). Rejects, with everything it printed, when it
 * exits first or is not ready within STUCK ms; it is killed then.
 * `kill()` ends it abruptly (SIGKILL: no goodbye to its clients) and waits
 * for it to exit.
 */
export function startProcess(bin, args, isReady) {
  const name = bin.split('/').pop();
  const proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  // A binary that cannot be run emits 'error' and never 'exit'.
  const exited = new Promise((resolve) => {
    proc.once('exit', resolve);
    proc.once('error', resolve);
  });
  const kill = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL');
    }
    await exited;
  };
  const started = new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${name} did not start:\n${out}`)), STUCK);
    proc.stdout.on('data', (chunk) => {
      out += chunk;
      const ready = isReady(out);
      if (ready) {
        clearTimeout(timer);
        resolve(ready);
      }
    });
    proc.stderr.on('data', (chunk) => { out += chunk; });
    proc.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${bin}: ${error.message}`));
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code}:\n${out}`));
    });
  });
  return started.then((ready) => ({ ready, kill }), async (error) => {
    await kill();
    throw error;
  });
}

/**
 * Options for playwright-core's `chromium.launch`: Debian's Chromium (or
 * CHROMIUM), headless, without the background traffic of a fresh profile,
 * plus the suite's own `args`.
 */
export function chromiumOptions(args = []) {
  return {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    timeout: STUCK,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      ...args,
    ],
  };
}
