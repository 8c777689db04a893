// Procedural galaxy images from a label vector (see docs/synthetic.md for what drives what).
// Drawn per pixel in plain JS on analytic light profiles instead of SVG: the profiles (Sérsic-like
// bulge, exponential disk, log-spiral arms, bar, ring) are one formula each, and one pass over a
// bounding box is faster than rasterising blurred vector shapes. Lengths are in pixels of a
// 424-px frame and scaled to the requested size.
import sharp from 'sharp';
import { SeededRng } from '../../base/random.js';
import type { RawImage } from '../../framework/contracts.js';
import { appearanceFromLabels, type Appearance } from './appearance.js';

type Rgb = [number, number, number];

/** A galaxy body drawn by drawBody: bulge + disk (+ arms, bar, ring, distortions). */
interface BodyParams {
  cx: number;
  cy: number;
  /** Position angle of the major axis (radians). */
  angle: number;
  diskScale: number;
  diskAxisRatio: number;
  diskPeak: number;
  diskColor: Rgb;
  bulgeRadius: number;
  bulgeAxisRatio: number;
  bulgePeak: number;
  bulgeColor: Rgb;
  boxiness: number;
  arms: number;
  armCount: number;
  pitchRad: number;
  armPhase: number;
  armColor: Rgb;
  bar: number;
  barAngle: number;
  ring: number;
  dustLane: number;
  dustOffset: number;
  disturbed: number;
  disturbPhase: number;
  irregular: number;
  clumps: { x: number; y: number; r2: number; w: number }[];
}

const STRETCH_SOFTENING = 0.06;
const LUT_SIZE = 8192;
const LUT_MAX_FLUX = 8;
/**
 * Lupton et al.'s colour-preserving asinh stretch (as in SDSS colour images): the mean flux I of a
 * pixel is stretched and every channel scaled by stretch(I)/I, so faint outskirts stay visible and
 * bright cores keep their hue instead of turning white. The table holds 255·stretch(I)/I.
 */
const STRETCH_GAIN_LUT = (() => {
  const lut = new Float32Array(LUT_SIZE + 1);
  const norm = Math.asinh(1.2 / STRETCH_SOFTENING);
  lut[0] = 255 / (STRETCH_SOFTENING * norm);
  for (let i = 1; i <= LUT_SIZE; i++) {
    const flux = (i / LUT_SIZE) * LUT_MAX_FLUX;
    lut[i] = (255 * Math.asinh(flux / STRETCH_SOFTENING)) / norm / flux;
  }
  return lut;
})();

/** Enough standard normals for one 1024-px image (the largest size) without wrapping. */
const NOISE_TABLE_SIZE = 3 * 1024 * 1024;
let noiseTable: Float32Array | null = null;
/** Standard normals drawn once from a fixed seed; images read it from a random offset (fast sky noise). */
function gaussianTable(): Float32Array {
  if (noiseTable) return noiseTable;
  const rng = new SeededRng(0x5eed);
  const t = new Float32Array(NOISE_TABLE_SIZE);
  for (let i = 0; i < t.length; i++) t[i] = rng.normal();
  noiseTable = t;
  return t;
}

const jitter = (rng: SeededRng, c: Rgb, amount: number): Rgb => c.map((v) => v * (1 + amount * (rng.next() * 2 - 1))) as Rgb;

const BULGE_COLOR: Rgb = [1.0, 0.74, 0.46];
const DISK_COLOR: Rgb = [0.88, 0.8, 0.76];
const ARM_COLOR: Rgb = [0.68, 0.72, 0.95];

/** Linear light (size × size × 3) plus, per row, the column span any drawing touched. */
interface Canvas {
  flux: Float32Array;
  size: number;
  rowMin: Int32Array;
  rowMax: Int32Array;
}

function newCanvas(size: number): Canvas {
  return { flux: new Float32Array(size * size * 3), size, rowMin: new Int32Array(size).fill(size), rowMax: new Int32Array(size).fill(-1) };
}

/** Records a drawn box so toPixels only stretches rows and columns that received light. */
function touch(c: Canvas, x0: number, x1: number, y0: number, y1: number): void {
  for (let y = Math.max(0, y0); y <= Math.min(c.size - 1, y1); y++) {
    if (x0 < c.rowMin[y]) c.rowMin[y] = Math.max(0, x0);
    if (x1 > c.rowMax[y]) c.rowMax[y] = Math.min(c.size - 1, x1);
  }
}

