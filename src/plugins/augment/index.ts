// The built-in augmentations alone: image-pipeline workers load this list, not the whole
// built-in index, so they do not start TensorFlow.js.
import type { PluginDefinition } from '../../framework/plugin.js';
import { flipAugment } from './flip.js';
import { rotateAugment } from './rotate.js';
import { zoomAugment } from './zoom.js';
import { lightingAugment } from './lighting.js';
import { affineAugment } from './affine.js';

export const plugins: PluginDefinition[] = [flipAugment, rotateAugment, zoomAugment, lightingAugment, affineAugment];
