// The experiment schema (JSON Schema draft 2020-12): the one place its keys, types and defaults are
// written. ajv validates configs against this object (load.ts), ExperimentConfig is derived from its
// type (experiment-config.ts), and schemas/experiment.schema.json is generated from it for editors
// and readers (`npm run schema`; test/experiment-schema.test.ts fails when the file is stale).
// Plugin `with:` blocks are validated by each plugin's own schema.
export const experimentSchema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'https://gzx.local/schemas/experiment.schema.json',
  title: 'gzx experiment',
  description: 'One experiment: data, model, training phases and loggers. See docs/config.md.',
  type: 'object',
  additionalProperties: false,
  required: ['data'],
  properties: {
    name: {
      type: 'string',
      minLength: 1,
      default: 'experiment',
      description: 'Run name prefix, shown in run lists and MLflow.',
    },
    description: { type: 'string', default: '', description: 'Free text kept with the run.' },
    seed: {
      type: 'integer',
      minimum: 0,
      maximum: 4294967295,
      default: 42,
      description: 'Seed for splits, shuffles, augmentation and weight initialisation.',
    },
    plugins: {
      type: 'array',
      items: { type: 'string', minLength: 1 },
      default: [],
      description: 'Third-party plugin modules (paths relative to the config file, or npm package names).',
    },
    output_dir: {
      type: 'string',
      minLength: 1,
      default: 'runs',
      description: 'Folder that receives run folders (relative to the working directory).',
    },
    backend: {
      enum: ['auto', 'tensorflow', 'wasm', 'cpu'],
      default: 'auto',
      description: 'TensorFlow.js backend; auto picks the fastest available.',
    },
    threads: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description:
        'Thread pools of the native TensorFlow backend (read once, when TensorFlow loads). auto: intra_op = the cores this process may use divided by GZX_CONCURRENT_RUNS, inter_op = intra_op alone, 1 when GZX_CONCURRENT_RUNS > 1; TF_NUM_INTRAOP_THREADS / TF_NUM_INTEROP_THREADS in the environment replace auto.',
      properties: {
        intra_op: {
          anyOf: [{ type: 'integer', minimum: 1, maximum: 1024 }, { const: 'auto' }],
          default: 'auto',
          description: 'threads one op (a convolution, a matrix product) is split over',
        },
        inter_op: {
          anyOf: [{ type: 'integer', minimum: 1, maximum: 1024 }, { const: 'auto' }],
          default: 'auto',
          description: 'ops of a graph that may run at the same time',
        },
      },
    },
    data: { $ref: '#/$defs/pluginRef', description: 'The data source plugin (kind data).' },
    augment: {
      type: 'array',
      items: { $ref: '#/$defs/pluginRef' },
      default: [],
      description: 'Augmentation plugins applied in order to training images (kind augment).',
    },
    backbone: {
      $ref: '#/$defs/pluginRef',
      default: { use: 'simple-cnn' },
      description: 'Feature extractor plugin (kind backbone).',
    },
    head: {
      $ref: '#/$defs/pluginRef',
      default: { use: 'galaxy-zoo' },
      description: 'Output head plugin (kind head).',
    },
    schedule: {
      $ref: '#/$defs/pluginRef',
      default: { use: 'one-cycle' },
      description: 'Learning-rate schedule plugin used by phases that name none (kind schedule).',
    },
    logger: {
      type: 'array',
      items: { $ref: '#/$defs/pluginRef' },
      default: [{ use: 'console' }],
      description: 'Run loggers (kind logger); the local run-folder logger is always added.',
    },
    callbacks: {
      type: 'array',
      items: { $ref: '#/$defs/pluginRef' },
      default: [],
      description: 'Training callbacks (kind callback), e.g. early-stopping, save-best, gradient-clipping; run after the built-in ones.',
    },
    sweep: {
      type: 'object',
      additionalProperties: false,
      description:
        'Trials for `gzx sweep` (ignored by `gzx run`): each trial is this config with some keys set to other values. docs/config.md#sweeps',
      required: ['params'],
      properties: {
        method: {
          enum: ['grid', 'random'],
          default: 'grid',
          description: 'grid: every combination; random: `trials` draws, seeded by `seed`',
        },
        trials: { type: 'integer', minimum: 1, description: 'Number of trials of a random search' },
        seed: {
          type: 'integer',
          minimum: 0,
          default: 0,
          description: "Seed of the random search's draws (not of the trials' training)",
        },
        params: {
          type: 'object',
          minProperties: 1,
          description:
            'Dotted key → values: a list, or a string `a,b,c`, `range(start,stop[,step])`, `choice(a,b)`, `interval(lo,hi)` (random search only)',
          additionalProperties: {
            anyOf: [{ type: 'string' }, { type: 'number' }, { type: 'boolean' }, { type: 'array' }],
          },
        },
        launcher: {
          enum: ['local', 'slurm'],
          default: 'local',
          description: 'How trials run: local = child processes on this machine; slurm = an sbatch job array',
        },
        slurm: {
          type: 'object',
          additionalProperties: false,
          description: 'Options of launcher slurm (#SBATCH lines of the job array)',
          properties: {
            partition: { type: 'string', minLength: 1 },
            time: {
              type: 'string',
              pattern: '^[0-9:-]+$',
              description: 'Wall-clock limit per trial, e.g. 1:00:00',
            },
            cpus_per_task: { type: 'integer', minimum: 1 },
            mem: { type: 'string', pattern: '^[0-9]+[KMGT]?$', description: 'Memory per trial, e.g. 8G' },
            gpus: { type: 'integer', minimum: 0 },
            max_parallel: { type: 'integer', minimum: 1, description: "Trials running at once (the array's %N)" },
            extra: {
              type: 'array',
              items: { type: 'string', minLength: 1 },
              description: 'Further #SBATCH lines, e.g. --account=astro',
            },
          },
        },
        jobs: {
          type: 'integer',
          minimum: 1,
          default: 1,
          description: 'Trials at once (local launcher); the cores are split between them',
        },
      },
    },
    train: { $ref: '#/$defs/train', default: {} },
  },
  $defs: {
    pluginRef: {
      type: 'object',
      additionalProperties: false,
      required: ['use'],
      properties: {
        use: { type: 'string', minLength: 1, description: 'Registered plugin name.' },
        with: {
          type: 'object',
          default: {},
          description: "Options, validated by the plugin's own schema.",
        },
      },
    },
    learningRate: {
      description: "a learning rate > 0, or [low, high] with 0 < low <= high (spread over the backbone's layer groups)",
      anyOf: [
        { type: 'number', exclusiveMinimum: 0 },
        {
          type: 'array',
          prefixItems: [
            { type: 'number', exclusiveMinimum: 0 },
            { type: 'number', exclusiveMinimum: 0 },
          ],
          items: false,
          minItems: 2,
        },
      ],
    },
    size: {
      type: 'integer',
      minimum: 8,
      maximum: 424,
      description: 'Image side in pixels after crop and resize.',
    },
    batchSize: { type: 'integer', minimum: 1, maximum: 4096 },
    phase: {
      type: 'object',
      additionalProperties: false,
      required: ['epochs'],
      properties: {
        name: { type: 'string', description: 'Label shown in progress output.' },
        epochs: { type: 'integer', minimum: 1, description: 'Epochs in this phase.' },
        size: {
          $ref: '#/$defs/size',
          description: 'Image side for this phase (progressive resizing); defaults to train.size.',
        },
        freeze: {
          enum: ['backbone', 'none'],
          default: 'none',
          description: 'backbone: train only the head (and BatchNorm layers).',
        },
        lr: { $ref: '#/$defs/learningRate', description: 'Peak learning rate; defaults to train.lr.' },
        dropout: {
          type: 'number',
          minimum: 0,
          exclusiveMaximum: 1,
          description: 'Head dropout for this phase.',
        },
        batch_size: { $ref: '#/$defs/batchSize', description: 'Defaults to train.batch_size.' },
        schedule: { $ref: '#/$defs/pluginRef', description: 'Defaults to the top-level schedule.' },
      },
    },
    optimizer: {
      type: 'object',
      additionalProperties: false,
      properties: {
        name: { enum: ['adam', 'adamw', 'sgd'], default: 'adam' },
        wd: {
          type: 'number',
          minimum: 0,
          default: 0,
          description: 'Weight decay: L2 for adam/sgd, decoupled for adamw.',
        },
        beta1: { type: 'number', minimum: 0, exclusiveMaximum: 1, default: 0.9 },
        beta2: { type: 'number', minimum: 0, exclusiveMaximum: 1, default: 0.99 },
        eps: { type: 'number', exclusiveMinimum: 0, default: 0.00001 },
        momentum: {
          type: 'number',
          minimum: 0,
          exclusiveMaximum: 1,
          default: 0.9,
          description: 'SGD momentum.',
        },
        nesterov: { type: 'boolean', default: true, description: 'SGD Nesterov momentum.' },
        reset_on_freeze: {
          type: 'boolean',
          default: true,
          description:
            "Clear the optimiser's state (moments, per-weight step counts) at a phase whose freeze differs from the previous phase's, as fastai's freeze()/unfreeze().",
        },
      },
    },
    train: {
      type: 'object',
      additionalProperties: false,
      properties: {
        batch_size: { $ref: '#/$defs/batchSize', default: 32 },
        valid_batch_size: { $ref: '#/$defs/batchSize', default: 64 },
        size: { $ref: '#/$defs/size', default: 64 },
        lr: { type: 'number', exclusiveMinimum: 0, default: 0.001 },
        optimizer: { $ref: '#/$defs/optimizer', default: {} },
        accumulate: { type: 'integer', minimum: 1, default: 1, description: 'Optimiser step every N batches.' },
        compile: {
          type: 'boolean',
          default: true,
          description:
            'On the tensorflow backend (CPU), run each training pass (forward, loss, gradients) as one TensorFlow graph recorded from its first two eager passes; false: op by op.',
        },
        phases: { type: 'array', items: { $ref: '#/$defs/phase' }, minItems: 1, default: [{ epochs: 1 }] },
        workers: {
          anyOf: [{ type: 'integer', minimum: 0, maximum: 64 }, { const: 'auto' }],
          default: 'auto',
          description: 'a number of image decoding worker threads (0 = the main thread) or auto (one per core, at most 8)',
        },
        cache_images: {
          enum: [false, true, 'disk', 'auto'],
          default: 'auto',
          description:
            'Keep decoded, resized images in memory across epochs (true), also on disk for later runs (disk), or in memory when they fit in a quarter of it (auto).',
        },
        cache_dir: {
          type: ['string', 'null'],
          default: null,
          description: 'Folder of cache_images: disk, relative to the config file; null = $GZX_CACHE_DIR, else ~/.cache/gzx/images.',
        },
        max_steps_per_epoch: {
          type: 'integer',
          minimum: 0,
          default: 0,
          description: 'Stop each epoch after this many steps; 0 = no limit.',
        },
      },
    },
  },
} as const;

/** The text of schemas/experiment.schema.json. */
export function experimentSchemaJson(): string {
  return `${JSON.stringify(experimentSchema, null, 2)}\n`;
}