/** Adds one galaxy body's light into `flux` (size × size × 3, linear units). */
function drawBody(canvas: Canvas, b: BodyParams): void {
  const { flux, size } = canvas;
  // Draw only where a component adds more than ~4 DN after the stretch (below the sky noise).
  const faint = 4e-3;
  const diskReach = b.diskPeak > faint ? b.diskScale * Math.log((2 * b.diskPeak) / faint) * (b.arms > 0 || b.irregular > 0 ? 1.35 : 1) : 0;
  const bulgeReach = b.bulgePeak > faint ? b.bulgeRadius * (Math.log(b.bulgePeak / faint) / 3.2) ** 2 : 0;
  const ringReach = b.ring > 0 ? 3.4 * b.diskScale : 0;
  const extent = Math.max(diskReach, bulgeReach, ringReach, 3) * (1 + 0.6 * b.disturbed);
  const diskReach2 = Math.max(diskReach, ringReach) ** 2;
  const bulgeReach2 = bulgeReach ** 2;
  const x0 = Math.max(0, Math.floor(b.cx - extent));
  const x1 = Math.min(size - 1, Math.ceil(b.cx + extent));
  const y0 = Math.max(0, Math.floor(b.cy - extent));
  const y1 = Math.min(size - 1, Math.ceil(b.cy + extent));
  touch(canvas, x0, x1, y0, y1);
  const cosA = Math.cos(b.angle);
  const sinA = Math.sin(b.angle);
  const cosB = Math.cos(b.barAngle);
  const sinB = Math.sin(b.barAngle);
  const rd = b.diskScale;
  const invTanPitch = 1 / Math.tan(b.pitchRad);
  const barLength = 1.6 * rd;
  const barWidth = 0.32 * rd;
  const ringRadius = 2.4 * rd;
  const ringWidth = 0.32 * rd;
  const armStart = Math.max(0.7 * rd, b.bar > 0.2 ? barLength * 0.9 : 0);
  const scale = size / 424;
  const psf2 = 1.2 * 1.2 * scale * scale;
  const dustWidth = 0.8 * scale + 0.3 * rd * b.diskAxisRatio;
  const lopsided = 0.6 * b.disturbed;
  // Fields copied to locals: this loop runs ~10^5 times per image.
  const { cx, cy, arms, armCount, armPhase, bar: barStrength, ring: ringStrength, dustLane, dustOffset } = b;
  const { disturbed, disturbPhase, irregular, clumps, boxiness, bulgePeak, diskPeak } = b;
  const invBulgeRadius = 1 / b.bulgeRadius;
  const invBulgeQ = 1 / b.bulgeAxisRatio;
  const invDiskQ = 1 / b.diskAxisRatio;
  const invRd = 1 / rd;
  const invArmRd = 1 / (1.35 * rd);
  const armShare = arms * 0.6;
  const [bR, bG, bB] = b.bulgeColor;
  const dR = b.diskColor[0] * (1 - armShare) + b.armColor[0] * armShare;
  const dG = b.diskColor[1] * (1 - armShare) + b.armColor[1] * armShare;
  const dB = b.diskColor[2] * (1 - armShare) + b.armColor[2] * armShare;
  const [aR, aG, aB] = b.armColor;
  for (let y = y0; y <= y1; y++) {
    const dy = y - cy;
    for (let x = x0; x <= x1; x++) {
      const dx = x - cx;
      let xr = dx * cosA + dy * sinA;
      let yr = -dx * sinA + dy * cosA;
      if (disturbed > 0) {
        // Tidal distortion: a low-frequency warp of the coordinates.
        xr += disturbed * 0.45 * rd * Math.sin(yr / (1.3 * rd) + disturbPhase);
        yr += disturbed * 0.3 * rd * Math.sin(xr / (1.7 * rd) - disturbPhase);
      }
      // Bulge: Sérsic n = 2 (square roots only), rounded or boxy, softened by a small PSF.
      const yb = yr * invBulgeQ;
      let rb2 = xr * xr + yb * yb;
      if (boxiness > 0) {
        const x2 = xr * xr;
        const y2 = yb * yb;
        rb2 = (1 - boxiness) * rb2 + boxiness * Math.sqrt(2 * (x2 * x2 + y2 * y2));
      }
      // Disk plane.
      const yd = yr * invDiskQ;
      const r2 = xr * xr + yd * yd + psf2;
      if (r2 > diskReach2 && rb2 > bulgeReach2) continue;
      const r = Math.sqrt(r2);
      const bulge = rb2 > bulgeReach2 ? 0 : bulgePeak * Math.exp(-3.2 * Math.sqrt(Math.sqrt(rb2 + psf2) * invBulgeRadius));
      const inDisk = r2 <= diskReach2;
      const expDisk = inDisk ? Math.exp(-r * invRd) : 0;
      let disk = expDisk;
      if (inDisk && arms > 0 && r > 0.3 * rd) {
        const phi = Math.atan2(yd, xr);
        const c = 0.5 + 0.5 * Math.cos(armCount * (phi - Math.log(r * invRd) * invTanPitch) + armPhase);
        const ramp = Math.min(1, Math.max(0, (r - armStart * 0.6) / (armStart * 0.8)));
        const a = 0.85 * arms * ramp;
        // (1 + cos)/2 has mean 1/2: doubling keeps the disk's total light while arms gain contrast.
        disk = (1 - a) * expDisk + a * (c * 2) * Math.exp(-r * invArmRd);
      }
      if (irregular > 0) {
        let clump = 0;
        for (let k = 0; k < clumps.length; k++) {
          const ex = xr - clumps[k].x;
          const ey = yr - clumps[k].y;
          clump += clumps[k].w * Math.exp(-(ex * ex + ey * ey) / clumps[k].r2);
        }
        disk = (1 - irregular) * disk + irregular * clump * Math.exp(-r / (3 * rd));
      }
      let bar = 0;
      if (barStrength > 0) {
        const xb = xr * cosB + yd * sinB;
        const ybar = (-xr * sinB + yd * cosB) / barWidth;
        const xl = (xb / barLength) * (xb / barLength);
        bar = barStrength * 0.9 * Math.exp(-xl * xl - ybar * ybar);
      }
      let ring = 0;
      if (ringStrength > 0) {
        const t = (r - ringRadius) / ringWidth;
        ring = ringStrength * 0.55 * Math.exp(-t * t);
      }
      let dust = 1;
      if (dustLane > 0) {
        const t = (yr - dustOffset) / dustWidth;
        dust = 1 - 0.92 * dustLane * Math.exp(-t * t - Math.abs(xr) / (4 * rd));
      }
      const lop = lopsided > 0 ? 1 + lopsided * Math.tanh(xr * invRd) : 1;
      const d = diskPeak * disk * lop * dust;
      const bb = (bulge + bar * diskPeak) * dust;
      const rr = ring * diskPeak * dust;
      const i = (y * size + x) * 3;
      flux[i] += bb * bR + d * dR + rr * aR;
      flux[i + 1] += bb * bG + d * dG + rr * aG;
      flux[i + 2] += bb * bB + d * dB + rr * aB;
    }
  }
}

