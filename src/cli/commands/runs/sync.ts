import { Args, Flags } from '@oclif/core';
import { GzxCommand } from '../../base.js';
import { UserError } from '../../../base/errors.js';
import { listRunFolders, resolveRuns } from '../../../tracking/runs/folder.js';
import { describeSync, syncRun } from '../../../tracking/runs/sync.js';
import { MlflowClient } from '../../../tracking/mlflow/client.js';
import { runsDirFlag } from './list.js';

export default class RunsSync extends GzxCommand {
  static summary = 'Upload to an MLflow server what local run folders have and the server lacks.';
  static description =
    'Finds each run on the server by its tag gzx.run_id (or creates it) and uploads missing params, metric points, tags, ' +
    'artifacts and the final status. Running it again uploads nothing new.';
  static examples = [
    '<%= config.bin %> runs sync --to http://127.0.0.1:5000',
    'MLFLOW_TRACKING_URI=http://127.0.0.1:5000 <%= config.bin %> runs sync 20261128-101500-quick --experiment galaxy',
  ];
  static strict = false;
  static args = { runs: Args.string({ description: 'Run ids or run folder paths (default: every run under --dir).', required: false }) };
  static flags = {
    to: Flags.string({ description: 'MLflow tracking URI (default: $MLFLOW_TRACKING_URI).', helpValue: 'URI' }),
    experiment: Flags.string({ description: 'MLflow experiment name (created if missing).', default: 'gzx', helpValue: 'NAME' }),
    dir: runsDirFlag,
  };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(RunsSync);
    const uri = flags.to ?? process.env.MLFLOW_TRACKING_URI;
    if (!uri) throw new UserError('runs sync: no MLflow server given. Pass --to http://host:port or set MLFLOW_TRACKING_URI (`npm run mlflow:server` starts one).', 2);
    const refs = argv as string[];
    const runs = refs.length > 0 ? await resolveRuns(flags.dir, refs) : await listRunFolders(flags.dir);
    if (runs.length === 0) {
      process.stdout.write(`No runs in ${flags.dir} to sync.\n`);
      return;
    }
    const log = (m: string) => process.stderr.write(`gzx: ${m}\n`);
    const client = new MlflowClient({ trackingUri: uri, warn: log });
    for (const run of runs) {
      const report = await syncRun(client, run, { experiment: flags.experiment, log });
      process.stdout.write(`${describeSync(report, client.trackingUri)}\n`);
    }
  }
}
