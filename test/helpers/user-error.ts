// The message of the UserError a promise rejects with; fails the test if it resolves or throws anything else.
import { expect } from 'vitest';
import { UserError } from '../../src/base/errors.js';

export async function userError(p: Promise<unknown>): Promise<string> {
  const e: unknown = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(UserError);
  return (e as Error).message;
}
