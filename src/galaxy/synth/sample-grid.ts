// A captioned grid of hand-picked synthetic galaxies, one per look, for docs/synthetic.md.
// Run: `npm run docs:synth-grid` (builds, then writes docs/synthetic-samples.png).
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { SeededRng, deriveSeed } from '../../base/random.js';
import { normaliseAnswers } from '../tree.js';
import { renderGalaxy } from './render.js';

/** Per-question answer shares (unweighted); the tree weights them. Unlisted questions: "no"/first answer. */
type Answers = Partial<Record<number, number[]>>;

const DEFAULTS: Record<number, number[]> = {
  1: [0.05, 0.93, 0.02],
  2: [0.05, 0.95],
  3: [0.1, 0.9],
  4: [0.1, 0.9],
  5: [0.1, 0.5, 0.3, 0.1],
  6: [0.05, 0.95],
  7: [0.2, 0.6, 0.2],
  8: [0.2, 0.1, 0.1, 0.1, 0.2, 0.2, 0.1],
  9: [0.6, 0.1, 0.3],
  10: [0.3, 0.4, 0.3],
  11: [0.05, 0.8, 0.05, 0.03, 0.02, 0.05],
};

function labelsOf(a: Answers): number[] {
  const raw: number[] = [];
  for (let q = 1; q <= 11; q++) raw.push(...(a[q] ?? DEFAULTS[q]));
  return normaliseAnswers([raw])[0];
}

const SMOOTH = [0.92, 0.06, 0.02];
const EDGE = [0.92, 0.08];
const odd = (k: number) => ({ 6: [0.9, 0.1], 8: Array.from({ length: 7 }, (_, i) => (i === k ? 0.85 : 0.025)) });

export const SAMPLE_LOOKS: { caption: string; answers: Answers }[] = [
  { caption: 'smooth, round (Q7.1)', answers: { 1: SMOOTH, 7: [0.9, 0.08, 0.02] } },
  { caption: 'smooth, in between (Q7.2)', answers: { 1: SMOOTH, 7: [0.05, 0.9, 0.05] } },
  { caption: 'smooth, cigar (Q7.3)', answers: { 1: SMOOTH, 7: [0.02, 0.08, 0.9] } },
  { caption: 'star / artifact (Q1.3)', answers: { 1: [0.05, 0.05, 0.9] } },
  { caption: '2 tight arms (Q10.1)', answers: { 4: [0.95, 0.05], 10: [0.9, 0.05, 0.05] } },
  { caption: '3 loose arms (Q11.3)', answers: { 4: [0.95, 0.05], 10: [0.05, 0.05, 0.9], 11: [0, 0.05, 0.9, 0.02, 0.02, 0.01] } },
  { caption: 'barred spiral (Q3.1)', answers: { 3: [0.9, 0.1], 4: [0.9, 0.1], 5: [0.1, 0.2, 0.6, 0.1] } },
  { caption: 'big bulge (Q5.4)', answers: { 4: [0.05, 0.95], 5: [0.02, 0.03, 0.15, 0.8] } },
  { caption: 'edge-on, round (Q9.1)', answers: { 2: EDGE, 9: [0.9, 0.05, 0.05] } },
  { caption: 'edge-on, boxy (Q9.2)', answers: { 2: EDGE, 9: [0.1, 0.85, 0.05] } },
  { caption: 'edge-on, no bulge (Q9.3)', answers: { 2: EDGE, 9: [0.05, 0.05, 0.9] } },
  { caption: 'edge-on, dust lane (Q8.7)', answers: { 2: EDGE, 9: [0.8, 0.1, 0.1], ...odd(6) } },
  { caption: 'ring (Q8.1)', answers: { 4: [0.2, 0.8], ...odd(0) } },
  { caption: 'lens or arc (Q8.2)', answers: { 1: SMOOTH, 7: [0.7, 0.25, 0.05], ...odd(1) } },
  { caption: 'disturbed (Q8.3)', answers: { 4: [0.6, 0.4], ...odd(2) } },
  { caption: 'irregular (Q8.4)', answers: { 4: [0.2, 0.8], 5: [0.8, 0.15, 0.05, 0], ...odd(3) } },
  { caption: 'other (Q8.5)', answers: { 1: SMOOTH, ...odd(4) } },
  { caption: 'merger (Q8.6)', answers: { 1: SMOOTH, ...odd(5) } },
  { caption: 'disk merger (Q8.6)', answers: { 4: [0.8, 0.2], ...odd(5) } },
  { caption: 'many arms (Q11.5)', answers: { 4: [0.95, 0.05], 10: [0.1, 0.8, 0.1], 11: [0, 0.05, 0.05, 0.05, 0.85, 0] } },
];

/** Writes the grid: each cell is the central 256 px of a 424-px image (the model sees the central 224). */
export async function writeSampleGrid(file: string, columns = 5, cell = 160): Promise<void> {
  const cells = await Promise.all(
    SAMPLE_LOOKS.map(async ({ caption, answers }, i) => {
      const image = renderGalaxy(labelsOf(answers), new SeededRng(deriveSeed(2024, i)), { size: 424 });
      const png = await sharp(image.data, { raw: { width: 424, height: 424, channels: 3 } })
        .extract({ left: 84, top: 84, width: 256, height: 256 })
        .resize(cell, cell)
        .png()
        .toBuffer();
      const text = Buffer.from(
        `<svg width="${cell}" height="${cell}" xmlns="http://www.w3.org/2000/svg">` +
          `<text x="6" y="${cell - 8}" font-family="sans-serif" font-size="11" fill="#e8e8e8">${caption}</text></svg>`,
      );
      return sharp(png)
        .composite([{ input: text }])
        .png()
        .toBuffer();
    }),
  );
  const rows = Math.ceil(cells.length / columns);
  await sharp({ create: { width: columns * cell, height: rows * cell, channels: 3, background: '#000' } })
    .composite(cells.map((input, i) => ({ input, left: (i % columns) * cell, top: Math.floor(i / columns) * cell })))
    // A palette PNG keeps the committed picture small.
    .png({ palette: true, quality: 90, compressionLevel: 9 })
    .toFile(file);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const out = process.argv[2] ?? 'docs/synthetic-samples.png';
  await writeSampleGrid(out);
  console.log(`wrote ${out}`);
}
