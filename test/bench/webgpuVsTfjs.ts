/**
 * WebGPU rows of the bench: this engine against @tensorflow/tfjs-backend-webgpu on the same Dawn
 * device, layers A-F (dw 3x3 + bias + ReLU, pw 1x1 + bias + ReLU) and MobileNetV1-224 (tfjs with
 * BN folded into fused convs). Each figure is the median wall time of a forward pass, input
 * upload to readback. Run (bundled, tfjs from test/bench/node_modules):
 *   npx esbuild test/bench/webgpuVsTfjs.ts --bundle --platform=node --format=esm --external:webgpu \
 *     --banner:js="import {createRequire} from 'module'; const require = createRequire(import.meta.url);" \
 *     --outfile=test/bench/.webgpu.mjs && VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json node test/bench/.webgpu.mjs A,B,C,D,E,F,net 5
 */
import { resolveModel, type ModelSpec } from '../../src/shared/spec';
import { getPreset } from '../../src/shared/presets';
import { initWeights } from '../../src/engine/weights';
import { getHostDevice } from '../../src/engine/gpuDevice';
import { benchWebGPU } from '../../src/engine/webgpu/index';
import * as tf from '@tensorflow/tfjs-core';
import { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';

const which = (process.argv[2] ?? 'A,B,C,D,E,F,net').split(',');
const reps = Number(process.argv[3] ?? 5);
const r = await getHostDevice();
if (!r.ok) throw new Error(r.reason);
const device = r.device;
const { create } = await import('webgpu');
Object.defineProperty(globalThis, 'navigator', { value: { gpu: create([]), userAgent: 'node' }, configurable: true });
tf.registerBackend('webgpu', () => new WebGPUBackend(device as unknown as ConstructorParameters<typeof WebGPUBackend>[0]), 10);
await tf.setBackend('webgpu');
await tf.ready();

const layers: Record<string, [number, number, number, number]> = { A: [32, 112, 1, 64], B: [64, 112, 2, 128], C: [128, 56, 1, 128], D: [256, 28, 1, 256], E: [512, 14, 1, 512], F: [1024, 7, 1, 1024] };
function rand(n: number, seed = 1) { const d = new Float32Array(n); let s = seed; for (let i = 0; i < n; i++) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; d[i] = (s / 2 ** 32 - 0.5) * 0.2; } return d; }
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;

async function tfjsTime(run: () => tf.Tensor, n: number) {
  const w = run(); await w.data(); w.dispose();
  const times: number[] = [];
  for (let i = 0; i < n; i++) { const t0 = performance.now(); const y = run(); await y.data(); y.dispose(); times.push(performance.now() - t0); }
  return median(times);
}

for (const name of which) {
  let spec: ModelSpec;
  let tfRun: () => tf.Tensor;
  const held: tf.Tensor[] = [];
  if (name === 'net') {
    spec = getPreset('mobilenet_v1')!;
    const model = resolveModel(spec);
    const weights = initWeights(model, { seed: 1 });
    // tfjs: the same net with BN folded into fused convs (as a converted graph model runs it).
    const x = tf.tensor4d(rand(224 * 224 * 3), [1, 224, 224, 3]); held.push(x);
    const ops: Array<(t: tf.Tensor4D) => tf.Tensor4D> = [];
    ops.push((t) => tf.fused.conv2d({ x: t, filter: held[held.push(tf.tensor4d(rand(27 * 32, 2), [3, 3, 3, 32])) - 1] as tf.Tensor4D, strides: 2, pad: 'same', bias: held[held.push(tf.tensor1d(rand(32, 3))) - 1], activation: 'relu' }));
    let c = 32;
    for (const [out, s] of [[64, 1], [128, 2], [128, 1], [256, 2], [256, 1], [512, 2], [512, 1], [512, 1], [512, 1], [512, 1], [512, 1], [1024, 2], [1024, 1]] as const) {
      const dw = tf.tensor4d(rand(9 * c, c), [3, 3, c, 1]); const db = tf.tensor1d(rand(c, 5)); const pw = tf.tensor4d(rand(c * out, out), [1, 1, c, out]); const pb = tf.tensor1d(rand(out, 7));
      held.push(dw, db, pw, pb);
      ops.push((t) => tf.fused.conv2d({ x: tf.fused.depthwiseConv2d({ x: t, filter: dw as tf.Tensor4D, strides: s, pad: 'same', bias: db, activation: 'relu' }), filter: pw as tf.Tensor4D, strides: 1, pad: 'same', bias: pb, activation: 'relu' }));
      c = out;
    }
    const fc = tf.tensor2d(rand(1024 * 1000, 9), [1024, 1000]); const fb = tf.tensor1d(rand(1000, 11)); held.push(fc, fb);
    tfRun = () => tf.tidy(() => { let t = x as tf.Tensor4D; for (const op of ops) t = op(t); return tf.add(tf.matMul(tf.mean(t, [1, 2]) as tf.Tensor2D, fc as tf.Tensor2D), fb); });
    const input = { shape: [1, 3, 224, 224], data: rand(3 * 224 * 224) };
    const ours = await benchWebGPU(device, model, weights, input, reps);
    const theirs = await tfjsTime(tfRun, reps);
    console.log(`${name}: ours ${ours.medianMs.toFixed(1)} ms (${ours.dispatches} dispatches), tfjs-webgpu ${theirs.toFixed(1)} ms, ratio ${(theirs / ours.medianMs).toFixed(2)}x`);
  } else {
    const [c, hw, s, out] = layers[name]!;
    spec = { name, input_shape: [1, c, hw, hw], layers: [{ type: 'DepthwiseSeparable', in_channels: c, out_channels: out, stride: s, bias: true, batch_norm: false, activation: 'ReLU' }] };
    const model = resolveModel(spec);
    const weights = initWeights(model, { seed: 1 });
    const input = { shape: [1, c, hw, hw], data: rand(c * hw * hw) };
    const x = tf.tensor4d(rand(c * hw * hw), [1, hw, hw, c]); const dw = tf.tensor4d(rand(9 * c, 2), [3, 3, c, 1]); const db = tf.tensor1d(rand(c, 3));
    const pw = tf.tensor4d(rand(c * out, 4), [1, 1, c, out]); const pb = tf.tensor1d(rand(out, 5));
    tfRun = () => tf.tidy(() => tf.fused.conv2d({ x: tf.fused.depthwiseConv2d({ x: x as tf.Tensor4D, filter: dw as tf.Tensor4D, strides: s, pad: 'same', bias: db, activation: 'relu' }), filter: pw as tf.Tensor4D, strides: 1, pad: 'same', bias: pb, activation: 'relu' }));
    const ours = await benchWebGPU(device, model, weights, input, reps);
    const theirs = await tfjsTime(tfRun, reps);
    console.log(`${name}: ours ${ours.medianMs.toFixed(1)} ms (${ours.dispatches} dispatches), tfjs-webgpu ${theirs.toFixed(1)} ms, ratio ${(theirs / ours.medianMs).toFixed(2)}x`);
    held.push(x, dw, db, pw, pb);
  }
  held.forEach((t) => t.dispose());
}
process.exit(0);
