// Synthetic Galaxy Zoo labels: a latent galaxy type with latent true attributes, then
// volunteer-like disagreement (Dirichlet noise around the true answer) per question, weighted
// by the tree with normaliseAnswers, so rows obey the tree exactly and fractions are soft.
import { SeededRng } from '../../base/random.js';
import { NUM_COLUMNS, QUESTIONS, normaliseAnswers } from '../tree.js';

export const GALAXY_TYPES = ['smooth', 'disk', 'edge-on', 'star'] as const;
export type GalaxyType = (typeof GALAXY_TYPES)[number];

/** Share of each latent type; roughly the real mix (the real Class1.3 mean is ~0.02). */
const TYPE_WEIGHTS: Record<GalaxyType, number> = { smooth: 0.42, disk: 0.34, 'edge-on': 0.17, star: 0.07 };

/** Odd features in Q8 column order: ring, lens or arc, disturbed, irregular, other, merger, dust lane. */
const ODD_WEIGHTS_FACE_ON = [0.3, 0.06, 0.14, 0.14, 0.1, 0.22, 0.04];
const ODD_WEIGHTS_SMOOTH = [0.12, 0.1, 0.18, 0.06, 0.14, 0.38, 0.02];
const ODD_WEIGHTS_EDGE_ON = [0.04, 0.05, 0.14, 0.08, 0.1, 0.19, 0.4];

export interface SampledGalaxy {
  type: GalaxyType;
  /** 37 answer fractions in tree order (weighted, not rounded). */
  labels: number[];
}

/** Gamma(shape, 1) by Marsaglia–Tsang; written here because it must draw from our seeded stream. */
export function sampleGamma(rng: SeededRng, shape: number): number {
  if (shape < 1) {
    // Boost: Gamma(a) = Gamma(a + 1) · U^(1/a).
    const u = 1 - rng.next();
    return sampleGamma(rng, shape + 1) * Math.pow(u, 1 / shape);
  }
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = rng.normal();
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = 1 - rng.next();
    if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v;
  }
}

/** Dirichlet(alpha): normalised gammas. */
export function sampleDirichlet(rng: SeededRng, alpha: number[]): number[] {
  const g = alpha.map((a) => sampleGamma(rng, Math.max(a, 1e-3)));
  const sum = g.reduce((s, v) => s + v, 0);
  // All gammas underflowing to 0 is possible for tiny alphas; fall back to the mean.
  if (!(sum > 0)) {
    const as = alpha.reduce((s, v) => s + v, 0);
    return alpha.map((a) => a / as);
  }
  return g.map((v) => v / sum);
}

function pick(rng: SeededRng, weights: readonly number[]): number {
  const total = weights.reduce((s, w) => s + w, 0);
  let u = rng.next() * total;
  for (let i = 0; i < weights.length; i++) {
    u -= weights[i];
    if (u < 0) return i;
  }
  return weights.length - 1;
}

function oneHot(n: number, k: number): number[] {
  return Array.from({ length: n }, (_, i) => (i === k ? 1 : 0));
}

/**
 * Volunteers' answer fractions for one question: mostly the true answer, some confusion with a
 * prior (`confusedWith`), Dirichlet noise whose concentration grows with how clear the galaxy is.
 */
function votes(rng: SeededRng, truth: number[], confusedWith: number[], confusion: number, concentration: number): number[] {
  const tSum = truth.reduce((s, v) => s + v, 0);
  const pSum = confusedWith.reduce((s, v) => s + v, 0);
  const mean = truth.map((t, i) => (1 - confusion) * (t / tSum) + confusion * (confusedWith[i] / pSum));
  return sampleDirichlet(
    rng,
    mean.map((m) => m * concentration + 0.02),
  );
}

