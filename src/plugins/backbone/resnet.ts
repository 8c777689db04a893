// ResNet 18/34/50 backbones. Depth 50 copies the Keras ResNet50 (v1) layer names and shapes exactly,
// so Keras ImageNet weights load into it by layer name; 18/34 use torchvision's basic blocks with the
// same naming style. Input is any size ([null, null, 3]) so progressive resizing keeps the weights.
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { definePlugin, type OptionsOf, type PluginProblem } from '../../framework/plugin.js';
import type { Backbone, BackboneBuild } from '../../framework/contracts.js';
import { UserError } from '../../base/errors.js';
import { deriveSeed } from '../../base/random.js';
import { applyWeightFile, formatLoadReport, readWeightFile, type WeightFile } from '../../vision/weights/index.js';
import { InputNormalizationLayer, type InputNormalization } from '../../vision/layers/input-normalization.js';
import { batchNormalization } from '../../vision/layers/batch-normalization.js';
import { conv2d } from '../../vision/layers/conv2d.js';

export { InputNormalizationLayer, type InputNormalization };

export type ResnetDepth = 18 | 34 | 50;

export const resnetOptionsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    depth: { enum: [18, 34, 50], default: 50, description: 'ResNet depth' },
    pretrained: {
      type: ['string', 'null'],
      default: null,
      description: 'Keras .h5 weights file or TensorFlow.js model folder, loaded by layer name',
    },
    normalize: {
      enum: ['auto', 'imagenet-caffe', 'imagenet', 'none'],
      default: 'auto',
      description: 'input normalisation matching the weights (auto: imagenet-caffe for 50, imagenet for 18/34)',
    },
    width: { type: 'number', exclusiveMinimum: 0, maximum: 4, default: 1, description: 'channel multiplier' },
  },
} as const;

export type ResnetOptions = OptionsOf<typeof resnetOptionsSchema>;

// ---------- the network ----------

const STAGE_BLOCKS: Record<ResnetDepth, number[]> = {
  18: [2, 2, 2, 2],
  34: [3, 4, 6, 3],
  50: [3, 4, 6, 3],
};
const STAGE_FILTERS = [64, 128, 256, 512];

interface BuildParams {
  depth: ResnetDepth;
  normalize: InputNormalization;
  width: number;
  seed: number;
  /** Overrides the depth's usual batch-norm epsilon (the 2017 ResNet50 weights need 1e-3). */
  bnEpsilon?: number;
}

/** Builds the graph and records which stage each layer belongs to (for layer groups). */
class ResnetBuilder {
  /** Layer names per stage: 0 = input + stem, 1…4 = conv2…conv5. */
  readonly stageLayers: string[][] = [[], [], [], [], []];
  private stage = 0;
  private convCount = 0;
  private readonly bottleneck: boolean;
  // Keras ResNet50 has conv biases and eps 1.001e-5; torchvision's basic-block nets have neither bias nor that eps.
  private readonly convBias: boolean;
  private readonly bnEpsilon: number;
  private readonly bnMomentum: number;

  constructor(private readonly p: BuildParams) {
    this.bottleneck = p.depth === 50;
    this.convBias = p.depth === 50;
    this.bnEpsilon = p.bnEpsilon ?? (p.depth === 50 ? 1.001e-5 : 1e-5);
    this.bnMomentum = p.depth === 50 ? 0.99 : 0.9;
  }

  private ch(filters: number): number {
    return Math.max(1, Math.round(filters * this.p.width));
  }

  private apply<T extends tf.SymbolicTensor | tf.SymbolicTensor[]>(layer: tf.layers.Layer, x: T): tf.SymbolicTensor {
    this.stageLayers[this.stage].push(layer.name);
    return layer.apply(x) as tf.SymbolicTensor;
  }

  private conv(x: tf.SymbolicTensor, filters: number, kernel: number, strides: number, padding: 'same' | 'valid', name: string) {
    return this.apply(
      conv2d({
        filters,
        kernelSize: kernel,
        strides,
        padding,
        useBias: this.convBias,
        // He init suits ReLU nets trained from scratch; seeded so a run's initial weights repeat.
        kernelInitializer: tf.initializers.heNormal({ seed: deriveSeed(this.p.seed, this.convCount++) }),
        name,
      }),
      x,
    );
  }

  private bn(x: tf.SymbolicTensor, name: string) {
    return this.apply(batchNormalization({ axis: 3, epsilon: this.bnEpsilon, momentum: this.bnMomentum, name }), x);
  }

  private relu(x: tf.SymbolicTensor, name: string) {
    return this.apply(tf.layers.activation({ activation: 'relu', name }), x);
  }

  private pad(x: tf.SymbolicTensor, amount: number, name: string) {
    return this.apply(
      tf.layers.zeroPadding2d({
        padding: [
          [amount, amount],
          [amount, amount],
        ],
        name,
      }),
      x,
    );
  }

