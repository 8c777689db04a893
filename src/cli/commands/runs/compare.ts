import { Args } from '@oclif/core';
import { GzxCommand } from '../../base.js';
import { jsonFlag } from '../../flags.js';
import { UserError } from '../../../base/errors.js';
import { resolveRuns } from '../../../tracking/runs/folder.js';
import { compareRuns, compareTable } from '../../../tracking/runs/table.js';
import { runsDirFlag } from './list.js';
import { expandSweepRefs } from '../../../app/sweep/folder.js';

export default class RunsCompare extends GzxCommand {
  static summary = 'Compare runs: the params that differ and the final metrics side by side.';
  static examples = ['<%= config.bin %> runs compare 20261128-101500-quick 20261128-113000-quick', '<%= config.bin %> runs compare runs/a runs/b runs/c --json'];
  static strict = false;
  static args = { runs: Args.string({ description: 'Run ids (folder names under --dir) or run folder paths; two or more. A sweep id stands for its trials.', required: true }) };
  static flags = { dir: runsDirFlag, json: jsonFlag };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(RunsCompare);
    const refs = await expandSweepRefs(flags.dir, argv as string[]);
    if (refs.length < 2) throw new UserError('runs compare needs at least two runs, e.g. `gzx runs compare <id> <id>` (ids from `gzx runs list`).', 2);
    const comparison = compareRuns(await resolveRuns(flags.dir, refs, undefined, 2));
    process.stdout.write(flags.json ? `${JSON.stringify(comparison, null, 2)}\n` : `${compareTable(comparison)}\n`);
  }
}
