// `gzx data synth` as a user runs it (compiled CLI; `npm test` builds dist/ first).
import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BIN } from '../helpers/paths.js';

const gzx = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
const made: string[] = [];
const tmp = async () => {
  const d = await fsp.mkdtemp(path.join(os.tmpdir(), 'gzx-synth-cli-'));
  made.push(d);
  return d;
};
afterAll(async () => {
  await Promise.all(made.map((d) => fsp.rm(d, { recursive: true, force: true })));
});

describe('gzx data synth', () => {
  it('writes the Kaggle layout with test images, reuses it, and another process writes the same bytes', async () => {
    const out = path.join(await tmp(), 'twin');
    const first = gzx('data', 'synth', '--out', out, '--count', '6', '--size', '64', '--seed', '3', '--test-count', '2');
    expect(first.status).toBe(0);
    expect(first.stdout).toMatch(/wrote 6 training images and 2 test images of 64px/);
    expect(first.stderr).toMatch(/synth: 8\/8 images/);
    expect((await fsp.readdir(out)).sort()).toEqual(['images_test_rev1', 'images_training_rev1', 'synth.json', 'training_solutions_rev1.csv']);
    const csv = (await fsp.readFile(path.join(out, 'training_solutions_rev1.csv'), 'utf8')).trim().split('\n');
    expect(csv).toHaveLength(7);
    expect(csv[0]).toMatch(/^GalaxyID,Class1\.1,/);
    const second = gzx('data', 'synth', '--out', out, '--count', '6', '--size', '64', '--seed', '3', '--test-count', '2');
    expect(second.status).toBe(0);
    expect(second.stdout).toMatch(/reused/);
    // Another process, another folder: the same bytes.
    const twin = path.join(await tmp(), 'twin');
    expect(gzx('data', 'synth', '--out', twin, '--count', '6', '--size', '64', '--seed', '3', '--test-count', '2').status).toBe(0);
    for (const f of ['training_solutions_rev1.csv', 'synth.json', 'images_training_rev1/100005.jpg', 'images_test_rev1/100007.jpg']) {
      expect((await fsp.readFile(path.join(twin, f))).equals(await fsp.readFile(path.join(out, f))), f).toBe(true);
    }
  });

  it('refuses a folder with other data: one message, exit 1, no stack trace', async () => {
    const out = await tmp();
    await fsp.writeFile(path.join(out, 'thesis.tex'), 'precious');
    const r = gzx('data', 'synth', '--out', out, '--count', '2', '--size', '64');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^gzx: .* is not empty and holds no synth\.json/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(await fsp.readFile(path.join(out, 'thesis.tex'), 'utf8')).toBe('precious');
  });

  it('a bad flag value is a usage error', () => {
    const r = gzx('data', 'synth', '--out', 'x', '--count', '0');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/count/);
  });
});
