// The tags a gzx run carries in MLflow. The logger and `runs sync` both use this, so a run
// logged live and the same run synced later look alike (and sync finds nothing to change).
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GZX_VERSION } from '../../base/version.js';
import { mlflowRunName } from './view.js';

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

/**
 * mlflow.* system tags plus gzx.* tags. Tags already present in `src.tags` win over computed ones.
 * `src.runName` is the config's name (`gzx.config_name`); the MLflow run name is mlflowRunName's.
 */
export function runTags(src: RunTagSource, opts: { user?: string } = {}): Record<string, string> {
  const out: Record<string, string> = {
    'mlflow.runName': mlflowRunName(src),
    'gzx.config_name': src.runName,
    'mlflow.source.name': src.configPath,
    'mlflow.source.type': 'LOCAL',
    'mlflow.user': opts.user ?? currentUser(),
    'gzx.version': GZX_VERSION,
    'gzx.config_hash': src.configHash,
    'gzx.run_id': src.runId,
  };
  if (src.description) out['mlflow.note.content'] = src.description;
  Object.assign(out, src.tags);
  // The local id is how sync finds the server run: never let a recorded tag change it.
  out['gzx.run_id'] = src.runId;
  if (src.error) out['gzx.error'] = src.error;
  return out;
}

/** HEAD of the git checkout containing `dir`, or null outside one (or without git). */
export function gitCommitOf(dir: string): string | null {
  const out = git(dir, ['rev-parse', 'HEAD']);
  return out !== null && /^[0-9a-f]{40}$/u.test(out.trim()) ? out.trim() : null;
}

/** Whether the checkout containing `dir` has uncommitted changes to tracked files (null outside one). */
export function gitDirtyOf(dir: string): boolean | null {
  const out = git(dir, ['status', '--porcelain', '--untracked-files=no']);
  return out === null ? null : out.trim().length > 0;
}

function git(dir: string, args: string[]): string | null {
  try {
    return execFileSync('git', args, { cwd: path.resolve(dir), encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 });
  } catch {
    return null;
  }
}

/** gzx's own folder (its package root), wherever the config is. */
const GZX_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * Where a run's code and config came from, as two separate records: gzx itself (`gzx.version`,
 * and `gzx.git_commit`/`gzx.git_dirty` when gzx runs from a git checkout) and the config's folder
 * (`mlflow.source.git.commit`, what MLflow shows as the source version, and `gzx.config_git_dirty`),
 * which is often another repository or none.
 */
export function sourceTags(configDir: string): Record<string, string> {
  const tags: Record<string, string> = { 'gzx.version': GZX_VERSION };
  const own = gitCommitOf(GZX_ROOT);
  if (own) {
    tags['gzx.git_commit'] = own;
    tags['gzx.git_dirty'] = String(gitDirtyOf(GZX_ROOT));
  }
  const config = gitCommitOf(configDir);
  if (config) {
    tags['mlflow.source.git.commit'] = config;
    tags['gzx.config_git_dirty'] = String(gitDirtyOf(configDir));
  }
  return tags;
}

function currentUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    return process.env.USER ?? 'unknown';
  }
}
