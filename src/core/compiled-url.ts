import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';

/**
 * URL of the compiled (dist/) twin of a module URL. Worker threads cannot load TypeScript, but under
 * vitest our modules run from src/*.ts; everywhere else the URL is returned unchanged.
 */
export function compiledModuleUrl(url: string): string {
  const file = fileURLToPath(url);
  const parts = file.split(path.sep);
  const src = parts.lastIndexOf('src');
  if (!file.endsWith('.ts') || src < 0) return url;
  parts[src] = 'dist';
  return pathToFileURL(parts.join(path.sep).replace(/\.ts$/, '.js')).href;
}
