// The local launcher: each trial is a child process `gzx run --trial <trials/NNN.json>`, one after
// another or `jobs` at once. With several at once the cores are split between them by CPU affinity
// (taskset), which Node's availableParallelism (train.workers: auto) and TensorFlow's thread pools
// both follow.
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import os from 'node:os';

const BIN = fileURLToPath(new URL('../../../bin/run.js', import.meta.url));

export interface LaunchItem {
  /** trials/NNN.json for `gzx run --trial`. */
  trialFile: string;
  /** Where the child's output goes (besides the console when one trial runs at a time). */
  logFile: string;
  label: string;
}

export interface LaunchOptions {
  jobs: number;
  signal?: AbortSignal;
  log: (message: string) => void;
  /** Called when a trial's process ends (exit code, or null when killed by a signal). */
  onExit: (item: LaunchItem, code: number | null) => Promise<void>;
}

/** CPUs this process may run on (Linux: Cpus_allowed_list), else 0…n-1. */
export function allowedCpus(): number[] {
  try {
    const line = readFileSync('/proc/self/status', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Cpus_allowed_list:'));
    if (line) {
      const cpus = line
        .split(':')[1]
        .trim()
        .split(',')
        .flatMap((part) => {
          const [a, b] = part.split('-').map(Number);
          return Array.from({ length: (b ?? a) - a + 1 }, (_, i) => a + i);
        });
      if (cpus.length > 0 && cpus.every(Number.isInteger)) return cpus;
    }
  } catch {
    // Not Linux: no affinity.
  }
  return Array.from({ length: os.availableParallelism() }, (_, i) => i);
}

/** The CPUs of job slot `slot` of `jobs`: an even share, or one CPU each when there are more jobs than CPUs. */
export function cpuShare(cpus: number[], slot: number, jobs: number): number[] {
  if (jobs <= 1) return cpus;
  if (jobs >= cpus.length) return [cpus[slot % cpus.length]];
  const per = Math.floor(cpus.length / jobs);
  return cpus.slice(slot * per, slot === jobs - 1 ? cpus.length : (slot + 1) * per);
}

function hasTaskset(): boolean {
  return process.platform === 'linux' && spawnSync('taskset', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Runs the items, `jobs` at a time; on abort, asks running trials to stop (SIGINT: they end KILLED) and starts no more. */
export async function launchLocal(items: LaunchItem[], o: LaunchOptions): Promise<void> {
  const cpus = allowedCpus();
  const jobs = Math.max(1, Math.min(o.jobs, items.length));
  const pin = jobs > 1 && hasTaskset();
  if (jobs > 1) {
    o.log(
      pin
        ? `sweep: ${jobs} trials at once, ${cpus.length} CPU(s) split between them (${jobs > cpus.length ? 'several trials share a CPU' : `${Math.floor(cpus.length / jobs)} each`})`
        : `sweep: ${jobs} trials at once without CPU pinning (taskset not available); they share the ${cpus.length} CPU(s)`,
    );
  }
  const running = new Set<ReturnType<typeof spawn>>();
  const onAbort = () => {
    for (const child of running) child.kill('SIGINT');
  };
  // Children run in their own process group (a terminal's Ctrl-C reaches only the sweep, which
  // passes one SIGINT on); if the sweep itself exits, they go too.
  const onExit = () => {
    for (const child of running) child.kill('SIGTERM');
  };
  o.signal?.addEventListener('abort', onAbort);
  process.on('exit', onExit);
  let next = 0;
  const worker = async (slot: number) => {
    while (next < items.length && !o.signal?.aborted) {
      const item = items[next++];
      const share = cpuShare(cpus, slot, jobs);
      const args = [BIN, 'run', '--trial', item.trialFile];
      const [cmd, argv] = pin ? ['taskset', ['-c', share.join(','), process.execPath, ...args]] : [process.execPath, args];
      const out = createWriteStream(item.logFile, { flags: 'a' });
      const child = spawn(cmd, argv, {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: process.env.TF_CPP_MIN_LOG_LEVEL ?? '2' },
        detached: true,
      });
      running.add(child);
      for (const stream of [child.stdout, child.stderr]) {
        stream.pipe(out, { end: false });
        if (jobs === 1) stream.pipe(process.stderr, { end: false });
      }
      const code = await new Promise<number | null>((resolve) => {
        child.on('error', (e) => {
          out.write(`gzx sweep: could not start the trial: ${e.message}\n`);
          resolve(1);
        });
        child.on('close', (c) => resolve(c));
      });
      running.delete(child);
      await new Promise<void>((r) => out.end(r));
      await o.onExit(item, code);
    }
  };
  try {
    await Promise.all(Array.from({ length: jobs }, (_, slot) => worker(slot)));
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
    process.removeListener('exit', onExit);
  }
}
