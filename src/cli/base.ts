// Every gzx command extends this: a user's mistake prints one clear message and no stack trace.
import { Command, Errors } from '@oclif/core';
import { isUserError } from '../base/errors.js';
import { osReason } from '../base/safe-write.js';

export abstract class GzxCommand extends Command {
  protected async catch(err: Error & { exitCode?: number; oclif?: { exit?: number } }): Promise<unknown> {
    if (isUserError(err)) {
      process.stderr.write(`gzx: ${err.message}\n`);
      process.exitCode = err.exitCode;
      this.exit(err.exitCode);
    }
    // An OS error no code path expected (a disk fault in a library, …): still one line, naming the file.
    const sys = err as NodeJS.ErrnoException;
    if (typeof sys.code === 'string' && typeof sys.syscall === 'string') {
      const where = sys.path ? ` (${sys.syscall} ${sys.path})` : ` (${sys.syscall})`;
      process.stderr.write(`gzx: ${osReason(sys)}${where}. Check the path, free space or permissions, and try again.\n`);
      process.exitCode = 1;
      this.exit(1);
    }
    // oclif's own parse errors (unknown flag, missing arg) are usage errors: exit 2, no stack.
    if (err instanceof Errors.CLIError && !(err instanceof Errors.ExitError)) {
      process.stderr.write(`gzx: ${err.message}\n`);
      this.exit(err.oclif?.exit ?? 2);
    }
    return super.catch(err);
  }
}
