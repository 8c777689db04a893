import { definePlugin } from '../../framework/plugin.js';
import type { Progress, RunLogger } from '../../framework/contracts.js';

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

export function formatProgress(p: Progress): string {
  return (
    `phase ${p.phase}/${p.phases} epoch ${p.epoch}/${p.epochs} step ${p.step}/${p.steps} ` +
    `size ${p.size} loss ${p.loss.toFixed(4)} ${p.imagesPerSec.toFixed(1)} img/s ETA ${formatDuration(p.etaSec)}`
  );
}

/** Progress on the terminal: one self-rewriting line on a TTY, periodic lines otherwise. */
export const consoleLogger = definePlugin({
  name: 'console',
  kind: 'logger',
  description: 'progress (phase, epoch, step, loss, images/s, ETA) and epoch results on the terminal',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      every: { type: 'integer', minimum: 1, default: 10, description: 'steps between progress lines when not on a terminal' },
    },
  },
  create: (o): RunLogger => {
    const out = process.stderr;
    const tty = Boolean(out.isTTY);
    let pending = false;
    const clear = () => {
      if (pending) out.write('\r\x1b[K');
      pending = false;
    };
    return {
      start: (run) => {
        out.write(`run ${run.runId} → ${run.runDir}\n`);
      },
      progress: (p) => {
        if (tty) {
          out.write(`\r\x1b[K${formatProgress(p)}`);
          pending = true;
        } else if (p.step % o.every === 0 || p.step === p.steps) {
          out.write(`${formatProgress(p)}\n`);
        }
      },
      message: (text) => {
        clear();
        out.write(`${text}\n`);
      },
      logMetrics: () => undefined,
      end: (status, summary) => {
        clear();
        out.write(`run ${status.toLowerCase()} in ${formatDuration(Number(summary.wall_time_sec))}\n`);
      },
    };
  },
});
