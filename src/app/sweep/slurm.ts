// The slurm launcher: the trials to run go to the cluster as one sbatch job array
// (`--array=1,3,4%max_parallel`), each task a `gzx run --trial runs/<sweep-id>/trials/NNN.json`.
// The sweep folder must be on a file system the compute nodes share, and node + gzx must be at the
// same path there. Jobs submitted are kept in runs/<sweep-id>/slurm/jobs.json, so a re-run of the
// sweep (and `gzx sweep status`) knows which trials are still queued or running.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { UserError } from '../../base/errors.js';
import type { SweepBlock } from '../../framework/experiment-config.js';

const BIN = fileURLToPath(new URL('../../../bin/run.js', import.meta.url));

/** `sweep.slurm` of the config (its fields are documented in the experiment schema). */
export type SlurmOptions = NonNullable<SweepBlock['slurm']>;

interface JobRecord {
  job_id: string;
  submitted: string;
  trials: number[];
}

const run = promisify(execFile);

async function slurmCommand(cmd: string, args: string[]): Promise<string> {
  try {
    return (await run(cmd, args, { timeout: 30_000 })).stdout;
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === 'ENOENT')
      throw new UserError(`--launcher slurm: \`${cmd}\` is not on PATH. Run the sweep on a Slurm login node, or use --launcher local.`);
    throw new UserError(`${cmd} ${args.join(' ')} failed: ${(err.stderr || err.message).trim().split('\n')[0]}`);
  }
}

/** The job script of an array over `trials` (trial indices). */
export function jobScript(sweepDir: string, sweepId: string, trials: number[], o: SlurmOptions, cwd = process.cwd()): string {
  const lines = [
    '#!/bin/bash',
    `#SBATCH --job-name=gzx-${sweepId}`,
    `#SBATCH --array=${trials.join(',')}${o.max_parallel ? `%${o.max_parallel}` : ''}`,
    `#SBATCH --output=${path.join(sweepDir, 'trials', 'slurm-%A_%a.log')}`,
    ...(o.partition ? [`#SBATCH --partition=${o.partition}`] : []),
    ...(o.time ? [`#SBATCH --time=${o.time}`] : []),
    ...(o.cpus_per_task ? [`#SBATCH --cpus-per-task=${o.cpus_per_task}`] : []),
    ...(o.mem ? [`#SBATCH --mem=${o.mem}`] : []),
    ...(o.gpus ? [`#SBATCH --gpus=${o.gpus}`] : []),
    ...(o.extra ?? []).map((l) => `#SBATCH ${l.replace(/^#SBATCH\s+/, '')}`),
    `cd ${shellQuote(cwd)}`,
    `exec ${shellQuote(process.execPath)} ${shellQuote(BIN)} run --trial ${shellQuote(path.join(sweepDir, 'trials'))}/$(printf %03d "$SLURM_ARRAY_TASK_ID").json`,
    '',
  ];
  return lines.join('\n');
}

function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

async function readJobs(sweepDir: string): Promise<JobRecord[]> {
  try {
    return JSON.parse(await fs.readFile(path.join(sweepDir, 'slurm', 'jobs.json'), 'utf8')) as JobRecord[];
  } catch {
    return [];
  }
}

/** Submits one array job for `trials`; returns its job id. */
export async function submitSlurm(sweepDir: string, sweepId: string, trials: number[], o: SlurmOptions): Promise<string> {
  await fs.mkdir(path.join(sweepDir, 'slurm'), { recursive: true });
  const jobs = await readJobs(sweepDir);
  const script = path.join(sweepDir, 'slurm', `job-${jobs.length + 1}.sh`);
  await fs.writeFile(script, jobScript(sweepDir, sweepId, trials, o));
  const jobId = (await slurmCommand('sbatch', ['--parsable', script])).trim().split(';')[0];
  if (!/^\d+$/.test(jobId)) throw new UserError(`sbatch ${script} answered "${jobId}", not a job id.`);
  jobs.push({ job_id: jobId, submitted: new Date().toISOString(), trials });
  await fs.writeFile(path.join(sweepDir, 'slurm', 'jobs.json'), `${JSON.stringify(jobs, null, 2)}\n`);
  return jobId;
}

/** Trials of this sweep that Slurm still has queued or running: trial index → Slurm state. */
export async function activeTrials(sweepDir: string): Promise<Map<number, string>> {
  const jobs = await readJobs(sweepDir);
  const active = new Map<number, string>();
  if (jobs.length === 0) return active;
  const out = await slurmCommand('squeue', ['-h', '-r', '-j', jobs.map((j) => j.job_id).join(','), '-o', '%i %T']);
  for (const line of out.split('\n')) {
    const m = /^(\d+)_(\d+)\s+(\S+)/.exec(line.trim());
    if (m) active.set(Number(m[2]), m[3]);
  }
  return active;
}
