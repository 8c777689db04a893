// scripts/python-venv.mjs (the venvs of `npm run parity` and `npm run bench:peers`) against a fake
// Python: a shell script that makes a "venv" whose "pip" succeeds, fails with a given log, or hangs
// until killed. No network, no real pip.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
// @ts-expect-error plain .mjs helper without types
import { ensureVenv, pipFailureReason, VenvError } from '../../../scripts/python-venv.mjs';

const FAKE_PYTHON = `#!/bin/sh
# A fake python3: "-m venv DIR" makes DIR/bin/python (this script); "-m pip install" does what
# $FAKE_PIP says (ok | net | hang); "-c" succeeds unless it is the pins probe and FAKE_PINS != ok.
echo "$*" >> "$FAKE_CALLS"
if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then mkdir -p "$3/bin" && cp "$0" "$3/bin/python" && exit 0; fi
if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then
  case "$FAKE_PIP" in
    ok) echo "Successfully installed"; exit 0 ;;
    net) echo "WARNING: Retrying after connection broken by 'NewConnectionError(Failed to establish a new connection: [Errno -3] Temporary failure in name resolution)'"
         echo "ERROR: Could not find a version that satisfies the requirement fakepkg==1.0 (from versions: none)"
         echo "ERROR: No matching distribution found for fakepkg==1.0"; exit 1 ;;
    hang) echo started > "$FAKE_CALLS.pip-started"; exec sleep 600 ;;
  esac
fi
if [ "$1" = "-c" ]; then case "$2" in *importlib.metadata*) [ "$FAKE_PINS" = ok ] && exit 0; exit 1 ;; *) echo 3.11; exit 0 ;; esac; fi
exit 0
`;

let dir: string;
let saved: NodeJS.ProcessEnv;
const calls = () => (existsSync(path.join(dir, 'calls')) ? readFileSync(path.join(dir, 'calls'), 'utf8') : '');
const opts = (extra: Record<string, unknown> = {}) => ({
  venv: path.join(dir, 'venvs', 'v'),
  requirements: ['fakepkg==1.0'],
  marker: '.done',
  label: 'fake',
  rerun: 'npm run fake',
  envVar: 'GZX_FAKE_VENV',
  log: () => {},
  ...extra,
});

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'gzx-venv-'));
  const py = path.join(dir, 'python3');
  writeFileSync(py, FAKE_PYTHON);
  chmodSync(py, 0o755);
  saved = { ...process.env };
  Object.assign(process.env, { GZX_PYTHON: py, FAKE_CALLS: path.join(dir, 'calls'), FAKE_PIP: 'ok', FAKE_PINS: 'no' });
});
afterEach(() => {
  process.env = saved;
  rmSync(dir, { recursive: true, force: true });
});

