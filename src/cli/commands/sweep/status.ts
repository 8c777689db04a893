import { Args } from '@oclif/core';
import { GzxCommand } from '../../base.js';
import { jsonFlag } from '../../flags.js';
import { isSweepFolder } from '../../../app/sweep/folder.js';
import { UserError } from '../../../base/errors.js';

export default class SweepStatus extends GzxCommand {
  static summary = "Where a sweep stands: each trial's status, best valid RMSE and wall time; for Slurm, what is still queued or running.";
  static examples = ['<%= config.bin %> sweep status runs/quickstart-sweep-1a2b3c4d'];
  static args = { dir: Args.string({ description: 'The sweep folder (runs/<sweep-id>).', required: true }) };
  static flags = { json: jsonFlag };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(SweepStatus);
    if (!isSweepFolder(args.dir)) throw new UserError(`${args.dir}: not a sweep folder (no sweep.yaml). \`gzx runs list\` shows the sweeps.`, 2);
    const { sweepStatus, sweepTable } = await import('../../../app/sweep/sweep.js');
    const s = await sweepStatus(args.dir);
    const rows = s.rows.map((r) =>
      s.active.has(r.trial) && r.status !== 'RUNNING' ? { ...r, status: s.active.get(r.trial) as typeof r.status } : r,
    );
    if (flags.json) {
      this.log(JSON.stringify({ id: s.id, rows, slurm_active: Object.fromEntries(s.active) }, null, 2));
      return;
    }
    this.log(sweepTable(rows));
    const count = (...st: string[]) => s.rows.filter((r) => st.includes(r.status)).length;
    const waiting = s.rows.filter((r) => r.status === 'PENDING' && !s.active.has(r.trial)).length;
    this.log(
      `${count('FINISHED')} finished, ${count('FAILED', 'KILLED')} failed or killed, ${s.active.size} queued or running in Slurm, ${waiting} not started`,
    );
  }
}
