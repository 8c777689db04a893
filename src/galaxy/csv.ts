// Kaggle solutions / submission CSVs: `GalaxyID,Class1.1,…,Class11.6`, one galaxy per row.
// Reading uses csv-parse whenever the file quotes anything; writing is hand-rolled because every
// cell is an id or a number, so no quoting can ever be needed.
import fsp from 'node:fs/promises';
import path from 'node:path';
import { parse, CsvError } from 'csv-parse/sync';
import { UserError } from '../base/errors.js';
import { CSV_HEADER, NUM_COLUMNS } from './tree.js';
import { writeError } from '../base/safe-write.js';

export interface SolutionsTable {
  ids: string[];
  /** 37 answers per galaxy in tree order; an empty cell (unknown answer) is NaN. */
  rows: Float32Array[];
}

export interface ReadSolutionsOptions {
  /** Require every value in [0, 1] (labels). Predictions may be checked as plain numbers only. */
  unitRange?: boolean;
  /** What the file is, for messages ("truth file", "predictions file"). */
  role?: string;
  /**
   * Whether an empty cell is allowed, read as an unknown answer (NaN): partial catalogues leave the
   * questions they did not ask empty. Default true; predictions must be complete (false).
   */
  allowUnknown?: boolean;
}

/** Reads and validates a solutions CSV; every problem is a UserError naming file, row and column. */
export async function readSolutionsCsv(file: string, options: ReadSolutionsOptions = {}): Promise<SolutionsTable> {
  const unitRange = options.unitRange ?? true;
  const allowUnknown = options.allowUnknown ?? true;
  const role = options.role ?? 'CSV file';
  const where = (row: number) => `${role} ${file}, row ${row}`;
  await assertReadableFile(file, role);

  const ids: string[] = [];
  const rows: Float32Array[] = [];
  const seen = new Map<string, number>();
  let sawHeader = false;

  const text = await fsp.readFile(file, 'utf8');
  try {
    for (const { record, line } of csvRecords(text)) {
      if (!sawHeader) {
        checkHeader(record, `${role} ${file}`);
        sawHeader = true;
        continue;
      }
      if (record.length !== CSV_HEADER.length) {
        throw new UserError(
          `${where(line)}: has ${record.length} cells, expected ${CSV_HEADER.length} (GalaxyID and ${NUM_COLUMNS} answers). ` +
            `Fix or remove that row.`,
        );
      }
      const id = record[0];
      if (id === '') throw new UserError(`${where(line)}, column GalaxyID: the id is empty. Give every row its galaxy id.`);
      const first = seen.get(id);
      if (first !== undefined) {
        throw new UserError(`${where(line)}, column GalaxyID: id ${id} appears again (first on row ${first}). Remove the duplicate row.`);
      }
      seen.set(id, line);
      const values = new Float32Array(NUM_COLUMNS);
      for (let c = 0; c < NUM_COLUMNS; c++) {
        const cell = record[c + 1];
        if (cell === '') {
          if (allowUnknown) {
            values[c] = NaN;
            continue;
          }
          throw new UserError(`${where(line)}, column ${CSV_HEADER[c + 1]}: the cell is empty. Every cell of a ${role} must be a number.`);
        }
        const v = Number(cell);
        if (!Number.isFinite(v)) {
          throw new UserError(
            `${where(line)}, column ${CSV_HEADER[c + 1]}: "${cell}" is not a number. Every answer cell must be a finite number${allowUnknown ? ', or empty where the answer is unknown' : ''}.`,
          );
        }
        if (unitRange && (v < 0 || v > 1)) {
          throw new UserError(`${where(line)}, column ${CSV_HEADER[c + 1]}: ${cell} is outside [0, 1]. Answer fractions must lie between 0 and 1.`);
        }
        values[c] = v;
      }
      ids.push(id);
      rows.push(values);
    }
  } catch (e) {
    if (e instanceof CsvError) {
      const line = (e as CsvError & { lines?: number }).lines;
      throw new UserError(`${role} ${file}${line ? `, row ${line}` : ''}: not valid CSV (${e.message}). Fix the quoting on that row.`);
    }
    throw e;
  }
  if (!sawHeader) {
    throw new UserError(`${role} ${file} is empty. Expected the header ${CSV_HEADER.slice(0, 3).join(',')},…,Class11.6 and one row per galaxy.`);
  }
  return { ids, rows };
}

/**
 * Records with their 1-based line numbers. Solution files never quote, and csv-parse runs at only a
 * few MB/s here (seconds for the 61,578-row training CSV), so a file without any quote character is
 * split directly; anything quoted goes through csv-parse.
 */
function* csvRecords(text: string): Generator<{ record: string[]; line: number }> {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (!text.includes('"')) {
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const raw = lines[i].endsWith('\r') ? lines[i].slice(0, -1) : lines[i];
      if (raw.trim() === '') continue;
      yield { record: raw.split(',').map((c) => c.trim()), line: i + 1 };
    }
    return;
  }
  const parsed = parse(text, { trim: true, skip_empty_lines: true, relax_column_count: true, info: true }) as unknown as {
    record: string[];
    info: { lines: number };
  }[];
  for (const { record, info } of parsed) yield { record, line: info.lines };
}

