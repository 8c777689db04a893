import { Flags } from '@oclif/core';
import { GzxCommand } from '../../base.js';
import { jsonFlag } from '../../flags.js';
import { listRunFolders } from '../../../tracking/runs/folder.js';
import { backendOf, bestMetric, runsListTable } from '../../../tracking/runs/table.js';

export const runsDirFlag = Flags.string({ description: 'Folder that holds the run folders.', default: 'runs', helpValue: 'DIR' });

export default class RunsList extends GzxCommand {
  static summary = 'List local runs: id, name, date, status, backend and best valid_rmse.';
  static examples = ['<%= config.bin %> runs list', '<%= config.bin %> runs list --dir /data/gzx-runs --json'];
  static flags = { dir: runsDirFlag, json: jsonFlag };

  async run(): Promise<void> {
    const { flags } = await this.parse(RunsList);
    const runs = await listRunFolders(flags.dir);
    if (flags.json) {
      const rows = runs.map((r) => ({
        id: r.id,
        name: r.meta.runName,
        startTime: r.meta.startTime,
        status: r.meta.status,
        backend: backendOf(r),
        best_valid_rmse: bestMetric(r.metrics, 'valid_rmse') ?? null,
      }));
      process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
      return;
    }
    if (runs.length === 0) {
      process.stdout.write(`No runs in ${flags.dir} yet. Train one with \`gzx run <config>\`.\n`);
      return;
    }
    process.stdout.write(`${runsListTable(runs)}\n`);
  }
}
