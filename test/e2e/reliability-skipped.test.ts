// Skipped images are named: each on the console and all in runs/<id>/skipped-images.txt with its
// reason; an image smaller than the crop follows on_bad_image like an unreadable one.
import { beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { trainExperiment } from '../../src/app/experiment.js';
import { writeSyntheticDataset } from '../../src/galaxy/synth/dataset.js';
import { useTmpDir } from '../helpers/tmp-dir.js';

const tmpDir = useTmpDir('gzx-skipped-');
let images: string[] = [];

beforeAll(async () => {
  const dir = path.join(tmpDir(), 'data');
  await writeSyntheticDataset({ dir, count: 40, size: 64, seed: 5 });
  const folder = path.join(dir, 'images_training_rev1');
  images = (await fs.readdir(folder)).sort().map((f) => path.join(folder, f));
  // A truncated JPEG and a 10×10 one (the crop of 64-px synthetic images is 34 px).
  const bytes = await fs.readFile(images[3]);
  await fs.writeFile(images[3], bytes.subarray(0, bytes.length / 3));
  await fs.writeFile(
    images[7],
    await sharp({ create: { width: 10, height: 10, channels: 3, background: '#202020' } })
      .jpeg()
      .toBuffer(),
  );
}, 120_000);

async function config(name: string, onBadImage: 'skip' | 'fail'): Promise<string> {
  const file = path.join(tmpDir(), `${name}.yaml`);
  await fs.writeFile(
    file,
    `name: ${name}
seed: 5
output_dir: ${path.join(tmpDir(), 'runs')}
data: {use: synthetic, with: {dir: ${path.join(tmpDir(), 'data')}, count: 40, size: 64, valid_fraction: 0.25, on_bad_image: ${onBadImage}}}
backbone: {use: simple-cnn, with: {channels: [4]}}
head: {use: galaxy-zoo, with: {hidden: 8}}
logger: []
train: {size: 16, batch_size: 8, workers: 0, phases: [{epochs: 1}]}
`,
  );
  return file;
}

describe('skipped images', () => {
  it('under skip: the run finishes and names each skipped file with its reason, on the console and in skipped-images.txt', async () => {
    const said: string[] = [];
    const result = await trainExperiment({ configFile: await config('skip', 'skip'), log: (m) => said.push(m) });
    expect(result.status).toBe('FINISHED');
    const console = said.filter((l) => l.startsWith('skipped image '));
    expect(console).toHaveLength(2);
    expect(console.join('\n')).toContain(`skipped image ${images[7]}: 10×10 px, smaller than the centre crop of 34 px (data.with.crop)`);
    expect(console.join('\n')).toMatch(new RegExp(`skipped image ${images[3]}: .*(premature end|corrupt or truncated)`, 'i'));
    const listed = (await fs.readFile(path.join(result.runDir, 'skipped-images.txt'), 'utf8')).trim().split('\n').sort();
    expect(listed.map((l) => l.split('\t')[0])).toEqual([images[3], images[7]]);
    expect(listed[1].split('\t')[1]).toBe('10×10 px, smaller than the centre crop of 34 px (data.with.crop)');
    const summary = JSON.parse(await fs.readFile(path.join(result.runDir, 'summary.json'), 'utf8'));
    expect(summary.skipped_images).toBe(2);
  }, 120_000);

  it('under fail: the small image stops the run naming the file and the option', async () => {
    const err = await trainExperiment({ configFile: await config('fail', 'fail'), log: () => undefined }).catch((e) => e);
    expect(err.name).toBe('UserError');
    expect(err.message).toMatch(/Cannot read image .*(\.jpg).*: .*data\.with\.on_bad_image: skip/);
  }, 120_000);
});