/** A point source: core, halo and (when `spikes` > 0) four diffraction spikes. */
function drawStar(canvas: Canvas, cx: number, cy: number, peak: number, sigma: number, spikes: number, color: Rgb): void {
  const { flux, size } = canvas;
  const scale = size / 424;
  const spikeLength = spikes * 30 * scale;
  const extent = Math.max(6 * sigma + 4 * scale, spikeLength * 2.5);
  const x0 = Math.max(0, Math.floor(cx - extent));
  const x1 = Math.min(size - 1, Math.ceil(cx + extent));
  const y0 = Math.max(0, Math.floor(cy - extent));
  const y1 = Math.min(size - 1, Math.ceil(cy + extent));
  touch(canvas, x0, x1, y0, y1);
  const inv2s2 = 1 / (2 * sigma * sigma);
  const halo = 3.2 * sigma;
  const spikeWidth = Math.max(0.6, 0.9 * scale);
  for (let y = y0; y <= y1; y++) {
    const dy = y - cy;
    for (let x = x0; x <= x1; x++) {
      const dx = x - cx;
      const r2 = dx * dx + dy * dy;
      let f = peak * (Math.exp(-r2 * inv2s2) + 0.03 * Math.exp(-Math.sqrt(r2) / halo));
      if (spikes > 0) {
        const ax = Math.abs(dx);
        const ay = Math.abs(dy);
        const tx = ay / spikeWidth;
        const ty = ax / spikeWidth;
        f += peak * 0.05 * (Math.exp(-tx * tx - ax / spikeLength) + Math.exp(-ty * ty - ay / spikeLength));
      }
      if (f < 1e-4) continue;
      const i = (y * size + x) * 3;
      flux[i] += f * color[0];
      flux[i + 1] += f * color[1];
      flux[i + 2] += f * color[2];
    }
  }
}

