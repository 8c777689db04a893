// A sweep folder, `runs/<sweep-id>/`: sweep.yaml (what was asked), trials/NNN.yaml + NNN.json
// (each trial's resolved config and how to run it), one run folder per attempt of each trial
// (`NNN-<name>`, re-runs `NNN-<name>-r2`, …), summary.csv / summary.json, mlflow.json.
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';
import type { RunStatus } from '../../framework/contracts.js';
import { readRunFolder } from '../../tracking/runs/folder.js';
import { bestMetric } from '../../tracking/runs/table.js';
import { UserError } from '../../base/errors.js';

export const SWEEP_FILE = 'sweep.yaml';

/** sweep.yaml: the request and its trials (the same for every re-run of the same command). */
export interface SweepRecord {
  id: string;
  name: string;
  config: string;
  sets: string[];
  params: Record<string, string>;
  method: 'grid' | 'random';
  trials_requested?: number;
  seed: number;
  launcher: string;
  jobs: number;
  slurm?: import('./slurm.js').SlurmOptions;
  created: string;
  trials: { index: number; name: string; overrides: string[] }[];
}

export type TrialStatus = RunStatus | 'PENDING';

export interface TrialRow {
  trial: number;
  name: string;
  overrides: string;
  status: TrialStatus;
  best_valid_rmse: number | null;
  wall_time_sec: number | null;
  attempts: number;
  /** The latest attempt's run folder, relative to the sweep folder ('' when none yet). */
  run: string;
}

export const pad = (index: number) => String(index).padStart(3, '0');

/** A folder-safe form of a trial name. */
export function slug(name: string): string {
  return name.replace(/[^A-Za-z0-9_.=,+-]+/g, '_').slice(0, 80);
}

/** Folder names of a trial's attempts, oldest first. */
export async function attemptsOf(sweepDir: string, index: number, name: string): Promise<string[]> {
  const base = `${pad(index)}-${slug(name)}`;
  const re = new RegExp(`^${base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?:-r(\\d+))?$`);
  const found: { dir: string; n: number }[] = [];
  for (const e of await fs.readdir(sweepDir, { withFileTypes: true }).catch(() => [])) {
    const m = e.isDirectory() ? re.exec(e.name) : null;
    if (m) found.push({ dir: e.name, n: m[1] ? Number(m[1]) : 1 });
  }
  return found.sort((a, b) => a.n - b.n).map((f) => f.dir);
}

export function attemptName(index: number, name: string, attempt: number): string {
  return `${pad(index)}-${slug(name)}${attempt > 1 ? `-r${attempt}` : ''}`;
}

export async function readSweepRecord(sweepDir: string): Promise<SweepRecord> {
  const file = path.join(sweepDir, SWEEP_FILE);
  try {
    return YAML.parse(await fs.readFile(file, 'utf8')) as SweepRecord;
  } catch (e) {
    throw new UserError(
      `${file}: cannot read the sweep record (${(e as Error).message.split('\n')[0]}). Is ${sweepDir} a folder made by \`gzx sweep\`?`,
    );
  }
}

export function isSweepFolder(dir: string): boolean {
  return existsSync(path.join(dir, SWEEP_FILE));
}

/** Each trial's latest attempt: status, best valid RMSE and wall time from its run folder. */
export async function trialRows(sweepDir: string, record: SweepRecord): Promise<TrialRow[]> {
  const rows: TrialRow[] = [];
  for (const t of record.trials) {
    const attempts = await attemptsOf(sweepDir, t.index, t.name);
    const row: TrialRow = {
      trial: t.index,
      name: t.name,
      overrides: t.overrides.join(' '),
      status: 'PENDING',
      best_valid_rmse: null,
      wall_time_sec: null,
      attempts: attempts.length,
      run: '',
    };
    const last = attempts.at(-1);
    if (last && existsSync(path.join(sweepDir, last, 'meta.json'))) {
      const run = await readRunFolder(path.join(sweepDir, last));
      row.status = run.meta.status;
      row.best_valid_rmse = bestMetric(run.metrics, 'valid_rmse') ?? null;
      const wall = run.summary?.wall_time_sec;
      row.wall_time_sec = typeof wall === 'number' ? Math.round(wall * 10) / 10 : null;
      row.run = last;
    } else if (last) {
      // Started but killed before the run folder had its record: as good as killed.
      row.status = 'KILLED';
      row.run = last;
    }
    rows.push(row);
  }
  return rows;
}

const CSV_COLUMNS: (keyof TrialRow)[] = ['trial', 'name', 'overrides', 'status', 'best_valid_rmse', 'wall_time_sec', 'attempts', 'run'];

function csvField(v: TrialRow[keyof TrialRow]): string {
  const s = v === null || v === undefined ? '' : String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** summary.csv and summary.json, each written to a temporary file and renamed into place. */
export async function writeSummary(sweepDir: string, record: SweepRecord, rows: TrialRow[]): Promise<void> {
  const csv = [CSV_COLUMNS.join(','), ...rows.map((r) => CSV_COLUMNS.map((c) => csvField(r[c])).join(','))].join('\n') + '\n';
  const best = bestRow(rows);
  const json = {
    sweep: record.id,
    config: record.config,
    trials: rows.length,
    finished: rows.filter((r) => r.status === 'FINISHED').length,
    best: best ?? null,
    rows,
  };
  for (const [file, text] of [
    ['summary.csv', csv],
    ['summary.json', `${JSON.stringify(json, null, 2)}\n`],
  ]) {
    const target = path.join(sweepDir, file);
    await fs.writeFile(`${target}.tmp`, text);
    await fs.rename(`${target}.tmp`, target);
  }
}

export function bestRow(rows: TrialRow[]): TrialRow | undefined {
  return rows.filter((r) => r.best_valid_rmse !== null).sort((a, b) => a.best_valid_rmse! - b.best_valid_rmse!)[0];
}

/** Sweeps directly under `root`, for `gzx runs list`. */
export async function listSweeps(root: string): Promise<{ id: string; dir: string; record: SweepRecord; rows: TrialRow[] }[]> {
  const out = [];
  for (const e of await fs.readdir(root, { withFileTypes: true }).catch(() => [])) {
    const dir = path.join(root, e.name);
    if (!e.isDirectory() || !isSweepFolder(dir)) continue;
    const record = await readSweepRecord(dir);
    out.push({ id: e.name, dir, record, rows: await trialRows(dir, record) });
  }
  return out.sort((a, b) => a.record.created.localeCompare(b.record.created));
}

/**
 * Run references for `gzx runs compare`: a sweep (its id under `root`, or its folder) stands for
 * the latest attempt of each of its trials that has a run folder.
 */
export async function expandSweepRefs(root: string, refs: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const ref of refs) {
    const dir = [path.resolve(root, ref), path.resolve(ref)].find(isSweepFolder);
    if (!dir) {
      out.push(ref);
      continue;
    }
    const rows = await trialRows(dir, await readSweepRecord(dir));
    out.push(
      ...rows.filter((r) => r.run && r.status !== 'PENDING' && existsSync(path.join(dir, r.run, 'meta.json'))).map((r) => path.join(dir, r.run)),
    );
  }
  return out;
}
