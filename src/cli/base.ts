// Every gzx command extends this: a user's mistake prints one clear message and no stack trace.
import 'reflect-metadata';
import { Command, Errors } from '@oclif/core';
import { isUserError } from '../base/errors.js';

export abstract class GzxCommand extends Command {
  protected async catch(err: Error & { exitCode?: number; oclif?: { exit?: number } }): Promise<unknown> {
    if (isUserError(err)) {
      process.stderr.write(`gzx: ${err.message}\n`);
      process.exitCode = err.exitCode;
      this.exit(err.exitCode);
    }
    // oclif's own parse errors (unknown flag, missing arg) are usage errors: exit 2, no stack.
    if (err instanceof Errors.CLIError && !(err instanceof Errors.ExitError)) {
      process.stderr.write(`gzx: ${err.message}\n`);
      this.exit(err.oclif?.exit ?? 2);
    }
    return super.catch(err);
  }
}
