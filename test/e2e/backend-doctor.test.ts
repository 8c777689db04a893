// `gzx doctor` as a user runs it (compiled CLI; `npm test` builds dist/ first).
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { BIN } from '../helpers/paths.js';

const gzx = (...args: string[]) => execFileSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });

describe('gzx doctor', () => {
  it('--json lists every backend with whether it loads, and node/sharp versions', () => {
    const report = JSON.parse(gzx('doctor', '--json'));
    expect(report.node).toBe(process.version);
    expect(report.sharp.version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(report.turbojpeg).toEqual({ version: '0.1.3', loads: true });
    expect(report.backends.map((b: { candidate: string }) => b.candidate)).toEqual(['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu']);
    const wasm = report.backends.find((b: { candidate: string }) => b.candidate === 'wasm');
    expect(wasm.loads).toBe(true);
    expect(wasm.threads).toBeGreaterThanOrEqual(1);
    for (const b of report.backends) if (!b.loads) expect(b.why).not.toBe('');
    expect(report.auto).toBe(report.backends.find((b: { loads: boolean }) => b.loads).candidate);
  });

  it('prints one line per backend with the reason it does not load', () => {
    const text = gzx('doctor');
    expect(text).toMatch(/^wasm\s+yes\s+4\.\d+\.\d+\s+\d+\s+WebAssembly/m);
    expect(text).toMatch(/^cpu\s+yes/m);
    expect(text).toMatch(/^jpeg\s+TurboJPEG wasm \(@cwasm\/jpeg-turbo 0\.1\.3\) decodes JPEGs shrunk ≥ 2×/m);
    expect(text).toMatch(/^tensorflow\s+(yes|no)\s/m);
    expect(text).toMatch(/^backend: auto uses \S+/m);
  });
});
