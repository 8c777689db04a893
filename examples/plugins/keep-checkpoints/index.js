// gzx services module: keep every epoch's checkpoint. gzx's own checkpoint store keeps only the
// last epoch (runs/<id>/checkpoint/, replaced atomically); this module replaces the run's
// `checkpointStore` service with one that also writes each epoch to checkpoints/epoch-NNN/.
// Plain ESM JavaScript; imports nothing from gzx: services are named by plain strings.
import fs from 'node:fs/promises';
import path from 'node:path';

/**
 * Called by gzx with the run's tsyringe container before the run resolves any service. Resolve the
 * store in place now (gzx's, or an earlier module's) and register a wrapper under the same name.
 */
export function services(container, ctx) {
  const base = container.resolve('checkpointStore');
  container.register('checkpointStore', { useValue: keepEveryEpoch(base, ctx.log) });
}

/** A store that writes where `base` writes and also into checkpoints/epoch-NNN/ (each a resumable folder). */
export function keepEveryEpoch(base, log = () => undefined) {
  return {
    async write(runDir, model, optimizer, position) {
      await base.write(runDir, model, optimizer, position);
      // `position.epoch` counts the epochs completed over all phases (1 after the first).
      const dir = path.join(runDir, 'checkpoints', `epoch-${String(position.epoch).padStart(3, '0')}`);
      await fs.mkdir(dir, { recursive: true });
      await base.write(dir, model, optimizer, position);
      log(`keep-checkpoints: epoch ${position.epoch} kept in ${path.relative(runDir, dir)}`);
    },
    // Resume reads the run's latest checkpoint, as gzx's own store does.
    read: (runDir) => base.read(runDir),
    restore: (runDir, model, optimizer, variables) => base.restore(runDir, model, optimizer, variables),
  };
}
