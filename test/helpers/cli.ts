// Runs the built CLI (`node bin/run.js …`) and returns what it printed and its exit code.
import { execFile } from 'node:child_process';
import { BIN } from './paths.js';

export { BIN };

export interface CliResult {
  stdout: string;
  stderr: string;
  code: number;
}

export function gzx(args: string[], opts: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: opts.cwd, env: { ...process.env, ...opts.env }, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 * 2 ** 20 },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
        resolve({ stdout, stderr, code });
      },
    );
  });
}

/** The lines a user mistake may print: `gzx:` lines and nothing that looks like a stack or raw error. */
export function expectOneClearLine(r: CliResult): string {
  const lines = r.stderr.split('\n').filter((l) => l.startsWith('gzx:'));
  if (/^\s+at |^(Error|Code|ReferenceError|TypeError):/m.test(r.stderr)) throw new Error(`raw error output:\n${r.stderr}`);
  if (lines.length !== 1) throw new Error(`expected one gzx: line, got ${lines.length}:\n${r.stderr}`);
  return lines[0];
}