function checkHeader(record: string[], what: string): void {
  for (let c = 0; c < Math.max(record.length, CSV_HEADER.length); c++) {
    if (record[c] === CSV_HEADER[c]) continue;
    const fix = `The header must be GalaxyID,Class1.1,…,Class11.6 (${CSV_HEADER.length} columns in the order of the Galaxy Zoo tree).`;
    if (c >= CSV_HEADER.length) {
      throw new UserError(`${what}, row 1 (header): extra column ${c + 1} "${record[c]}". ${fix}`);
    }
    if (c >= record.length) {
      throw new UserError(`${what}, row 1 (header): column ${c + 1} ${CSV_HEADER[c]} is missing. ${fix}`);
    }
    throw new UserError(`${what}, row 1 (header): column ${c + 1} is "${record[c]}", expected ${CSV_HEADER[c]}. ${fix}`);
  }
}

async function assertReadableFile(file: string, role: string): Promise<void> {
  let stat;
  try {
    stat = await fsp.stat(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(
      code === 'ENOENT'
        ? `${role} ${file} does not exist. Check the path.`
        : `${role} ${file} cannot be read (${code ?? (e as Error).message}). Check the path and its permissions.`,
    );
  }
  if (!stat.isFile()) throw new UserError(`${role} ${file} is not a file. Give the path of a CSV file.`);
}

/** One number as text, exactly: the shortest string that reads back to the same double. */
function formatValue(v: number): string {
  return String(v);
}

/** A float32 as the shortest text that reads back to the same float32 (String() would print its double expansion). */
function formatFloat32(v: number): string {
  if (v === 0 || v === 1) return String(v);
  // Starting at 6 digits is safe: a shorter exact form shows up as trailing zeros that Number() drops.
  for (let digits = 6; digits < 9; digits++) {
    const text = v.toPrecision(digits);
    if (Math.fround(Number(text)) === v) return String(Number(text));
  }
  return String(Number(v.toPrecision(9)));
}

export interface SolutionsWriter {
  /** Appends one row; waits when the stream is full. */
  write(id: string, row: ArrayLike<number>): Promise<void>;
  /** Finishes the file (it appears under its final name only now). */
  close(): Promise<void>;
  /** Drops the partial file. */
  abort(): Promise<void>;
}

/**
 * A streaming writer: rows go to `<file>.partial` and the file is renamed on close, so an
 * interrupted run never leaves a truncated submission under the real name.
 */
export async function openSolutionsWriter(file: string): Promise<SolutionsWriter> {
  const partial = `${file}.partial`;
  let handle: fsp.FileHandle;
  try {
    handle = await fsp.open(partial, 'w');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const dir = path.dirname(path.resolve(file));
    throw new UserError(
      code === 'ENOENT'
        ? `Cannot write ${file}: the folder ${dir} does not exist. Create it or choose another --out.`
        : `Cannot write ${file} (${code ?? (e as Error).message}). Check the folder's permissions.`,
    );
  }
  const stream = handle.createWriteStream();
  let failure: Error | null = null;
  stream.on('error', (e) => (failure = e));
  const flush = (text: string) =>
    new Promise<void>((resolve, reject) => {
      const failed = () => reject(writeError(failure, file, { key: '--out' }));
      if (failure) return failed();
      if (stream.write(text)) return resolve();
      // A write error ends the stream without 'drain': wait for whichever comes first.
      const onError = () => {
        stream.off('drain', onDrain);
        failed();
      };
      const onDrain = () => {
        stream.off('error', onError);
        resolve();
      };
      stream.once('drain', onDrain);
      stream.once('error', onError);
    });
  // Rows are gathered into ~256 kB chunks: one stream write per row is several times slower.
  let pending = CSV_HEADER.join(',') + '\n';
  let closed = false;
  const end = () =>
    new Promise<void>((resolve, reject) => {
      stream.end((err?: Error | null) => (err ? reject(err) : resolve()));
    });
  return {
    async write(id, row) {
      if (closed) throw new Error('openSolutionsWriter: write after close');
      if (row.length !== NUM_COLUMNS) throw new Error(`row for ${id} has ${row.length} values, expected ${NUM_COLUMNS}`);
      if (id === '' || /[",\n\r]/.test(id)) throw new Error(`galaxy id ${JSON.stringify(id)} cannot be written to CSV`);
      let line = id;
      const format = row instanceof Float32Array ? formatFloat32 : formatValue;
      for (let c = 0; c < NUM_COLUMNS; c++) line += ',' + format(row[c]);
      pending += line + '\n';
      if (pending.length > 256_000) {
        const chunk = pending;
        pending = '';
        await flush(chunk);
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      try {
        if (pending) await flush(pending);
        await end();
        if (failure) throw failure;
        await fsp.rename(partial, file);
      } catch (e) {
        // Nothing half-written is left: neither the partial file nor a torn one under the real name.
        await fsp.rm(partial, { force: true }).catch(() => undefined);
        throw writeError(e, file, { key: '--out' });
      }
    },
    async abort() {
      if (closed) return;
      closed = true;
      await end().catch(() => undefined);
      await fsp.rm(partial, { force: true });
    },
  };
}

/** Writes a whole table (rows in the given order). */
export async function writeSolutionsCsv(file: string, ids: string[], rows: ArrayLike<number>[]): Promise<void> {
  if (ids.length !== rows.length) throw new Error(`writeSolutionsCsv: ${ids.length} ids but ${rows.length} rows`);
  const writer = await openSolutionsWriter(file);
  try {
    for (let i = 0; i < ids.length; i++) await writer.write(ids[i], rows[i]);
    await writer.close();
  } catch (e) {
    await writer.abort();
    throw e;
  }
}
