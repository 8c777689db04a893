// `gzx sweep`: a config + overrides → trials, every trial's config resolved and validated before
// anything runs, then run by a launcher into runs/<sweep-id>/. The sweep id is derived from what
// was asked (config, --set, params, method) and the trials' resolved configs, so the same command
// again finds the same folder and continues: finished trials are skipped, the others run again.
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';
import { loadExperiment, configHash, configToYaml, canonicalJson, type ResolvedExperiment } from '../../framework/config/load.js';
import type { ExperimentConfig } from '../../framework/experiment-config.js';
import { UserError, isUserError } from '../../base/errors.js';
import { createRegistry } from '../../plugins/index.js';
import { expandTrials, parseParamFlag, parseParamSpace, type ParamSpace, type SweepMethod, type Trial } from './spec.js';
import {
  SWEEP_FILE,
  attemptName,
  attemptsOf,
  bestRow,
  pad,
  readSweepRecord,
  trialRows,
  writeSummary,
  type SweepRecord,
  type TrialRow,
} from './folder.js';
import { launchLocal, type LaunchItem } from './local.js';
import { closeParentRun, openParentRun } from './mlflow.js';
import { activeTrials, submitSlurm, type SlurmOptions } from './slurm.js';
import { existsSync } from 'node:fs';
import { TRIAL_NAME_TAG } from '../../tracking/mlflow/view.js';
import { formatTable } from '../../tracking/runs/table.js';

export interface SweepRequest {
  configFile: string;
  sets?: string[];
  /** `-p key=values`, added to (and overriding keys of) the config's `sweep.params`. */
  params?: string[];
  method?: SweepMethod;
  trials?: number;
  seed?: number;
  launcher?: string;
  jobs?: number;
  /** Options of the slurm launcher (over the config's sweep.slurm). */
  slurm?: SlurmOptions;
  signal?: AbortSignal;
  log?: (message: string) => void;
}

export interface PreparedTrial extends Trial {
  resolved: ResolvedExperiment;
}

export interface PreparedSweep {
  id: string;
  dir: string;
  record: SweepRecord;
  base: ResolvedExperiment;
  trials: PreparedTrial[];
}

export const LAUNCHERS = ['local', 'slurm'] as const;

/** The trial file `gzx run --trial` reads. */
export interface TrialFile {
  /** The trial's resolved config (trials/NNN.yaml). */
  config: string;
  /** Folder relative paths in the config resolve against (the swept config's folder). */
  base_dir: string;
  /** The swept config, as the run's source. */
  config_path: string;
  run_dir: string;
  tags: Record<string, string>;
}

/** The config without its sweep: block (a trial is a plain experiment). */
function withoutSweep(r: ResolvedExperiment): ResolvedExperiment {
  if (r.config.sweep === undefined) return r;
  const { sweep: _sweep, ...rest } = r.config;
  const config = rest as ExperimentConfig;
  return { ...r, config, yaml: configToYaml(config), hash: configHash(config) };
}

