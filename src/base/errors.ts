// Errors a user can cause. The CLI prints their message alone (no stack) and exits with `exitCode`.
export class UserError extends Error {
  constructor(
    message: string,
    public readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'UserError';
  }
}

export function isUserError(e: unknown): e is UserError {
  return e instanceof UserError;
}
