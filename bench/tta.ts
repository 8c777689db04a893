// Test-time augmentation throughput: images/s of `gzx predict` with 1, 8 and the 60 Dieleman views
// (rotations=10,scales=0.8333:1:1.2,flip) on each backend that loads, through predictImages (view
// resampling in JavaScript + the model), and what 60 views of Kaggle's 79,975 test images would take.
// Decoding the JPEGs is not included (bench/pipeline.ts measures it; it is paid once per image).
// Run: npm run bench -- --only tta, or `npx vite-node bench/tta.ts --tta-table`.
import * as tf from '@tensorflow/tfjs';
import type { RawImage } from '../src/framework/contracts.js';
import { describeBackends, selectBackend, type BackendName } from '../src/runtime/backend.js';
import { registerWasmKernels } from '../src/runtime/wasm/index.js';
import { registerNativeKernels } from '../src/runtime/native/index.js';
import { SeededRng } from '../src/base/random.js';
import { applyView, parseTtaSpec, predictImages, ttaViews, type LoadedPredictor, type TtaView } from '../src/galaxy/predict.js';
import { MODELS, buildModel, timeSteps } from './train.js';

export const KAGGLE_TEST_IMAGES = 79_975;
const VIEW_SETS: [string, TtaView[]][] = [
  ['1', ttaViews(1)],
  ['8', ttaViews(8)],
  ['60', parseTtaSpec('rotations=10,scales=0.8333:1:1.2,flip')],
];
const TTA_MODELS = ['cnn64', 'r18_64'];

function randomImages(n: number, size: number): RawImage[] {
  const rng = new SeededRng(7);
  return Array.from({ length: n }, () => ({
    data: Uint8Array.from({ length: size * size * 3 }, () => Math.floor(rng.next() * 256)),
    width: size,
    height: size,
    channels: 3,
  }));
}

export async function runTtaBench(
  budgetMs = Number(process.env.GZX_BENCH_TTA_BUDGET_MS ?? 8000),
  log = (m: string) => process.stderr.write(`${m}\n`),
): Promise<Record<string, number>> {
  const metrics: Record<string, number> = {};
  // The views alone (JavaScript resampling, the same on every backend): 60 views of a 64-px image.
  const images = randomImages(32, 64);
  const sixty = VIEW_SETS[2][1];
  const warp = await timeSteps(async () => void images.forEach((im) => sixty.forEach((v) => applyView(im, v))), budgetMs / 4, 50);
  metrics['tta.views60.resample_ms_per_image'] = Math.round((warp.msPerStep / images.length) * 100) / 100;
  log(`tta: resampling 60 views of a 64-px image takes ${metrics['tta.views60.resample_ms_per_image']} ms`);

  const available = new Set((await describeBackends()).filter((b) => b.loads).map((b) => b.backend));
  for (const backend of ['tensorflow', 'wasm'] as BackendName[]) {
    if (!available.has(backend)) continue;
    await selectBackend(backend, () => {});
    if (backend === 'wasm') registerWasmKernels({ speedups: true });
    else registerNativeKernels({ speedups: true });
    for (const spec of MODELS.filter((m) => TTA_MODELS.includes(m.id))) {
      const model = await buildModel(spec);
      const predictor: LoadedPredictor = { model, modelDir: 'bench', crop: null, size: spec.size, normalisedInModel: true };
      const batch = randomImages(spec.batch, spec.size);
      for (const [name, views] of VIEW_SETS) {
        predictImages(predictor, batch.slice(0, 1), views.slice(0, 1)); // warm-up
        const t = await timeSteps(async () => void predictImages(predictor, batch, views), budgetMs, 20);
        const ips = Math.round((spec.batch / (t.msPerStep / 1000)) * 100) / 100;
        metrics[`tta.${backend}.${spec.id}.views${name}.ips`] = ips;
        if (name === '60') metrics[`tta.${backend}.${spec.id}.views60.kaggle_hours`] = Math.round((KAGGLE_TEST_IMAGES / ips / 3600) * 10) / 10;
        log(`tta: ${backend.padEnd(10)} ${spec.label.padEnd(22)} ${name.padStart(2)} view(s): ${ips} images/s (${t.steps} batches)`);
      }
      model.dispose();
    }
  }
  return metrics;
}

export function formatTtaTable(m: Record<string, number>): string {
  const rows: string[] = ['| backend | model | 1 view | 8 views | 60 views | 60 views × 79,975 test images |', '|---|---|---|---|---|---|'];
  for (const backend of ['tensorflow', 'wasm']) {
    for (const spec of MODELS.filter((s) => TTA_MODELS.includes(s.id))) {
      const k = (v: string) => m[`tta.${backend}.${spec.id}.views${v}.ips`];
      if (k('1') === undefined) continue;
      rows.push(`| ${backend} | ${spec.label} | ${k('1')} | ${k('8')} | ${k('60')} | ${m[`tta.${backend}.${spec.id}.views60.kaggle_hours`]} h |`);
    }
  }
  rows.push('', `(images/s; view resampling: ${m['tta.views60.resample_ms_per_image']} ms per image for all 60 views; JPEG decoding not included)`);
  return rows.join('\n');
}

if (process.argv.includes('--tta-table')) {
  const m = await runTtaBench();
  console.log(formatTtaTable(m));
  tf.disposeVariables();
}
