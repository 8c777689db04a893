// All-or-nothing files. Every file gzx keeps (run records, checkpoints, models, pictures,
// predictions) is written under a temporary name and renamed into place, so a kill or a full disk
// leaves the previous version or nothing, never half a file. A failed write becomes one UserError
// naming the file, the OS reason and the setting to change (docs/reliability.md).
import fs from 'node:fs/promises';
import path from 'node:path';
import { UserError } from './errors.js';

/** OS error codes a user can do something about, in words. */
const REASONS: Record<string, string> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'the file system is read-only',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EIO: 'input/output error',
  ENOTDIR: 'a part of the path is a file, not a folder',
  EISDIR: 'a folder is in the way',
  ENOENT: 'its folder does not exist',
  EMFILE: 'too many open files',
  ENAMETOOLONG: 'the name is too long',
  EFBIG: 'the file is too large for this file system',
};

/** A write that failed: a UserError (one `gzx:` line), keeping the OS code for callers. */
export class WriteError extends UserError {
  constructor(
    public readonly file: string,
    public readonly code: string | undefined,
    message: string,
  ) {
    super(message);
    this.name = 'WriteError';
  }
}

export interface WriteOptions {
  /** The setting that chose where this file goes (`output_dir`, `--out`); named in the fix. */
  key?: string;
}

/** The OS reason of an fs error in words (`no space left on device`), or its first line. */
export function osReason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException)?.code;
  return (code && REASONS[code]) ?? String((e as Error)?.message ?? e).split('\n')[0];
}

/** Shortens a path under the working directory, as users typed it. */
function shown(file: string): string {
  const rel = path.relative(process.cwd(), file);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : file;
}

/** Turns an fs error from writing `file` into one line: reason, file, fix. A WriteError passes through. */
export function writeError(e: unknown, file: string, opts: WriteOptions = {}): UserError {
  if (e instanceof UserError) return e;
  const code = (e as NodeJS.ErrnoException)?.code;
  const key = opts.key ?? 'output_dir';
  const fix =
    code === 'ENOSPC' || code === 'EDQUOT' || code === 'EFBIG'
      ? `free space, or set ${key} to a folder on another disk`
      : code === 'EACCES' || code === 'EPERM' || code === 'EROFS'
        ? `make the folder writable, or set ${key} to a writable folder`
        : `check the path, or set ${key} to another folder`;
  return new WriteError(file, code, `${osReason(e)} while writing ${shown(file)}; ${fix}.`);
}

// ---------- fault injection (tests) ----------

/**
 * GZX_FAULT_WRITE=<CODE>:<path substring>[:<n>] makes the n-th (default first) write of a file whose
 * path contains the substring fail with CODE after writing half its bytes, as a disk filling up does.
 * Used by test/e2e/reliability-disk.test.ts; unset in normal use.
 */
const faultCounts = new Map<string, number>();

/** Starts counting matching writes afresh (tests that set the same GZX_FAULT_WRITE twice in one process). */
export function resetWriteFaults(): void {
  faultCounts.clear();
}

async function injectedFault(file: string, data: string | Uint8Array, tmp: string): Promise<void> {
  const spec = process.env.GZX_FAULT_WRITE;
  if (!spec) return;
  const [code, needle, nth] = spec.split(':');
  if (!code || !needle || !file.includes(needle)) return;
  const count = (faultCounts.get(spec) ?? 0) + 1;
  faultCounts.set(spec, count);
  if (count !== Number(nth ?? 1)) return;
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  await fs.writeFile(tmp, bytes.subarray(0, Math.floor(bytes.length / 2)));
  throw Object.assign(new Error(`${code}: injected write fault, write '${tmp}'`), { code });
}

// ---------- writers ----------

/** Writes `file` whole or not at all: a temporary sibling renamed into place; removed on failure. */
export async function writeFileAtomic(file: string, data: string | Uint8Array, opts: WriteOptions = {}): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    await injectedFault(file, data, tmp);
    await fs.writeFile(tmp, data);
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw writeError(e, file, opts);
  }
}

/**
 * Appends to a log-like file (metrics.jsonl). Appends are not renamed into place (that would rewrite
 * the file every batch); readers ignore a torn last line, and a failure is reported like any write.
 */
export async function appendFileChecked(file: string, text: string, opts: WriteOptions = {}): Promise<void> {
  try {
    await injectedFault(file, text, `${file}`);
    await fs.appendFile(file, text);
  } catch (e) {
    throw writeError(e, file, opts);
  }
}

/** Writes one file (relative path, folders created) into a folder being built by replaceDirAtomic. */
export type DirWriter = (rel: string, data: string | Uint8Array) => Promise<void>;

/**
 * Builds folder `dir` whole or not at all: `fill` writes into `<dir>.tmp`, which then replaces `dir`
 * (the previous one is kept as `<dir>.old` until the swap is done, so a kill at any moment leaves a
 * complete `dir` or `<dir>.old`). On failure the temporary folder is removed and the error names
 * the file as it would have been called inside `dir`.
 */
export async function replaceDirAtomic(dir: string, fill: (write: DirWriter) => Promise<void>, opts: WriteOptions = {}): Promise<void> {
  const tmp = `${dir}.tmp`;
  const old = `${dir}.old`;
  let current = dir;
  const write: DirWriter = async (rel, data) => {
    const target = path.join(tmp, rel);
    current = path.join(dir, rel);
    await fs.mkdir(path.dirname(target), { recursive: true });
    await injectedFault(current, data, target);
    await fs.writeFile(target, data);
  };
  try {
    await fs.rm(tmp, { recursive: true, force: true });
    await fs.mkdir(tmp, { recursive: true });
    await fill(write);
    current = dir;
    await fs.rm(old, { recursive: true, force: true });
    await fs.rename(dir, old).catch((e) => {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    });
    await fs.rename(tmp, dir);
    await fs.rm(old, { recursive: true, force: true });
  } catch (e) {
    await fs.rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    throw writeError(e, current, opts);
  }
}
