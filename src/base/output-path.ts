// Output paths checked before any work: output_dir, predict/show --out, data synth --out.
// Only stat/statfs/access calls: nothing is created or read, and nothing can hang on /proc or /sys.
import fs from 'node:fs/promises';
import path from 'node:path';
import { UserError } from './errors.js';
import { osReason } from './safe-write.js';

/** statfs magic numbers of kernel pseudo-filesystems, which hold no user files. */
const PSEUDO_FS: Record<number, string> = {
  0x9fa0: 'proc',
  0x62656572: 'sysfs',
  0x27e0eb: 'cgroup',
  0x63677270: 'cgroup2',
  0x64626720: 'debugfs',
  0x73636673: 'securityfs',
  0x74726163: 'tracefs',
  0x6165676c: 'pstore',
  0xcafe4a11: 'bpf',
  0x62656570: 'configfs',
  0x1cd1: 'devpts',
  0x65735543: 'fusectl',
  0xde5e81e4: 'efivarfs',
};
/** Mount points whose contents are the kernel's whatever their filesystem type says (devtmpfs looks like tmpfs). */
const PSEUDO_ROOTS = ['/proc', '/sys', '/dev'];

export type OutputKind = 'folder' | 'file';

async function statOrCode(p: string): Promise<import('node:fs').Stats | string> {
  try {
    return await fs.stat(p);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? 'EIO';
  }
}

async function pseudoFsName(existing: string): Promise<string | null> {
  const root = PSEUDO_ROOTS.find((r) => existing === r || existing.startsWith(`${r}/`));
  if (root) return root;
  try {
    const { type } = await fs.statfs(existing);
    return PSEUDO_FS[type] ? `a ${PSEUDO_FS[type]} mount` : null;
  } catch {
    return null;
  }
}

/**
 * What is wrong with writing `target` as a folder (created if missing) or a file (its folder must
 * exist), or null. The answer is a sentence without the setting's name; `checkOutputPath` adds it.
 */
export async function outputPathProblem(target: string, kind: OutputKind): Promise<string | null> {
  const abs = path.resolve(target);
  const st = await statOrCode(abs);
  if (typeof st !== 'string') {
    if (kind === 'folder' && !st.isDirectory()) return `${target} is a file, not a folder`;
    if (kind === 'file' && st.isDirectory()) return `${target} is a folder, not a file`;
  } else if (st !== 'ENOENT' && st !== 'ENOTDIR') {
    return `${target} cannot be checked (${osReason({ code: st })})`;
  }
  // The nearest part of the path that exists: it must be a folder we may write into.
  let existing = typeof st === 'string' ? path.dirname(abs) : kind === 'folder' ? abs : path.dirname(abs);
  for (;;) {
    const s = await statOrCode(existing);
    if (typeof s !== 'string') {
      if (!s.isDirectory()) return `${existing} is a file, so nothing can be created under it`;
      break;
    }
    if (s !== 'ENOENT' && s !== 'ENOTDIR') return `${existing} cannot be checked (${osReason({ code: s })})`;
    if (kind === 'file' && existing === path.dirname(abs) && s === 'ENOENT') return `the folder ${existing} does not exist`;
    const up = path.dirname(existing);
    if (up === existing) break;
    existing = up;
  }
  const pseudo = await pseudoFsName(existing);
  if (pseudo) return `${target} is on ${pseudo}, a kernel pseudo-filesystem that cannot hold gzx's files`;
  try {
    await fs.access(existing, fs.constants.W_OK);
  } catch (e) {
    return `${existing} is not writable (${osReason(e)})`;
  }
  return null;
}

/** The fix for an output setting: what to write instead. */
function fixFor(key: string, kind: OutputKind): string {
  return kind === 'folder'
    ? `Set ${key} to a writable folder on a disk (created if missing)`
    : `Set ${key} to a file in an existing, writable folder`;
}

/** One line naming the setting (`where` is its config location, if any), the problem and the fix; null if fine. */
export async function outputPathError(target: string, kind: OutputKind, key: string, where?: string): Promise<string | null> {
  const problem = await outputPathProblem(target, kind);
  return problem ? `${where ? `${where}: ` : ''}${key}: ${problem}. ${fixFor(key, kind)}.` : null;
}

/** Throws a UserError unless `target` can be written as `kind`. */
export async function checkOutputPath(target: string, kind: OutputKind, key: string): Promise<void> {
  const message = await outputPathError(target, kind, key);
  if (message) throw new UserError(message);
}
