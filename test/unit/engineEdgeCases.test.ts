/**
 * The engine at its edges: BatchNorm at the limits of float32 gives PyTorch's result fused or
 * not, seeds use every bit they claim, an input changed after the call is not seen, and a CPU
 * run stops mid-way when a timer aborts it.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { runForwardCommand } from '../../src/cli/forward';
import { CancelledError } from '../../src/engine/errors';
import { forward } from '../../src/engine/forward';
import { getHostDevice, resetHostDevice } from '../../src/engine/gpuDevice';
import { prepare } from '../../src/engine/preparedModel';
import { initWeights, parseWeightSource } from '../../src/engine/weights';
import type { WeightMap } from '../../src/engine/types';
import { readNpy, writeNpy } from '../../src/io/npy';
import { writeSafetensors } from '../../src/io/safetensors';
import { resolveModel, type ModelSpec } from '../../src/shared/spec';
import { FIXTURE_DIR } from './fixtureLoader';
import { captureOutput } from './cliCapture';

interface EdgeCase {
  name: string;
  conv_weight: number;
  bn_weight: number;
  bn_bias?: number;
  running_mean?: number;
  running_var?: number;
  eps?: number;
  input: number;
  output: number | string;
  batchnorm_alone_output: number | string;
}

/** Made by test/fixtures/batchnormEdgeCases.py with PyTorch. */
const { cases } = JSON.parse(readFileSync(join(FIXTURE_DIR, 'batchnormEdgeCases.json'), 'utf8')) as { cases: EdgeCase[] };
const value = (v: number | string) => (typeof v === 'number' ? v : Number(v));
const one = (v: number) => ({ shape: [1], data: new Float32Array([v]) });

function edgeModel(c: EdgeCase, withConv = true): { spec: ModelSpec; weights: WeightMap } {
  const bn = { type: 'BatchNorm2d' as const, num_features: 1, ...(c.eps !== undefined ? { eps: c.eps } : {}) };
  const prefix = withConv ? '1' : '0';
  const weights: WeightMap = {
    [`${prefix}.weight`]: one(c.bn_weight),
    [`${prefix}.bias`]: one(c.bn_bias ?? 0),
    [`${prefix}.running_mean`]: one(c.running_mean ?? 0),
    [`${prefix}.running_var`]: one(c.running_var ?? 1),
    [`${prefix}.num_batches_tracked`]: one(0),
  };
  if (withConv) weights['0.weight'] = { shape: [1, 1, 1, 1], data: new Float32Array([c.conv_weight]) };
  const layers = withConv ? [{ type: 'Conv2d' as const, in_channels: 1, out_channels: 1, kernel_size: 1, bias: false }, bn] : [bn];
  return { spec: { input_shape: [1, 1, 1, 1], layers }, weights };
}

const x = (c: EdgeCase) => ({ shape: [1, 1, 1, 1], data: new Float32Array([c.input]) });

describe('BatchNorm at the edges of float32 gives what PyTorch gives', () => {
  for (const c of cases) {
    it(`${c.name}: conv + BatchNorm, fused and unfused, forward() and prepare()`, async () => {
      const { spec, weights } = edgeModel(c);
      const expected = Math.fround(value(c.output));
      for (const fuse of [true, false]) {
        expect({ fuse, out: (await forward(spec, weights, x(c), { fuse })).output.data[0] }).toEqual({ fuse, out: expected });
        const prepared = await prepare(spec, weights, { fuse });
        expect({ fuse, prepared: (await prepared.run(x(c))).output.data[0] }).toEqual({ fuse, prepared: expected });
      }
    });

    it(`${c.name}: BatchNorm alone`, async () => {
      const { spec, weights } = edgeModel(c, false);
      expect((await forward(spec, weights, x(c))).output.data[0]).toBe(Math.fround(value(c.batchnorm_alone_output)));
    });
  }

  it('a prepared model switches per run: the input that overflows PyTorch overflows, the one that does not, does not', async () => {
    const overflowing = cases.find((c) => c.name === 'conv_output_overflows')!;
    const inRange = cases.find((c) => c.name === 'conv_output_in_range')!;
    const { spec, weights } = edgeModel(overflowing);
    const prepared = await prepare(spec, weights);
    expect((await prepared.run(x(inRange))).output.data[0]).toBe(Math.fround(value(inRange.output)));
    expect((await prepared.run(x(overflowing))).output.data[0]).toBe(Infinity);
    expect((await prepared.run(x(inRange))).output.data[0]).toBe(Math.fround(value(inRange.output)));
  });

  it('the CLI writes the folded-overflow case instead of refusing it', async () => {
    const c = cases.find((e) => e.name === 'folded_weight_overflows')!;
    const { spec, weights } = edgeModel(c);
    const dir = mkdtempSync(join(tmpdir(), 'sepconv-bn-'));
    writeFileSync(join(dir, 'm.json'), JSON.stringify(spec));
    writeFileSync(join(dir, 'w.safetensors'), writeSafetensors(weights));
    writeFileSync(join(dir, 'x.npy'), writeNpy(x(c)));
    const printed = captureOutput();
    expect(await runForwardCommand(['--model', join(dir, 'm.json'), '--input', join(dir, 'x.npy'), '--weights', join(dir, 'w.safetensors'), '--output', join(dir, 'y.npy')], printed.io)).toBe(0);
    expect(printed.err).toEqual([]);
    expect(readNpy(readFileSync(join(dir, 'y.npy'))).data[0]).toBe(Math.fround(value(c.output)));
  });
});

