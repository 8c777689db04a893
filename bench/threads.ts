// The native backend's thread settings against each other: one gzx process per setting (libtensorflow
// reads its pool sizes once, at load), all idle but the one whose turn it is, alternating turns of
// the same training/inference work as bench/peers.ts. Defaults compare intra/inter-op 2/1, 2/2, 1/1.
// A setting `2/1@DIR` loads libtensorflow from DIR instead (LD_LIBRARY_PATH, ahead of the addon's
// runpath): how another TensorFlow release's libtensorflow_cc.so.2 compares, without rebuilding.
//   npx vite-node bench/threads.ts -- --threads-table [--settings 2/1,2/2,1/1] [--rows cnn64,r18_64] [--turns 4]
import 'reflect-metadata';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));

function listArg(name: string): string[] | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1].split(',') : undefined;
}

/** Worker: loads gzx with the thread env it was started with, then serves setup/train/infer turns. */
async function worker(): Promise<void> {
  const { selectBackend } = await import('../src/runtime/backend.js');
  const { gzxSide } = await import('./peers.js');
  const { MODELS } = await import('./train.js');
  const report = await selectBackend('tensorflow', () => {});
  const reply = (o: unknown) => process.stdout.write(JSON.stringify(o) + '\n');
  const tf = await import('@tensorflow/tfjs');
  const binding = (tf.backend() as unknown as { binding: { TF_Version: string } }).binding;
  reply({ ok: true, threads: report.nativeThreads, tensorflow: binding.TF_Version });
  let side: Awaited<ReturnType<typeof gzxSide>> | null = null;
  for await (const line of readline.createInterface({ input: process.stdin })) {
    const msg = JSON.parse(line) as { cmd: string; model?: string; ms?: number };
    if (msg.cmd === 'setup') {
      side?.dispose();
      side = await gzxSide(MODELS.find((m) => m.id === msg.model)!);
      reply({ ok: true });
    } else if (msg.cmd === 'train' || msg.cmd === 'infer') {
      reply({ ok: true, ...side!.run(msg.cmd, msg.ms!) });
    } else {
      reply({ ok: true });
      process.exit(0);
    }
  }
}

async function main(): Promise<void> {
  const settings = listArg('--settings') ?? ['2/1', '2/2', '1/1'];
  const rows = listArg('--rows') ?? ['cnn64', 'r18_64'];
  const turns = Number(listArg('--turns')?.[0] ?? 4);
  const turnMs = { train: Number(listArg('--train-ms')?.[0] ?? 3000), infer: Number(listArg('--infer-ms')?.[0] ?? 1500) };
  const viteNode = path.join(path.dirname(createRequire(import.meta.url).resolve('vite-node/package.json')), 'vite-node.mjs');
  const workers = settings.map((s) => {
    const [pools, libDir] = s.split('@');
    const [intra, inter] = pools.split('/');
    const env: NodeJS.ProcessEnv = { ...process.env, TF_NUM_INTRAOP_THREADS: intra, TF_NUM_INTEROP_THREADS: inter };
    if (libDir) env.LD_LIBRARY_PATH = [libDir, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':');
    const child = spawn(process.execPath, [viteNode, path.join(HERE, 'threads.ts'), '--', '--worker'], {
      stdio: ['pipe', 'pipe', 'ignore'],
      env,
    });
    const lines = readline.createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const read = async () => {
      for (;;) {
        const next = await lines.next();
        if (next.done) throw new Error(`worker ${s} ended`);
        if (next.value.startsWith('{')) return JSON.parse(next.value) as Record<string, unknown>;
      }
    };
    const request = async (o: unknown) => {
      child.stdin.write(JSON.stringify(o) + '\n');
      return read();
    };
    return { setting: s, child, read, request };
  });
  for (const w of workers) {
    const hello = await w.read();
    console.log(`${w.setting}: TensorFlow ${String(hello.tensorflow)}, ${JSON.stringify(hello.threads)}`);
  }
  for (const row of rows) {
    for (const w of workers) await w.request({ cmd: 'setup', model: row });
    for (const phase of ['train', 'infer'] as const) {
      const ips: Record<string, number[]> = Object.fromEntries(settings.map((s) => [s, []]));
      for (let t = 0; t < turns; t++) {
        const order = [...workers.slice(t % workers.length), ...workers.slice(0, t % workers.length)];
        for (const w of order) {
          const r = (await w.request({ cmd: phase, ms: turnMs[phase] })) as { images: number; ms: number };
          ips[w.setting].push(r.images / (r.ms / 1000));
        }
      }
      const med = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
      console.log(
        `${row} ${phase}: ` + settings.map((s) => `${s} ${med(ips[s]).toFixed(1)} img/s (${ips[s].map((v) => v.toFixed(0)).join(' ')})`).join(' | '),
      );
    }
  }
  for (const w of workers) await w.request({ cmd: 'quit' }).catch(() => {});
}

if (process.argv.includes('--worker')) {
  worker().catch((e) => {
    console.error(e);
    process.exit(1);
  });
} else if (process.argv.includes('--threads-table')) {
  main().catch((e) => {
    console.error(e);
    process.exitCode = 1;
  });
}
