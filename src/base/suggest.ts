import { closest, distance } from 'fastest-levenshtein';

/** "did you mean" for a misspelt key or name; null when nothing is plausibly close. */
export function suggest(word: string, candidates: readonly string[]): string | null {
  if (candidates.length === 0) return null;
  const best = closest(word, candidates as string[]);
  const limit = Math.max(2, Math.floor(best.length / 3));
  return distance(word, best) <= limit ? best : null;
}

export function didYouMean(word: string, candidates: readonly string[]): string {
  const s = suggest(word, candidates);
  return s ? ` Did you mean "${s}"?` : '';
}
