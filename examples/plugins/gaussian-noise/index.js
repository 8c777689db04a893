// gzx augmentation plugin: additive Gaussian pixel noise. Survey images carry sky and detector
// noise of varying strength; training on noisier copies keeps a model from keying on the exact
// noise level of the training set. Plain ESM JavaScript: it needs nothing from gzx at run time.
import { readFileSync } from 'node:fs';

// Read next to this file, so it works from any working directory and when installed from npm.
const optionsSchema = JSON.parse(readFileSync(new URL('./schema.json', import.meta.url), 'utf8'));

/**
 * Two independent standard normals from two uniforms (Box–Muller). Only the gzx-supplied rng is used,
 * so a sample's noise depends on (seed, epoch, index) and is the same in every worker thread.
 */
function normalPair(rng) {
  const u = 1 - rng.next(); // (0, 1]: log(0) would be -Infinity
  const v = rng.next();
  const r = Math.sqrt(-2 * Math.log(u));
  return [r * Math.cos(2 * Math.PI * v), r * Math.sin(2 * Math.PI * v)];
}

/** Adds noise of standard deviation `sigma` (pixel units) to an interleaved 8-bit image. */
export function addGaussianNoise(image, sigma, perChannel, rng) {
  const { data, width, height, channels } = image;
  const out = new Uint8Array(data.length);
  const pixels = width * height;
  let spare = null;
  const nextNormal = () => {
    if (spare !== null) {
      const s = spare;
      spare = null;
      return s;
    }
    const [a, b] = normalPair(rng);
    spare = b;
    return a;
  };
  for (let i = 0; i < pixels; i++) {
    const base = i * channels;
    const shared = perChannel ? 0 : nextNormal() * sigma;
    for (let c = 0; c < channels; c++) {
      const n = perChannel ? nextNormal() * sigma : shared;
      const v = Math.round(data[base + c] + n);
      out[base + c] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  return { data: out, width, height, channels };
}

export const gaussianNoise = {
  name: 'gaussian-noise',
  kind: 'augment',
  description: 'Add Gaussian pixel noise of random strength (sky/detector noise).',
  optionsSchema,
  create(options) {
    // gzx validated `options` against schema.json and filled its defaults before calling create.
    const { sigma, p, per_channel: perChannel } = options;
    return {
      apply(image, rng) {
        // Draw both numbers every time, so augmentations after this one see the same stream
        // whether or not noise was added.
        const apply = rng.next() < p;
        const strength = rng.next() * sigma;
        if (!apply || strength === 0) return image;
        return addGaussianNoise(image, strength, perChannel, rng);
      },
    };
  },
};

/** gzx reads `plugins` (an array of plugin definitions) from every module named in a config's `plugins:`. */
export const plugins = [gaussianNoise];
