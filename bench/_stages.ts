import fs from 'node:fs';
import path from 'node:path';
import { TurboJpeg, SCALE_DENOMINATOR } from '../src/core/pipeline/jpeg-turbo.js';
import { resizeArea } from '../src/core/pipeline/resize-area.js';
import { jpegSize, toFloat, decodeImage } from '../src/core/pipeline/decode.js';
import { warpAffine } from '../src/core/pipeline/warp.js';
import { adjustLighting } from '../src/plugins/augment/lighting.js';
const dir = path.resolve(import.meta.dirname, '..', '..', 'shared', 'galaxy-zoo', 'sample');
const files = fs.readdirSync(dir).filter(f => f.endsWith('.jpg')).sort().map(f => path.join(dir, f));
const bytes = files.map(f => fs.readFileSync(f));
const t = new TurboJpeg();
function time(label: string, fn: (i: number) => unknown) {
  for (let r = 0; r < 2; r++) {
    const c0 = process.cpuUsage(); const t0 = performance.now();
    for (let i = 0; i < files.length; i++) fn(i);
    const u = process.cpuUsage(c0);
    if (r === 1) console.log(label.padEnd(30), ((performance.now() - t0) / files.length * 1000).toFixed(0), 'us wall', ((u.user + u.system) / files.length).toFixed(0), 'us cpu');
  }
}
for (const size of [64, 112]) {
  const crop = 224;
  let e = 1; while (crop * e < size * 8) e++;
  console.log('size', size, 'eighths', e);
  time('readFileSync', (i) => fs.readFileSync(files[i]));
  time('jpegSize', (i) => jpegSize(bytes[i]));
  for (let k = 1; k <= 4; k++) time(`turbo ${k}/8`, (i) => t.decode(bytes[i], k));
  const decoded = bytes.map(b => t.decode(b, e)!);
  const sc = e / SCALE_DENOMINATOR;
  const win = { left: 100 * sc, top: 100 * sc, width: 224 * sc, height: 224 * sc };
  time('resizeArea', (i) => resizeArea(decoded[i], win, size));
  const small = decoded.map(d => resizeArea(d, win, size));
  time('warpAffine', (i) => warpAffine(small[i], [0.8, 0.5, -0.5, 0.8], 'reflection'));
  time('lighting', (i) => adjustLighting(small[i], 0.6, 1.1));
  time('toFloat x1', (i) => toFloat([small[i]]));
}
for (const size of [64, 112]) {
  for (let r = 0; r < 2; r++) {
    const c0 = process.cpuUsage(); const t0 = performance.now();
    for (const f of files) await decodeImage(f, { crop: 224, size });
    const u = process.cpuUsage(c0);
    if (r) console.log('decodeImage', size, ((performance.now() - t0) / files.length * 1000).toFixed(0), 'us wall', ((u.user + u.system) / files.length).toFixed(0), 'us cpu');
  }
}
