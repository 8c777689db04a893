#!/usr/bin/env node
// Installs MLflow into a Python venv (once) and starts a local tracking server with a SQLite store
// and proxied artifacts. `npm run mlflow:server [-- --port 5000 --dir .cache/mlflow]`.
// The functions are exported for test/helpers/mlflow.ts.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, writeFileSync, closeSync } from 'node:fs';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
// One venv helper for every Python part (its lock takes over a killed install's stale lock).
import { pickPython, withLock } from './python-venv.mjs';

/** Pinned: the newest release whose wheels (mlflow, mlflow-skinny, mlflow-tracing) install here with Python 3.11. */
export const MLFLOW_VERSION = '3.17.2';
/** `auth` adds Flask-WTF, which the basic-auth app (`--auth`) needs. */
const MLFLOW_REQUIREMENT = `mlflow[auth]==${MLFLOW_VERSION}`;

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The venv MLflow lives in: GZX_MLFLOW_VENV, or .venv/mlflow in the repo (git-ignored). */
export function mlflowVenvDir() {
  return path.resolve(process.env.GZX_MLFLOW_VENV || path.join(REPO, '.venv', 'mlflow'));
}

function mlflowBin(venv) {
  return path.join(venv, 'bin', 'mlflow');
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

export async function ensureMlflowInstalled({ log = (m) => process.stderr.write(`${m}\n`) } = {}) {
  const venv = mlflowVenvDir();
  const marker = path.join(venv, '.gzx-mlflow-version');
  const ready = () => existsSync(mlflowBin(venv)) && existsSync(marker) && readFileSync(marker, 'utf8').trim() === MLFLOW_REQUIREMENT;
  if (ready()) return mlflowBin(venv);
  mkdirSync(path.dirname(venv), { recursive: true });
  await withLock(
    `${venv}.lock`,
    async () => {
      if (ready()) return;
      const started = Date.now();
      if (!existsSync(path.join(venv, 'bin', 'python'))) {
        const python = pickPython();
        log(`creating Python venv ${venv} (${python})`);
        run(python, ['-m', 'venv', venv]);
      }
      log(`installing ${MLFLOW_REQUIREMENT} from PyPI into ${venv} (first time only, a few minutes)`);
      run(path.join(venv, 'bin', 'python'), ['-m', 'pip', 'install', '--disable-pip-version-check', '-q', MLFLOW_REQUIREMENT]);
      writeFileSync(marker, `${MLFLOW_REQUIREMENT}\n`);
      log(`mlflow installed in ${Math.round((Date.now() - started) / 1000)} s`);
    },
    log,
    'MLflow install',
  );
  return mlflowBin(venv);
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status ?? r.signal}).`);
}

/** A TCP port nothing listens on right now (the OS picks it). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function portIsFree(port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/**
 * Starts `mlflow server` on 127.0.0.1 with its store and artifacts in `dir`, and waits for /health.
 * Reusing a `dir` restarts a server on the same data.
 * With `auth`, MLflow's basic-auth app runs and `auth.username` is its admin (password `auth.password`).
 * @param {{dir: string, port?: number, timeoutMs?: number, log?: (m: string) => void, signal?: AbortSignal, auth?: {username: string, password: string}}} opts
 * @returns {Promise<{uri: string, port: number, dir: string, pid: number, logFile: string, stop: () => Promise<void>, kill: () => Promise<void>}>}
 */
export async function startMlflowServer({ dir, port, timeoutMs = 180_000, log = (m) => process.stderr.write(`${m}\n`), signal, auth }) {
  const bin = await ensureMlflowInstalled({ log });
  dir = path.resolve(dir);
  mkdirSync(path.join(dir, 'artifacts'), { recursive: true });
  port = port ?? (await freePort());
  const logFile = path.join(dir, 'server.log');
  const out = openSync(logFile, 'a');
  const args = [
    'server',
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    '--backend-store-uri',
    `sqlite:///${path.join(dir, 'mlflow.db')}`,
    '--serve-artifacts',
    '--artifacts-destination',
    path.join(dir, 'artifacts'),
    '--workers',
    '1',
  ];
  const env = { ...process.env, PYTHONUNBUFFERED: '1' };
  if (auth) {
    // The auth app keeps its users in its own SQLite file, configured through an ini file.
    const ini = path.join(dir, 'basic_auth.ini');
    writeFileSync(
      ini,
      `[mlflow]\ndefault_permission = READ\ndatabase_uri = sqlite:///${path.join(dir, 'basic_auth.db')}\n` +
        `admin_username = ${auth.username}\nauthorization_function = mlflow.server.auth:authenticate_request_basic_auth\n` +
        // Without this cache every request re-runs PBKDF2, which makes each call take seconds on a busy machine.
        `auth_cache_ttl_seconds = 600\n`,
    );
    Object.assign(env, {
      MLFLOW_AUTH_CONFIG_PATH: ini,
      MLFLOW_AUTH_ADMIN_PASSWORD: auth.password,
      MLFLOW_FLASK_SERVER_SECRET_KEY: env.MLFLOW_FLASK_SERVER_SECRET_KEY || randomBytes(16).toString('hex'),
    });
    args.push('--app-name', 'basic-auth');
  }
  // Own process group, so stop() ends the server and its workers together.
  const child = spawn(bin, args, {
    detached: true,
    stdio: ['ignore', out, out],
    env,
  });
  closeSync(out);
  let exited = null;
  child.on('exit', (code, signal) => {
    exited = { code, signal };
  });
  const killGroup = (sig) => {
    try {
      process.kill(-child.pid, sig);
    } catch {
      // Already gone.
    }
  };
  const onExit = () => killGroup('SIGKILL');
  process.on('exit', onExit);

  const waitExit = async (ms) => {
    const end = Date.now() + ms;
    while (exited === null && Date.now() < end) await sleep(50);
    return exited !== null;
  };
  const stopWith = async (first) => {
    process.off('exit', onExit);
    if (exited) return;
    killGroup(first);
    if (!(await waitExit(10_000))) {
      killGroup('SIGKILL');
      await waitExit(5_000);
    }
    // Workers of the group may outlive the leader by a moment.
    killGroup('SIGKILL');
  };

  const uri = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (signal?.aborted) {
      await stopWith('SIGTERM');
      throw new Error('mlflow server start was cancelled.');
    }
    if (exited) {
      const tail = readFileSync(logFile, 'utf8').split('\n').slice(-25).join('\n');
      throw new Error(`mlflow server exited (${exited.code ?? exited.signal}) before answering /health. Last lines of ${logFile}:\n${tail}`);
    }
    try {
      const res = await fetch(`${uri}/health`, { signal: AbortSignal.timeout(2000) });
      if (res.ok) break;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      await stopWith('SIGKILL');
      throw new Error(`mlflow server did not answer ${uri}/health within ${timeoutMs / 1000} s; see ${logFile}.`);
    }
    await sleep(250);
  }
  return {
    uri,
    port,
    dir,
    pid: child.pid,
    logFile,
    /** Graceful stop (SIGTERM, then SIGKILL). */
    stop: () => stopWith('SIGTERM'),
    /** Abrupt death, as a crashed server or pulled cable looks to a client. */
    kill: () => stopWith('SIGKILL'),
  };
}

