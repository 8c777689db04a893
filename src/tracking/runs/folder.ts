// Reads local run folders (format: docs/architecture.md, "Run folder"). Read-only: the engine's
// `local` logger owns these files; only `mlflow.json` is written by MLflow code.
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { MetricPoint, RunStatus } from '../../framework/contracts.js';
import { UserError } from '../../base/errors.js';
import { didYouMean } from '../../base/suggest.js';
import { writeFileAtomic } from '../../base/safe-write.js';

export interface RunMeta {
  runId: string;
  runName: string;
  status: RunStatus;
  startTime: number;
  endTime?: number;
  configPath: string;
  configHash: string;
  description?: string;
  tags: Record<string, string>;
  /** Paths (relative to the run folder) the engine asked loggers to keep. */
  artifacts?: string[];
  error?: string;
}

/** Where the run lives on an MLflow server (written by the mlflow logger and by `runs sync`). */
export interface MlflowLink {
  tracking_uri: string;
  experiment_id: string;
  run_id: string;
}

export interface LocalRun {
  /** Folder name under runs/ (= meta.runId for runs the engine made). */
  id: string;
  dir: string;
  meta: RunMeta;
  params: Record<string, string>;
  metrics: MetricPoint[];
  summary: Record<string, unknown> | null;
  mlflow: MlflowLink | null;
}

const STATUSES: RunStatus[] = ['RUNNING', 'FINISHED', 'FAILED', 'KILLED'];

/** meta.json of a run folder, or null when `dir` is not a readable run folder. */
export async function readRunMeta(dir: string): Promise<RunMeta | null> {
  try {
    const meta = JSON.parse(await fs.readFile(path.join(dir, 'meta.json'), 'utf8')) as RunMeta;
    return meta && typeof meta === 'object' && STATUSES.includes(meta.status) ? meta : null;
  } catch {
    return null;
  }
}

export async function readRunFolder(dir: string): Promise<LocalRun> {
  dir = path.resolve(dir);
  const metaFile = path.join(dir, 'meta.json');
  if (!existsSync(metaFile)) {
    throw new UserError(`${dir} is not a gzx run folder: it has no meta.json. Pass a folder under runs/ (see \`gzx runs list\`).`);
  }
  const meta = await readJsonFile<RunMeta>(metaFile);
  if (!meta || typeof meta !== 'object' || typeof meta.runId !== 'string' || !STATUSES.includes(meta.status)) {
    throw new UserError(`${metaFile}: not a gzx run record (needs runId and status ${STATUSES.join('|')}). Was it edited by hand?`);
  }
  meta.tags ??= {};
  const params = (await readJsonFile<Record<string, string>>(path.join(dir, 'params.json'), true)) ?? {};
  const summary = await readJsonFile<Record<string, unknown>>(path.join(dir, 'summary.json'), true);
  const mlflow = await readJsonFile<MlflowLink>(path.join(dir, 'mlflow.json'), true);
  return { id: path.basename(dir), dir, meta, params, metrics: await readMetrics(path.join(dir, 'metrics.jsonl')), summary, mlflow };
}

/**
 * metrics.jsonl, one point per line. A half-written last line (the process was killed while
 * appending) is ignored; a broken line elsewhere is a damaged file and says so.
 */
export async function readMetrics(file: string): Promise<MetricPoint[]> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const lines = text.split('\n');
  const out: MetricPoint[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (!line) continue;
    const isLast = lines.slice(i + 1).every((l) => l.trim() === '');
    let p: MetricPoint;
    try {
      p = JSON.parse(line) as MetricPoint;
    } catch {
      if (isLast) break;
      throw new UserError(`${file}, line ${i + 1}: not valid JSON. Remove or repair that line.`);
    }
    if (typeof p.key !== 'string' || typeof p.step !== 'number' || typeof p.timestamp !== 'number') {
      throw new UserError(`${file}, line ${i + 1}: a metric needs key, value, step and timestamp. Remove or repair that line.`);
    }
    // JSON has no NaN: a diverged loss is written as null.
    out.push({ key: p.key, value: p.value === null ? NaN : Number(p.value), step: p.step, timestamp: p.timestamp });
  }
  return out;
}