/** A thin curved streak (lensed arc) or straight plume, as a Gaussian tube around a polyline. */
function drawArc(canvas: Canvas, cx: number, cy: number, radius: number, a0: number, a1: number, width: number, peak: number, color: Rgb): void {
  const { flux, size } = canvas;
  const extent = radius + 4 * width;
  const x0 = Math.max(0, Math.floor(cx - extent));
  const x1 = Math.min(size - 1, Math.ceil(cx + extent));
  const y0 = Math.max(0, Math.floor(cy - extent));
  const y1 = Math.min(size - 1, Math.ceil(cy + extent));
  touch(canvas, x0, x1, y0, y1);
  const mid = (a0 + a1) / 2;
  const half = (a1 - a0) / 2;
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const dx = x - cx;
      const dy = y - cy;
      const r = Math.sqrt(dx * dx + dy * dy);
      let da = Math.atan2(dy, dx) - mid;
      da = Math.atan2(Math.sin(da), Math.cos(da));
      const t = (r - radius) / width;
      const along2 = (da / half) ** 2;
      const f = peak * Math.exp(-t * t - along2 * along2);
      if (f < 1e-4) continue;
      const i = (y * size + x) * 3;
      for (let ch = 0; ch < 3; ch++) flux[i + ch] += f * color[ch];
    }
  }
}

/** A straight fading plume from (cx, cy) in direction `angle`. */
function drawPlume(canvas: Canvas, cx: number, cy: number, angle: number, length: number, width: number, peak: number, color: Rgb): void {
  const { flux, size } = canvas;
  const ux = Math.cos(angle);
  const uy = Math.sin(angle);
  const ex = cx + ux * length;
  const ey = cy + uy * length;
  const x0 = Math.max(0, Math.floor(Math.min(cx, ex) - 4 * width));
  const x1 = Math.min(size - 1, Math.ceil(Math.max(cx, ex) + 4 * width));
  const y0 = Math.max(0, Math.floor(Math.min(cy, ey) - 4 * width));
  const y1 = Math.min(size - 1, Math.ceil(Math.max(cy, ey) + 4 * width));
  touch(canvas, x0, x1, y0, y1);
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const dx = x - cx;
      const dy = y - cy;
      const s = dx * ux + dy * uy;
      if (s < 0 || s > length * 1.2) continue;
      const p = (-dx * uy + dy * ux) / (width * (1 + s / length));
      const f = peak * Math.exp(-p * p) * Math.exp(-s / (0.6 * length));
      const i = (y * size + x) * 3;
      for (let ch = 0; ch < 3; ch++) flux[i + ch] += f * color[ch];
    }
  }
}

export interface RenderOptions {
  /** Image side in pixels (424 in the real data). */
  size: number;
}

/**
 * Renders one galaxy image for a 37-value label vector. Everything not given by the labels
 * (orientation, size, brightness, colours, sky, background stars) comes from `rng`.
 */
export function renderGalaxy(labels: ArrayLike<number>, rng: SeededRng, options: RenderOptions): RawImage {
  const size = options.size;
  const s = size / 424;
  const look = appearanceFromLabels(labels);
  const canvas = newCanvas(size);
  const cx = size / 2 + (rng.next() - 0.5) * 3 * s;
  const cy = size / 2 + (rng.next() - 0.5) * 3 * s;
  const brightness = rng.uniform(0.55, 1.5);

  if (look.star) {
    drawStar(canvas, cx, cy, 8 * brightness, rng.uniform(1.1, 1.8) * s, rng.uniform(0.5, 1.1), jitter(rng, [0.85, 0.9, 1.0], 0.2));
  } else {
    drawGalaxy(canvas, cx, cy, brightness, look, rng);
  }
  drawBackground(canvas, rng);
  return toPixels(canvas, rng);
}

