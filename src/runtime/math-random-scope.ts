// tfjs draws initial weights and dropout masks from Math.random whenever an op gets no seed, and
// plugins (ours or third-party) rarely pass one. Running model building and each training step with
// Math.random temporarily replaced by a seeded stream makes both reproducible, which is what lets a
// resumed run end with exactly the weights of an uninterrupted one. Synchronous code only: the
// replacement must not leak into interleaved async work.
import { SeededRng } from '../base/random.js';

export function withSeededRandom<T>(seed: number, fn: () => T): T {
  const original = Math.random;
  const rng = new SeededRng(seed);
  Math.random = () => rng.next();
  try {
    return fn();
  } finally {
    Math.random = original;
  }
}
