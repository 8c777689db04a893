// A pinned Python venv from PyPI, made once, for the harnesses that compare gzx with Python
// frameworks (bench/parity/run-parity.mjs, scripts/peers-venv.mjs).
//
// - Ready means: bin/python exists and the marker file lists exactly the pinned requirements. The
//   marker is written only after pip succeeded, so a second call costs one read.
// - A venv this module creates carries `.gzx-venv-incomplete` from before `python -m venv` until
//   pip succeeded. A venv that still has it was left by an install that failed or was killed (pip
//   interrupted mid-wheel, Ctrl-C, a full disk): it is deleted and built again, never used.
// - A venv made by hand (no marker of ours) is probed: if importlib.metadata reports the pinned
//   versions it is marked and used as it is; otherwise pip installs the pins into it (it is never
//   deleted).
// - An install holds `<venv>.lock` (mkdir is atomic; the holder's pid inside). A lock whose holder
//   is dead (a killed install) is taken over instead of waited on.
// - pip's output goes to `<venv>/gzx-pip-install.log`; a failure is one line naming the command, the
//   cause (no network, no such version, full disk) and the fix.
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';

/** An install problem whose message is the whole story: print `e.message`, not the stack. */
export class VenvError extends Error {
  constructor(message) {
    super(message);
    this.name = 'VenvError';
  }
}

const INCOMPLETE = '.gzx-venv-incomplete';
const PIP_LOG = 'gzx-pip-install.log';

/** The first of $GZX_PYTHON, python3.11, python3 that has the venv module. */
export function pickPython() {
  for (const cand of [process.env.GZX_PYTHON, 'python3.11', 'python3'].filter(Boolean)) {
    const r = spawnSync(cand, ['-c', 'import sys, venv, ensurepip'], { encoding: 'utf8' });
    if (r.status === 0) return cand;
  }
  throw new VenvError(
    'no Python 3 with the venv and ensurepip modules found (tried $GZX_PYTHON, python3.11, python3); install python3 and python3-venv (apt-get install python3-venv), or set GZX_PYTHON',
  );
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
}

/** True if the lock's holder is gone: its pid is dead, or it never wrote one within a minute. */
function staleLock(lockDir) {
  try {
    const pid = Number(readFileSync(path.join(lockDir, 'pid'), 'utf8'));
    return Number.isInteger(pid) && pid > 0 && !alive(pid);
  } catch {
    try {
      return Date.now() - statSync(lockDir).mtimeMs > 60_000;
    } catch {
      return false; // gone meanwhile: the next mkdir decides
    }
  }
}

/**
 * A cross-process lock (mkdir is atomic) so two installs never write the same venv. The holder's pid
 * is kept inside; a lock left by a dead process (an install killed mid-way) is removed, not waited on.
 */
export async function withLock(lockDir, fn, log, what = 'install') {
  const deadline = Date.now() + 30 * 60_000;
  let said = false;
  for (;;) {
    try {
      mkdirSync(lockDir);
      writeFileSync(path.join(lockDir, 'pid'), String(process.pid));
      break;
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
      if (staleLock(lockDir)) {
        log(`removing the stale lock ${lockDir} (its ${what} was interrupted)`);
        rmSync(lockDir, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) throw new VenvError(`timed out waiting for ${lockDir}; remove it if no ${what} is running`);
      if (!said) log(`waiting for another ${what} to finish (${lockDir})`);
      said = true;
      await sleep(1000);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lockDir, { recursive: true, force: true });
  }
}

const NETWORK_FIX = 'check that this machine reaches https://pypi.org (behind a proxy set HTTPS_PROXY; for a mirror set PIP_INDEX_URL)';

/**
 * Why the package index cannot be reached (urllib in the venv's python, so HTTPS_PROXY applies), or
 * null if it answers at all (any HTTP status).
 */
function indexUnreachable(python) {
  const index = (process.env.PIP_INDEX_URL || 'https://pypi.org/simple').replace(/\/+$/, '');
  const code = [
    'import sys, urllib.request, urllib.error',
    'try: urllib.request.urlopen(sys.argv[1], timeout=15)',
    'except urllib.error.HTTPError: pass',
    'except Exception as e: print(getattr(e, "reason", e)); sys.exit(1)',
  ].join('\n');
  const r = spawnSync(python, ['-c', code, `${index}/pip/`], { encoding: 'utf8', timeout: 30_000 });
  if (r.status === 0) return null;
  return `${new URL(index).host}: ${(r.stdout || r.stderr || 'no answer').trim().split('\n').pop()}`.slice(0, 200);
}

/** Why pip failed, and what to do, from its log. */
export function pipFailureReason(logText, { venv, pythonVersion } = {}) {
  const text = logText ?? '';
  if (/No space left on device/i.test(text)) {
    return { cause: 'the disk is full', fix: `free space (torch alone unpacks to ~4 GB) under ${path.dirname(venv ?? '.')}` };
  }
  if (
    /NewConnectionError|Failed to establish a new connection|Temporary failure in name resolution|Name or service not known|Network is unreachable|Connection refused|ConnectTimeout|Read timed out|ProxyError|SSLError|CERTIFICATE_VERIFY_FAILED|Max retries exceeded/i.test(
      text,
    )
  ) {
    return { cause: 'PyPI could not be reached', fix: NETWORK_FIX };
  }
  const missing = /No matching distribution found for (\S+)/.exec(text);
  if (missing) {
    const none = /from versions: none\)/.test(text);
    return {
      cause: none
        ? `PyPI offers no ${missing[1]} for this Python${pythonVersion ? ` (${pythonVersion})` : ''} and platform`
        : `${missing[1]} is not on PyPI`,
      fix: none ? 'use a Python the pins support (set GZX_PYTHON, e.g. python3.11) and delete the venv' : 'correct the pinned version in the script',
    };
  }
  const errors = text.split('\n').filter((l) => /^ERROR:/.test(l.trim()));
  const last = errors.pop() ?? text.trim().split('\n').pop() ?? '';
  return { cause: last.replace(/^ERROR:\s*/, '').slice(0, 300) || 'unknown (see the log)', fix: 'see the log' };
}