describe('ensureVenv', () => {
  it('creates the venv once, writes the marker after pip, and skips pip the second time', async () => {
    const python = await ensureVenv(opts());
    expect(python).toBe(path.join(dir, 'venvs', 'v', 'bin', 'python'));
    expect(readFileSync(path.join(dir, 'venvs', 'v', '.done'), 'utf8').trim()).toBe('fakepkg==1.0');
    expect(existsSync(path.join(dir, 'venvs', 'v', '.gzx-venv-incomplete'))).toBe(false);
    expect(existsSync(path.join(dir, 'venvs', 'v.lock'))).toBe(false);
    const pipRuns = () =>
      calls()
        .split('\n')
        .filter((l) => l.startsWith('-m pip install')).length;
    expect(pipRuns()).toBe(1);
    await ensureVenv(opts());
    expect(pipRuns()).toBe(1);
  });

  it('turns a pip failure into one line naming the command, the cause and the fix; the next run rebuilds', async () => {
    process.env.FAKE_PIP = 'net';
    const err = await ensureVenv(opts()).then(
      () => null,
      (e: Error) => e,
    );
    expect(err).toBeInstanceOf(VenvError);
    const m = (err as Error).message;
    expect(m).not.toContain('\n');
    expect(m).toMatch(
      /^fake: `pip install fakepkg==1\.0` into .* failed: PyPI could not be reached\. Fix: check that this machine reaches https:\/\/pypi\.org/,
    );
    expect(m).toContain('rerun `npm run fake`');
    expect(m).toContain('GZX_FAKE_VENV');
    expect(existsSync(path.join(dir, 'venvs', 'v', '.gzx-venv-incomplete'))).toBe(true);
    expect(existsSync(path.join(dir, 'venvs', 'v', '.done'))).toBe(false);

    process.env.FAKE_PIP = 'ok';
    writeFileSync(path.join(dir, 'venvs', 'v', 'leftover'), 'half a wheel');
    const logs: string[] = [];
    await ensureVenv(opts({ log: (s: string) => logs.push(s) }));
    expect(logs.join('\n')).toMatch(/left over from an install that did not finish; deleting it/);
    expect(existsSync(path.join(dir, 'venvs', 'v', 'leftover'))).toBe(false);
    expect(existsSync(path.join(dir, 'venvs', 'v', '.done'))).toBe(true);
  });

  it('rebuilds a venv whose install was killed mid-pip, taking over the dead install lock', async () => {
    process.env.FAKE_PIP = 'hang';
    const script = `import('${path.resolve('scripts/python-venv.mjs')}').then((m) => m.ensureVenv(${JSON.stringify(opts({ log: undefined }))}))`;
    const child = spawn(process.execPath, ['-e', script], { stdio: 'ignore', detached: true, env: process.env });
    const started = path.join(dir, 'calls.pip-started');
    for (let i = 0; i < 200 && !existsSync(started); i++) await new Promise((r) => setTimeout(r, 50));
    expect(existsSync(started)).toBe(true);
    process.kill(-child.pid!, 'SIGKILL'); // node and pip, as Ctrl-C or a crash would
    await new Promise((r) => child.once('exit', r));
    expect(existsSync(path.join(dir, 'venvs', 'v.lock'))).toBe(true);

    process.env.FAKE_PIP = 'ok';
    const logs: string[] = [];
    await ensureVenv(opts({ log: (s: string) => logs.push(s) }));
    const said = logs.join('\n');
    expect(said).toMatch(/removing the stale lock/);
    expect(said).toMatch(/did not finish; deleting it/);
    expect(existsSync(path.join(dir, 'venvs', 'v', '.done'))).toBe(true);
    expect(existsSync(path.join(dir, 'venvs', 'v.lock'))).toBe(false);
  });

  it('uses a venv made by hand with the pinned versions as it is, and never deletes one without them', async () => {
    const venv = path.join(dir, 'venvs', 'v');
    spawnSync(process.env.GZX_PYTHON!, ['-m', 'venv', venv]);
    writeFileSync(path.join(venv, 'mine'), 'keep');
    process.env.FAKE_PINS = 'ok';
    await ensureVenv(opts());
    expect(calls()).not.toContain('-m pip install');
    expect(existsSync(path.join(venv, '.done'))).toBe(true);

    rmSync(path.join(venv, '.done'));
    process.env.FAKE_PINS = 'no';
    process.env.FAKE_PIP = 'net';
    const err = await ensureVenv(opts()).catch((e: Error) => e);
    expect((err as Error).message).not.toContain('rebuilt');
    expect(existsSync(path.join(venv, 'mine'))).toBe(true);
    process.env.FAKE_PIP = 'ok';
    await ensureVenv(opts());
    expect(existsSync(path.join(venv, 'mine'))).toBe(true);
  });

  it('waits for a live install lock instead of taking it', async () => {
    const lock = path.join(dir, 'venvs', 'v.lock');
    mkdirSync(lock, { recursive: true });
    writeFileSync(path.join(lock, 'pid'), String(process.pid));
    const logs: string[] = [];
    const p = ensureVenv(opts({ log: (s: string) => logs.push(s) }));
    await new Promise((r) => setTimeout(r, 300));
    expect(logs.join('\n')).toMatch(/waiting for another fake venv install/);
    rmSync(lock, { recursive: true });
    await p;
    expect(existsSync(path.join(dir, 'venvs', 'v', '.done'))).toBe(true);
  });
});

describe('pipFailureReason', () => {
  it('names a pinned version PyPI does not have', () => {
    const r = pipFailureReason(
      'ERROR: Could not find a version that satisfies the requirement torch==9.9.9 (from versions: 2.14.0, 2.15.0)\nERROR: No matching distribution found for torch==9.9.9\n',
    );
    expect(r.cause).toBe('torch==9.9.9 is not on PyPI');
  });
  it('names a Python the pins do not support', () => {
    const r = pipFailureReason(
      'ERROR: Could not find a version that satisfies the requirement torch==2.15.0 (from versions: none)\nERROR: No matching distribution found for torch==2.15.0\n',
      { pythonVersion: '3.7' },
    );
    expect(r.cause).toMatch(/no torch==2.15.0 for this Python \(3.7\)/);
    expect(r.fix).toMatch(/GZX_PYTHON/);
  });
  it('names a full disk', () => {
    expect(pipFailureReason('OSError: [Errno 28] No space left on device', { venv: '/x/y' }).cause).toBe('the disk is full');
  });
});