/** Resolves the request and every trial's config; any mistake stops here, naming the trial and key. */
export async function prepareSweep(req: SweepRequest): Promise<PreparedSweep> {
  const registry = createRegistry();
  const sets = req.sets ?? [];
  const base = await loadExperiment(req.configFile, sets, registry);
  const block = base.config.sweep;
  const spaces = new Map<string, { space: ParamSpace; spec: string }>();
  for (const [key, spec] of Object.entries(block?.params ?? {})) {
    spaces.set(key, {
      space: parseParamSpace(key, spec, `${base.where(`sweep.params.${key}`)}: sweep.params.${key}`),
      spec: Array.isArray(spec) ? spec.map(String).join(',') : String(spec),
    });
  }
  for (const flag of req.params ?? []) {
    const space = parseParamFlag(flag);
    spaces.set(space.key, { space, spec: flag.slice(flag.indexOf('=') + 1) });
  }
  const method = req.method ?? block?.method ?? 'grid';
  const launcher = req.launcher ?? block?.launcher ?? 'local';
  if (!(LAUNCHERS as readonly string[]).includes(launcher)) {
    throw new UserError(`--launcher ${launcher}: not a launcher gzx has (${LAUNCHERS.join(', ')}).`, 2);
  }
  const jobs = req.jobs ?? block?.jobs ?? 1;
  const plan = { method, trials: req.trials ?? (method === 'random' ? block?.trials : req.trials), seed: req.seed ?? block?.seed ?? 0 };
  const trials = expandTrials(
    [...spaces.values()].map((s) => s.space),
    plan,
  );

  const prepared: PreparedTrial[] = [];
  for (const t of trials) {
    try {
      prepared.push({ ...t, resolved: withoutSweep(await loadExperiment(req.configFile, [...sets, ...t.overrides], registry)) });
    } catch (e) {
      if (!isUserError(e)) throw e;
      throw new UserError(`sweep trial ${t.index} of ${trials.length} (${t.name}): ${(e as Error).message}`, (e as UserError).exitCode);
    }
  }
  const name = base.config.name;
  const asked = {
    config: base.configPath,
    sets,
    params: [...spaces].map(([k, s]) => [k, s.spec]),
    method,
    trials: plan.trials,
    seed: plan.seed,
    hashes: prepared.map((t) => t.resolved.hash),
  };
  const id = `${name.replace(/[^A-Za-z0-9_.-]+/g, '-')}-sweep-${createHash('sha256').update(canonicalJson(asked)).digest('hex').slice(0, 8)}`;
  const dir = path.resolve(base.config.output_dir, id);
  const record: SweepRecord = {
    id,
    name,
    config: base.configPath,
    sets,
    params: Object.fromEntries([...spaces].map(([k, s]) => [k, s.spec])),
    method,
    ...(plan.trials !== undefined ? { trials_requested: plan.trials } : {}),
    seed: plan.seed,
    launcher,
    jobs,
    ...(launcher === 'slurm'
      ? { slurm: { ...block?.slurm, ...Object.fromEntries(Object.entries(req.slurm ?? {}).filter(([, v]) => v !== undefined)) } }
      : {}),
    created: new Date().toISOString(),
    trials: trials.map((t) => ({ index: t.index, name: t.name, overrides: t.overrides })),
  };
  return { id, dir, record, base, trials: prepared };
}

export interface SweepResult {
  id: string;
  dir: string;
  rows: TrialRow[];
  /** Trials run (or submitted) this time (the others had finished before, or are still queued). */
  ran: number;
  /** SUBMITTED: handed to Slurm; `gzx sweep status` follows it. */
  status: 'FINISHED' | 'FAILED' | 'KILLED' | 'SUBMITTED';
  jobId?: string;
}

export async function runSweep(req: SweepRequest, prepared?: PreparedSweep): Promise<SweepResult> {
  const log = req.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const sweep = prepared ?? (await prepareSweep(req));
  const { dir, trials } = sweep;
  await fs.mkdir(path.join(dir, 'trials'), { recursive: true });
  // Kept from the first run of this sweep: when it was created.
  const previous = await fs.readFile(path.join(dir, SWEEP_FILE), 'utf8').then(
    (t) => YAML.parse(t) as SweepRecord,
    () => null,
  );
  const record = { ...sweep.record, created: previous?.created ?? sweep.record.created };
  await fs.writeFile(path.join(dir, SWEEP_FILE), YAML.stringify(record, { lineWidth: 0 }));

  const before = await trialRows(dir, record);
  const slurm = record.launcher === 'slurm';
  // Trials Slurm still has queued or running are neither finished nor to be submitted again.
  const active = slurm ? await activeTrials(dir) : new Map<number, string>();
  const todo = trials.filter((t) => before[t.index - 1].status !== 'FINISHED' && !active.has(t.index));
  const done = trials.filter((t) => before[t.index - 1].status === 'FINISHED').length;
  log(
    `sweep ${sweep.id}: ${trials.length} trial(s) in ${dir}` +
      (done ? `; ${done} finished before (skipped)` : '') +
      (active.size ? `; ${active.size} still queued or running in Slurm` : '') +
      (todo.length ? `; ${slurm ? 'submitting' : 'running'} ${todo.length}` : '; nothing left to run'),
  );
  // Also when nothing is left to run: a parent left RUNNING by a Slurm sweep gets its result now.
  const parent =
    todo.length || (existsSync(path.join(dir, 'mlflow.json')) && active.size === 0)
      ? await openParentRun(dir, record, sweep.base.config, sweep.base.configDir, log)
      : null;

  const items: (LaunchItem & { trial: PreparedTrial })[] = [];
  for (const t of todo) {
    const attempt = (await attemptsOf(dir, t.index, t.name)).length + 1;
    const runDir = path.join(dir, attemptName(t.index, t.name, attempt));
    const configFile = path.join(dir, 'trials', `${pad(t.index)}.yaml`);
    await fs.writeFile(configFile, t.resolved.yaml);
    const trialFile: TrialFile = {
      config: configFile,
      base_dir: t.resolved.configDir,
      config_path: t.resolved.configPath,
      run_dir: runDir,
      tags: {
        'gzx.sweep_id': sweep.id,
        'gzx.trial': String(t.index),
        [TRIAL_NAME_TAG]: t.name,
        ...(parent ? { 'mlflow.parentRunId': parent.run.runId } : {}),
      },
    };
    const file = path.join(dir, 'trials', `${pad(t.index)}.json`);
    await fs.writeFile(file, `${JSON.stringify(trialFile, null, 2)}\n`);
    items.push({
      trialFile: file,
      logFile: path.join(dir, 'trials', `${pad(t.index)}.log`),
      label: `trial ${t.index}/${trials.length} (${t.name})`,
      trial: t,
    });
  }

  if (slurm && todo.length) {
    const jobId = await submitSlurm(
      dir,
      sweep.id,
      todo.map((t) => t.index),
      record.slurm ?? {},
    );
    await writeSummary(dir, record, await trialRows(dir, record));
    log(
      `sweep: submitted Slurm job array ${jobId} (${todo.length} trial(s)); \`gzx sweep status ${path.relative(process.cwd(), dir) || dir}\` follows it, and the same \`gzx sweep\` command resubmits what did not finish`,
    );
    return { id: sweep.id, dir, rows: await trialRows(dir, record), ran: todo.length, status: 'SUBMITTED', jobId };
  }

  await launchLocal(items, {
    jobs: record.jobs,
    signal: req.signal,
    log,
    onExit: async (item, code) => {
      const rows = await trialRows(dir, record);
      await writeSummary(dir, record, rows);
      const row = rows[(item as (typeof items)[number]).trial.index - 1];
      const rmse = row.best_valid_rmse !== null ? `, best valid_rmse ${row.best_valid_rmse.toFixed(4)}` : '';
      const why = row.status === 'FINISHED' ? '' : ` (exit ${code ?? 'signal'}; output in ${path.relative(process.cwd(), item.logFile)})`;
      log(`sweep: ${item.label} ${row.status.toLowerCase()}${rmse}${row.wall_time_sec !== null ? ` in ${row.wall_time_sec}s` : ''}${why}`);
    },
  });

  const rows = await trialRows(dir, record);
  await writeSummary(dir, record, rows);
  if (active.size > 0) return { id: sweep.id, dir, rows, ran: 0, status: 'SUBMITTED' };
  const status = req.signal?.aborted ? 'KILLED' : rows.every((r) => r.status === 'FINISHED') ? 'FINISHED' : 'FAILED';
  if (parent) await closeParentRun(parent, dir, rows, status, log);
  return { id: sweep.id, dir, rows, ran: todo.length, status };
}

