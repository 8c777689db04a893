// fastai's show_results for Galaxy Zoo: a PNG grid of galaxies with the true and predicted answers
// in words. Text goes through sharp's SVG input (librsvg), so no canvas library is needed.
import sharp, { type OverlayOptions } from 'sharp';
import type { RawImage } from '../framework/contracts.js';
import { UserError } from '../base/errors.js';
import { decodeImage } from '../vision/pipeline/decode.js';
import { readSolutionsCsv } from './csv.js';
import { describeAnswers, topAnswers } from './describe.js';
import { rmse } from './metrics.js';
import { listImages, loadPredictor, predictImages, decodeForModel, ttaViews, type TtaView } from './predict.js';
import { checkOutputPath } from '../base/output-path.js';
import { writeFileAtomic } from '../base/safe-write.js';

export interface GridCell {
  id: string;
  /** Any size; scaled to the cell. */
  image: RawImage;
  predicted: ArrayLike<number>;
  truth?: ArrayLike<number>;
}

export interface GridOptions {
  columns?: number;
  /** Side of each image in pixels. */
  cellSize?: number;
  fontSize?: number;
}

export interface TextLine {
  text: string;
  colour: string;
  bold?: boolean;
}

const COLOURS = { id: '#111111', truth: '#1f3f99', right: '#1a7f2e', wrong: '#b3261e', plain: '#333333' };

/** Greedy word wrap at `width` characters (long words are cut). */
export function wrapText(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    let w = word;
    while (w.length > width) {
      if (line) {
        lines.push(line);
        line = '';
      }
      lines.push(w.slice(0, width));
      w = w.slice(width);
    }
    if (!line) line = w;
    else if (line.length + 1 + w.length <= width) line += ' ' + w;
    else {
      lines.push(line);
      line = w;
    }
  }
  if (line) lines.push(line);
  return lines;
}

/**
 * The caption of one cell: id (and its RMSE when the truth is known), the true answers, the
 * predicted answers — green when the predicted Q1 answer matches the true one, red otherwise.
 */
export function cellCaption(cell: GridCell, width: number): TextLine[] {
  const lines: TextLine[] = [];
  // Over the known cells of a partial label; a row with no known cell has no score.
  const scored = cell.truth && Array.prototype.some.call(cell.truth, (v: number) => !Number.isNaN(v));
  const score = scored ? ` · RMSE ${rmse([cell.predicted], [cell.truth!]).toFixed(3)}` : '';
  lines.push({ text: `${cell.id}${score}`, colour: COLOURS.id, bold: true });
  let predColour = COLOURS.plain;
  if (cell.truth) {
    for (const t of wrapText(`true: ${describeAnswers(cell.truth)}`, width)) lines.push({ text: t, colour: COLOURS.truth });
    const q1 = (row: ArrayLike<number>) => topAnswers(row).find((a) => a.question.number === 1)?.answer;
    predColour = q1(cell.truth) === q1(cell.predicted) ? COLOURS.right : COLOURS.wrong;
  }
  for (const t of wrapText(`pred: ${describeAnswers(cell.predicted, { shares: true })}`, width)) {
    lines.push({ text: t, colour: predColour });
  }
  return lines;
}

