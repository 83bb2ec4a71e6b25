// `npm run bench`: the CPU engine against the libraries users would otherwise pick, side by side
// in one run, on MobileNetV1's depthwise-separable layers and the whole MobileNetV1-224, at each
// thread count of --threads (default 1 and 2): every side runs with the same number of threads
// (tfjs-backend-wasm's threaded build forced on under Node; onnxruntime's intra-op threads).
// Prints median ms, GMAC/s, % of this machine's measured single-core SIMD multiply-add peak
// (test/bench/assembly/simdPeak.ts) and the ratio (peer ms / our ms: above 1 means the engine is faster),
// plus the largest difference between each peer's output and ours (same weights, same input) as
// a check that all compute the same, and how much faster the engine's threads make it.
// Each thread count runs in a child process of its own (tfjs-backend-wasm fixes its thread count
// once per process); the rounds inside it interleave all sides.
//
// Usage: node scripts/bench.mjs [--only=A,B,...,net] [--reps=N] [--threads=1,2] [--webgpu [--real-gpu]] [--no-cpu]
//        node scripts/bench.mjs --corpus   (the coverage of scripts/corpusCoverage.mjs)
//        node scripts/bench.mjs --hover    (the editor's Python features on a 5,000-line file: test/bench/hover.bench.mjs)
// --webgpu adds the WebGPU rows (this engine against tfjs-backend-webgpu on one Dawn device) and
// the kernel throughput figures of that device: a copy kernel's GB/s, each depthwise dispatch's
// GB/s and each pointwise dispatch's GFLOP/s, from GPU timestamps.
// The peers live in test/bench/package.json, out of the extension's dependency tree; they are
// installed there on first use.
import { execFileSync, spawnSync } from 'node:child_process';

import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { benchRows } from '../test/bench/networks.mjs';
import { encodeOnnxModel } from '../test/bench/onnxModel.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const benchDir = join(root, 'test', 'bench');
const args = process.argv.slice(2);
const option = (name) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const only = option('only')?.split(',');
const minReps = Number(option('reps') ?? 7);
const withWebGPU = args.includes('--webgpu');
const withCpu = !args.includes('--no-cpu');
/** Set in the child process that runs the CPU table for one thread count. */
const childThreads = option('cpu-child') === undefined ? undefined : Number(option('cpu-child'));
const threadCounts = (option('threads') ?? '1,2').split(',').map(Number);

// `npm run bench -- --corpus`: the static Python figures against the measured corpus instead.
if (args.includes('--corpus')) {
  const { checkCorpus, coverageTable } = await import('./corpusCoverage.mjs');
  const files = checkCorpus();
  console.log(coverageTable(files));
  process.exit(files.some((f) => f.wrong?.length || f.error) ? 1 : 0);
}

// `npm run bench -- --hover`: the host thread, hover and CodeLens timings of the editor's Python features.
if (args.includes('--hover')) {
  await import(pathToFileURL(join(benchDir, 'hover.bench.mjs')).href);
  process.exit(0);
}

// ---------------------------------------------------------------------------------------------
// Setup: peers on first use, the engine bundle (with the kernels asc builds from our source).

const peers = ['@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-cpu', '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-backend-webgpu', 'onnxruntime-node'];
if (!peers.every((p) => existsSync(join(benchDir, 'node_modules', p, 'package.json')))) {
  console.log('Installing the benchmark peers into test/bench (first run only)...');
  // ONNXRUNTIME_NODE_INSTALL=skip: the CPU build ships in the package; its install script would fetch CUDA files.
  execFileSync('npm', ['install', '--prefix', benchDir, '--no-audit', '--no-fund'], {
    stdio: 'inherit',
    env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' },
  });
}
if (!args.includes('--no-build'))
  execFileSync(process.execPath, [join(root, 'esbuild.mjs'), '--only=engine', '--no-typecheck'], { cwd: root, stdio: 'inherit' });
const engine = await import(pathToFileURL(join(root, 'dist', 'engine.mjs')).href);