/** The summary as a table for the terminal. */
export function sweepTable(rows: TrialRow[]): string {
  const best = bestRow(rows);
  const header = ['TRIAL', 'OVERRIDES', 'STATUS', 'BEST VALID_RMSE', 'WALL S', 'RUN'];
  const body = rows.map((r) => [
    String(r.trial),
    r.name,
    r.status,
    r.best_valid_rmse === null ? '-' : `${r.best_valid_rmse.toFixed(4)}${r === best ? ' *' : ''}`,
    r.wall_time_sec === null ? '-' : String(r.wall_time_sec),
    r.run || '-',
  ]);
  return formatTable(header, body);
}

/** Sweeps for `gzx runs list`: id, name, created, trials finished, best valid RMSE and its trial. */
export function sweepsListTable(sweeps: { id: string; record: SweepRecord; rows: TrialRow[] }[]): string {
  const header = ['ID', 'NAME', 'CREATED', 'FINISHED', 'BEST VALID_RMSE', 'BEST TRIAL'];
  const body = sweeps.map((s) => {
    const best = bestRow(s.rows);
    return [
      s.id,
      s.record.name,
      s.record.created.slice(0, 16).replace('T', ' '),
      `${s.rows.filter((r) => r.status === 'FINISHED').length}/${s.rows.length}`,
      best ? best.best_valid_rmse!.toFixed(4) : '-',
      best?.name ?? '-',
    ];
  });
  return formatTable(header, body);
}

export interface SweepStatus {
  id: string;
  dir: string;
  rows: TrialRow[];
  /** Trial index → Slurm state (PENDING, RUNNING, …) of trials Slurm still has. */
  active: Map<number, string>;
}

/** Where a sweep stands: its trials' run folders, and for a Slurm sweep what the queue still holds. Rewrites the summaries. */
export async function sweepStatus(dir: string): Promise<SweepStatus> {
  const record = await readSweepRecord(dir);
  const rows = await trialRows(dir, record);
  const active = record.launcher === 'slurm' ? await activeTrials(dir) : new Map<number, string>();
  await writeSummary(dir, record, rows);
  return { id: record.id, dir, rows, active };
}
