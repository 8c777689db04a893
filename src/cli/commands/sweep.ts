import { Args, Flags } from '@oclif/core';
import { GzxCommand } from '../base.js';
import { setFlag } from '../flags.js';

export default class Sweep extends GzxCommand {
  static summary = 'Run a config over a grid or a random search of overrides: one run per trial under runs/<sweep-id>/.';
  static description =
    'Params come from -p key=values (Hydra syntax: a,b,c | range(start,stop[,step]) | choice(a,b) | interval(lo,hi) for random search) ' +
    'and from a sweep: block in the config. Every trial is resolved and validated before any starts. runs/<sweep-id>/ holds sweep.yaml, ' +
    'a run folder per trial and summary.csv/summary.json. The same command again continues the sweep: finished trials are skipped, ' +
    'failed or killed ones run again. With an mlflow logger the sweep is a parent run and each trial a child run.';
  static examples = [
    '<%= config.bin %> sweep configs/quickstart.yaml -p train.lr=1e-3,3e-3,1e-2 -p backbone.with.channels=[8,16],[16,32]',
    '<%= config.bin %> sweep configs/quickstart.yaml -p seed=range(1,4) --jobs 2',
    '<%= config.bin %> sweep configs/quickstart.yaml -p train.lr=interval(1e-4,1e-2) --method random --trials 8 --seed 1',
  ];
  static args = { file: Args.string({ description: 'Experiment config (YAML).', required: true }) };
  static flags = {
    set: setFlag,
    param: Flags.string({
      char: 'p',
      multiple: true,
      multipleNonGreedy: true,
      default: [],
      defaultHelp: async () => '',
      helpValue: 'key=values',
      description: 'A swept key and its values, e.g. train.lr=1e-3,3e-3 or backbone.with.depth=choice(18,34). Repeatable.',
    }),
    method: Flags.string({ options: ['grid', 'random'], description: 'grid (default): every combination; random: --trials seeded draws.' }),
    trials: Flags.integer({ min: 1, description: 'Number of trials of a random search.' }),
    seed: Flags.integer({ min: 0, description: 'Seed of the random search (default 0).' }),
    launcher: Flags.string({ description: 'How trials run: local (default: child processes on this machine) or slurm (an sbatch job array).' }),
    partition: Flags.string({ description: 'slurm: partition.', helpGroup: 'SLURM' }),
    time: Flags.string({ description: 'slurm: wall-clock limit per trial, e.g. 1:00:00.', helpGroup: 'SLURM' }),
    cpus: Flags.integer({ min: 1, description: 'slurm: CPUs per trial (--cpus-per-task).', helpGroup: 'SLURM' }),
    mem: Flags.string({ description: 'slurm: memory per trial, e.g. 8G.', helpGroup: 'SLURM' }),
    gpus: Flags.integer({ min: 0, description: 'slurm: GPUs per trial.', helpGroup: 'SLURM' }),
    'max-parallel': Flags.integer({ min: 1, description: "slurm: trials running at once (the array's %N).", helpGroup: 'SLURM' }),
    sbatch: Flags.string({
      multiple: true,
      multipleNonGreedy: true,
      default: [],
      defaultHelp: async () => '',
      description: 'slurm: a further #SBATCH line, e.g. --sbatch=--account=astro. Repeatable.',
      helpGroup: 'SLURM',
    }),
    jobs: Flags.integer({ char: 'j', min: 1, description: 'Trials at once with the local launcher; the cores are split between them (default 1).' }),
    'dry-run': Flags.boolean({ default: false, description: 'Resolve and validate every trial, print them, run nothing.' }),
  };

  async run(): Promise<void> {
    const { prepareSweep, runSweep, sweepTable } = await import('../../app/sweep/sweep.js');
    const { args, flags } = await this.parse(Sweep);
    const req = {
      configFile: args.file,
      sets: flags.set,
      params: flags.param,
      method: flags.method as 'grid' | 'random' | undefined,
      trials: flags.trials,
      seed: flags.seed,
      launcher: flags.launcher,
      jobs: flags.jobs,
      slurm: {
        partition: flags.partition,
        time: flags.time,
        cpus_per_task: flags.cpus,
        mem: flags.mem,
        gpus: flags.gpus,
        max_parallel: flags['max-parallel'],
        extra: flags.sbatch.length ? flags.sbatch : undefined,
      },
    };
    const prepared = await prepareSweep(req);
    if (flags['dry-run']) {
      this.log(`sweep ${prepared.id}: ${prepared.trials.length} trial(s), all valid; would run in ${prepared.dir}`);
      for (const t of prepared.trials) this.log(`  ${t.index}  ${t.overrides.join(' ')}`);
      return;
    }
    const controller = new AbortController();
    let interrupts = 0;
    const onSigint = () => {
      interrupts += 1;
      if (interrupts === 1) {
        process.stderr.write('\nstopping the running trial(s) after their batch (Ctrl-C again to quit at once)…\n');
        controller.abort();
      } else process.exit(130);
    };
    process.on('SIGINT', onSigint);
    try {
      const result = await runSweep({ ...req, signal: controller.signal }, prepared);
      if (result.status === 'SUBMITTED') return;
      this.log(sweepTable(result.rows));
      this.log(`sweep ${result.status.toLowerCase()}: ${result.dir} (summary.csv, summary.json)`);
      if (result.status === 'KILLED') process.exitCode = 130;
      else if (result.status !== 'FINISHED') process.exitCode = 1;
    } finally {
      process.removeListener('SIGINT', onSigint);
    }
  }
}
