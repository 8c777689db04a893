// Disk faults: a write that fails (an injected ENOSPC) leaves no half-written file, marks the run
// FAILED naming the file and the fix in one line, loses at most the epoch in progress, and the run
// resumes once the fault is gone. Damaged run folders do not hide the others from `gzx runs list`.
import { describe, expect, it } from 'vitest';
import fs from 'node:fs/promises';
import { execFileSync, spawn } from 'node:child_process';
import path from 'node:path';
import { writeFileAtomic, replaceDirAtomic, resetWriteFaults, WriteError } from '../../src/base/safe-write.js';
import { listRunFolders } from '../../src/tracking/runs/folder.js';
import { trainExperiment } from '../../src/app/experiment.js';
import { fabricateRunFolder } from '../helpers/mlflow.js';
import { useTmpDir } from '../helpers/tmp-dir.js';
import { BIN, expectOneClearLine, gzx } from '../helpers/cli.js';
import { readModelArtifacts } from '../../src/framework/model-io.js';

const tmpDir = useTmpDir('gzx-disk-');

async function withFault<T>(spec: string, fn: () => Promise<T>): Promise<T> {
  process.env.GZX_FAULT_WRITE = spec;
  resetWriteFaults();
  try {
    return await fn();
  } finally {
    delete process.env.GZX_FAULT_WRITE;
  }
}

describe('all-or-nothing writes', () => {
  it('a failed write keeps the previous file, leaves no temporary file and names file, reason and fix', async () => {
    const file = path.join(tmpDir(), 'summary.json');
    await writeFileAtomic(file, '{"old": true}');
    const err = await withFault('ENOSPC:summary.json', () => writeFileAtomic(file, JSON.stringify({ big: 'x'.repeat(1000) }))).catch((e) => e);
    expect(err).toBeInstanceOf(WriteError);
    expect(err.message).toMatch(/^no space left on device while writing .*summary\.json; free space, or set output_dir/);
    expect(await fs.readFile(file, 'utf8')).toBe('{"old": true}');
    expect((await fs.readdir(tmpDir())).filter((f) => f.startsWith('summary.json'))).toEqual(['summary.json']);
  });

  it('a folder is replaced whole: a failure inside keeps the old folder and removes the temporary one', async () => {
    const dir = path.join(tmpDir(), 'checkpoint');
    await replaceDirAtomic(dir, async (write) => write('state.json', '1'));
    const err = await withFault('EIO:optimizer.bin', () =>
      replaceDirAtomic(dir, async (write) => {
        await write('state.json', '2');
        await write('optimizer.bin', Buffer.alloc(100));
      }),
    ).catch((e) => e);
    expect(err.message).toContain(`while writing ${path.join(dir, 'optimizer.bin')}`);
    expect(await fs.readFile(path.join(dir, 'state.json'), 'utf8')).toBe('1');
    expect((await fs.readdir(tmpDir())).filter((f) => f.startsWith('checkpoint'))).toEqual(['checkpoint']);
  });
});

