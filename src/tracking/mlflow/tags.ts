// The tags a gzx run carries in MLflow. The logger and `runs sync` both use this, so a run
// logged live and the same run synced later look alike (and sync finds nothing to change).
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { GZX_VERSION } from '../../base/version.js';

export interface RunTagSource {
  runId: string;
  runName: string;
  configPath: string;
  configHash: string;
  description?: string;
  /** Tags recorded by the engine (gzx.backend, gzx.data_fingerprint, …). */
  tags: Record<string, string>;
  error?: string;
}

/** mlflow.* system tags plus gzx.* tags. Tags already present in `src.tags` win over computed ones. */
export function runTags(src: RunTagSource, opts: { gitCommit?: string | null; user?: string } = {}): Record<string, string> {
  const out: Record<string, string> = {
    'mlflow.runName': src.runName,
    'mlflow.source.name': src.configPath,
    'mlflow.source.type': 'LOCAL',
    'mlflow.user': opts.user ?? currentUser(),
    'gzx.version': GZX_VERSION,
    'gzx.config_hash': src.configHash,
    'gzx.run_id': src.runId,
  };
  if (src.description) out['mlflow.note.content'] = src.description;
  if (opts.gitCommit) out['mlflow.source.git.commit'] = opts.gitCommit;
  Object.assign(out, src.tags);
  // The local id is how sync finds the server run: never let a recorded tag change it.
  out['gzx.run_id'] = src.runId;
  if (src.error) out['gzx.error'] = src.error;
  return out;
}

/** HEAD of the git checkout containing `dir`, or null outside one (or without git). */
export function gitCommitOf(dir: string): string | null {
  try {
    const out = execFileSync('git', ['rev-parse', 'HEAD'], {
      cwd: path.resolve(dir),
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 5000,
    }).trim();
    return /^[0-9a-f]{40}$/u.test(out) ? out : null;
  } catch {
    return null;
  }
}

function currentUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    return process.env.USER ?? 'unknown';
  }
}
