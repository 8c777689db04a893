// Output paths are checked before any work, by `gzx validate` and by the commands that write:
// one line naming the setting and the fix, and no hang on /proc or /sys.
import { describe, expect, it } from 'vitest';
import fs from 'node:fs/promises';
import path from 'node:path';
import { outputPathProblem } from '../../src/base/output-path.js';
import { useTmpDir } from '../helpers/tmp-dir.js';
import { expectOneClearLine, gzx } from '../helpers/cli.js';

const tmpDir = useTmpDir('gzx-paths-');

async function config(): Promise<string> {
  const file = path.join(tmpDir(), 'paths.yaml');
  await fs.writeFile(
    file,
    `name: paths
data: {use: synthetic, with: {dir: ${path.join(tmpDir(), 'data')}, count: 8, size: 64}}
backbone: {use: simple-cnn, with: {channels: [4]}}
logger: []
train: {size: 16, batch_size: 4, workers: 0, phases: [{epochs: 1}]}
`,
  );
  return file;
}

describe('outputPathProblem', () => {
  it('tells what is wrong with each kind of bad place, and nothing for a good one', async () => {
    const file = path.join(tmpDir(), 'a-file');
    await fs.writeFile(file, 'x');
    expect(await outputPathProblem('/proc/gzx-runs', 'folder')).toMatch(/is on \/proc, a kernel pseudo-filesystem/);
    expect(await outputPathProblem('/proc/self/gzx', 'folder')).toMatch(/pseudo-filesystem/);
    expect(await outputPathProblem('/sys/kernel/gzx-runs', 'folder')).toMatch(/is on \/sys/);
    expect(await outputPathProblem(file, 'folder')).toBe(`${file} is a file, not a folder`);
    expect(await outputPathProblem(path.join(file, 'runs'), 'folder')).toBe(`${file} is a file, so nothing can be created under it`);
    expect(await outputPathProblem(tmpDir(), 'file')).toBe(`${tmpDir()} is a folder, not a file`);
    expect(await outputPathProblem(path.join(tmpDir(), 'missing', 'x.csv'), 'file')).toMatch(/the folder .*missing does not exist/);
    expect(await outputPathProblem(path.join(tmpDir(), 'new', 'deeper', 'runs'), 'folder')).toBeNull();
    expect(await outputPathProblem(path.join(tmpDir(), 'x.csv'), 'file')).toBeNull();
  });
});

describe('validate and run check output_dir before any work', () => {
  const cases: [string, (dir: string) => Promise<string>, RegExp][] = [
    [
      'under /proc',
      async () => '/proc/gzx-runs',
      /output_dir: \/proc\/gzx-runs is on \/proc, a kernel pseudo-filesystem.*Set output_dir to a writable folder/,
    ],
    ['under /sys', async () => '/sys/fs/gzx-runs', /output_dir: \/sys\/fs\/gzx-runs is on \/sys/],
    [
      'a file',
      async (dir) => {
        await fs.writeFile(path.join(dir, 'runs-file'), '');
        return path.join(dir, 'runs-file');
      },
      /output_dir: .*runs-file is a file, not a folder\. Set output_dir/,
    ],
  ];
  for (const [what, make, expected] of cases) {
    it(`output_dir ${what}: validate and run both refuse in one line naming the config line`, async () => {
      const file = await config();
      const outputDir = await make(tmpDir());
      const validate = await gzx(['validate', file, '--set', `output_dir=${outputDir}`], { cwd: tmpDir(), timeoutMs: 30_000 });
      expect(validate.code).toBe(1);
      expect(expectOneClearLine(validate)).toMatch(expected);
      expect(validate.stderr).toContain('--set output_dir=');
      const run = await gzx(['run', file, '--set', `output_dir=${outputDir}`], { cwd: tmpDir(), timeoutMs: 60_000 });
      expect(run.code).toBe(1);
      expect(expectOneClearLine(run)).toMatch(expected);
    }, 120_000);
  }
});

describe('--out of predict, show and data synth', () => {
  it('predict -o <an existing folder> stops before scoring and leaves no .partial file', async () => {
    const out = path.join(tmpDir(), 'out-folder');
    await fs.mkdir(out, { recursive: true });
    const r = await gzx(['predict', '-m', path.join(tmpDir(), 'no-model'), '-i', path.join(tmpDir(), 'no-images'), '-o', out], { cwd: tmpDir() });
    expect(r.code).toBe(1);
    expect(expectOneClearLine(r)).toBe(`gzx: --out: ${out} is a folder, not a file. Set --out to a file in an existing, writable folder.`);
    expect(await fs.readdir(tmpDir())).not.toContain('out-folder.partial');
  });

  it('show -o under /proc and data synth --out on a file are refused the same way', async () => {
    const show = await gzx(['show', '-m', 'nowhere', '-i', 'nowhere', '-o', '/proc/grid.png'], { cwd: tmpDir(), timeoutMs: 30_000 });
    expect(expectOneClearLine(show)).toMatch(/^gzx: --out: \/proc\/grid\.png is on \/proc/);
    const file = path.join(tmpDir(), 'synth-file');
    await fs.writeFile(file, '');
    const synth = await gzx(['data', 'synth', '--out', file, '--count', '2'], { cwd: tmpDir() });
    expect(synth.code).toBe(1);
    expect(expectOneClearLine(synth)).toBe(
      `gzx: --out: ${file} is a file, not a folder. Set --out to a writable folder on a disk (created if missing).`,
    );
  });
});
