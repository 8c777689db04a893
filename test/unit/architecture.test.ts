// The house rule: folders of src/ follow the direction of dependency. A folder imports only from
// folders below it (and itself); siblings on one level do not import each other. docs/architecture.md
// draws the same picture.
import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { REPO } from '../helpers/paths.js';

const SRC = path.resolve(REPO, 'src');

/** Bottom to top. Folders on one level are siblings. */
export const LAYERS: string[][] = [
  ['base'], // errors, seeded random numbers, names: no TensorFlow
  ['runtime'], // backends, kernels, compiled passes, memory plans
  ['framework'], // plugin API, registry, config, Learner, callbacks, optimisers, checkpoints
  ['vision', 'tracking'], // images and layers; run folders, MLflow, charts
  ['galaxy'], // the Galaxy Zoo domain
  ['plugins'], // built-in plugins
  ['app'], // runs, the LR finder, commands' logic
  ['cli'], // parsing and delegating
];

const levelOf = new Map(LAYERS.flatMap((folders, level) => folders.map((f) => [f, level] as const)));

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sourceFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Relative specifiers of every import, export-from and dynamic import (type-only ones too). */
function imports(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:from\s*|import\s*\(\s*|^import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm)].map((m) => m[1]);
}

const topFolder = (file: string) => path.relative(SRC, file).split(path.sep)[0];

describe('src/ folders follow the direction of dependency', () => {
  it('every top-level folder has a level', () => {
    const folders = fs
      .readdirSync(SRC, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
    expect(folders.filter((f) => !levelOf.has(f))).toEqual([]);
  });

  it('no file imports from a folder above its own, or from a sibling on its level', () => {
    const violations: string[] = [];
    for (const file of sourceFiles(SRC)) {
      const from = topFolder(file);
      if (!levelOf.has(from)) continue; // src/index.ts, the package entry, may re-export anything
      for (const spec of imports(file)) {
        const to = topFolder(path.resolve(path.dirname(file), spec));
        if (to === from || !levelOf.has(to)) continue;
        if (levelOf.get(to)! >= levelOf.get(from)!) violations.push(`${path.relative(SRC, file)} imports ${spec} (${from} → ${to})`);
      }
    }
    expect(violations).toEqual([]);
  });

  it('catches a violation (the check itself works)', () => {
    const fake = path.join(SRC, 'runtime', 'x.ts');
    const to = topFolder(path.resolve(path.dirname(fake), '../galaxy/tree.js'));
    expect(levelOf.get(to)! > levelOf.get(topFolder(fake))!).toBe(true);
    expect(imports(path.join(SRC, 'framework', 'learner.ts')).length).toBeGreaterThan(3);
  });
});