const requirePeer = createRequire(join(benchDir, 'package.json'));
if ((childThreads ?? 1) > 1) allowTfjsWasmThreadsInNode();
const tf = requirePeer('@tensorflow/tfjs-core');
requirePeer('@tensorflow/tfjs-backend-cpu');
const tfWasm = requirePeer('@tensorflow/tfjs-backend-wasm');
tfWasm.setWasmPaths(dirname(requirePeer.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm')) + '/');
if (childThreads !== undefined) {
  if (childThreads > 1) tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  tfWasm.setThreadsCount(childThreads);
}

/**
 * tfjs-backend-wasm turns its threaded build off under Node, and its Emscripten loader starts
 * each thread from a blob: URL, which Node's worker_threads cannot load. For the bench only: the
 * blobs it makes (the thread's script, and the module it imports) are written to files and
 * their paths handed out instead, with the bundle's module-scope names the module expects.
 */
function allowTfjsWasmThreadsInNode() {
  const dir = mkdtempSync(join(os.tmpdir(), 'sepconv-bench-tfjs-'));
  const mainFile = join(dir, 'main.js');
  const BaseBlob = globalThis.Blob;
  globalThis.Blob = class extends BaseBlob {
    constructor(parts, options) {
      super(parts, options);
      this.parts = parts;
      const text = parts.join('');
      if (text.startsWith('var WasmBackendModuleThreadedSimd')) {
        writeFileSync(
          mainFile,
          `var require$$0 = require('fs'), require$$1 = require('path'), require$$3 = require('perf_hooks'), require$$4 = require('os'), commonjsGlobal = globalThis;\n${text}`,
        );
      }
    }
  };
  const createObjectURL = URL.createObjectURL;
  URL.createObjectURL = (blob) => {
    if (!blob.parts) return createObjectURL(blob);
    const file = join(dir, 'worker.js');
    writeFileSync(file, `URL.createObjectURL = () => ${JSON.stringify(mainFile)}; URL.revokeObjectURL = () => {};\n${blob.parts.join('')}`);
    return file;
  };
}
const ort = requirePeer('onnxruntime-node');

// ---------------------------------------------------------------------------------------------
// The networks, as model specs of this project; the peers' graphs are made from the same specs
// and the same weights.

const rows = benchRows().filter((row) => !only || only.includes(row.name));

/** Multiply-accumulates of every conv and linear layer. */
function macsOf(model) {
  let macs = 0;
  for (const leaf of model.leaves) {
    const node = leaf.node;
    if (node.op === 'conv2d') {
      const [, cout, oh, ow] = leaf.outShape;
      macs += cout * oh * ow * (node.inChannels / node.groups) * node.kernel[0] * node.kernel[1];
    } else if (node.op === 'linear') macs += node.inFeatures * node.outFeatures;
  }
  return macs;
}

/** The layers as a list of ops with their weights (PyTorch layouts), for the peers. */
function opsOf(model, weights) {
  return model.leaves.flatMap(({ node, outShape }) => {
    if (node.op === 'conv2d') {
      return [{ op: 'conv', node, outShape, weight: weights[`${node.key}.weight`], bias: weights[`${node.key}.bias`] }];
    }
    if (node.op === 'activation') return [{ op: 'relu' }];
    if (node.op === 'adaptiveavgpool2d') return [{ op: 'pool' }];
    if (node.op === 'flatten') return [{ op: 'flatten' }];
    if (node.op === 'linear') return [{ op: 'linear', node, weight: weights[`${node.key}.weight`], bias: weights[`${node.key}.bias`] }];
    throw new Error(`bench: no peer graph for ${node.op}`);
  });
}

// ---------------------------------------------------------------------------------------------
// The runners. Each takes the NCHW input as a Float32Array and returns the output as NCHW (or
// [N, F]) values; conversions to a peer's own layout happen once, outside the timed part.

function nchwToNhwc(data, [n, c, h, w]) {
  const out = new Float32Array(data.length);
  for (let b = 0; b < n; b++) for (let ch = 0; ch < c; ch++) for (let p = 0; p < h * w; p++) out[(b * h * w + p) * c + ch] = data[(b * c + ch) * h * w + p];
  return out;
}

function nhwcToNchw(data, [n, c, h, w]) {
  const out = new Float32Array(data.length);
  for (let b = 0; b < n; b++) for (let ch = 0; ch < c; ch++) for (let p = 0; p < h * w; p++) out[(b * c + ch) * h * w + p] = data[(b * h * w + p) * c + ch];
  return out;
}

/**
 * The engine as the peers are used: prepared once (weights checked and packed, as a session is
 * created or a model loaded), then timed run by run. `forward()` would check and pack the
 * weights on every call.
 */
async function ourRunner(model, weights, inputShape, threads) {
  const session = await engine.prepare(model, weights, { inputShape, threads });
  return {
    run: async (data) => (await session.run({ shape: inputShape, data })).output.data,
    detail: async () => session.backend,
  };
}

/** tfjs with fused conv + bias + ReLU ops (what tfjs-layers' models run), NHWC. */
function tfjsRunner(ops, inputShape) {
  const weights = ops.map((o) => {
    if (o.op === 'conv') {
      const { node, weight } = o;
      const [kh, kw] = node.kernel;
      const depthwise = node.groups === node.inChannels && node.groups > 1;
      const cin = depthwise ? 1 : node.inChannels;
      const cout = node.outChannels;
      // PyTorch [cout][cin][kh][kw] -> TF [kh][kw][cin][cout] (depthwise: [kh][kw][C][1]).
      const filter = new Float32Array(weight.data.length);
      for (let co = 0; co < cout; co++)
        for (let ci = 0; ci < cin; ci++)
          for (let y = 0; y < kh; y++)
            for (let x = 0; x < kw; x++) {
              const to = depthwise ? (y * kw + x) * cout + co : ((y * kw + x) * cin + ci) * cout + co;
              filter[to] = weight.data[((co * cin + ci) * kh + y) * kw + x];
            }
      return { filter: tf.tensor4d(filter, depthwise ? [kh, kw, cout, 1] : [kh, kw, cin, cout]), bias: tf.tensor1d(o.bias.data), depthwise };
    }
    if (o.op === 'linear') {
      const { inFeatures, outFeatures } = o.node;
      const t = new Float32Array(inFeatures * outFeatures);
      for (let i = 0; i < outFeatures; i++) for (let j = 0; j < inFeatures; j++) t[j * outFeatures + i] = o.weight.data[i * inFeatures + j];
      return { matrix: tf.tensor2d(t, [inFeatures, outFeatures]), bias: tf.tensor1d(o.bias.data) };
    }
    return undefined;
  });
  const [n, c, h, w] = inputShape;
  const forwardGraph = (x) => {
    for (let i = 0; i < ops.length; i++) {
      const o = ops[i];
      const fusedRelu = ops[i + 1]?.op === 'relu';
      if (o.op === 'conv') {
        const { node } = o;
        const pad = node.pads[0] === 0 && node.pads[2] === 0 ? 'valid' : node.pads[0];
        const { filter, bias, depthwise } = weights[i];
        const args = { x, filter, strides: node.stride, pad, bias, activation: fusedRelu ? 'relu' : 'linear' };
        x = depthwise ? tf.fused.depthwiseConv2d(args) : tf.fused.conv2d(args);
        if (fusedRelu) i++;
      } else if (o.op === 'relu') x = tf.relu(x);
      else if (o.op === 'pool') x = tf.mean(x, [1, 2], true);
      else if (o.op === 'flatten') x = tf.reshape(x, [x.shape[0], -1]);
      else if (o.op === 'linear') x = tf.add(tf.matMul(x, weights[i].matrix), weights[i].bias);
    }
    return x;
  };
  return {
    prepare: (data) => nchwToNhwc(data, inputShape),
    run: async (nhwc) => {
      const out = tf.tidy(() => forwardGraph(tf.tensor4d(nhwc, [n, h, w, c])));
      const values = await out.data();
      const shape = out.shape;
      out.dispose();
      return shape.length === 4 ? nhwcToNchw(values, [shape[0], shape[3], shape[1], shape[2]]) : values;
    },
  };
}

/** onnxruntime-node with `threads` intra-op threads, the graph written by test/bench/onnxModel.mjs. */
async function onnxRunner(ops, inputShape, outputShape, threads) {
  const nodes = [];
  const initializers = [];
  let current = 'input';
  ops.forEach((o, i) => {
    const out = `t${i}`;
    if (o.op === 'conv') {
      const { node } = o;
      initializers.push({ name: `w${i}`, shape: o.weight.shape, data: o.weight.data }, { name: `b${i}`, shape: o.bias.shape, data: o.bias.data });
      const [top, bottom, left, right] = node.pads;
      nodes.push({
        op: 'Conv',
        inputs: [current, `w${i}`, `b${i}`],
        outputs: [out],
        attributes: {
          kernel_shape: node.kernel,
          strides: node.stride,
          pads: [top, left, bottom, right],
          dilations: node.dilation,
          group: node.groups,
        },
      });
    } else if (o.op === 'relu') nodes.push({ op: 'Relu', inputs: [current], outputs: [out] });
    else if (o.op === 'pool') nodes.push({ op: 'GlobalAveragePool', inputs: [current], outputs: [out] });
    else if (o.op === 'flatten') nodes.push({ op: 'Flatten', inputs: [current], outputs: [out], attributes: { axis: 1 } });
    else if (o.op === 'linear') {
      initializers.push({ name: `w${i}`, shape: o.weight.shape, data: o.weight.data }, { name: `b${i}`, shape: o.bias.shape, data: o.bias.data });
      nodes.push({ op: 'Gemm', inputs: [current, `w${i}`, `b${i}`], outputs: [out], attributes: { transB: 1 } });
    }
    current = out;
  });
  nodes[nodes.length - 1].outputs = ['output'];
  const bytes = encodeOnnxModel({ nodes, initializers, input: { name: 'input', shape: inputShape }, output: { name: 'output', shape: outputShape } });
  const session = await ort.InferenceSession.create(bytes, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    // Its intra-op threads would otherwise spin after each run, holding a core while the next
    // side of the round runs (on a 2-core machine, the core that side's second thread needs).
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  });
  return {
    run: async (data) => (await session.run({ input: new ort.Tensor('float32', data, inputShape) })).output.data,
  };
}

// ---------------------------------------------------------------------------------------------
// Timing: rounds that run every runner once, in turn, so that load from elsewhere on the
// machine spreads over all of them; the median of each.

async function timeAll(runners, input) {
  const wall = runners.map(() => []);
  const cpu = runners.map(() => []);
  const prepared = runners.map((r) => (r.prepare ? r.prepare(input) : input));
  const outputs = [];
  // Warm-up: the JIT tiers up (wasm: Liftoff, then TurboFan), caches fill.
  for (let i = 0; i < runners.length; i++) {
    const warm = runners[i].slow ? 1 : 3;
    for (let k = 0; k < warm; k++) outputs[i] = await runners[i].run(prepared[i]);
  }
  const started = performance.now();
  for (let round = 0; round < 50; round++) {
    for (let i = 0; i < runners.length; i++) {
      if (runners[i].slow && wall[i].length >= 3) continue;
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await runners[i].run(prepared[i]);
      wall[i].push(performance.now() - t0);
      const c = process.cpuUsage(c0);
      cpu[i].push((c.user + c.system) / 1000);
    }
    if (round + 1 >= minReps && performance.now() - started > 2000) break;
  }
  const median = (t) => {
    const s = [...t].sort((a, b) => a - b);
    return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  };
  return { wall: wall.map(median), cpu: cpu.map(median), outputs };
}

function maxRelativeDifference(a, b) {
  let scale = 0;
  let diff = 0;
  for (let i = 0; i < b.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]));
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
  }
  return diff / (scale || 1);
}