  /** Keras `block1`: 1×1 (strided) → 3×3 → 1×1 ×4, projection shortcut in the first block of a stage. */
  private bottleneckBlock(x: tf.SymbolicTensor, filters: number, stride: number, projection: boolean, name: string) {
    let shortcut = x;
    if (projection) {
      shortcut = this.conv(x, this.ch(4 * filters), 1, stride, 'valid', `${name}_0_conv`);
      shortcut = this.bn(shortcut, `${name}_0_bn`);
    }
    let y = this.conv(x, this.ch(filters), 1, stride, 'valid', `${name}_1_conv`);
    y = this.bn(y, `${name}_1_bn`);
    y = this.relu(y, `${name}_1_relu`);
    y = this.conv(y, this.ch(filters), 3, 1, 'same', `${name}_2_conv`);
    y = this.bn(y, `${name}_2_bn`);
    y = this.relu(y, `${name}_2_relu`);
    y = this.conv(y, this.ch(4 * filters), 1, 1, 'valid', `${name}_3_conv`);
    y = this.bn(y, `${name}_3_bn`);
    const sum = this.apply(tf.layers.add({ name: `${name}_add` }), [shortcut, y]);
    return this.relu(sum, `${name}_out`);
  }

  /** torchvision `BasicBlock`: 3×3 (strided) → 3×3, projection shortcut when the shape changes. */
  private basicBlock(x: tf.SymbolicTensor, filters: number, stride: number, projection: boolean, name: string) {
    let shortcut = x;
    if (projection) {
      shortcut = this.conv(x, this.ch(filters), 1, stride, 'valid', `${name}_0_conv`);
      shortcut = this.bn(shortcut, `${name}_0_bn`);
    }
    let y: tf.SymbolicTensor;
    if (stride === 1) {
      y = this.conv(x, this.ch(filters), 3, 1, 'same', `${name}_1_conv`);
    } else {
      // torchvision pads 1 on every side; TF 'same' with stride 2 pads only bottom/right.
      y = this.pad(x, 1, `${name}_1_pad`);
      y = this.conv(y, this.ch(filters), 3, stride, 'valid', `${name}_1_conv`);
    }
    y = this.bn(y, `${name}_1_bn`);
    y = this.relu(y, `${name}_1_relu`);
    y = this.conv(y, this.ch(filters), 3, 1, 'same', `${name}_2_conv`);
    y = this.bn(y, `${name}_2_bn`);
    const sum = this.apply(tf.layers.add({ name: `${name}_add` }), [shortcut, y]);
    return this.relu(sum, `${name}_out`);
  }

  build(): BackboneBuild {
    const inputs = tf.input({ shape: [null, null, 3], name: 'image' });
    this.stageLayers[0].push(inputs.sourceLayer.name);
    let x = this.apply(new InputNormalizationLayer({ mode: this.p.normalize, name: 'input_norm' }), inputs);
    x = this.pad(x, 3, 'conv1_pad');
    x = this.conv(x, this.ch(64), 7, 2, 'valid', 'conv1_conv');
    x = this.bn(x, 'conv1_bn');
    x = this.relu(x, 'conv1_relu');
    x = this.pad(x, 1, 'pool1_pad');
    x = this.apply(tf.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'valid', name: 'pool1_pool' }), x);

    const blocks = STAGE_BLOCKS[this.p.depth];
    for (let s = 0; s < 4; s++) {
      this.stage = s + 1;
      for (let b = 1; b <= blocks[s]; b++) {
        const stride = b === 1 && s > 0 ? 2 : 1;
        const name = `conv${s + 2}_block${b}`;
        x = this.bottleneck
          ? this.bottleneckBlock(x, STAGE_FILTERS[s], stride, b === 1, name)
          : this.basicBlock(x, STAGE_FILTERS[s], stride, b === 1 && s > 0, name);
      }
    }
    const [stem, conv2, conv3, conv4, conv5] = this.stageLayers;
    // fastai's _resnet_split: stem to conv3 (layer1, layer2) learn slowest, conv4 and conv5
    // (layer3, layer4) together; with the head, 3 groups, so `lr: [low, high]` gives conv4 and conv5
    // √(low·high), as fastai's slice(low, high).
    return {
      inputs,
      features: x,
      layerGroups: [
        [...stem, ...conv2, ...conv3],
        [...conv4, ...conv5],
      ],
    };
  }
}

/** `tfNs` is accepted for the Backbone contract; layers come from this module's tfjs (the same single instance). */
export function buildResnet(_tfNs: typeof tf, params: BuildParams): BackboneBuild {
  return new ResnetBuilder(params).build();
}

