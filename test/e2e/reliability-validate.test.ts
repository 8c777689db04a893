// validate knows what run knows: every check that needs no training runs in `gzx validate`, and
// `gzx run` makes the same checks before it creates a run folder (so a mistake leaves no FAILED run).
import { describe, expect, it } from 'vitest';
import fs from 'node:fs/promises';
import path from 'node:path';
import { trainExperiment } from '../../src/app/experiment.js';
import { useTmpDir } from '../helpers/tmp-dir.js';
import { gzx } from '../helpers/cli.js';
import { FIXTURES } from '../helpers/paths.js';

const tmpDir = useTmpDir('gzx-parity-');
const KAGGLE_SMALL = path.join(FIXTURES, 'data/kaggle-small');

const cases: { name: string; body: string; expected: RegExp }[] = [
  {
    name: 'rotate min_degrees > max_degrees',
    body: `data: {use: synthetic, with: {count: 8, size: 64}}\naugment: [{use: flip}, {use: rotate, with: {min_degrees: 300, max_degrees: 10}}]\n`,
    expected: /:3:\d+: augment\.1\.with\.min_degrees: 300 is larger than max_degrees \(10\)\. Swap them/,
  },
  {
    name: 'affine min_degrees > max_degrees',
    body: `data: {use: synthetic, with: {count: 8, size: 64}}\naugment: [{use: affine, with: {min_degrees: 90, max_degrees: 0}}]\n`,
    expected: /augment\.0\.with\.min_degrees: 90 is larger than max_degrees \(0\)/,
  },
  {
    name: 'kaggle-galaxy-zoo data folder missing',
    body: `data: {use: kaggle-galaxy-zoo, with: {dir: ./no-such-data}}\n`,
    expected: /:2:\d+: data\.with\.dir: .*no-such-data does not exist\. Set data\.with\.dir to a folder holding training_solutions_rev1\.csv/,
  },
  {
    name: 'kaggle-galaxy-zoo crop larger than the images',
    body: `data: {use: kaggle-galaxy-zoo, with: {dir: ${KAGGLE_SMALL}, crop: 1000}}\n`,
    expected:
      /data\.with\.crop: 1000 px is larger than the images \(10 checked, e\.g\. \d+\.jpg is 16×16\), so every image would be skipped\. Set crop to at most 16/,
  },
  {
    name: 'synthetic crop larger than its images',
    body: `data: {use: synthetic, with: {count: 8, size: 64, crop: 1000}}\n`,
    expected: /data\.with\.crop: 1000 px is larger than the 64-px images this source generates/,
  },
  {
    name: 'resnet pretrained file missing',
    body: `data: {use: synthetic, with: {count: 8, size: 64}}\nbackbone: {use: resnet, with: {depth: 18, pretrained: ./weights/missing.h5}}\n`,
    expected: /backbone\.with\.pretrained: .*weights\/missing\.h5 does not exist\. Download/,
  },
];

describe('validate and run agree', () => {
  for (const c of cases) {
    it(`${c.name}: validate rejects it, and run rejects it the same way before making a run folder`, async () => {
      const dir = path.join(tmpDir(), c.name.replace(/\W+/g, '-'));
      await fs.mkdir(dir, { recursive: true });
      const file = path.join(dir, 'exp.yaml');
      await fs.writeFile(
        file,
        `name: parity\n${c.body}logger: []\noutput_dir: ${path.join(dir, 'runs')}\ntrain: {size: 16, workers: 0, phases: [{epochs: 1}]}\n`,
      );
      const validate = await gzx(['validate', file], { cwd: dir });
      expect(validate.code, validate.stdout + validate.stderr).toBe(1);
      expect(validate.stderr).toMatch(c.expected);
      const err = await trainExperiment({ configFile: file, log: () => undefined }).catch((e) => e);
      expect(err?.name).toBe('UserError');
      expect(err.message).toMatch(c.expected);
      await expect(fs.readdir(path.join(dir, 'runs'))).rejects.toThrow(/ENOENT/);
    }, 60_000);
  }
});