function drawGalaxy(canvas: Canvas, cx: number, cy: number, brightness: number, look: Appearance, rng: SeededRng): void {
  const size = canvas.size;
  const s = size / 424;
  const diskScale = rng.uniform(12, 26) * s;
  const angle = rng.uniform(0, Math.PI);
  const faceOnAxisRatio = rng.uniform(0.6, 1);
  const diskAxisRatio = Math.max(0.15, faceOnAxisRatio * (1 - look.edgeOn) + 0.14 * look.edgeOn);
  const smoothRatio = look.smoothAxisRatio;
  // Ellipticals are round only by Q7; disk bulges are round-ish, edge-on bulges a little flattened.
  const bulgeAxisRatio = look.smooth * smoothRatio + (1 - look.smooth) * (0.88 - 0.08 * look.edgeOn);
  const bulgeRadius = diskScale * (0.28 + 1.2 * look.smooth + 0.5 * look.edgeOn * (1 - look.smooth));
  const share = look.bulgeShare;
  const irregular = look.irregular;
  const clumps = [];
  if (irregular > 0) {
    const n = 5 + rng.int(5);
    for (let k = 0; k < n; k++) {
      const rad = diskScale * rng.uniform(0.3, 2.6);
      const a = rng.uniform(0, 2 * Math.PI);
      const w = rng.uniform(0.6, 1.6);
      clumps.push({ x: rad * Math.cos(a), y: rad * Math.sin(a), r2: (diskScale * rng.uniform(0.3, 0.75)) ** 2, w });
    }
  }
  const body: BodyParams = {
    cx,
    cy,
    angle,
    diskScale,
    diskAxisRatio,
    // Edge-on disks concentrate the same light in fewer pixels: brighter per pixel.
    diskPeak: brightness * (1 - share) * 0.75 * (1 + 1.2 * look.edgeOn),
    diskColor: jitter(rng, DISK_COLOR, 0.08),
    bulgeRadius,
    bulgeAxisRatio,
    bulgePeak: brightness * share * 3.5 * (1 - 0.6 * irregular),
    bulgeColor: jitter(rng, BULGE_COLOR, 0.08),
    boxiness: look.boxiness * look.edgeOn,
    arms: look.arms,
    armCount: look.armCount,
    pitchRad: (look.pitchDeg * Math.PI) / 180,
    armPhase: rng.uniform(0, 2 * Math.PI),
    armColor: jitter(rng, ARM_COLOR, 0.08),
    bar: look.bar,
    barAngle: rng.uniform(0, Math.PI),
    ring: look.ring,
    dustLane: look.dustLane,
    dustOffset: rng.uniform(-0.15, 0.15) * diskScale * diskAxisRatio,
    disturbed: look.disturbed,
    disturbPhase: rng.uniform(0, 2 * Math.PI),
    irregular,
    clumps,
  };
  drawBody(canvas, body);

  if (look.merger > 0) {
    // A companion galaxy close enough to stay inside the central crop, joined by a faint bridge.
    const dist = diskScale * rng.uniform(2.2, 3.4);
    const dir = rng.uniform(0, 2 * Math.PI);
    const scale = rng.uniform(0.6, 0.95);
    const companion: BodyParams = {
      ...body,
      cx: cx + dist * Math.cos(dir),
      cy: cy + dist * Math.sin(dir),
      angle: rng.uniform(0, Math.PI),
      diskScale: diskScale * scale,
      diskAxisRatio: rng.uniform(0.5, 1),
      diskPeak: brightness * 0.35 * look.merger,
      bulgeRadius: diskScale * scale * 0.5,
      bulgeAxisRatio: rng.uniform(0.6, 1),
      bulgePeak: brightness * 9 * look.merger,
      boxiness: 0,
      arms: 0,
      bar: 0,
      ring: 0,
      dustLane: 0,
      disturbed: 0.6 * look.merger,
      irregular: 0,
      clumps: [],
    };
    drawBody(canvas, companion);
    drawPlume(canvas, cx, cy, dir, dist, diskScale * 0.35, brightness * 0.25 * look.merger, body.diskColor);
  }
  if (look.arc > 0) {
    const a0 = rng.uniform(0, 2 * Math.PI);
    const span = rng.uniform(0.6, 1.1);
    drawArc(canvas, cx, cy, diskScale * rng.uniform(2.6, 3.4), a0, a0 + span, Math.max(0.8, 1.4 * s), brightness * 0.5 * look.arc, [0.6, 0.75, 1.0]);
  }
  if (look.other > 0) {
    drawPlume(canvas, cx, cy, rng.uniform(0, 2 * Math.PI), diskScale * 4, diskScale * 0.22, brightness * 0.35 * look.other, [0.9, 0.85, 1.0]);
  }
}

