// What early-stopping and save-best share: which epoch metric they watch and when it improved.
import type { OptionsOf } from '../../framework/plugin.js';
import { UserError } from '../../base/errors.js';

export const MONITOR_SCHEMA = {
  monitor: { type: 'string', minLength: 1, default: 'valid_rmse', description: 'epoch metric to watch' },
  mode: { enum: ['min', 'max'], default: 'min', description: 'min: lower is better (RMSE); max: higher is better' },
  min_delta: { type: 'number', minimum: 0, default: 0, description: 'smallest change that counts as an improvement' },
} as const;

export type MonitorOptions = OptionsOf<{ type: 'object'; additionalProperties: false; properties: typeof MONITOR_SCHEMA }>;

/** Tracks the best value of an epoch metric; `update` says whether this epoch improved on it. */
export class Monitor {
  best: number | null = null;
  bestEpoch = 0;

  constructor(
    private readonly o: MonitorOptions,
    private readonly plugin: string,
  ) {}

  /** The metric this epoch; a clear error when the run never computes it (e.g. no validation set). */
  read(metrics: Record<string, number>): number {
    const v = metrics[this.o.monitor];
    if (typeof v !== 'number') {
      const known = Object.keys(metrics).filter((k) => !/_q\d+$/.test(k));
      throw new UserError(
        `${this.plugin}: the run logs no metric "${this.o.monitor}" (it logs ${known.join(', ') || 'none'}); ` +
          `set callbacks.with.monitor to one of them${this.o.monitor === 'valid_rmse' ? ', or give the run a validation set' : ''}.`,
      );
    }
    return v;
  }

  update(value: number, epoch: number): boolean {
    const better = this.best === null || (this.o.mode === 'min' ? value < this.best - this.o.min_delta : value > this.best + this.o.min_delta);
    if (better) {
      this.best = value;
      this.bestEpoch = epoch;
    }
    return better;
  }
}
