// How a metric value is printed, everywhere: the epoch lines of a run, `gzx runs list` and
// `gzx runs compare`.

/**
 * Integers as they are; rates and counts (images/s, 10 and above) to one decimal; losses and
 * RMSEs to four decimals, below 1e-3 in exponent form; a missing value as `-`.
 */
export function formatMetric(v: number | undefined): string {
  if (v === undefined) return '-';
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 10 ? v.toFixed(1) : Math.abs(v) < 1e-3 ? v.toExponential(2) : v.toFixed(4);
}
