import { describe, it, expect, beforeAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readSolutionsCsv, writeSolutionsCsv, openSolutionsWriter } from '../../../src/galaxy/csv.js';
import { CSV_HEADER, NUM_COLUMNS, normaliseAnswers } from '../../../src/galaxy/tree.js';
import { userError } from '../../helpers/user-error.js';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gzx-csv-'));
});

const header = CSV_HEADER.join(',');
const row = (id: string, v = 0.5) => [id, ...Array(NUM_COLUMNS).fill(v)].join(',');
function file(name: string, lines: string[]): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, lines.join('\n') + '\n');
  return p;
}
describe('readSolutionsCsv', () => {
  it('reads ids and 37 values per row in file order', async () => {
    const p = file('ok.csv', [header, row('200', 0.25), row('100', 1)]);
    const t = await readSolutionsCsv(p);
    expect(t.ids).toEqual(['200', '100']);
    expect(t.rows).toHaveLength(2);
    expect(t.rows[0]).toBeInstanceOf(Float32Array);
    expect(Array.from(t.rows[0])).toEqual(Array(NUM_COLUMNS).fill(0.25));
    expect(Array.from(t.rows[1])).toEqual(Array(NUM_COLUMNS).fill(1));
  });

  it('accepts CRLF line ends, a BOM and blank trailing lines', async () => {
    const p = path.join(dir, 'crlf.csv');
    fs.writeFileSync(p, '\ufeff' + [header, row('7', 0)].join('\r\n') + '\r\n\r\n');
    const t = await readSolutionsCsv(p);
    expect(t.ids).toEqual(['7']);
  });

  it('reads a quoted file (through csv-parse) the same way', async () => {
    const quoted = (line: string) =>
      line
        .split(',')
        .map((c) => `"${c}"`)
        .join(',');
    const t = await readSolutionsCsv(file('quoted.csv', [quoted(header), quoted(row('12', 0.5)), row('13', 0.25)]));
    expect(t.ids).toEqual(['12', '13']);
    expect(t.rows[1][36]).toBe(0.25);
  });

  it('counts rows by file line, blank lines included', async () => {
    const cells = row('5').split(',');
    cells[2] = 'x';
    const msg = await userError(readSolutionsCsv(file('blank-lines.csv', [header, '', row('4'), cells.join(',')])));
    expect(msg).toContain('row 4, column Class1.2');
  });

  it('names the file when it does not exist', async () => {
    const msg = await userError(readSolutionsCsv(path.join(dir, 'nope.csv')));
    expect(msg).toContain('nope.csv does not exist');
  });

  it('rejects an empty file', async () => {
    const msg = await userError(readSolutionsCsv(file('empty.csv', [])));
    expect(msg).toMatch(/empty\.csv is empty/);
  });

  it('names the wrong header column and the expected name', async () => {
    const bad = [...CSV_HEADER];
    bad[6] = 'Class2.3';
    const msg = await userError(readSolutionsCsv(file('hdr.csv', [bad.join(','), row('1')])));
    expect(msg).toContain('hdr.csv, row 1 (header): column 7 is "Class2.3", expected Class3.1');
  });

  it('reports a missing last header column', async () => {
    const msg = await userError(readSolutionsCsv(file('short-hdr.csv', [CSV_HEADER.slice(0, -1).join(',')])));
    expect(msg).toContain('column 38 Class11.6 is missing');
  });

  it('reports a row with too few cells by row number', async () => {
    const msg = await userError(readSolutionsCsv(file('cells.csv', [header, row('1'), '2,0.5,0.5'])));
    expect(msg).toContain('cells.csv, row 3: has 3 cells, expected 38');
  });

  it('reports a non-numeric cell with row and column name', async () => {
    const cells = row('5').split(',');
    cells[7] = 'abc'; // Class3.2
    const msg = await userError(readSolutionsCsv(file('nan.csv', [header, row('4'), cells.join(',')])));
    expect(msg).toContain('nan.csv, row 3, column Class3.2: "abc" is not a number');
  });

  it('reads an empty cell as unknown (NaN, never 0), and refuses it where every cell is required', async () => {
    const cells = row('5').split(',');
    cells[37] = '';
    cells[8] = ' ';
    const p = file('blank.csv', [header, cells.join(','), row('6')]);
    const t = await readSolutionsCsv(p);
    expect(Number.isNaN(t.rows[0][36])).toBe(true); // Class11.6
    expect(Number.isNaN(t.rows[0][7])).toBe(true); // Class4.1, a blank cell trims to empty
    expect(t.rows[0].filter((v) => Number.isNaN(v))).toHaveLength(2);
    expect(t.rows[1].every((v) => !Number.isNaN(v))).toBe(true);
    const msg = await userError(readSolutionsCsv(p, { allowUnknown: false, role: 'predictions file' }));
    expect(msg).toContain('predictions file');
    expect(msg).toContain('row 2, column Class4.1: the cell is empty');
  });

  it('rejects values outside [0,1] for labels but not when unitRange is off', async () => {
    const cells = row('5').split(',');
    cells[1] = '1.5';
    const p = file('range.csv', [header, cells.join(',')]);
    const msg = await userError(readSolutionsCsv(p));
    expect(msg).toContain('row 2, column Class1.1: 1.5 is outside [0, 1]');
    const t = await readSolutionsCsv(p, { unitRange: false });
    expect(t.rows[0][0]).toBe(1.5);
  });

  it('reports duplicate ids with both row numbers', async () => {
    const msg = await userError(readSolutionsCsv(file('dup.csv', [header, row('1'), row('2'), row('1')])));
    expect(msg).toContain('dup.csv, row 4, column GalaxyID: id 1 appears again (first on row 2)');
  });

  it('reports broken quoting as invalid CSV with the file name', async () => {
    const msg = await userError(readSolutionsCsv(file('quote.csv', [header, '"1,' + row('x').slice(2)])));
    expect(msg).toContain('quote.csv');
    expect(msg).toContain('not valid CSV');
  });
});