/** Field stars and faint background galaxies, kept out of the galaxy's centre. */
function drawBackground(canvas: Canvas, rng: SeededRng): void {
  const size = canvas.size;
  const s = size / 424;
  const n = 2 + rng.int(9);
  for (let k = 0; k < n; k++) {
    const rad = size * rng.uniform(0.24, 0.7);
    const a = rng.uniform(0, 2 * Math.PI);
    const x = size / 2 + rad * Math.cos(a);
    const y = size / 2 + rad * Math.sin(a);
    if (x < 0 || y < 0 || x >= size || y >= size) continue;
    const warm = rng.next();
    const color: Rgb = [0.7 + 0.5 * warm, 0.75 + 0.1 * warm, 1.15 - 0.6 * warm];
    const compact = rng.next() < 0.7;
    drawStar(
      canvas,
      x,
      y,
      compact ? rng.uniform(0.3, 6) : rng.uniform(0.1, 0.5),
      (compact ? rng.uniform(0.9, 1.5) : rng.uniform(2, 4)) * s,
      0,
      color,
    );
  }
}

/** Stretch, sky level and noise, rounding to 8 bits. */
function toPixels(canvas: Canvas, rng: SeededRng): RawImage {
  const { flux, size, rowMin, rowMax } = canvas;
  const noise = gaussianTable();
  const skyR = rng.uniform(0.5, 5.5);
  const skyG = rng.uniform(0.5, 5.5);
  const skyB = rng.uniform(0, 2.5);
  const sigma = rng.uniform(5, 11);
  // Sky noise = fine (per pixel) + coarse (per 2×2 block) grain: the real images' noise is
  // blotchy, and pure per-pixel noise would mostly vanish in the JPEG. Both read consecutive
  // values of the table from random starts that leave room for the whole image.
  const half = (size + 1) >> 1;
  const start = rng.int(NOISE_TABLE_SIZE - 3 * size * size + 1);
  const coarseStart = rng.int(NOISE_TABLE_SIZE - 3 * half * half + 1);
  const fine = 0.55 * sigma;
  const coarse = 0.85 * sigma;
  const coarseAt = (x: number, y: number) => coarseStart + 3 * ((y >> 1) * half + (x >> 1));
  // A clamped array rounds and clips on store, which keeps these loops short.
  const data = new Uint8ClampedArray(size * size * 3);
  // Pass 1, sky and noise everywhere (most pixels receive no light).
  for (let y = 0; y < size; y++) {
    const row = y * size * 3;
    const coarseRow = coarseAt(0, y);
    for (let x = 0; x < size; x++) {
      const i = row + 3 * x;
      const o = start + i;
      const c = coarseRow + 3 * (x >> 1);
      data[i] = skyR + fine * noise[o] + coarse * noise[c];
      data[i + 1] = skyG + fine * noise[o + 1] + coarse * noise[c + 1];
      data[i + 2] = skyB + fine * noise[o + 2] + coarse * noise[c + 2];
    }
  }
  // Pass 2, where light was drawn: the same sky and noise plus the stretched light.
  const lutScale = LUT_SIZE / LUT_MAX_FLUX;
  const gainLut = STRETCH_GAIN_LUT;
  for (let y = 0; y < size; y++) {
    for (let x = rowMin[y]; x <= rowMax[y]; x++) {
      const i = (y * size + x) * 3;
      const fr = flux[i];
      const fg = flux[i + 1];
      const fb = flux[i + 2];
      const mean = (fr + fg + fb) / 3;
      if (!(mean > 0)) continue;
      const gain = gainLut[Math.min(LUT_SIZE, (mean * lutScale) | 0)];
      let sr = fr * gain;
      let sg = fg * gain;
      let sb = fb * gain;
      // Saturated: scale all channels together so the core keeps its colour.
      const top = Math.max(sr, sg, sb);
      if (top > 255) {
        const k = 255 / top;
        sr *= k;
        sg *= k;
        sb *= k;
      }
      const n = start + i;
      const c = coarseAt(x, y);
      data[i] = skyR + fine * noise[n] + coarse * noise[c] + sr;
      data[i + 1] = skyG + fine * noise[n + 1] + coarse * noise[c + 1] + sg;
      data[i + 2] = skyB + fine * noise[n + 2] + coarse * noise[c + 2] + sb;
    }
  }
  return { data: new Uint8Array(data.buffer), width: size, height: size, channels: 3 };
}

/** JPEG bytes of a rendered image; quality varies per image like the real survey's compression. */
export async function encodeJpeg(image: RawImage, quality: number): Promise<Buffer> {
  return sharp(image.data, { raw: { width: image.width, height: image.height, channels: image.channels as 3 } })
    .jpeg({ quality, chromaSubsampling: '4:2:0' })
    .toBuffer();
}

/** Draws the JPEG quality of one image (part of the image's nuisance parameters). */
export function jpegQuality(rng: SeededRng): number {
  return 65 + rng.int(21);
}
