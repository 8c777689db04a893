// `gzx sweep`: trial expansion (grid, Hydra's range/choice, seeded random), validation of every
// trial before anything runs, and the real CLI: a sweep folder with one run per trial, summaries,
// re-running the same command runs only what did not finish, `gzx runs list/compare` on sweeps.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { expandTrials, parseParamFlag, splitTopLevel } from '../../src/app/sweep/spec.js';
import { prepareSweep } from '../../src/app/sweep/sweep.js';
import { cpuShare } from '../../src/app/sweep/local.js';
import { UserError } from '../../src/base/errors.js';
import { useTmpDir } from '../helpers/tmp-dir.js';
import { BIN } from '../helpers/paths.js';
import { tinyExperimentYaml } from '../helpers/tiny-config.js';

const tmpDir = useTmpDir('gzx-sweep-');
const run = (args: string[], cwd: string) =>
  promisify(execFile)(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' } }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

async function tinyConfig(extra = ''): Promise<string> {
  const file = path.join(tmpDir(), 'tiny.yaml');
  await fs.writeFile(file, tinyExperimentYaml({ count: 120, epochs: 2, extra }));
  return file;
}

describe('sweep specs', () => {
  it('a grid is every combination, last key fastest; trials are named by their overrides', () => {
    const trials = expandTrials([parseParamFlag('train.lr=1e-3,3e-3,1e-2'), parseParamFlag('backbone.with.depth=range(18,35,16)')], {
      method: 'grid',
      seed: 0,
    });
    expect(trials.map((t) => t.name)).toEqual([
      'lr=1e-3,depth=18',
      'lr=1e-3,depth=34',
      'lr=3e-3,depth=18',
      'lr=3e-3,depth=34',
      'lr=1e-2,depth=18',
      'lr=1e-2,depth=34',
    ]);
    expect(trials[1].overrides).toEqual(['train.lr=1e-3', 'backbone.with.depth=34']);
  });

  it("reads Hydra's forms: range(stop), range(start,stop,step), choice(…), lists with brackets", () => {
    expect(parseParamFlag('seed=range(3)')).toEqual({ key: 'seed', values: ['0', '1', '2'] });
    expect(parseParamFlag('seed=range(1,4)')).toEqual({ key: 'seed', values: ['1', '2', '3'] });
    expect(parseParamFlag('train.lr=range(0.1,0.35,0.1)')).toEqual({ key: 'train.lr', values: ['0.1', '0.2', '0.3'] });
    expect(parseParamFlag('train.optimizer.name=choice(adam,sgd)')).toEqual({ key: 'train.optimizer.name', values: ['adam', 'sgd'] });
    expect(parseParamFlag('backbone.with.channels=[8,16],[16,32]')).toEqual({ key: 'backbone.with.channels', values: ['[8,16]', '[16,32]'] });
    expect(splitTopLevel('a,"b,c",{x: 1, y: 2}')).toEqual(['a', '"b,c"', '{x: 1, y: 2}']);
    // Same-named last segments keep their full keys.
    const [t] = expandTrials([parseParamFlag('train.lr=1'), parseParamFlag('train.phases.0.lr=2')], { method: 'grid', seed: 0 });
    expect(t.name).toBe('train.lr=1,train.phases.0.lr=2');
  });

  it('random search: seeded, distinct while the space allows, intervals drawn within bounds', () => {
    const spaces = [parseParamFlag('train.lr=interval(1e-4,1e-2)'), parseParamFlag('seed=choice(1,2,3)')];
    const a = expandTrials(spaces, { method: 'random', trials: 5, seed: 7 });
    expect(expandTrials(spaces, { method: 'random', trials: 5, seed: 7 })).toEqual(a);
    expect(expandTrials(spaces, { method: 'random', trials: 5, seed: 8 })).not.toEqual(a);
    for (const t of a) expect(Number(t.overrides[0].split('=')[1])).toBeGreaterThanOrEqual(1e-4);
    const discrete = expandTrials([parseParamFlag('seed=1,2,3')], { method: 'random', trials: 3, seed: 0 });
    expect(new Set(discrete.map((t) => t.name)).size).toBe(3);
  });

  it('mistakes in the spec are one clear line', () => {
    expect(() => parseParamFlag('train.lr')).toThrow(/-p train.lr: expected key=values/);
    expect(() => parseParamFlag('train.lr=1e-3,,3e-3')).toThrow(/value 2 of 3 is empty/);
    expect(() => parseParamFlag('seed=range(4,1)')).toThrow(/is empty \(stop is excluded/);
    expect(() => expandTrials([parseParamFlag('train.lr=interval(0.1,0.2)')], { method: 'grid', seed: 0 })).toThrow(/needs --method random/);
    expect(() => expandTrials([parseParamFlag('seed=1,2')], { method: 'random', seed: 0 })).toThrow(/needs a trial count/);
  });

  it('cores are split between jobs', () => {
    expect(cpuShare([0, 1, 2, 3], 1, 2)).toEqual([2, 3]);
    expect(cpuShare([0, 1], 2, 3)).toEqual([0]);
    expect(cpuShare([0, 1], 0, 1)).toEqual([0, 1]);
  });
});

describe('sweep validation', () => {
  it('every trial is resolved before anything runs: one bad value names the trial and the key, and nothing is written', async () => {
    const config = await tinyConfig();
    const e = await prepareSweep({ configFile: config, params: ['train.lr=0.01,fast', 'seed=1,2'] }).catch((err) => err);
    expect(e).toBeInstanceOf(UserError);
    expect((e as Error).message).toMatch(/^sweep trial 3 of 4 \(lr=fast,seed=1\): .*train\.lr/s);
    expect(existsSync(path.join(tmpDir(), 'runs'))).toBe(false);
    const r = await run(['sweep', config, '-p', 'train.lr=0.01,fast'], tmpDir());
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^gzx: sweep trial 2 of 2 \(lr=fast\): /);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('a sweep: block in the YAML is read (and a --launcher gzx lacks is refused)', async () => {
    const config = await tinyConfig('sweep: {method: random, trials: 3, seed: 5, params: {train.lr: "interval(0.001,0.01)", seed: [1, 2]}}\n');
    const prepared = await prepareSweep({ configFile: config });
    expect(prepared.trials).toHaveLength(3);
    expect(prepared.record).toMatchObject({
      method: 'random',
      trials_requested: 3,
      seed: 5,
      params: { 'train.lr': 'interval(0.001,0.01)', seed: '1,2' },
    });
    // Trials are plain experiments: no sweep block in their config.
    expect(prepared.trials[0].resolved.config.sweep).toBeUndefined();
    expect(prepared.trials[0].resolved.yaml).not.toContain('sweep');
    await expect(prepareSweep({ configFile: config, launcher: 'pbs' })).rejects.toThrow(/--launcher pbs: not a launcher gzx has \(local, slurm\)/);
  });
});

describe('gzx sweep, end to end', () => {
  it('runs each trial as a child `gzx run`, writes the sweep folder, and the same command continues', async () => {
    const config = await tinyConfig();
    const cwd = tmpDir();
    const args = ['sweep', config, '-p', 'train.lr=0.003,0.01', '-p', 'seed=1,2', '--jobs', '2'];
    const first = await run(args, cwd);
    expect(first.code, first.stderr).toBe(0);
    const sweepDir = /sweep finished: (\S+)/.exec(first.stdout)![1];
    expect(path.basename(sweepDir)).toMatch(/^tiny-sweep-[0-9a-f]{8}$/);
    const asked = YAML.parse(await fs.readFile(path.join(sweepDir, 'sweep.yaml'), 'utf8'));
    expect(asked).toMatchObject({ params: { 'train.lr': '0.003,0.01', seed: '1,2' }, method: 'grid', jobs: 2 });
    const summary = JSON.parse(await fs.readFile(path.join(sweepDir, 'summary.json'), 'utf8'));
    expect(summary.rows.map((r: { name: string; status: string }) => `${r.name} ${r.status}`)).toEqual([
      'lr=0.003,seed=1 FINISHED',
      'lr=0.003,seed=2 FINISHED',
      'lr=0.01,seed=1 FINISHED',
      'lr=0.01,seed=2 FINISHED',
    ]);
    for (const r of summary.rows) {
      expect(r.best_valid_rmse).toBeGreaterThan(0);
      expect(r.wall_time_sec).toBeGreaterThan(0);
    }
    const csv = (await fs.readFile(path.join(sweepDir, 'summary.csv'), 'utf8')).trim().split('\n');
    expect(csv[0]).toBe('trial,name,overrides,status,best_valid_rmse,wall_time_sec,attempts,run');
    expect(csv[1]).toMatch(/^1,"lr=0\.003,seed=1",train\.lr=0\.003 seed=1,FINISHED,0\.\d+,[\d.]+,1,"001-lr=0\.003,seed=1"$/);
    // Each trial's run folder holds the trial's config and its sweep tags.
    const trialDir = path.join(sweepDir, summary.rows[2].run);
    const cfg = YAML.parse(await fs.readFile(path.join(trialDir, 'config.yaml'), 'utf8'));
    expect(cfg).toMatchObject({ seed: 1, train: { lr: 0.01 } });
    const meta = JSON.parse(await fs.readFile(path.join(trialDir, 'meta.json'), 'utf8'));
    expect(meta.tags).toMatchObject({ 'gzx.sweep_id': path.basename(sweepDir), 'gzx.trial': '3', 'gzx.trial_name': 'lr=0.01,seed=1' });
    expect(meta.configPath).toBe(config);

    // A trial that failed (here: its record says so) runs again, in a new folder; finished ones are skipped.
    const second = summary.rows[1].run;
    const metaFile = path.join(sweepDir, second, 'meta.json');
    await fs.writeFile(metaFile, (await fs.readFile(metaFile, 'utf8')).replace('"FINISHED"', '"FAILED"'));
    const again = await run(args, cwd);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain('4 trial(s)');
    expect(again.stderr).toContain('3 finished before (skipped); running 1');
    const after = JSON.parse(await fs.readFile(path.join(sweepDir, 'summary.json'), 'utf8'));
    expect(after.rows[1]).toMatchObject({ status: 'FINISHED', attempts: 2, run: `${second}-r2` });
    // Same seed, same data: the re-run trains to the same number.
    expect(after.rows[1].best_valid_rmse).toBeCloseTo(summary.rows[1].best_valid_rmse, 4);
    expect(after.rows[0].run).toBe(summary.rows[0].run);

    // runs list shows the sweep; runs compare takes its id for its trials.
    const list = await run(['runs', 'list'], cwd);
    expect(list.stdout).toMatch(new RegExp(`${path.basename(sweepDir)}\\s+tiny\\s+\\S+ \\S+\\s+4/4\\s+0\\.\\d{4}\\s+lr=`));
    const compare = await run(['runs', 'compare', path.basename(sweepDir)], cwd);
    expect(compare.code, compare.stderr).toBe(0);
    expect(compare.stdout).toMatch(/^train\.lr\s+0\.003\s+0\.003\s+0\.01\s+0\.01$/m);
    expect(compare.stdout).toMatch(/^seed\s+1\s+2\s+1\s+2$/m);
  }, 300_000);
});
