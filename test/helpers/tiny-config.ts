// The small experiment the sweep, ensemble, Slurm and MLflow tests train: synthetic 96-px galaxies,
// a two-layer simple-cnn at 32 px; each test sets only what it varies.
export interface TinyExperiment {
  name?: string;
  seed?: number;
  count?: number;
  augment?: string;
  logger?: string;
  lr?: number;
  epochs?: number;
  /** YAML appended as it is (e.g. a `sweep:` block). */
  extra?: string;
}

export function tinyExperimentYaml(o: TinyExperiment = {}): string {
  return `name: ${o.name ?? 'tiny'}
seed: ${o.seed ?? 3}
output_dir: runs
data: {use: synthetic, with: {dir: data, count: ${o.count ?? 100}, size: 96, seed: 42}}
augment: ${o.augment ?? '[]'}
backbone: {use: simple-cnn, with: {channels: [8, 16]}}
head: {use: galaxy-zoo, with: {hidden: 16}}
logger: ${o.logger ?? '[]'}
train: {size: 32, batch_size: 16, lr: ${o.lr ?? 0.005}, phases: [{epochs: ${o.epochs ?? 1}}]}
${o.extra ?? ''}`;
}
