// What crosses the worker boundary. Errors lose their class when posted, so they travel as tagged data.
import { UserError } from '../../base/errors.js';
import { BadImageError } from './decode.js';

export interface WorkerInit {
  pluginModules: string[];
  configDir: string;
  runDir: string;
  badImagePolicy: 'skip' | 'fail';
}

export type SerializedError =
  | { kind: 'bad-image'; path: string; reason: string }
  | { kind: 'user'; message: string; exitCode: number }
  | { kind: 'internal'; message: string; stack?: string };

export function serializeError(e: unknown): SerializedError {
  if (e instanceof BadImageError) return { kind: 'bad-image', path: e.path, reason: e.reason };
  if (e instanceof UserError) return { kind: 'user', message: e.message, exitCode: e.exitCode };
  const err = e instanceof Error ? e : new Error(String(e));
  return { kind: 'internal', message: err.message, stack: err.stack };
}

export function deserializeError(s: SerializedError): Error {
  if (s.kind === 'bad-image') return new BadImageError(s.path, s.reason);
  if (s.kind === 'user') return new UserError(s.message, s.exitCode);
  const err = new Error(`image worker: ${s.message}`);
  if (s.stack) err.stack = `${err.message}\n--- in worker ---\n${s.stack}`;
  return err;
}