describe('writeSolutionsCsv / openSolutionsWriter', () => {
  it('round-trips values at full float32 precision in the given order', async () => {
    const rows = normaliseAnswers(
      Array.from({ length: 3 }, (_, r) => Array.from({ length: NUM_COLUMNS }, (_, c) => Math.abs(Math.sin(r * 37 + c)))),
    ).map((r) => Float32Array.from(r));
    const p = path.join(dir, 'rt.csv');
    await writeSolutionsCsv(p, ['30', '4', '100'], rows);
    const text = fs.readFileSync(p, 'utf8');
    expect(text.split('\n')[0]).toBe(header);
    const t = await readSolutionsCsv(p);
    expect(t.ids).toEqual(['30', '4', '100']);
    for (let r = 0; r < 3; r++) expect(Array.from(t.rows[r])).toEqual(Array.from(rows[r]));
    expect(fs.existsSync(p + '.partial')).toBe(false);
  });

  it('writes many rows in order (chunked writes)', async () => {
    const p = path.join(dir, 'many.csv');
    const n = 5000;
    const rows = Array.from({ length: n }, (_, r) => new Array<number>(NUM_COLUMNS).fill(r / n));
    await writeSolutionsCsv(
      p,
      rows.map((_, i) => String(i)),
      rows,
    );
    const t = await readSolutionsCsv(p);
    expect(t.ids).toHaveLength(n);
    expect(t.ids[n - 1]).toBe(String(n - 1));
    expect(t.rows[1234][7]).toBe(Math.fround(1234 / n));
  });

  it('streams: the file appears under its name only after close', async () => {
    const p = path.join(dir, 'stream.csv');
    const w = await openSolutionsWriter(p);
    await w.write('1', new Array(NUM_COLUMNS).fill(0.125));
    expect(fs.existsSync(p)).toBe(false);
    await w.close();
    const t = await readSolutionsCsv(p);
    expect(t.rows[0][36]).toBe(0.125);
  });

  it('abort removes the partial file', async () => {
    const p = path.join(dir, 'aborted.csv');
    const w = await openSolutionsWriter(p);
    await w.write('1', new Array(NUM_COLUMNS).fill(0));
    await w.abort();
    expect(fs.existsSync(p)).toBe(false);
    expect(fs.existsSync(p + '.partial')).toBe(false);
  });

  it('a missing output folder is a UserError naming the folder', async () => {
    const msg = await userError(openSolutionsWriter(path.join(dir, 'no-such-dir', 'out.csv')));
    expect(msg).toContain('no-such-dir');
    expect(msg).toContain('does not exist');
  });
});

describe('float32 formatting', () => {
  it('writes Float32Array values as their shortest float32 text', async () => {
    const p = path.join(dir, 'f32.csv');
    const row = new Float32Array(NUM_COLUMNS).fill(1 / 3);
    row[0] = 0.1;
    row[1] = 0;
    row[2] = 1;
    row[3] = 1e-7;
    await writeSolutionsCsv(p, ['1'], [row]);
    const cells = fs.readFileSync(p, 'utf8').split('\n')[1].split(',');
    expect(cells.slice(1, 6)).toEqual(['0.1', '0', '1', '1e-7', '0.33333334']);
    const back = await readSolutionsCsv(p);
    expect(Array.from(back.rows[0])).toEqual(Array.from(row));
  });
});