describe('a disk that fills during a run', () => {
  it('fails the run in one line, keeps the last checkpoint, and --resume finishes it once space is back', async () => {
    const config = path.join(tmpDir(), 'tiny.yaml');
    await fs.writeFile(
      config,
      `name: tiny
seed: 3
output_dir: ${path.join(tmpDir(), 'runs')}
data: {use: synthetic, with: {dir: ${path.join(tmpDir(), 'data')}, count: 48, size: 64, valid_fraction: 0.25}}
backbone: {use: simple-cnn, with: {channels: [4, 8]}}
head: {use: galaxy-zoo, with: {hidden: 8}}
logger: []
train: {size: 16, batch_size: 12, workers: 0, phases: [{epochs: 3}]}
`,
    );
    // The second epoch's checkpoint runs out of space while writing the optimiser state.
    const failed = await gzx(['run', config], { cwd: tmpDir(), env: { GZX_FAULT_WRITE: 'ENOSPC:optimizer.bin:2' } });
    expect(failed.code).toBe(1);
    const line = expectOneClearLine(failed);
    expect(line).toMatch(/^gzx: no space left on device while writing .*checkpoint\/optimizer\.bin; free space, or set output_dir/);
    const [runId] = await fs.readdir(path.join(tmpDir(), 'runs'));
    const runDir = path.join(tmpDir(), 'runs', runId);
    const meta = JSON.parse(await fs.readFile(path.join(runDir, 'meta.json'), 'utf8'));
    expect(meta.status).toBe('FAILED');
    expect(meta.error).toContain('optimizer.bin');
    expect(JSON.parse(await fs.readFile(path.join(runDir, 'summary.json'), 'utf8')).status).toBe('FAILED');
    const files = await fs.readdir(runDir);
    expect(files.filter((f) => /\.tmp|\.old/.test(f))).toEqual([]);
    const state = JSON.parse(await fs.readFile(path.join(runDir, 'checkpoint', 'state.json'), 'utf8'));
    expect(state.epoch).toBe(1); // only the epoch in progress was lost

    const listed = await gzx(['runs', 'list', '--dir', path.join(tmpDir(), 'runs'), '--json'], { cwd: tmpDir() });
    expect(JSON.parse(listed.stdout).map((r: { status: string }) => r.status)).toEqual(['FAILED']);

    const resumed = await gzx(['run', '--resume', runDir], { cwd: tmpDir() });
    expect(resumed.stderr).toContain('resuming');
    expect(resumed.code).toBe(0);
    expect(JSON.parse(await fs.readFile(path.join(runDir, 'meta.json'), 'utf8')).status).toBe('FINISHED');
    expect(JSON.parse(await fs.readFile(path.join(runDir, 'checkpoint', 'state.json'), 'utf8')).epoch).toBe(3);
  }, 180_000);
});

describe('a disk that fills as the run ends', () => {
  it('a summary.json that cannot be written fails the finished run in one error, and meta.json says FAILED', async () => {
    const config = path.join(tmpDir(), 'end.yaml');
    await fs.writeFile(
      config,
      `name: end
seed: 3
output_dir: ${path.join(tmpDir(), 'end-runs')}
data: {use: synthetic, with: {dir: ${path.join(tmpDir(), 'data')}, count: 48, size: 64, valid_fraction: 0.25}}
backbone: {use: simple-cnn, with: {channels: [4, 8]}}
head: {use: galaxy-zoo, with: {hidden: 8}}
logger: []
train: {size: 16, batch_size: 12, workers: 0, phases: [{epochs: 1}]}
`,
    );
    const err = await withFault('ENOSPC:summary.json', () => trainExperiment({ configFile: config, log: () => undefined })).catch((e) => e);
    expect(err).toBeInstanceOf(WriteError);
    expect(err.message).toMatch(/^no space left on device while writing .*summary\.json; free space, or set output_dir/);
    const [runId] = await fs.readdir(path.join(tmpDir(), 'end-runs'));
    const runDir = path.join(tmpDir(), 'end-runs', runId);
    const meta = JSON.parse(await fs.readFile(path.join(runDir, 'meta.json'), 'utf8'));
    expect(meta.status).toBe('FAILED');
    expect(meta.error).toContain('summary.json');
    expect((await fs.readdir(runDir)).filter((f) => f.startsWith('summary.json'))).toEqual([]);
  }, 120_000);

  it('a picture that cannot be written after the last epoch: FAILED, and --resume finishes without retraining', async () => {
    const config = path.join(tmpDir(), 'end.yaml'); // written by the test above
    await fs.rm(path.join(tmpDir(), 'end-runs'), { recursive: true, force: true });
    const err = await withFault('ENOSPC:curves.png', () => trainExperiment({ configFile: config, log: () => undefined })).catch((e) => e);
    expect(err.message).toMatch(/^no space left on device while writing .*artifacts\/curves\.png/);
    const [runId] = await fs.readdir(path.join(tmpDir(), 'end-runs'));
    const runDir = path.join(tmpDir(), 'end-runs', runId);
    const resumed = await trainExperiment({ resumeDir: runDir, log: () => undefined });
    expect(resumed.status).toBe('FINISHED');
    expect(await fs.readdir(path.join(runDir, 'artifacts'))).toContain('curves.png');
  }, 120_000);
});

