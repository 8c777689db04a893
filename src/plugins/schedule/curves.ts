// fastai's annealing curves: SchedCos(start, end)(pos) = start + (1 + cos(pi·(1 − pos)))·(end − start)/2.
export function cosineAnneal(start: number, end: number, pos: number): number {
  return start + ((1 + Math.cos(Math.PI * (1 - pos))) * (end - start)) / 2;
}

/** Two cosine pieces joined at `split` (fastai's combined_cos), e.g. warm-up then annealing. */
export function combinedCos(split: number, start: number, middle: number, end: number, pos: number): number {
  if (split <= 0) return cosineAnneal(middle, end, pos);
  if (pos < split) return cosineAnneal(start, middle, pos / split);
  return cosineAnneal(middle, end, (pos - split) / (1 - split));
}