// ---------------------------------------------------------------------------------------------

function machine() {
  const cpuinfo = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
  const model = /model name\s*:\s*(.+)/.exec(cpuinfo)?.[1] ?? os.cpus()[0]?.model ?? 'unknown CPU';
  const flags = /flags\s*:\s*(.+)/.exec(cpuinfo)?.[1].split(' ') ?? [];
  const simd = ['avx2', 'fma', 'avx512f'].filter((f) => flags.includes(f)).join(', ');
  return `${model} (${simd || 'no AVX2 listed'}), ${os.cpus().length} cores, Node ${process.version}, load average ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`;
}

const PEERS = [
  { key: 'tfjs-cpu', title: 'tfjs-backend-cpu' },
  { key: 'tfjs-wasm', title: 'tfjs-backend-wasm (XNNPACK SIMD)' },
  { key: 'ort', title: 'onnxruntime-node (MLAS)' },
];

/** GMAC/s of one core running test/bench/assembly/simdPeak.ts (the best of a few runs): what a kernel could reach at most. */
function simdPeakGmacs() {
  // Kept in dist/ so that --no-build can run it where the compiler is not installed.
  const wasm = join(root, 'dist', 'benchSimdPeak.wasm');
  if (!args.includes('--no-build') || !existsSync(wasm))
    execFileSync(
      process.execPath,
      [
        join(root, 'node_modules/assemblyscript/bin/asc.js'),
        join(benchDir, 'assembly', 'simdPeak.ts'),
        '--enable',
        'simd',
        '-O3',
        '--runtime',
        'stub',
        '-o',
        wasm,
      ],
      { cwd: root },
    );
  const { madds } = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(wasm))).exports;
  madds(1e6);
  let best = 0;
  for (let i = 0; i < 7; i++) {
    const iterations = 1e7;
    const t0 = performance.now();
    madds(iterations);
    best = Math.max(best, (iterations * 48) / ((performance.now() - t0) / 1000) / 1e9);
  }
  return best;
}

