import os from 'node:os';
import { spawnSync } from 'node:child_process';
import * as tf from '@tensorflow/tfjs';
import { GzxCommand } from '../base.js';
import { jsonFlag } from '../flags.js';
import { describeBackends, describeNativeThreads, packageVersion, type BackendDescription, type NativeThreads } from '../../runtime/backend.js';
import { TurboJpeg } from '../../vision/pipeline/jpeg-turbo.js';

interface DoctorReport {
  node: string;
  platform: string;
  cpus: number;
  memoryGiB: number;
  tfjs: string;
  sharp: { version: string | null; libvips: string | null; error?: string };
  /** @cwasm/jpeg-turbo: decodes the JPEGs the pipeline shrinks at least 2×. */
  turbojpeg: { version: string | null; loads: boolean };
  backends: BackendDescription[];
  /** What `backend: auto` picks on this machine. */
  auto: string | null;
  /** The native backend's thread pools as a run with `threads: auto` gets them here (null when it does not load). */
  nativeThreads: NativeThreads | null;
  /** What TensorFlow's CUDA build (@tensorflow/tfjs-node-gpu) finds; null when that package does not load. */
  gpu: { found: boolean; devices: string[]; why: string } | null;
}

/**
 * Asks TensorFlow's CUDA build, in a fresh process with its logging on, which GPUs it finds: it
 * names each device when it creates it, and says why not when the driver or a CUDA library is missing.
 */
function probeGpu(): DoctorReport['gpu'] {
  const script =
    "const tf = await import('@tensorflow/tfjs'); await import('@tensorflow/tfjs-node-gpu'); await tf.setBackend('tensorflow');" +
    'tf.tensor([1, 2]).square().dataSync(); console.log(JSON.stringify({ gpu: tf.backend().isUsingGpuDevice === true }));';
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '0' },
    timeout: 120_000,
  });
  const last = r.stdout?.trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !last.startsWith('{')) return { found: false, devices: [], why: `the probe failed (exit ${r.status ?? r.signal})` };
  const err = r.stderr ?? '';
  const devices = [...err.matchAll(/Created device \S*GPU:(\d+).*?name: ([^,]+)/g)].map((m) => `GPU:${m[1]} ${m[2].trim()}`);
  const found = (JSON.parse(last) as { gpu: boolean }).gpu;
  const hint =
    /Could not find cuda drivers/.exec(err)?.[0] ??
    /failed call to cuInit: [^\n]*/.exec(err)?.[0] ??
    /Cannot dlopen some GPU libraries[^\n]*/.exec(err)?.[0] ??
    (found ? '' : 'no GPU device');
  return { found, devices, why: hint };
}

async function sharpVersions(): Promise<DoctorReport['sharp']> {
  const version = packageVersion('sharp');
  try {
    const sharp = (await import('sharp')).default;
    return { version, libvips: sharp.versions.vips };
  } catch (e) {
    return { version, libvips: null, error: (e as Error).message.split('\n')[0] };
  }
}

function formatReport(r: DoctorReport): string {
  const lines = [
    `node      ${r.node} (${r.platform}, ${r.cpus} cores, ${r.memoryGiB} GiB)`,
    `tfjs      ${r.tfjs}`,
    `sharp     ${r.sharp.version ?? 'not installed'}${r.sharp.libvips ? ` (libvips ${r.sharp.libvips})` : ''}${r.sharp.error ? ` — fails to load: ${r.sharp.error}` : ''}`,
    `jpeg      ${
      r.turbojpeg.loads
        ? `TurboJPEG wasm (@cwasm/jpeg-turbo ${r.turbojpeg.version}) decodes JPEGs shrunk ≥ 2×; sharp the rest`
        : 'TurboJPEG wasm (@cwasm/jpeg-turbo) does not load: sharp decodes every image (slower; reinstall with npm ci)'
    }`,
    '',
    'backend         loads  version  threads  why',
  ];
  for (const b of r.backends) {
    lines.push(
      `${b.candidate.padEnd(15)} ${(b.loads ? 'yes' : 'no').padEnd(6)} ${(b.version ?? '-').padEnd(8)} ${String(b.threads ?? '-').padEnd(8)} ${b.why}`,
    );
  }
  lines.push('', `backend: auto uses ${r.auto ?? 'nothing (no backend loads)'}`);
  if (r.gpu) {
    lines.push(
      r.gpu.found
        ? `gpu       ${r.gpu.devices.join(', ') || 'a GPU'}: tensorflow-gpu (TensorFlow's CUDA build) trains there`
        : `gpu       no GPU device found by TensorFlow's CUDA build (${r.gpu.why}): tensorflow-gpu trains on the CPU`,
    );
  }
  if (r.nativeThreads) {
    lines.push(
      `threads   native TensorFlow: ${describeNativeThreads(r.nativeThreads)}; ` +
        'change with threads.intra_op / threads.inter_op in the config, TF_NUM_INTRAOP_THREADS / TF_NUM_INTEROP_THREADS, or GZX_CONCURRENT_RUNS=N (runs sharing the machine)',
    );
  }
  return lines.join('\n') + '\n';
}

export default class Doctor extends GzxCommand {
  static summary = 'Check the machine: which TensorFlow.js backends load (and why not), versions, threads.';
  static description =
    'Tries each backend in the order `backend: auto` does (tensorflow-gpu, tensorflow, wasm, cpu) and prints whether it loads, its version and threads, and why it does not; plus node, sharp and JPEG decoder versions.';
  static examples = ['<%= config.bin %> doctor', '<%= config.bin %> doctor --json'];
  static flags = { json: jsonFlag };

  async run(): Promise<void> {
    const { flags } = await this.parse(Doctor);
    const backends = await describeBackends();
    const report: DoctorReport = {
      node: process.version,
      platform: `${process.platform}-${process.arch}`,
      cpus: os.availableParallelism(),
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      tfjs: tf.version.tfjs,
      sharp: await sharpVersions(),
      turbojpeg: { version: packageVersion('@cwasm/jpeg-turbo'), loads: TurboJpeg.available() },
      backends,
      auto: backends.find((b) => b.loads)?.candidate ?? null,
      nativeThreads: backends.find((b) => b.loads && b.nativeThreads)?.nativeThreads ?? null,
      gpu: backends.find((b) => b.candidate === 'tensorflow-gpu')?.loads ? probeGpu() : null,
    };
    process.stdout.write(flags.json ? JSON.stringify(report, null, 2) + '\n' : formatReport(report));
  }
}