describe('a disk that is full from the start', () => {
  it('config.yaml or params.json that cannot be written: FAILED in one line; meta.json: no folder left at all', async () => {
    const config = path.join(tmpDir(), 'start.yaml');
    const runs = path.join(tmpDir(), 'start-runs');
    await fs.writeFile(
      config,
      `name: start\noutput_dir: ${runs}\ndata: {use: synthetic, with: {dir: ${path.join(tmpDir(), 'data')}, count: 48, size: 64}}\nlogger: []\ntrain: {size: 16, workers: 0, phases: [{epochs: 1}]}\n`,
    );
    for (const file of ['config.yaml', 'params.json']) {
      await fs.rm(runs, { recursive: true, force: true });
      const err = await withFault(`ENOSPC:${file}`, () => trainExperiment({ configFile: config, log: () => undefined })).catch((e) => e);
      expect(err.message).toMatch(new RegExp(`^no space left on device while writing .*${file.replace('.', '\\.')}; free space`));
      const [id] = await fs.readdir(runs);
      expect(JSON.parse(await fs.readFile(path.join(runs, id, 'meta.json'), 'utf8')).status).toBe('FAILED');
    }
    await fs.rm(runs, { recursive: true, force: true });
    const err = await withFault('ENOSPC:meta.json', () => trainExperiment({ configFile: config, log: () => undefined })).catch((e) => e);
    expect(err.message).toMatch(/^no space left on device while writing .*meta\.json/);
    expect(await fs.readdir(runs)).toEqual([]);
  }, 120_000);
});

describe('a real full disk (a small tmpfs; skipped where mounting is not allowed)', () => {
  it('fails in one line naming the file, then resumes once the disk has room', async (ctx) => {
    const mnt = path.join(tmpDir(), 'small-disk');
    await fs.mkdir(mnt, { recursive: true });
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=400k', 'tmpfs', mnt], { stdio: 'ignore' });
    } catch {
      ctx.skip();
    }
    try {
      const config = path.join(tmpDir(), 'full.yaml');
      await fs.writeFile(
        config,
        `name: full
seed: 3
output_dir: ${path.join(mnt, 'runs')}
data: {use: synthetic, with: {dir: ${path.join(tmpDir(), 'data')}, count: 48, size: 64, valid_fraction: 0.25}}
backbone: {use: simple-cnn, with: {channels: [16, 32]}}
head: {use: galaxy-zoo, with: {hidden: 1024}}
logger: []
train: {size: 16, batch_size: 12, workers: 0, phases: [{epochs: 2}]}
`,
      );
      const failed = await gzx(['run', config], { cwd: tmpDir() });
      expect(failed.code).toBe(1);
      expect(expectOneClearLine(failed)).toMatch(/^gzx: no space left on device while writing .*small-disk\/runs\/.*; free space, or set output_dir/);
      const [runId] = await fs.readdir(path.join(mnt, 'runs'));
      const runDir = path.join(mnt, 'runs', runId);
      expect(JSON.parse(await fs.readFile(path.join(runDir, 'meta.json'), 'utf8')).status).toBe('FAILED');
      expect((await fs.readdir(runDir)).filter((f) => /\.tmp|\.old/.test(f))).toEqual([]);
      execFileSync('mount', ['-o', 'remount,size=8m', mnt]);
      const resumed = await gzx(['run', '--resume', runDir], { cwd: tmpDir() });
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(JSON.parse(await fs.readFile(path.join(runDir, 'meta.json'), 'utf8')).status).toBe('FINISHED');
    } finally {
      execFileSync('umount', ['-l', mnt], { stdio: 'ignore' });
    }
  }, 180_000);
});