export function resolveNormalization(depth: ResnetDepth, normalize: ResnetOptions['normalize']): InputNormalization {
  if (normalize !== 'auto') return normalize;
  return depth === 50 ? 'imagenet-caffe' : 'imagenet';
}

/**
 * The 2017 Keras ResNet50 file (deep-learning-models v0.2, same file name as today's) names layers
 * conv1, bn_conv1, res2a_branch2a, bn2a_branch1…; Keras 2.2+ renamed them to conv2_block1_1_conv….
 * Returns the new name, or null for a name that is not an old ResNet50 one.
 */
export function resnet50NameFrom2017(name: string): string | null {
  if (name === 'conv1') return 'conv1_conv';
  if (name === 'bn_conv1') return 'conv1_bn';
  const m = /^(res|bn)([2-5])([a-f])_branch(1|2a|2b|2c)$/.exec(name);
  if (!m) return null;
  const part = { '1': 0, '2a': 1, '2b': 2, '2c': 3 }[m[4] as '1' | '2a' | '2b' | '2c'];
  return `conv${m[2]}_block${m[3].charCodeAt(0) - 96}_${part}_${m[1] === 'res' ? 'conv' : 'bn'}`;
}

// Keras' default BatchNormalization epsilon, which every batch norm of the 2017 ResNet50 used (today's: 1.001e-5).
const EPSILON_2017 = 1e-3;

/** Renames a 2017-layout file's layers to today's names; null when the file is not in that layout. */
function from2017Layout(file: WeightFile): WeightFile | null {
  if (file.layers.has('conv1_conv') || !file.layers.has('bn_conv1')) return null;
  const layers = new Map([...file.layers].map(([name, w]) => [resnet50NameFrom2017(name) ?? name, w]));
  return { ...file, format: `${file.format}, 2017 ResNet50 layer names (res2a_branch2a…) mapped`, layers };
}

/** backbone.with.pretrained must name an existing file (its `check`, and `create` for library callers). */
function pretrainedProblems(options: ResnetOptions, configDir: string): PluginProblem[] {
  if (!options.pretrained) return [];
  const file = path.resolve(configDir, options.pretrained);
  if (fs.existsSync(file)) return [];
  return [
    {
      key: 'pretrained',
      message:
        `${file} does not exist. ` +
        `Download resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5 (see docs/pretrained.md) and set backbone.with.pretrained to its path ` +
        `(relative to the config file), or set it to null to train from scratch.`,
    },
  ];
}

export const resnetBackbone = definePlugin({
  name: 'resnet',
  kind: 'backbone',
  description: 'ResNet 18/34/50 (Keras ResNet50 layer names; loads ImageNet .h5 or TensorFlow.js weights by name)',
  optionsSchema: resnetOptionsSchema,
  check: (options, ctx) => pretrainedProblems(options, ctx.configDir),
  async create(options, ctx) {
    const depth = options.depth ?? 50;
    const width = options.width ?? 1;
    const normalize = resolveNormalization(depth, options.normalize ?? 'auto');
    const pretrained = options.pretrained ? path.resolve(ctx.configDir, options.pretrained) : null;
    const missing = pretrainedProblems(options, ctx.configDir);
    if (missing.length > 0) throw new UserError(`backbone.with.pretrained: ${missing[0].message}`);
    // Depth 50 reads the file now: the 2017 layout also fixes the batch-norm epsilon, which must be
    // right at build time (a resumed run rebuilds the model and restores a checkpoint, no reload).
    let file: WeightFile | null = null;
    let bnEpsilon: number | undefined;
    if (pretrained && depth === 50) {
      const read = await readWeightFile(pretrained);
      const legacy = from2017Layout(read);
      file = legacy ?? read;
      if (legacy) bnEpsilon = EPSILON_2017;
    }
    let backboneLayers: string[] = [];
    const backbone: Backbone = {
      build(tfNs) {
        const built = buildResnet(tfNs, { depth, normalize, width, seed: ctx.seed, bnEpsilon });
        backboneLayers = built.layerGroups.flat();
        return built;
      },
    };
    if (pretrained) {
      backbone.loadPretrained = async (model, log) => {
        const names = backboneLayers.length > 0 ? backboneLayers : undefined;
        const report = applyWeightFile(model, file ?? (await readWeightFile(pretrained)), { layers: names });
        file = null; // ~100 MB of arrays for ResNet50: not needed once loaded
        for (const line of formatLoadReport(report)) log(line);
        if (report.matched.length === 0) {
          throw new UserError(
            `backbone.with.pretrained: no layer of the resnet${depth} backbone found matching weights in ${pretrained}. ` +
              `Use weights made for this depth and width (depth 50, width 1: resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5, ` +
              `md5 4d473c1dd8becc155b73f8504c6f6626). See docs/pretrained.md.`,
          );
        }
      };
    }
    return backbone;
  },
});