/** Says that a damaged run folder was left out (stderr by default: stdout may be JSON). */
export type RunWarning = (message: string) => void;
const warnOnStderr: RunWarning = (m) => process.stderr.write(`gzx: warning: ${m}\n`);

/**
 * Run folders (those with meta.json) directly under `root`, oldest first. A folder that cannot be
 * read (a damaged meta.json, summary.json, …) is left out with one warning naming it, so one broken
 * run never hides the others.
 */
export async function listRunFolders(root: string, warn: RunWarning = warnOnStderr): Promise<LocalRun[]> {
  root = path.resolve(root);
  let entries: import('node:fs').Dirent[];
  try {
    entries = await fs.readdir(root, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new UserError(`No runs folder at ${root}. Train something first (\`gzx run <config>\`) or pass --dir <folder with runs>.`);
    }
    throw e;
  }
  const runs: LocalRun[] = [];
  for (const e of entries) {
    if (!e.isDirectory() || !existsSync(path.join(root, e.name, 'meta.json'))) continue;
    const run = await readRunOrWarn(path.join(root, e.name), warn);
    if (run) runs.push(run);
  }
  return runs.sort((a, b) => a.meta.startTime - b.meta.startTime || a.id.localeCompare(b.id));
}

/** The run, or null after one warning naming the folder and what is wrong with it. */
async function readRunOrWarn(dir: string, warn: RunWarning): Promise<LocalRun | null> {
  try {
    return await readRunFolder(dir);
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    warn(`skipped run folder ${dir}: ${e.message}`);
    return null;
  }
}

/**
 * Each reference is a run id under `root` or a path to a run folder. A damaged one is left out with
 * a warning (`min` runs must remain readable, else the first damage is the error).
 */
export async function resolveRuns(root: string, refs: string[], warn: RunWarning = warnOnStderr, min = 1): Promise<LocalRun[]> {
  const out: LocalRun[] = [];
  const damaged: string[] = [];
  for (const ref of refs) {
    const underRoot = path.resolve(root, ref);
    const dir = existsSync(path.join(underRoot, 'meta.json')) ? underRoot : existsSync(path.join(path.resolve(ref), 'meta.json')) ? ref : null;
    if (dir !== null) {
      const run = await readRunOrWarn(dir, (m) => damaged.push(m));
      if (run) out.push(run);
    } else {
      let known: string[] = [];
      try {
        known = (await fs.readdir(root, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
      } catch {
        // No runs folder at all: the message below still says where we looked.
      }
      throw new UserError(
        `No run "${ref}" in ${path.resolve(root)}.${didYouMean(ref, known)} See \`gzx runs list${root === 'runs' ? '' : ` --dir ${root}`}\` for run ids.`,
      );
    }
  }
  if (damaged.length > 0 && out.length < min) throw new UserError(`${damaged[0]}. Repair or remove that folder.`);
  for (const m of damaged) warn(m);
  return out;
}

export async function writeMlflowLink(dir: string, link: MlflowLink): Promise<void> {
  await writeFileAtomic(path.join(dir, 'mlflow.json'), `${JSON.stringify(link, null, 2)}\n`);
}

/** Files (not folders) below `rel` in the run folder, as run-relative paths with sizes. */
export async function walkFiles(runDir: string, rel: string): Promise<{ path: string; size: number }[]> {
  const abs = path.join(runDir, rel);
  let st: import('node:fs').Stats;
  try {
    st = await fs.stat(abs);
  } catch {
    return [];
  }
  if (st.isFile()) return [{ path: rel.split(path.sep).join('/'), size: st.size }];
  if (!st.isDirectory()) return [];
  const out: { path: string; size: number }[] = [];
  for (const e of await fs.readdir(abs)) out.push(...(await walkFiles(runDir, path.join(rel, e))));
  return out;
}

async function readJsonFile<T>(file: string, optional = false): Promise<T | null> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    if (optional && (e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new UserError(`Cannot read ${file}: ${(e as Error).message}.`);
  }
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new UserError(`${file} is not valid JSON (${(e as Error).message}). Repair or remove it.`);
  }
}