const escapeXml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Renders the grid as a PNG buffer. */
export async function resultsGrid(cells: GridCell[], options: GridOptions = {}): Promise<Buffer> {
  if (cells.length === 0) throw new Error('resultsGrid: no cells');
  const cellSize = options.cellSize ?? 200;
  const fontSize = options.fontSize ?? 11;
  const columns = Math.min(options.columns ?? Math.ceil(Math.sqrt(cells.length)), cells.length);
  const rows = Math.ceil(cells.length / columns);
  const pad = 8;
  const lineHeight = Math.round(fontSize * 1.35);
  // DejaVu Sans averages about 0.6 em per character.
  const charsPerLine = Math.max(10, Math.floor(cellSize / (fontSize * 0.6)));
  const captions = cells.map((c) => cellCaption(c, charsPerLine));
  const captionHeight = Math.max(...captions.map((c) => c.length)) * lineHeight + pad;
  const cellWidth = cellSize + pad;
  const cellHeight = cellSize + captionHeight + pad;
  const width = columns * cellWidth + pad;
  const height = rows * cellHeight + pad;

  const composites: OverlayOptions[] = [];
  const texts: string[] = [];
  for (let i = 0; i < cells.length; i++) {
    const left = pad + (i % columns) * cellWidth;
    const top = pad + Math.floor(i / columns) * cellHeight;
    const { image } = cells[i];
    const tile = await sharp(Buffer.from(image.data.buffer, image.data.byteOffset, image.data.length), {
      raw: { width: image.width, height: image.height, channels: image.channels as 1 | 2 | 3 | 4 },
    })
      .resize(cellSize, cellSize, { fit: 'fill' })
      .png()
      .toBuffer();
    composites.push({ input: tile, left, top });
    captions[i].forEach((line, j) => {
      const y = top + cellSize + (j + 1) * lineHeight;
      texts.push(`<text x="${left}" y="${y}" fill="${line.colour}"${line.bold ? ' font-weight="bold"' : ''}>${escapeXml(line.text)}</text>`);
    });
  }
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">` +
    `<g font-family="DejaVu Sans, Arial, sans-serif" font-size="${fontSize}">${texts.join('')}</g></svg>`;
  composites.push({ input: Buffer.from(svg), left: 0, top: 0 });
  return sharp({ create: { width, height, channels: 3, background: '#ffffff' } })
    .composite(composites)
    .png()
    .toBuffer();
}

export interface ShowOptions {
  model: string;
  images: string;
  truth?: string;
  out: string;
  n?: number;
  columns?: number;
  tta?: number | TtaView[];
  crop?: number | null;
  size?: number;
  cellSize?: number;
  log?: (message: string) => void;
}

export interface ShowSummary {
  out: string;
  shown: number;
  /** RMSE over the shown galaxies, when the truth is known. */
  rmse?: number;
}

/** Predicts the first `n` images (by GalaxyID; with --truth only labelled ones) and saves the grid. */
export async function showResults(options: ShowOptions): Promise<ShowSummary> {
  const n = options.n ?? 16;
  if (!Number.isInteger(n) || n < 1) throw new UserError(`--n must be a positive integer, got ${n}.`);
  const cellSize = options.cellSize ?? 200;
  await checkOutputPath(options.out, 'file', '--out');
  let files = await listImages(options.images);
  let truthById: Map<string, Float32Array> | null = null;
  if (options.truth) {
    const table = await readSolutionsCsv(options.truth, { role: 'truth file' });
    truthById = new Map(table.ids.map((id, i) => [id, table.rows[i]]));
    files = files.filter((f) => truthById!.has(f.id));
    if (files.length === 0) {
      throw new UserError(
        `None of the images in ${options.images} has a row in truth file ${options.truth} (ids are file names without .jpg). ` +
          `Use the truth CSV that belongs to these images, or leave out --truth.`,
      );
    }
  }
  files = files.slice(0, n);
  const views = Array.isArray(options.tta) ? options.tta : ttaViews(options.tta ?? 1);
  const predictor = await loadPredictor(options.model, { crop: options.crop, size: options.size });
  const cells: GridCell[] = [];
  try {
    const batch = 16;
    for (let b = 0; b < files.length; b += batch) {
      const part = files.slice(b, b + batch);
      const inputs = await Promise.all(part.map((f) => decodeForModel(f.path, predictor.crop, predictor.size)));
      const predicted = predictImages(predictor, inputs, views);
      // What the model saw (same crop), at display resolution.
      const shown = await Promise.all(part.map((f) => decodeImage(f.path, { crop: predictor.crop, size: cellSize })));
      part.forEach((f, i) => cells.push({ id: f.id, image: shown[i], predicted: predicted[i], truth: truthById?.get(f.id) }));
    }
  } finally {
    predictor.passes?.dispose();
    predictor.model.dispose();
  }
  const png = await resultsGrid(cells, { columns: options.columns, cellSize });
  await writeFileAtomic(options.out, png, { key: '--out' });
  const labelled = cells.filter((c) => c.truth);
  const score = labelled.length
    ? rmse(
        labelled.map((c) => c.predicted),
        labelled.map((c) => c.truth!),
      )
    : undefined;
  options.log?.(`wrote ${options.out}: ${cells.length} galaxies${score !== undefined ? `, RMSE ${score.toFixed(4)} on them` : ''}`);
  return { out: options.out, shown: cells.length, rmse: score };
}
