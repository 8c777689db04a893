// `gzx sweep --launcher slurm` against a real single-node Slurm (test/helpers/slurm.ts): the job
// script's #SBATCH lines, a job array that runs every trial, `gzx sweep status`, and a re-run that
// resubmits only the trials that did not finish.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { jobScript } from '../../src/app/sweep/slurm.js';
import { startTestSlurm } from '../helpers/slurm.js';
import { useTmpDir } from '../helpers/tmp-dir.js';
import { BIN } from '../helpers/paths.js';
import { tinyExperimentYaml } from '../helpers/tiny-config.js';

const slurm = await startTestSlurm();
const tmpDir = useTmpDir('gzx-slurm-sweep-');
const gzx = (args: string[]) =>
  promisify(execFile)(process.execPath, [BIN, ...args], { cwd: tmpDir(), env: { ...process.env, ...slurm?.env, TF_CPP_MIN_LOG_LEVEL: '2' } }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

describe('slurm job script', () => {
  it('has the array with its %limit, the resources asked and the trial command', () => {
    const script = jobScript(
      '/data/runs/s-sweep-1',
      's-sweep-1',
      [1, 3, 4],
      {
        partition: 'gpu',
        time: '2:00:00',
        cpus_per_task: 4,
        mem: '8G',
        gpus: 1,
        max_parallel: 2,
        extra: ['--account=astro', '#SBATCH --constraint=avx2'],
      },
      '/work',
    );
    expect(script.split('\n').filter((l) => l.startsWith('#SBATCH'))).toEqual([
      '#SBATCH --job-name=gzx-s-sweep-1',
      '#SBATCH --array=1,3,4%2',
      '#SBATCH --output=/data/runs/s-sweep-1/trials/slurm-%A_%a.log',
      '#SBATCH --partition=gpu',
      '#SBATCH --time=2:00:00',
      '#SBATCH --cpus-per-task=4',
      '#SBATCH --mem=8G',
      '#SBATCH --gpus=1',
      '#SBATCH --account=astro',
      '#SBATCH --constraint=avx2',
    ]);
    expect(script).toMatch(/run --trial \/data\/runs\/s-sweep-1\/trials\/\$\(printf %03d "\$SLURM_ARRAY_TASK_ID"\)\.json\n$/);
  });
});

async function waitForSweep(dir: string, ms: number): Promise<{ rows: { status: string; run: string; best_valid_rmse: number | null }[] }> {
  const deadline = Date.now() + ms;
  for (;;) {
    const s = await gzx(['sweep', 'status', dir, '--json']);
    const status = JSON.parse(s.stdout);
    if (Object.keys(status.slurm_active).length === 0) return status;
    if (Date.now() > deadline) throw new Error(`the sweep did not finish: ${s.stdout}`);
    await new Promise((r) => setTimeout(r, 2000));
  }
}

describe.skipIf(!slurm)('gzx sweep --launcher slurm on a single-node Slurm', () => {
  it('submits a job array, runs every trial, and a re-run resubmits only what did not finish', async () => {
    await fs.writeFile(path.join(tmpDir(), 'tiny.yaml'), tinyExperimentYaml());
    const args = [
      'sweep',
      'tiny.yaml',
      '-p',
      'train.lr=0.003,0.01,0.03',
      '--launcher',
      'slurm',
      '--max-parallel',
      '2',
      '--cpus',
      '1',
      '--mem',
      '1500M',
      '--time',
      '0:10:00',
    ];
    const first = await gzx(args);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toMatch(/submitted Slurm job array (\d+) \(3 trial\(s\)\)/);
    const dir = path.join(tmpDir(), 'runs', /sweep (tiny-sweep-[0-9a-f]{8})/.exec(first.stderr)![1]);
    const script = await fs.readFile(path.join(dir, 'slurm', 'job-1.sh'), 'utf8');
    expect(script).toContain('#SBATCH --array=1,2,3%2');
    expect(script).toContain('#SBATCH --mem=1500M');
    const done = await waitForSweep(dir, 300_000);
    expect(
      done.rows.map((r) => r.status),
      JSON.stringify(done.rows),
    ).toEqual(['FINISHED', 'FINISHED', 'FINISHED']);
    for (const r of done.rows) expect(r.best_valid_rmse).toBeGreaterThan(0);
    const csv = await fs.readFile(path.join(dir, 'summary.csv'), 'utf8');
    expect(csv.trim().split('\n')).toHaveLength(4);

    // Trial 2 "failed": only it is resubmitted, as a second attempt.
    const meta = path.join(dir, done.rows[1].run, 'meta.json');
    await fs.writeFile(meta, (await fs.readFile(meta, 'utf8')).replace('"FINISHED"', '"FAILED"'));
    const again = await gzx(args);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain('2 finished before (skipped); submitting 1');
    expect(await fs.readFile(path.join(dir, 'slurm', 'job-2.sh'), 'utf8')).toContain('#SBATCH --array=2%2');
    const after = await waitForSweep(dir, 300_000);
    expect(after.rows[1]).toMatchObject({ status: 'FINISHED', run: `${done.rows[1].run}-r2` });
    // Nothing left: the same command submits nothing.
    const third = await gzx(args);
    expect(third.stderr).toContain('3 finished before (skipped); nothing left to run');
  }, 700_000);
});
