// gzx's Conv2D layer: the stock layer's numbers, without the gradients no trainable weight needs.
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { conv2d } from '../../../src/vision/layers/conv2d.js';

/** image → conv (stride 2) → BN → ReLU → conv → mean → scalar loss, with the given conv factory. */
function net(makeConv: typeof tf.layers.conv2d, bias = false) {
  const input = tf.input({ shape: [8, 8, 3] });
  const init = (seed: number) => tf.initializers.glorotNormal({ seed });
  let x = makeConv({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', useBias: bias, kernelInitializer: init(1), name: 'first' }).apply(
    input,
  ) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ name: 'bn' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU().apply(x) as tf.SymbolicTensor;
  x = makeConv({ filters: 5, kernelSize: 3, padding: 'valid', useBias: bias, kernelInitializer: init(2), name: 'second' }).apply(
    x,
  ) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: tf.layers.globalAveragePooling2d({}).apply(x) as tf.SymbolicTensor });
}

/** Loss and gradients of the given weights for one training step, and the kernels it ran. */
async function step(model: tf.LayersModel, image: tf.Tensor, trainable: string[]) {
  const variables = model.trainableWeights.filter((w) => trainable.some((t) => w.name.startsWith(t))).map((w) => w.read() as tf.Variable);
  let result!: { value: number; grads: Record<string, number[]> };
  const profile = await tf.profile(() => {
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(model.apply(image, { training: true }) as tf.Tensor)) as tf.Scalar, variables);
    result = {
      value: value.dataSync()[0],
      grads: Object.fromEntries(Object.entries(grads).map(([k, g]) => [k.replace(/_\d+/g, ''), Array.from(g.dataSync())])),
    };
  });
  const count = (name: string) => profile.kernels.filter((k) => k.name === name).length;
  return { ...result, inputGrads: count('Conv2DBackpropInput'), filterGrads: count('Conv2DBackpropFilter') };
}

describe('Conv2D layer', () => {
  let image: tf.Tensor;
  beforeAll(async () => {
    await tf.setBackend('cpu');
    image = tf.randomUniform([2, 8, 8, 3], 0, 1, 'float32', 7);
  });

  it.each([false, true])('trains to the same loss and gradients as tf.layers.conv2d, without the image gradient (bias %s)', async (bias) => {
    const all = ['first', 'bn', 'second'];
    const ours = await step(net(conv2d, bias), image, all);
    const stock = await step(net(tf.layers.conv2d, bias), image, all);
    expect(ours.value).toBeCloseTo(stock.value, 5);
    expect(Object.keys(ours.grads).sort()).toEqual(Object.keys(stock.grads).sort());
    expect(Object.keys(ours.grads).some((k) => k.endsWith('bias'))).toBe(bias);
    for (const [name, g] of Object.entries(stock.grads)) {
      ours.grads[name].forEach((v, i) => expect(v).toBeCloseTo(g[i], 5));
    }
    // The stock layer's fused op also works out the gradient of the image, which nothing uses.
    expect(stock.inputGrads).toBe(2);
    expect(ours.inputGrads).toBe(1);
    expect(ours.filterGrads).toBe(2);
  });

  it('a frozen convolution (its BatchNorm still training) costs no filter gradient', async () => {
    const frozen = await step(net(conv2d), image, ['bn']);
    expect(Object.keys(frozen.grads).every((k) => k.startsWith('bn'))).toBe(true);
    expect(frozen.filterGrads).toBe(0);
    const stock = await step(net(tf.layers.conv2d), image, ['bn']);
    expect(stock.filterGrads).toBe(1); // the second conv, downstream of the BatchNorm
  });

  it('saves as an ordinary Conv2D, which the stock layer loads with the same predictions', async () => {
    const ours = net(conv2d, true);
    const json = ours.toJSON(null, false) as { config: { layers: { class_name: string }[] } };
    expect(json.config.layers.filter((l) => l.class_name === 'Conv2D')).toHaveLength(2);
    const reloaded = await tf.models.modelFromJSON({ modelTopology: json } as unknown as tf.io.ModelJSON);
    reloaded.setWeights(ours.getWeights());
    const a = (ours.predict(image) as tf.Tensor).dataSync();
    const b = (reloaded.predict(image) as tf.Tensor).dataSync();
    Array.from(a).forEach((v, i) => expect(v).toBeCloseTo(b[i], 6));
  });
});
