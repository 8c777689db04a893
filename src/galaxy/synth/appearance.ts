// What a synthetic image shows, derived only from the 37 labels, so a model can read the labels
// back from the pixels. Continuous where possible (axis ratio, arm contrast, feature strengths).
import { QUESTIONS } from '../tree.js';

export interface Appearance {
  /** Point source with diffraction spikes instead of a galaxy (Q1.3 is the largest Q1 answer). */
  star: boolean;
  /** Q1 smooth / (smooth + features): 1 = elliptical, 0 = disk. */
  smooth: number;
  /** Share of light in the bulge / spheroid (1 = pure elliptical). */
  bulgeShare: number;
  /** Axis ratio of the spheroid when the galaxy is smooth (Q7: round 0.95 … cigar 0.3). */
  smoothAxisRatio: number;
  /** Q2 conditional "edge-on" fraction, 0…1: flattens the disk. */
  edgeOn: number;
  /** Edge-on bulge: 1 = boxy (super-ellipse), 0 = rounded. */
  boxiness: number;
  /** Bar strength 0…1 (Q3, faded when edge-on or smooth). */
  bar: number;
  /** Spiral arm contrast 0…1 (Q4, faded by "can't tell" in Q11, edge-on and smoothness). */
  arms: number;
  /** Number of arms (Q11 argmax among 1…4, 5 for "more than four"). */
  armCount: number;
  /** Pitch angle in degrees (Q10: tight 11° … loose 34°). */
  pitchDeg: number;
  /** Odd features, each 0…1 from Class8.x (already weighted by Class6.1). */
  ring: number;
  arc: number;
  disturbed: number;
  irregular: number;
  other: number;
  merger: number;
  dustLane: number;
}

/** A question's answers as conditional fractions (sum 1); uniform when the question has no weight. */
export function conditional(labels: ArrayLike<number>, questionNumber: number): number[] {
  const q = QUESTIONS[questionNumber - 1];
  const vals = q.answers.map((_, i) => Math.max(0, labels[q.start + i]));
  const sum = vals.reduce((s, v) => s + v, 0);
  if (!(sum > 1e-9)) return vals.map(() => 1 / vals.length);
  return vals.map((v) => v / sum);
}

const dot = (a: number[], b: number[]) => a.reduce((s, v, i) => s + v * b[i], 0);
const clamp01 = (v: number) => Math.min(1, Math.max(0, v));
/** Odd features become visible above a small share of volunteers and saturate near 0.6. */
const featureStrength = (v: number) => clamp01((v - 0.12) / 0.48);

export function appearanceFromLabels(labels: ArrayLike<number>): Appearance {
  const q1 = conditional(labels, 1);
  const smooth = q1[0] / Math.max(1e-9, q1[0] + q1[1]);
  const edgeOn = conditional(labels, 2)[0];
  const faceOnDisk = (1 - smooth) * (1 - edgeOn);
  const q5 = conditional(labels, 5);
  const q9 = conditional(labels, 9);
  const q11 = conditional(labels, 11);
  const q8 = QUESTIONS[7];
  const odd = (i: number) => featureStrength(labels[q8.start + i]);

  // Bulge share of a disk: Q5 for face-on disks, Q9 (no bulge → none) for edge-on ones.
  const faceOnBulge = dot(q5, [0.04, 0.18, 0.38, 0.62]);
  const edgeOnBulge = dot(q9, [0.5, 0.55, 0.0]);
  const diskBulge = (1 - edgeOn) * faceOnBulge + edgeOn * edgeOnBulge;
  let armCount = 1;
  for (let k = 1; k < 5; k++) if (q11[k] > q11[armCount - 1]) armCount = k + 1;

  return {
    star: q1[2] >= Math.max(q1[0], q1[1]),
    smooth,
    bulgeShare: smooth + (1 - smooth) * diskBulge,
    smoothAxisRatio: dot(conditional(labels, 7), [0.95, 0.62, 0.3]),
    edgeOn,
    boxiness: q9[1] / Math.max(1e-9, q9[0] + q9[1]),
    bar: clamp01(conditional(labels, 3)[0] * faceOnDisk * 1.3),
    arms: clamp01(conditional(labels, 4)[0] * faceOnDisk * (1 - 0.7 * q11[5]) * 1.3),
    armCount: armCount === 5 ? 5 : armCount,
    pitchDeg: dot(conditional(labels, 10), [11, 20, 34]),
    ring: odd(0),
    arc: odd(1),
    disturbed: odd(2),
    irregular: odd(3),
    other: odd(4),
    merger: odd(5),
    dustLane: odd(6),
  };
}