const results = [];
let peak;
if (childThreads === undefined) console.log(`\nMachine: ${machine()}`);
if (withCpu && childThreads === undefined) {
  // One child per thread count; each prints its tables and leaves its figures for the summary.
  const summaries = [];
  for (const threads of threadCounts) {
    const jsonOut = join(os.tmpdir(), `sepconv-bench-${process.pid}-${threads}.json`);
    const forwarded = args.filter((a) => a.startsWith('--only=') || a.startsWith('--reps='));
    const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), `--cpu-child=${threads}`, `--json-out=${jsonOut}`, '--no-build', ...forwarded], {
      stdio: 'inherit',
    });
    if (child.status !== 0) throw new Error(`bench: the ${threads}-thread run failed (exit ${child.status ?? child.signal})`);
    summaries.push(JSON.parse(readFileSync(jsonOut, 'utf8')));
  }
  const one = summaries.find((s) => s.threads === 1);
  if (one && summaries.length > 1) {
    console.log('\nThreads: the engine at each thread count against itself at one thread (median wall-clock ms; speedup = 1-thread ms / n-thread ms)\n');
    const others = summaries.filter((s) => s !== one);
    console.log(`| Layer | 1 thread ms | ${others.map((s) => `${s.threads} threads ms | speedup`).join(' | ')} |`);
    console.log(`|:---|---:|${others.map(() => '---:|---:').join('|')}|`);
    for (const row of one.rows) {
      const cells = others.map((s) => {
        const ms = s.rows.find((r) => r.name === row.name)?.wall;
        return ms === undefined ? 'n/a | n/a' : `${fmt(ms)} | ${(row.wall / ms).toFixed(2)}x`;
      });
      console.log(`| ${row.label} | ${fmt(row.wall)} | ${cells.join(' | ')} |`);
    }
  }
}
if (childThreads !== undefined) {
  peak = simdPeakGmacs();
  await tf.setBackend('wasm'); // initialises the backend: its thread count is known from here on
  console.log(
    `\n${childThreads} thread${childThreads > 1 ? 's' : ''} on every side: the engine's threads option, tfjs-backend-wasm's setThreadsCount (it reports ${tfWasm.getThreadsCount()} after init), onnxruntime intra-op threads = ${childThreads}; tfjs-backend-cpu has one thread`,
  );
  console.log(`One core's 128-bit WebAssembly SIMD multiply-add peak, measured now: ${peak.toFixed(1)} GMAC/s`);
}
for (const row of withCpu && childThreads !== undefined ? rows : []) {
  const model = engine.resolveModel(row.spec, { inputShape: row.inputShape });
  const weights = engine.initWeights(model, { seed: 7 });
  const input = new Float32Array(row.inputShape.reduce((a, b) => a * b, 1));
  let state = 12345;
  for (let i = 0; i < input.length; i++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    input[i] = state / 2 ** 32;
  }
  const ops = opsOf(model, weights);
  await tf.setBackend('cpu');
  const tfCpu = tfjsRunner(ops, row.inputShape);
  await tf.setBackend('wasm');
  const tfWasmRun = tfjsRunner(ops, row.inputShape);
  const switching = (backend, runner) => ({
    ...runner,
    run: async (x) => {
      if (tf.getBackend() !== backend) await tf.setBackend(backend);
      return runner.run(x);
    },
  });
  const runners = [
    await ourRunner(model, weights, row.inputShape, childThreads),
    { ...switching('cpu', tfCpu), slow: true },
    switching('wasm', tfWasmRun),
    await onnxRunner(ops, row.inputShape, model.outputShape, childThreads),
  ];
  const detail = await runners[0].detail(input);
  const { wall, cpu, outputs } = await timeAll(runners, input);
  const result = { row, macs: macsOf(model), detail, wall: wall[0], cpu: cpu[0], peers: {} };
  PEERS.forEach((peer, i) => {
    result.peers[peer.key] = { wall: wall[i + 1], cpu: cpu[i + 1], diff: maxRelativeDifference(outputs[i + 1], outputs[0]) };
  });
  results.push(result);
  const cells = PEERS.map((p) => `${p.key} ${result.peers[p.key].wall.toFixed(2)} ms (x${(result.peers[p.key].wall / result.wall).toFixed(2)})`).join(', ');
  console.log(`  ${row.label}: ours ${result.wall.toFixed(2)} ms [${detail}], ${cells}`);
}

