// JPEG (or any sharp-readable image) → centre crop → squish to size × size → 8-bit RGB.
// JPEGs that shrink at least 2× go through TurboJPEG (DCT-scaled) and an area resize; everything
// else, and any JPEG TurboJPEG refuses, through sharp, whose messages name what is wrong with a file.
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import type { RawImage } from '../../framework/contracts.js';
import type { ImageDecoder } from '../../framework/services.js';
import { UserError } from '../../base/errors.js';
import { SCALE_DENOMINATOR, TurboJpeg } from './jpeg-turbo.js';
import { resizeArea } from './resize-area.js';

/** A file that cannot be read or decoded: the pipeline skips or fails on it by policy. */
export class BadImageError extends Error {
  constructor(
    public readonly path: string,
    public readonly reason: string,
  ) {
    super(`${path}: ${reason}`);
    this.name = 'BadImageError';
  }
}

export interface DecodeOptions {
  /** Side of the centre square kept from the source, in source pixels; null keeps the whole image. */
  crop: number | null;
  /** Output side in pixels. */
  size: number;
}

/** The JPEG shrink-on-load factor sharp (0.35, src/pipeline.cc) picks for a resize from → to. */
export function jpegShrinkOnLoad(from: number, to: number): number {
  const shrink = from / to;
  let factor = shrink >= 8 ? 8 : shrink >= 4 ? 4 : shrink >= 2 ? 2 : 1;
  if (factor > 1 && Math.floor(shrink) === factor) factor /= 2; // sharp avoids libjpeg rounding errors
  return factor;
}

/**
 * How to centre-crop `crop` px and squish to `size`.
 *
 * sharp turns JPEG shrink-on-load off whenever an extract comes before the resize, so crop → resize
 * decodes every JPEG at full size. When shrink-on-load would help, scale the whole image by
 * size/crop first (sharp then decodes at 1/2, 1/4 or 1/8 size) and extract the centre afterwards:
 * the same pixels up to edge effects, with the scaled side rounded to keep (scaled − size) even so
 * the extract stays exactly centred. Without it, extract first: resampling only the crop is cheaper.
 */
export function planCentreCrop(width: number, height: number, crop: number, size: number) {
  const scaled = (side: number) => size + 2 * Math.max(0, Math.round(((side * size) / crop - size) / 2));
  const scaledWidth = scaled(width);
  const scaledHeight = scaled(height);
  const shrinkOnLoad = Math.min(jpegShrinkOnLoad(width, scaledWidth), jpegShrinkOnLoad(height, scaledHeight));
  return {
    shrinkOnLoad,
    /** Resize-then-extract geometry. */
    scaledWidth,
    scaledHeight,
    left: (scaledWidth - size) / 2,
    top: (scaledHeight - size) / 2,
    /** Extract-then-resize geometry (floor: half a pixel off centre when width − crop is odd). */
    cropLeft: Math.floor((width - crop) / 2),
    cropTop: Math.floor((height - crop) / 2),
  };
}

/**
 * Width and height from a JPEG's SOF marker, or null if this is not a well-formed JPEG header.
 * A few lines instead of sharp.metadata(), which costs ~0.2–0.3 ms CPU per image (≈10% of a
 * 64-px decode) to learn the same two numbers.
 */
export function jpegSize(bytes: Uint8Array): { width: number; height: number } | null {
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) return null;
  let i = 2;
  while (i + 9 < bytes.length) {
    if (bytes[i] !== 0xff) return null;
    const marker = bytes[i + 1];
    if (marker === 0xff) {
      i++; // fill byte
      continue;
    }
    const length = (bytes[i + 2] << 8) | bytes[i + 3];
    // SOF0…SOF15 carry the frame size; C4 (DHT), C8 (JPG) and CC (DAC) share the range but do not.
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      const height = (bytes[i + 5] << 8) | bytes[i + 6];
      const width = (bytes[i + 7] << 8) | bytes[i + 8];
      return width > 0 && height > 0 ? { width, height } : null;
    }
    if (marker === 0xda || length < 2) return null; // image data before any frame header
    i += 2 + length;
  }
  return null;
}

/** One per thread: each pipeline worker decodes with its own wasm instance. */
const turbo = new TurboJpeg();

/** Largest n/8 at which this path decodes: above it TurboJPEG (portable wasm) saves nothing on sharp. */
const MAX_EIGHTHS = 4;

/**
 * The centre `crop` (null: the whole image) of a JPEG squished to size × size, decoded at the
 * smallest n/8 scale that keeps at least `size` pixels across the crop, then area-averaged; null
 * when this path does not apply (the crop is less than twice the output) or TurboJPEG refuses the file.
 */
