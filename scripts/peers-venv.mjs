#!/usr/bin/env node
// The Python venv that `npm run bench:peers` measures PyTorch and Keras in: pinned versions from
// PyPI, made once by scripts/python-venv.mjs (marker file written only after pip succeeded, an
// unfinished venv rebuilt, a lock so two installs never write the same venv, one-line errors).
// GZX_PEERS_VENV overrides the folder (default .venv/peers in the repo, git-ignored).
//   node scripts/peers-venv.mjs            install if needed, print the venv's python
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureVenv } from './python-venv.mjs';

/**
 * Pinned peers. torch from PyPI is its CUDA build and brings NVIDIA's runtime wheels (~3.4 GB
 * downloaded, ~7 GB installed with TensorFlow); the bench runs it on the CPU. PyPI has no CPU-only
 * torch wheel for Linux (that is on download.pytorch.org). tensorflow-cpu brings keras 3 as its
 * dependency; keras is pinned too so the Keras side does not move under the numbers.
 */
export const PEER_REQUIREMENTS = ['tensorflow-cpu==2.21.0', 'keras==3.15.1', 'torch==2.15.0', 'torchvision==0.29.2'];

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export function peersVenvDir() {
  return path.resolve(process.env.GZX_PEERS_VENV || path.join(REPO, '.venv', 'peers'));
}

/** @returns {Promise<string>} the venv's python */
export function ensurePeersVenv({ log = (m) => process.stderr.write(`${m}\n`) } = {}) {
  return ensureVenv({
    venv: peersVenvDir(),
    requirements: PEER_REQUIREMENTS,
    marker: '.gzx-peers-requirements',
    label: 'peers',
    rerun: 'npm run bench:peers',
    envVar: 'GZX_PEERS_VENV',
    size: '~3.4 GB download, ~7 GB on disk, a few minutes',
    log,
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  ensurePeersVenv().then(
    (python) => process.stdout.write(`${python}\n`),
    (e) => {
      process.stderr.write(e.name === 'VenvError' ? `${e.message}\n` : `peers-venv: ${e.stack ?? e}\n`);
      process.exit(1);
    },
  );
}