// ---------------------------------------------------------------------------------------------
// WebGPU rows (--webgpu): the engine's backend 'webgpu' against tfjs-backend-webgpu, both on one
// Dawn device from the `webgpu` package (here SwiftShader, a GPU emulated on the CPU: the numbers
// say little about real GPUs, but both sides run on the same one). Wall clock, readback included.

const gpuResults = [];
if (withWebGPU && childThreads === undefined) {
  // SwiftShader unless --real-gpu: then Dawn takes the machine's own Vulkan driver (its GPU).
  if (!args.includes('--real-gpu')) process.env.VK_ICD_FILENAMES ??= '/usr/lib/chromium/vk_swiftshader_icd.json';
  const { create, globals } = await import('webgpu');
  Object.assign(globalThis, globals);
  // Dawn rounds timestamps (a guard against timing attacks on the web); the kernel figures need them as measured.
  const gpu = create(['disable-dawn-features=timestamp_quantization']);
  // tfjs-backend-webgpu looks for navigator.gpu when it is loaded.
  if (!globalThis.navigator) Object.defineProperty(globalThis, 'navigator', { value: {}, configurable: true });
  globalThis.navigator.gpu = gpu;
  const adapter = await gpu.requestAdapter();
  if (!adapter) throw new Error('bench --webgpu: no WebGPU adapter (is VK_ICD_FILENAMES set?)');
  const limits = adapter.limits;
  const device = await adapter.requestDevice({
    // Timestamps, where the adapter has them: per-dispatch GPU times for the throughput table.
    requiredFeatures: adapter.features.has('timestamp-query') ? ['timestamp-query'] : [],
    requiredLimits: {
      maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
      maxComputeWorkgroupsPerDimension: limits.maxComputeWorkgroupsPerDimension,
      maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
      maxBufferSize: limits.maxBufferSize,
      maxComputeWorkgroupSizeX: limits.maxComputeWorkgroupSizeX,
      maxComputeInvocationsPerWorkgroup: limits.maxComputeInvocationsPerWorkgroup,
    },
  });
  const { WebGPUBackend } = requirePeer('@tensorflow/tfjs-backend-webgpu');
  // Its kernels are registered for the name 'webgpu': the same name, on our device instead of its own.
  tf.removeBackend('webgpu');
  tf.registerBackend('webgpu', () => new WebGPUBackend(device, adapter.info), 0);
  const adapterName = [adapter.info?.vendor, adapter.info?.architecture, adapter.info?.description].filter(Boolean).join(' ') || 'unknown adapter';
  console.log(`\nWebGPU: ${adapterName}`);
  // The model prepared once (weights uploaded once), as tfjs holds its weight tensors.
  const webgpuBundle = join(root, 'dist', 'benchWebgpu.mjs');
  // --no-build runs the bundle a previous run left (a machine without the build tools).
  if (!args.includes('--no-build') || !existsSync(webgpuBundle))
    await (
      await import('esbuild')
    ).build({
      entryPoints: [join(root, 'src/engine/webgpu/index.ts')],
      bundle: true,
      platform: 'node',
      format: 'esm',
      outfile: webgpuBundle,
      logLevel: 'warning',
    });
  const { WebGPUModel } = await import(pathToFileURL(webgpuBundle).href);
  gpuResults.copyGBs = await copyKernelGBs(device);
  for (const row of rows) {
    const model = engine.resolveModel(row.spec, { inputShape: row.inputShape });
    const weights = engine.initWeights(model, { seed: 7 });
    const input = Float32Array.from({ length: row.inputShape.reduce((a, b) => a * b, 1) }, (_, i) => ((i * 7919) % 1000) / 1000);
    await tf.setBackend('webgpu');
    const tfGpu = tfjsRunner(opsOf(model, weights), row.inputShape);
    // Ours: a prepared session of the public API (weights resident, one submit and one readback per run).
    const session = await engine.prepare(model, weights, { backend: 'webgpu', device });
    const runners = [
      { run: async (data) => (await session.run({ shape: row.inputShape, data })).output.data },
      {
        ...tfGpu,
        run: async (x) => {
          if (tf.getBackend() !== 'webgpu') await tf.setBackend('webgpu');
          return tfGpu.run(x);
        },
      },
    ];
    const { wall, outputs } = await timeAll(runners, input);
    session.dispose();
    // Per-dispatch GPU times come from the compiled model itself (its stages and plan steps).
    const compiled = await WebGPUModel.create(device, model, weights);
    const kernels = await kernelThroughput(compiled, model, input);
    compiled.dispose();
    gpuResults.push({ row, macs: macsOf(model), ours: wall[0], tfjs: wall[1], diff: maxRelativeDifference(outputs[1], outputs[0]), kernels });
    console.log(`  ${row.label}: ours ${wall[0].toFixed(2)} ms, tfjs-backend-webgpu ${wall[1].toFixed(2)} ms`);
  }
}

