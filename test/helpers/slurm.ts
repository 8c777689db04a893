// A throwaway single-node Slurm for one test file: munged on a private socket, slurmctld and slurmd
// from a minimal slurm.conf in a temp folder (no cgroups, no accounting), on free ports.
// Needs Debian's slurm-wlm and munge (`apt-get install slurm-wlm munge`) and root (slurmd runs
// jobs as their users). Returns null (tests skip, saying why) when they are missing, unless GZX_REQUIRE_SLURM=1 or CI=true.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';
// @ts-expect-error plain ESM script without type declarations
import { freePort } from '../../scripts/mlflow-server.mjs';

export interface TestSlurm {
  dir: string;
  /** Environment for sbatch/squeue/sinfo (SLURM_CONF). */
  env: NodeJS.ProcessEnv;
}

const BINARIES = ['munged', 'slurmctld', 'slurmd', 'sbatch', 'squeue', 'sinfo'];

function missing(): string | null {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'not root (slurmd must run as root)';
  const absent = BINARIES.filter((b) => spawnSync('which', [b], { stdio: 'ignore' }).status !== 0);
  if (absent.length) return `${absent.join(', ')} not installed (apt-get install slurm-wlm munge)`;
  if (!existsSync('/etc/munge/munge.key')) return 'no /etc/munge/munge.key';
  return null;
}

export async function startTestSlurm(): Promise<TestSlurm | null> {
  const why = missing();
  if (why) {
    if (process.env.GZX_REQUIRE_SLURM === '1' || process.env.CI === 'true')
      throw new Error(`a test Slurm is required here (GZX_REQUIRE_SLURM=1 or CI=true) but cannot start: ${why}`);
    process.stderr.write(`\n*** Skipping Slurm tests: ${why} ***\n\n`);
    return null;
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gzx-slurm-'));
  for (const sub of ['state', 'spool', 'munge']) await mkdir(path.join(dir, sub));
  const host = os.hostname().split('.')[0];
  const socket = path.join(dir, 'munge', 'munge.sock');
  const conf = path.join(dir, 'slurm.conf');
  const [ctldPort, dPort] = [(await freePort()) as number, (await freePort()) as number];
  await writeFile(
    conf,
    [
      'ClusterName=gzxtest',
      `SlurmctldHost=${host}`,
      'SlurmUser=root',
      'SlurmdUser=root',
      `SlurmctldPort=${ctldPort}`,
      `SlurmdPort=${dPort}`,
      'AuthType=auth/munge',
      `AuthInfo=socket=${socket}`,
      `StateSaveLocation=${dir}/state`,
      `SlurmdSpoolDir=${dir}/spool`,
      `SlurmctldPidFile=${dir}/slurmctld.pid`,
      `SlurmdPidFile=${dir}/slurmd.pid`,
      `SlurmctldLogFile=${dir}/slurmctld.log`,
      `SlurmdLogFile=${dir}/slurmd.log`,
      'ProctrackType=proctrack/linuxproc',
      'TaskPlugin=task/none',
      'JobAcctGatherType=jobacct_gather/none',
      'AccountingStorageType=accounting_storage/none',
      'SchedulerType=sched/backfill',
      'SelectType=select/cons_tres',
      'SelectTypeParameters=CR_Core_Memory',
      'ReturnToService=2',
      'MpiDefault=none',
      `NodeName=${host} CPUs=${os.availableParallelism()} RealMemory=${Math.floor(os.totalmem() / 2 ** 20 / 2)} State=UNKNOWN`,
      `PartitionName=debug Nodes=${host} Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES`,
      '',
    ].join('\n'),
  );
  const env = { ...process.env, SLURM_CONF: conf };
  const pids: number[] = [];
  const stop = async () => {
    // Daemons write their pid files when they are ready: read them again now.
    for (const f of ['slurmctld.pid', 'slurmd.pid']) {
      const file = path.join(dir, f);
      const pid = existsSync(file) ? Number(readFileSync(file, 'utf8')) : 0;
      if (pid && !pids.includes(pid)) pids.push(pid);
    }
    for (const pid of pids.reverse()) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
    await new Promise((r) => setTimeout(r, 1000));
    await rm(dir, { recursive: true, force: true });
  };
  afterAll(stop);
  try {
    execFileSync(
      'munged',
      [
        '--socket',
        socket,
        '--key-file',
        '/etc/munge/munge.key',
        '--pid-file',
        `${dir}/munge/munged.pid`,
        '--log-file',
        `${dir}/munge/munged.log`,
        '--seed-file',
        `${dir}/munge/seed`,
        '--force',
      ],
      { env },
    );
    pids.push(Number(readFileSync(`${dir}/munge/munged.pid`, 'utf8')));
    execFileSync('slurmctld', ['-f', conf], { env });
    execFileSync('slurmd', ['-f', conf], { env });
    const deadline = Date.now() + 60_000;
    for (;;) {
      for (const f of ['slurmctld.pid', 'slurmd.pid']) {
        const file = path.join(dir, f);
        const pid = existsSync(file) ? Number(readFileSync(file, 'utf8')) : 0;
        if (pid && !pids.includes(pid)) pids.push(pid);
      }
      const state = spawnSync('sinfo', ['-h', '-o', '%T'], { env, encoding: 'utf8' }).stdout?.trim();
      if (state === 'idle') break;
      if (Date.now() > deadline) throw new Error(`the node did not become idle (sinfo: ${state || 'no answer'}); see ${dir}/slurmd.log`);
      await new Promise((r) => setTimeout(r, 500));
    }
  } catch (e) {
    const log = ['slurmctld.log', 'slurmd.log']
      .map((f) => (existsSync(path.join(dir, f)) ? readFileSync(path.join(dir, f), 'utf8').split('\n').slice(-5).join('\n') : ''))
      .join('\n');
    if (process.env.GZX_REQUIRE_SLURM === '1') throw new Error(`${(e as Error).message}\n${log}`);
    process.stderr.write(`\n*** Skipping Slurm tests: a test Slurm did not start (${(e as Error).message.split('\n')[0]}) ***\n${log}\n`);
    return null;
  }
  return { dir, env };
}