async function main(argv) {
  const opts = { port: undefined, dir: path.join(REPO, '.cache', 'mlflow'), installOnly: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--port') opts.port = Number(argv[++i]);
    else if (a === '--dir') opts.dir = path.resolve(argv[++i]);
    else if (a === '--install-only') opts.installOnly = true;
    else if (a === '--help' || a === '-h') {
      process.stdout.write(
        'Usage: npm run mlflow:server [-- --port N] [--dir DIR] [--install-only]\n' +
          '  --port N        port on 127.0.0.1 (default 5000 when free, else any free port)\n' +
          '  --dir DIR       where the SQLite store and artifacts live (default .cache/mlflow)\n' +
          '  --install-only  install mlflow into the venv and exit\n',
      );
      return;
    } else {
      process.stderr.write(`mlflow-server: unknown option "${a}" (try --help)\n`);
      process.exit(2);
    }
  }
  if (opts.port !== undefined && !(Number.isInteger(opts.port) && opts.port > 0 && opts.port < 65536)) {
    process.stderr.write('mlflow-server: --port needs a number between 1 and 65535\n');
    process.exit(2);
  }
  let cancel = null;
  try {
    if (opts.installOnly) {
      const bin = await ensureMlflowInstalled();
      process.stdout.write(`${bin}\n`);
      return;
    }
    if (opts.port === undefined) opts.port = (await portIsFree(5000)) ? 5000 : await freePort();
    else if (!(await portIsFree(opts.port))) {
      process.stderr.write(`mlflow-server: port ${opts.port} is in use; pick another with --port.\n`);
      process.exit(1);
    }
    // Signals during the (slow) start must not leave the server behind in its own process group.
    cancel = new AbortController();
    let server = null;
    const shutdown = async () => {
      if (!server) return cancel.abort(); // the start loop stops the server; main then exits
      await server.stop();
      process.exit(0);
    };
    process.on('SIGINT', shutdown);
    process.on('SIGTERM', shutdown);
    process.on('SIGHUP', shutdown);
    // If whatever started us goes away without passing on a signal (npm's `sh -c` may not
    // forward SIGTERM), take the server down too.
    const parent = process.ppid;
    setInterval(() => {
      if (process.ppid !== parent) void shutdown();
    }, 1000);
    server = await startMlflowServer({ dir: opts.dir, port: opts.port, signal: cancel.signal });
    process.stdout.write(
      `MLflow server ready: ${server.uri}\n` +
        `  store: ${opts.dir} (log: ${server.logFile})\n` +
        `  export MLFLOW_TRACKING_URI=${server.uri}\n` +
        `Ctrl-C stops it.\n`,
    );
  } catch (e) {
    if (cancel?.signal.aborted) process.exit(0);
    process.stderr.write(`mlflow-server: ${e.message}\n`);
    process.exit(1);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main(process.argv.slice(2));
}