/**
 * A plain copy kernel's bandwidth on the device (64 MiB read + 64 MiB written, vec4 per thread),
 * the yardstick for the depthwise kernel, which should read and write about as fast. GPU time from
 * timestamp queries; wall time of the submit when the device has none.
 */
async function copyKernelGBs(device) {
  const bytes = 64 * 2 ** 20;
  const src = device.createBuffer({ size: bytes, usage: GPUBufferUsage.STORAGE });
  const dst = device.createBuffer({ size: bytes, usage: GPUBufferUsage.STORAGE });
  const module = device.createShaderModule({
    code: `
@group(0) @binding(0) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4<f32>>;
@compute @workgroup_size(256) fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  if (g.x < arrayLength(&src)) { dst[g.x] = src[g.x]; }
}`,
  });
  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  const bindGroup = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [
      { binding: 0, resource: { buffer: src } },
      { binding: 1, resource: { buffer: dst } },
    ],
  });
  const timestamps = device.features.has('timestamp-query');
  const querySet = timestamps ? device.createQuerySet({ type: 'timestamp', count: 2 }) : undefined;
  const resolve = timestamps ? device.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC }) : undefined;
  const read = timestamps ? device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }) : undefined;
  const times = [];
  for (let rep = 0; rep < 6; rep++) {
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass(querySet ? { timestampWrites: { querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } } : {});
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(bytes / 16 / 256);
    pass.end();
    if (querySet) {
      encoder.resolveQuerySet(querySet, 0, 2, resolve, 0);
      encoder.copyBufferToBuffer(resolve, 0, read, 0, 16);
    }
    const t0 = performance.now();
    device.queue.submit([encoder.finish()]);
    await device.queue.onSubmittedWorkDone();
    let ms = performance.now() - t0;
    if (read) {
      await read.mapAsync(GPUMapMode.READ);
      const [begin, end] = new BigInt64Array(read.getMappedRange().slice(0));
      read.unmap();
      ms = Number(end - begin) / 1e6;
    }
    if (rep > 0) times.push(ms); // the first is a warm-up
  }
  for (const b of [src, dst, resolve, read]) b?.destroy();
  querySet?.destroy();
  times.sort((a, b) => a - b);
  return (2 * bytes) / times[times.length >> 1] / 1e6;
}

