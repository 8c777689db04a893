#!/usr/bin/env node
// Prints gzx's pixels for a few images as JSON, for bench/parity/check_pipeline.py: each image
// decoded (centre crop, resize) as gzx's pipeline does, and warped by given 2×2 matrices with
// reflection padding (gzx's flip/rotate resampling). Build first.
// `node bench/parity/pixels-reference.mjs <crop> <size> <matrices JSON> <image>…`
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const load = (p) => import(pathToFileURL(path.join(repo, 'dist', 'vision', 'pipeline', p)).href);
const { decodeImage } = await load('decode.js');
const { applyAffineDraw } = await load('warp.js');
const [crop, size, matricesJson, ...images] = process.argv.slice(2);
const matrices = JSON.parse(matricesJson);
const out = [];
for (const file of images) {
  const image = await decodeImage(file, { crop: Number(crop), size: Number(size) });
  out.push({
    file,
    decoded: Array.from(image.data),
    warped: matrices.map((m) => Array.from(applyAffineDraw(image, { matrix: m, padding: 'reflection' }).data)),
  });
}
process.stdout.write(JSON.stringify({ width: Number(size), channels: 3, images: out }));