/** One galaxy's latent type and its 37 labels, drawn from `rng`. */
export function sampleGalaxy(rng: SeededRng): SampledGalaxy {
  const type =
    GALAXY_TYPES[
      pick(
        rng,
        GALAXY_TYPES.map((t) => TYPE_WEIGHTS[t]),
      )
    ];
  // How clear the image is to volunteers: unclear galaxies split the votes.
  const clarity = rng.next();
  // Like ~15–50 volunteers voting around an ambiguity that grows as the galaxy gets less clear.
  const concentration = 15 + 35 * rng.next();
  const confusion = 0.06 + 0.6 * (1 - clarity);
  const vote = (truth: number[], prior: number[]) => votes(rng, truth, prior, confusion, concentration);
  const uniform = (n: number) => new Array<number>(n).fill(1);

  const isDisk = type === 'disk';
  const isEdge = type === 'edge-on';
  const isSmooth = type === 'smooth';

  // Q1: smooth / features or disk / star or artifact. Faint disks are often called smooth.
  const q1Truth = oneHot(3, isSmooth ? 0 : type === 'star' ? 2 : 1);
  const q1 = vote(q1Truth, type === 'star' ? [1, 1, 0.3] : [1, 1, 0.04]);

  // Q2 edge-on.
  const q2 = vote(oneHot(2, isEdge ? 0 : 1), isEdge || isDisk ? [1, 2] : [1, 3]);

  // Q3 bar, Q4 spiral arms, Q5 bulge: meaningful for face-on disks.
  const hasBar = isDisk && rng.next() < 0.32;
  const q3 = vote(oneHot(2, hasBar ? 0 : 1), [1, 3]);
  const hasArms = isDisk ? rng.next() < 0.72 : isEdge ? rng.next() < 0.2 : false;
  const q4 = vote(oneHot(2, hasArms ? 0 : 1), [1, 1]);
  const bulge = isDisk ? pick(rng, [0.12, 0.4, 0.36, 0.12]) : isEdge ? pick(rng, [0.3, 0.4, 0.25, 0.05]) : pick(rng, [0.02, 0.13, 0.4, 0.45]);
  const q5 = vote(oneHot(4, bulge), [1, 2, 2, 1]);

  // Q6 anything odd; Q8 which odd feature (the oddity is drawn for every type but stars).
  const isOdd = type !== 'star' && rng.next() < 0.22;
  const q6 = vote(oneHot(2, isOdd ? 0 : 1), [1, 3]);
  const oddWeights = isEdge ? ODD_WEIGHTS_EDGE_ON : isSmooth ? ODD_WEIGHTS_SMOOTH : ODD_WEIGHTS_FACE_ON;
  const oddFeature = pick(rng, oddWeights);
  const q8 = vote(isOdd ? oneHot(7, oddFeature) : oddWeights.slice(), uniform(7));

  // Q7 roundness of smooth galaxies.
  const roundness = isSmooth ? pick(rng, [0.36, 0.44, 0.2]) : pick(rng, [0.3, 0.5, 0.2]);
  const q7 = vote(oneHot(3, roundness), [1, 1.5, 1]);

  // Q9 bulge shape of edge-on disks.
  const edgeBulge = pick(rng, [0.48, 0.12, 0.4]);
  const q9 = vote(oneHot(3, edgeBulge), [1, 0.4, 1]);

  // Q10 tightness, Q11 arm count (index 5 = can't tell).
  const tightness = pick(rng, [0.3, 0.45, 0.25]);
  const q10 = vote(oneHot(3, tightness), [1, 1.5, 1]);
  const armCount = pick(rng, [0.06, 0.5, 0.14, 0.06, 0.06, 0.18]);
  const q11 = vote(oneHot(6, armCount), [0.3, 2, 1, 0.5, 0.5, 1]);

  // Build each question's distribution (sums to 1), then let the tree weight them.
  const raw = [...q1, ...q2, ...q3, ...q4, ...q5, ...q6, ...q7, ...q8, ...q9, ...q10, ...q11];
  if (raw.length !== NUM_COLUMNS || QUESTIONS.length !== 11) throw new Error('synthetic labels out of step with tree.ts');
  const [labels] = normaliseAnswers([raw]);
  return { type, labels };
}