/**
 * GPU time per dispatch (timestamps), as achieved throughput: GB/s of each depthwise conv (input
 * + output + weights), GFLOP/s (2 per MAC) of each pointwise conv. Undefined without timestamps.
 */
async function kernelThroughput(compiled, model, input) {
  const runs = [];
  for (let rep = 0; rep < 5; rep++) runs.push((await compiled.run({ shape: model.inputShape, data: input })).timings.stages);
  if (runs[0].length === 0) return undefined;
  const stageMs = (key) => {
    const ms = runs
      .map((stages) => stages.filter((s) => compiled.plan.steps[s.step].leafKeys.includes(key)).reduce((a, s) => a + s.ms, 0))
      .sort((a, b) => a - b);
    return ms[ms.length >> 1];
  };
  let dwBytes = 0,
    dwMs = 0,
    pwFlops = 0,
    pwMs = 0;
  for (const leaf of model.leaves) {
    if (leaf.node.op !== 'conv2d') continue;
    const [, cout, oh, ow] = leaf.outShape;
    const [, cin, h, w] = leaf.inShape;
    if (leaf.role === 'depthwise') {
      dwBytes += 4 * (cin * h * w + cout * oh * ow + cout * (leaf.node.kernel[0] * leaf.node.kernel[1] + 1));
      dwMs += stageMs(leaf.node.key);
    } else if (leaf.role === 'pointwise') {
      pwFlops += 2 * cout * cin * oh * ow;
      pwMs += stageMs(leaf.node.key);
    }
  }
  return { dwGBs: dwMs ? dwBytes / dwMs / 1e6 : undefined, pwGFlops: pwMs ? pwFlops / pwMs / 1e6 : undefined };
}