describe('BatchNorm at the edges of float32 on WebGPU (SwiftShader here, as in the WebGPU suite)', () => {
  let device: GPUDevice;
  beforeAll(async () => {
    process.env.VK_ICD_FILENAMES ??= '/usr/lib/chromium/vk_swiftshader_icd.json';
    const result = await getHostDevice();
    if (!result.ok) throw new Error(`no WebGPU device, so the WebGPU cases cannot run: ${result.reason}`);
    device = result.device;
  });
  afterAll(async () => {
    await resetHostDevice();
  });

  it('every case, fused and unfused, gives what PyTorch gives', async () => {
    for (const c of cases) {
      const { spec, weights } = edgeModel(c);
      for (const fuse of [true, false]) {
        const out = (await forward(spec, weights, x(c), { backend: 'webgpu', device, fuse })).output.data[0];
        expect({ name: c.name, fuse, out }).toEqual({ name: c.name, fuse, out: Math.fround(value(c.output)) });
      }
    }
  });
});

describe('--init seed:N', () => {
  const model = resolveModel({ input_shape: [1, 3, 8, 8], layers: [{ type: 'Conv2d', in_channels: 3, out_channels: 4, kernel_size: 3 }] });

  it('refuses seeds of 2^32 and more, which the 32-bit generator would fold onto smaller ones', () => {
    expect(() => initWeights(model, { seed: 2 ** 32 })).toThrow(/the seed must be below 2\^32 = 4294967296 .*got 4294967296/);
    expect(() => parseWeightSource('seed:4294967296')).toThrow(/^--init seed:N: the seed must be below 2\^32 = 4294967296 \(the generator keeps 32 bits\), got 4294967296$/);
    expect(() => parseWeightSource('seed:99999999999999999999')).toThrow(/below 2\^32/);
    expect(() => initWeights(model, { seed: 1.5 })).toThrow(/non-negative integer/);
    expect(parseWeightSource('seed:4294967295')).toEqual({ kind: 'seed', seed: 4294967295 });
    expect(initWeights(model, { seed: 4294967295 })['0.weight']!.data).not.toEqual(initWeights(model, { seed: 0 })['0.weight']!.data);
  });
});

describe('forward() and its input', () => {
  beforeEach(() => vi.useRealTimers());
  afterEach(() => vi.useRealTimers());
  const spec: ModelSpec = { layers: [{ type: 'DepthwiseSeparable', in_channels: 3, out_channels: 8 }] };
  const input = () => ({ shape: [1, 3, 12, 12], data: new Float32Array(3 * 144).map((_, i) => Math.sin(i)) });

  it('an input array changed after the call is not seen: the run reads what was checked', async () => {
    const weights = initWeights(resolveModel(spec, { inputShape: [1, 3, 12, 12] }), { seed: 3 });
    const expected = await forward(spec, weights, input());
    for (const backend of ['cpu'] as const) {
      const x = input();
      const pending = forward(spec, weights, x, { backend });
      x.data.fill(NaN);
      const result = await pending;
      expect(result.output.data).toEqual(expected.output.data);
    }
    const prepared = await prepare(spec, weights, { inputShape: [1, 3, 12, 12] });
    const x = input();
    const pending = prepared.run(x);
    x.data.fill(NaN);
    expect((await pending).output.data).toEqual(expected.output.data);
  });

  it('a CPU run stops mid-run when a timer aborts it', async () => {
    const layers = Array.from({ length: 20 }, () => ({ type: 'Conv2d' as const, in_channels: 32, out_channels: 32, kernel_size: 3, padding: 1 }));
    const big: ModelSpec = { input_shape: [1, 32, 32, 32], layers };
    const resolved = resolveModel(big);
    const weights = initWeights(resolved, { seed: 1 });
    const x = { shape: [1, 32, 32, 32], data: new Float32Array(32 * 32 * 32).fill(0.5) };
    let done = 0;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), 15);
    const started = performance.now();
    await expect(forward(big, weights, x, { signal: controller.signal, onProgress: (d) => (done = d) })).rejects.toBeInstanceOf(CancelledError);
    clearTimeout(timer);
    expect(done).toBeLessThan(layers.length);
    // And the whole run, uncancelled, does finish.
    const full = await forward(big, weights, x, { onProgress: (d) => (done = d) });
    expect(done).toBe(layers.length);
    expect(full.output.shape).toEqual([1, 32, 32, 32]);
    expect(performance.now() - started).toBeGreaterThan(0);
  });

  it('runs started together on the shared kernels give what they give alone', async () => {
    const weights = initWeights(resolveModel(spec, { inputShape: [1, 3, 12, 12] }), { seed: 4 });
    const alone = await forward(spec, weights, input());
    const together = await Promise.all(Array.from({ length: 6 }, () => forward(spec, weights, input())));
    for (const result of together) expect(result.output.data).toEqual(alone.output.data);
  });
});