function decodeJpegScaled(bytes: Uint8Array, width: number, height: number, crop: number | null, size: number): RawImage | null {
  const cropWidth = crop ?? width;
  const cropHeight = crop ?? height;
  let eighths = 1;
  while (eighths <= MAX_EIGHTHS && Math.min(cropWidth, cropHeight) * eighths < size * SCALE_DENOMINATOR) eighths++;
  if (eighths > MAX_EIGHTHS) return null;
  const image = turbo.decode(bytes, eighths);
  if (!image) return null;
  const scale = eighths / SCALE_DENOMINATOR;
  const window = {
    left: ((width - cropWidth) / 2) * scale,
    top: ((height - cropHeight) / 2) * scale,
    width: cropWidth * scale,
    height: cropHeight * scale,
  };
  return resizeArea(image, window, size);
}

function describeFailure(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (err?.code === 'ENOENT') return 'file not found';
  if (err?.code === 'EACCES') return 'permission denied';
  if (err?.code === 'EISDIR') return 'is a directory, not an image';
  const message = String(err?.message ?? e).split('\n')[0];
  // libvips sometimes reports a truncated JPEG only through this generic line (it races with the
  // decoder's own "premature end" error), so say what it means.
  if (/warning treated as error/i.test(message)) return 'corrupt or truncated image data (decoder warning)';
  return message;
}

/** An image smaller than the crop is a bad image like an unreadable one: on_bad_image decides. */
function checkCrop(path: string, crop: number, width: number, height: number): void {
  if (crop > width || crop > height) {
    throw new BadImageError(path, `${width}×${height} px, smaller than the centre crop of ${crop} px (data.with.crop)`);
  }
}

/** Decodes one image. Unreadable or corrupt files, and images smaller than the crop, throw BadImageError. */
export async function decodeImage(path: string, opts: DecodeOptions): Promise<RawImage> {
  const { crop, size } = opts;
  if (!Number.isInteger(size) || size < 1) throw new UserError(`Image size must be a positive integer, got ${size}.`);
  if (crop !== null && (!Number.isInteger(crop) || crop < 1)) {
    throw new UserError(`Centre crop must be a positive integer or null, got ${crop}.`);
  }
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new BadImageError(path, describeFailure(e));
  }
  const fromJpeg = jpegSize(bytes);
  if (fromJpeg && crop !== null) checkCrop(path, crop, fromJpeg.width, fromJpeg.height);
  const scaled = fromJpeg && decodeJpegScaled(bytes, fromJpeg.width, fromJpeg.height, crop, size);
  if (scaled) return scaled;
  try {
    // failOn 'warning' (sharp's default, stated here on purpose) turns a truncated JPEG into an error
    // instead of silently grey-filling the missing rows.
    let pipeline = sharp(bytes, { failOn: 'warning', sequentialRead: true });
    if (crop !== null) {
      const { width, height } = fromJpeg ?? (await sharp(bytes).metadata());
      if (!width || !height) throw new Error('image has no size');
      if (!fromJpeg) checkCrop(path, crop, width, height); // JPEGs were checked above
      const plan = planCentreCrop(width, height, crop, size);
      pipeline =
        fromJpeg && plan.shrinkOnLoad > 1
          ? pipeline
              .resize(plan.scaledWidth, plan.scaledHeight, { fit: 'fill' })
              .extract({ left: plan.left, top: plan.top, width: size, height: size })
          : pipeline.extract({ left: plan.cropLeft, top: plan.cropTop, width: crop, height: crop }).resize(size, size, { fit: 'fill' });
    } else {
      pipeline = pipeline.resize(size, size, { fit: 'fill' });
    }
    const { data, info } = await pipeline.removeAlpha().toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    if (info.channels !== 3 || info.width !== size || info.height !== size) {
      throw new Error(`decoded to ${info.width}×${info.height}×${info.channels}, expected ${size}×${size}×3`);
    }
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: size, height: size, channels: 3 };
  } catch (e) {
    if (e instanceof UserError || e instanceof BadImageError) throw e;
    throw new BadImageError(path, describeFailure(e));
  }
}

/**
 * The default `imageDecoder` service. Image worker threads always decode with this one; a run whose
 * decoder a plugin replaced decodes in the main thread (src/app/run.ts).
 */
export const defaultImageDecoder: ImageDecoder = { decode: decodeImage };

/** v / 255 for every byte: a lookup is ~1.3× faster than dividing, and gives the same floats. */
const UNIT_SCALE = Float32Array.from({ length: 256 }, (_, v) => v / 255);

/** Stacks same-size images into NHWC float32 in [0, 1]. */
export function toFloat(images: RawImage[]): Float32Array {
  if (images.length === 0) return new Float32Array(0);
  const per = images[0].data.length;
  const out = new Float32Array(per * images.length);
  for (let i = 0; i < images.length; i++) {
    const src = images[i].data;
    if (src.length !== per) {
      throw new Error(`toFloat: image ${i} has ${src.length} values, image 0 has ${per}; all images must share one size`);
    }
    const base = i * per;
    for (let j = 0; j < per; j++) out[base + j] = UNIT_SCALE[src[j]];
  }
  return out;
}
