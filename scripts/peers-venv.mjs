#!/usr/bin/env node
// The Python venv that `npm run bench:peers` measures PyTorch and Keras in, made the way
// scripts/mlflow-server.mjs makes MLflow's: pinned versions from PyPI, a marker file recording
// what was installed (a second call costs one stat), and a lock so two installs never write the
// same venv. GZX_PEERS_VENV overrides the folder (default .venv/peers in the repo, git-ignored).
//   node scripts/peers-venv.mjs            install if needed, print the venv's python
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pickPython, withLock } from './mlflow-server.mjs';

/**
 * Pinned peers. torch from PyPI is its CUDA build and brings NVIDIA's runtime wheels (~4 GB in
 * all); the bench runs it on the CPU. tensorflow-cpu brings keras 3 as its dependency; keras is
 * pinned too so the Keras side does not move under the numbers.
 */
export const PEER_REQUIREMENTS = ['tensorflow-cpu==2.21.0', 'keras==3.15.1', 'torch==2.15.0', 'torchvision==0.29.2'];

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export function peersVenvDir() {
  return path.resolve(process.env.GZX_PEERS_VENV || path.join(REPO, '.venv', 'peers'));
}

/** @returns {Promise<string>} the venv's python */
export async function ensurePeersVenv({ log = (m) => process.stderr.write(`${m}\n`) } = {}) {
  const venv = peersVenvDir();
  const python = path.join(venv, 'bin', 'python');
  const marker = path.join(venv, '.gzx-peers-requirements');
  const wanted = PEER_REQUIREMENTS.join('\n');
  const ready = () => existsSync(python) && existsSync(marker) && readFileSync(marker, 'utf8').trim() === wanted;
  if (ready()) return python;
  mkdirSync(path.dirname(venv), { recursive: true });
  await withLock(
    `${venv}.lock`,
    async () => {
      if (ready()) return;
      const started = Date.now();
      if (!existsSync(python)) {
        const base = pickPython();
        log(`creating Python venv ${venv} (${base})`);
        run(base, ['-m', 'venv', venv]);
      }
      log(`installing ${PEER_REQUIREMENTS.join(' ')} from PyPI into ${venv} (first time only; ~5 GB, several minutes)`);
      run(python, ['-m', 'pip', 'install', '--disable-pip-version-check', '-q', ...PEER_REQUIREMENTS]);
      writeFileSync(marker, `${wanted}\n`);
      log(`peers installed in ${Math.round((Date.now() - started) / 1000)} s`);
    },
    log,
    'peers venv install',
  );
  return python;
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status ?? r.signal}).`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  ensurePeersVenv().then(
    (python) => process.stdout.write(`${python}\n`),
    (e) => {
      process.stderr.write(`peers-venv: ${e.message}\n`);
      process.exit(1);
    },
  );
}