describe('kill -9, then --resume', () => {
  it('ends with the same weights, byte for byte, as a run never interrupted', async () => {
    const config = path.join(tmpDir(), 'kill.yaml');
    await fs.writeFile(
      config,
      `name: kill
seed: 11
output_dir: ${path.join(tmpDir(), 'kill-runs')}
data: {use: synthetic, with: {dir: ${path.join(tmpDir(), 'kill-data')}, count: 160, size: 64, valid_fraction: 0.2}}
augment: [{use: flip}]
backbone: {use: simple-cnn, with: {channels: [8, 16]}}
head: {use: galaxy-zoo, with: {hidden: 16}}
logger: []
train: {size: 16, batch_size: 8, workers: 0, compile: false, phases: [{epochs: 6}]}
`,
    );
    const whole = await gzx(['run', config], { cwd: tmpDir() });
    expect(whole.code, whole.stderr).toBe(0);
    const runs = path.join(tmpDir(), 'kill-runs');
    const [wholeId] = await fs.readdir(runs);

    const child = spawn(process.execPath, [BIN, 'run', config], { cwd: tmpDir(), stdio: 'ignore' });
    let killedDir = '';
    for (let i = 0; i < 1200 && !killedDir; i++) {
      await new Promise((r) => setTimeout(r, 50));
      for (const id of (await fs.readdir(runs)).filter((d) => d !== wholeId)) {
        const state = await fs.readFile(path.join(runs, id, 'checkpoint', 'state.json'), 'utf8').catch(() => '');
        if (state && JSON.parse(state).epoch >= 1) killedDir = path.join(runs, id);
      }
    }
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(killedDir).not.toBe('');
    expect(JSON.parse(await fs.readFile(path.join(killedDir, 'meta.json'), 'utf8')).status).toBe('RUNNING');

    const resumed = await gzx(['run', '--resume', killedDir], { cwd: tmpDir() });
    expect(resumed.code, resumed.stderr).toBe(0);
    const a = await readModelArtifacts(path.join(runs, wholeId, 'model'));
    const b = await readModelArtifacts(path.join(killedDir, 'model'));
    expect(Buffer.from(b.weightData as ArrayBuffer).equals(Buffer.from(a.weightData as ArrayBuffer))).toBe(true);
  }, 300_000);
});

describe('readers that survive damage', () => {
  it('runs list skips a folder with a truncated summary.json with one warning and shows the rest', async () => {
    const root = path.join(tmpDir(), 'damaged-runs');
    await fabricateRunFolder({ root, id: '20261201-090000-good', seed: 1, lr: 0.003, epochs: 1, stepsPerEpoch: 2 });
    await fabricateRunFolder({ root, id: '20261201-100000-full-disk', seed: 2, lr: 0.003, epochs: 1, stepsPerEpoch: 2 });
    await fabricateRunFolder({ root, id: '20261201-110000-also-good', seed: 3, lr: 0.003, epochs: 1, stepsPerEpoch: 2 });
    await fs.writeFile(path.join(root, '20261201-100000-full-disk', 'summary.json'), '');
    const warnings: string[] = [];
    const runs = await listRunFolders(root, (m) => warnings.push(m));
    expect(runs.map((r) => r.id)).toEqual(['20261201-090000-good', '20261201-110000-also-good']);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/skipped run folder .*20261201-100000-full-disk: .*summary\.json is not valid JSON/);

    const cli = await gzx(['runs', 'list', '--dir', root], { cwd: tmpDir() });
    expect(cli.code).toBe(0);
    expect(cli.stdout).toContain('20261201-090000-good');
    expect(cli.stdout).toContain('20261201-110000-also-good');
    expect(cli.stderr.trim().split('\n')).toHaveLength(1);
    const compare = await gzx(['runs', 'compare', '--dir', root, '20261201-090000-good', '20261201-100000-full-disk', '20261201-110000-also-good'], {
      cwd: tmpDir(),
    });
    expect(compare.code).toBe(0);
    expect(compare.stderr).toContain('skipped run folder');
  });
});