function fmt(ms) {
  return ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2);
}
function table(measure) {
  const header = ['Layer', 'MMAC', 'SepConv Lab ms', 'GMAC/s', "% of one core's peak", ...PEERS.flatMap((p) => [`${p.title} ms`, 'ratio'])];
  const lines = [`| ${header.join(' | ')} |`, `|${header.map((_, i) => (i === 0 ? ':---' : '---:')).join('|')}|`];
  for (const r of results) {
    lines.push(
      `| ${[
        r.row.label,
        (r.macs / 1e6).toFixed(1),
        fmt(r[measure]),
        (r.macs / r[measure] / 1e6).toFixed(1),
        `${((100 * r.macs) / r[measure] / 1e6 / peak).toFixed(0)}%`,
        ...PEERS.flatMap((p) => [fmt(r.peers[p.key][measure]), `${(r.peers[p.key][measure] / r[measure]).toFixed(2)}x`]),
      ].join(' | ')} |`,
    );
  }
  return lines.join('\n');
}
if (childThreads !== undefined) {
  writeFileSync(
    option('json-out'),
    JSON.stringify({
      threads: childThreads,
      peak,
      rows: results.map((r) => ({ name: r.row.name, label: r.row.label, wall: r.wall, cpu: r.cpu, peers: r.peers })),
    }),
  );
}
console.log(
  `\nLoad average at the end: ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')} (${os.cpus().length} cores)`,
);
console.log('Batch 1, input in and output out included; ratio = peer / ours (above 1: the engine is faster).');
console.log(
  'Every side is timed on a prepared model: ours from prepare() (weights checked and packed once), onnxruntime on a created session, tfjs on weight tensors made once.',
);
if (results.length) {
  console.log('\nMedian wall-clock ms per forward pass:\n');
  console.log(table('wall'));
  // On a shared machine the process's own CPU time is the steadier measure: it leaves out the time
  // spent waiting for a core (every side here runs on one thread).
  console.log('\nMedian CPU ms of this process per forward pass (process.cpuUsage, user + system):\n');
  console.log(table('cpu'));
}
if (gpuResults.length) {
  console.log('\nWebGPU, median wall-clock ms per forward pass (same Dawn device on both sides):\n');
  console.log('| Layer | MMAC | SepConv Lab webgpu ms | GMAC/s | tfjs-backend-webgpu ms | ratio |');
  console.log('|:---|---:|---:|---:|---:|---:|');
  for (const r of gpuResults) {
    console.log(
      `| ${r.row.label} | ${(r.macs / 1e6).toFixed(1)} | ${fmt(r.ours)} | ${(r.macs / r.ours / 1e6).toFixed(1)} | ${fmt(r.tfjs)} | ${(r.tfjs / r.ours).toFixed(2)}x |`,
    );
  }
  const copy = gpuResults.copyGBs;
  console.log(`\nWebGPU kernel throughput (GPU timestamps; a copy kernel moves ${copy.toFixed(1)} GB/s on this device):\n`);
  console.log('| Layer | depthwise GB/s | % of copy | pointwise GFLOP/s |');
  console.log('|:---|---:|---:|---:|');
  for (const r of gpuResults) {
    const k = r.kernels;
    const cell = (v, digits = 1) => (v === undefined ? 'n/a' : v.toFixed(digits));
    console.log(
      `| ${r.row.label} | ${cell(k?.dwGBs)} | ${k?.dwGBs === undefined ? 'n/a' : `${((100 * k.dwGBs) / copy).toFixed(0)}%`} | ${cell(k?.pwGFlops)} |`,
    );
  }
}
const differences = [...results.flatMap((r) => PEERS.map((p) => r.peers[p.key].diff)), ...gpuResults.map((r) => r.diff)];
const worst = Math.max(...differences);
if (differences.length) console.log(`\nLargest difference of any peer's output from ours, relative to the output's largest value: ${worst.toExponential(1)}`);