/** Does the venv's python report exactly these `name==version` pins (importlib.metadata, local tags ignored)? */
function hasPins(python, requirements) {
  const code = [
    'import sys, importlib.metadata as m',
    'bad = []',
    'for r in sys.argv[1:]:',
    '    n, v = r.split("==")',
    '    try: have = m.version(n).split("+")[0]',
    '    except m.PackageNotFoundError: have = None',
    '    if have != v: bad.append(r)',
    'sys.exit(1 if bad else 0)',
  ].join('\n');
  return spawnSync(python, ['-c', code, ...requirements], { encoding: 'utf8' }).status === 0;
}

/**
 * Makes sure `venv` has `requirements` (pinned `name==version`) from PyPI; returns its python.
 * @param {{ venv: string, requirements: string[], marker: string, label: string, rerun: string,
 *   envVar: string, size?: string, log?: (m: string) => void }} o
 *   label prefixes messages; rerun is the command to run again; envVar is the override variable;
 *   size describes the download for the first-time message.
 */
export async function ensureVenv(o) {
  const log = o.log ?? ((m) => process.stderr.write(`${m}\n`));
  const venv = path.resolve(o.venv);
  const python = path.join(venv, 'bin', 'python');
  const marker = path.join(venv, o.marker);
  const incomplete = path.join(venv, INCOMPLETE);
  const wanted = o.requirements.join('\n');
  const ready = () => existsSync(python) && existsSync(marker) && !existsSync(incomplete) && readFileSync(marker, 'utf8').trim() === wanted;
  if (ready()) return python;
  mkdirSync(path.dirname(venv), { recursive: true });
  try {
    await install();
  } catch (e) {
    if (e instanceof VenvError) e.message = `${o.label}: ${e.message}`;
    throw e;
  }
  return python;

  function install() {
    return withLock(
      `${venv}.lock`,
      async () => {
        if (ready()) return;
        if (existsSync(incomplete)) {
          log(`${o.label}: ${venv} is left over from an install that did not finish; deleting it and installing again`);
          rmSync(venv, { recursive: true, force: true });
        } else if (existsSync(python) && !existsSync(marker) && hasPins(python, o.requirements)) {
          writeFileSync(marker, `${wanted}\n`); // made by hand, with the right versions
          return;
        }
        const started = Date.now();
        const ours = !existsSync(python);
        if (ours) {
          const base = pickPython();
          mkdirSync(venv, { recursive: true });
          writeFileSync(incomplete, 'created by gzx; deleted once pip has installed the pinned requirements\n');
          log(`${o.label}: creating Python venv ${venv} (${base})`);
          const r = spawnSync(base, ['-m', 'venv', venv], { encoding: 'utf8' });
          if (r.status !== 0) {
            const why = `${r.stderr ?? ''}${r.stdout ?? ''}`.trim().split('\n').filter(Boolean).pop() ?? `exit ${r.status ?? r.signal}`;
            throw new VenvError(
              `\`${base} -m venv ${venv}\` failed: ${why}. Fix: install python3-venv (apt-get install python3-venv) or set GZX_PYTHON, or set ${o.envVar} to a writable folder; then rerun \`${o.rerun}\``,
            );
          }
        }
        const logFile = path.join(venv, PIP_LOG);
        const args = ['-m', 'pip', 'install', '--disable-pip-version-check', '--progress-bar', 'off', ...o.requirements];
        log(
          `${o.label}: installing ${o.requirements.join(' ')} from PyPI into ${venv} (first time only${o.size ? `; ${o.size}` : ''}); pip's output: ${logFile}`,
        );
        const fd = openSync(logFile, 'w');
        let r;
        try {
          r = spawnSync(python, args, { stdio: ['ignore', fd, fd] });
        } finally {
          closeSync(fd);
        }
        if (r.status !== 0) {
          const ver = spawnSync(python, ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'], { encoding: 'utf8' }).stdout?.trim();
          const text = existsSync(logFile) ? readFileSync(logFile, 'utf8') : '';
          let { cause, fix } = r.signal
            ? { cause: `pip was killed (${r.signal})`, fix: 'run it again' }
            : pipFailureReason(text, { venv, pythonVersion: ver });
          // "(from versions: none)" is also all pip says when it cannot reach the index and does not
          // retry (PIP_RETRIES=0): ask the index directly before blaming the Python version.
          if (/from versions: none\)/.test(text) && !/could not be reached/.test(cause)) {
            const down = indexUnreachable(python);
            if (down) ({ cause, fix } = { cause: `PyPI could not be reached (${down})`, fix: NETWORK_FIX });
          }
          throw new VenvError(
            `\`pip install ${o.requirements.join(' ')}\` into ${venv} failed: ${cause}. Fix: ${fix}; then rerun \`${o.rerun}\`${ours ? ' (the unfinished venv is rebuilt)' : ''}, or set ${o.envVar} to a venv that has these versions. pip's log: ${logFile}`,
          );
        }
        writeFileSync(marker, `${wanted}\n`);
        rmSync(incomplete, { force: true });
        log(`${o.label}: venv ready in ${Math.round((Date.now() - started) / 1000)} s`);
      },
      log,
      `${o.label} venv install`,
    );
  }
}
