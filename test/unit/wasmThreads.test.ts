import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConvGeometry, CpuKernels } from '../../src/engine/cpu/kernels/cpuKernels';
import { jsKernels } from '../../src/engine/cpu/kernels/jsKernels';
import { buildKernels, buildSharedKernels } from '../../src/engine/cpu/wasm/buildKernels.mjs';
import { createWasmKernels, disposeWasmKernels, splitRange } from '../../src/engine/cpu/wasm/wasmKernels';
import { CancelledError } from '../../src/engine/errors';
import { prepare } from '../../src/engine/preparedModel';
import { initWeights } from '../../src/engine/weights';
import { resolveModel, type ModelSpec } from '../../src/shared/spec';
import { allcloseViolation, randomTensor } from './engineAllclose';

/** Geometry of a conv, with PyTorch's output size. */
function geometry(c: { cin: number; cout: number; groups: number; h: number; w: number; k: number; s: number; p: number; d?: number }): ConvGeometry {
  const d = c.d ?? 1;
  const out = (n: number) => Math.floor((n + 2 * c.p - d * (c.k - 1) - 1) / c.s) + 1;
  return {
    inChannels: c.cin,
    outChannels: c.cout,
    groups: c.groups,
    inHeight: c.h,
    inWidth: c.w,
    outHeight: out(c.h),
    outWidth: out(c.w),
    kernelHeight: c.k,
    kernelWidth: c.k,
    strideHeight: c.s,
    strideWidth: c.s,
    dilationHeight: d,
    dilationWidth: d,
    padTop: c.p,
    padLeft: c.p,
  };
}

type Case = { name: string; run: (kernels: CpuKernels) => Float32Array };

/** Steps of every kind and of awkward sizes: widths that are not multiples of 4 (the depthwise row tails), pixel counts that are not multiples of 8 (GEMM panels). */
function cases(): Case[] {
  const list: Case[] = [];
  const depthwise = [
    { cin: 32, cout: 32, groups: 32, h: 112, w: 112, k: 3, s: 1, p: 1 },
    { cin: 64, cout: 64, groups: 64, h: 57, w: 57, k: 3, s: 2, p: 1 },
    { cin: 24, cout: 48, groups: 24, h: 15, w: 13, k: 5, s: 1, p: 2 },
    { cin: 96, cout: 96, groups: 96, h: 9, w: 7, k: 3, s: 1, p: 2, d: 2 },
    { cin: 3, cout: 3, groups: 3, h: 30, w: 30, k: 7, s: 3, p: 3 },
    // Large enough to be split into many chunks of channels: a multiplier of 2 and the general kernel (5x5, stride 2; dilation 2).
    { cin: 24, cout: 48, groups: 24, h: 41, w: 39, k: 5, s: 2, p: 2 },
    { cin: 40, cout: 40, groups: 40, h: 33, w: 35, k: 3, s: 1, p: 2, d: 2 },
  ];
  for (const [i, c] of depthwise.entries()) {
    const g = geometry(c);
    const x = randomTensor([c.cin, c.h, c.w], 10 + i).data;
    const wt = randomTensor([c.cout, 1, c.k, c.k], 20 + i).data;
    const bias = randomTensor([c.cout], 30 + i).data;
    list.push({
      name: `depthwise ${JSON.stringify(c)}`,
      run: (k) => {
        const out = new Float32Array(c.cout * g.outHeight * g.outWidth);
        k.depthwiseConv2d(x, wt, out, g, { bias, activation: 'relu6' });
        return out;
      },
    });
  }
  // Split by pixels (fewer channels than pixels), by output channels (more), by rows of a Linear, and too small to split.
  const pointwise: Array<[number, number, number]> = [
    [32, 64, 112 * 112],
    [96, 24, 57 * 55],
    [512, 512, 14 * 14],
    [960, 160, 49],
    [1024, 1000, 1],
    [17, 33, 61],
  ];
  for (const [i, [cin, cout, pixels]] of pointwise.entries()) {
    const x = randomTensor([cin, pixels], 40 + i).data;
    const wt = randomTensor([cout, cin], 50 + i).data;
    const residual = randomTensor([cout, pixels], 60 + i).data;
    list.push({
      name: `pointwise ${cin}->${cout} x ${pixels} px`,
      run: (k) => {
        const out = new Float32Array(cout * pixels);
        k.pointwiseConv2d(x, wt, out, cin, cout, pixels, { activation: 'silu', residual });
        return out;
      },
    });
  }
  const convs = [
    { cin: 3, cout: 32, groups: 1, h: 224, w: 224, k: 3, s: 2, p: 1 },
    { cin: 16, cout: 32, groups: 4, h: 29, w: 31, k: 3, s: 1, p: 1 },
    { cin: 8, cout: 8, groups: 1, h: 10, w: 10, k: 5, s: 2, p: 0, d: 1 },
  ];
  for (const [i, c] of convs.entries()) {
    const g = geometry(c);
    const x = randomTensor([c.cin, c.h, c.w], 70 + i).data;
    const wt = randomTensor([c.cout, c.cin / c.groups, c.k, c.k], 80 + i).data;
    list.push({
      name: `conv ${JSON.stringify(c)}`,
      run: (k) => {
        const out = new Float32Array(c.cout * g.outHeight * g.outWidth);
        k.conv2d(x, wt, out, g, { activation: 'relu' });
        return out;
      },
    });
  }
  return list;
}

describe('the WebAssembly kernels on a pool of threads', () => {
  const kernels = new Map<number, CpuKernels>();
  beforeAll(async () => {
    const binary = buildKernels({ quiet: true });
    const sharedBinary = buildSharedKernels({ quiet: true });
    for (const threads of [1, 2, 3, 4]) {
      // alwaysSplit: the pool runs every step large enough to split, even where this busy machine deschedules its threads.
      const created = await createWasmKernels(binary, { threads, sharedBinary, alwaysSplit: true });
      if (!created) throw new Error(`the kernels did not instantiate with ${threads} threads`);
      kernels.set(threads, created);
    }
  }, 180_000);
  afterAll(() => {
    for (const k of kernels.values()) disposeWasmKernels(k);
  });

  it('prepared runs called together each read their input as it was at the call, and a bad one fails alone', async () => {
    const spec: ModelSpec = {
      layers: [
        { type: 'Conv2d', in_channels: 3, out_channels: 16, kernel_size: 3, stride: 2, padding: 1 },
        { type: 'DepthwiseSeparable', in_channels: 16, out_channels: 24 },
      ],
    };
    const model = resolveModel(spec, { inputShape: [1, 3, 32, 32] });
    const weights = initWeights(model, { seed: 4 });
    const inputs = [1, 2, 3].map((seed) => randomTensor([1, 3, 32, 32], seed));
    for (const threads of [1, 2]) {
      const session = await prepare(model, weights, { kernels: kernels.get(threads)! });
      const expected: Float32Array[] = [];
      for (const x of inputs) expected.push((await session.run(x)).output.data);
      // The first run copies its input straight into the kernels' memory; the next two wait
      // their turn with copies of their own. Every array is changed right after its call.
      const calls = inputs.map((x) => {
        const copy = { shape: x.shape, data: x.data.slice() };
        const pending = session.run(copy);
        copy.data.fill(Number.NaN);
        return pending;
      });
      const bad = randomTensor([1, 3, 32, 32], 4);
      bad.data[3 * 1024 - 1] = Number.NEGATIVE_INFINITY;
      const failing = session.run(bad);
      const results = await Promise.all(calls);
      results.forEach((r, i) => expect(r.output.data).toEqual(expected[i]));
      await expect(failing).rejects.toThrow('element 3071 (n=0, c=2, y=31, x=31) is -Infinity');
      // A bad run that is first in line (copied at the call) fails the same way, and the session goes on.
      await expect(session.run(bad)).rejects.toThrow('element 3071 (n=0, c=2, y=31, x=31) is -Infinity');
      expect((await session.run(inputs[0]!)).output.data).toEqual(expected[0]);
    }
  });

  it('has a pool where more than one thread is asked for (Node has shared memory and worker_threads)', () => {
    expect(kernels.get(1)!.name).toBe('wasm-simd');
    expect(kernels.get(2)!.name).toBe('wasm-simd, 2 threads');
    expect(kernels.get(4)!.name).toBe('wasm-simd, 4 threads');
  });

  for (const c of cases()) {
    it(`${c.name}: equal bit for bit at 1 to 4 threads, and close to the plain JS kernels`, () => {
      const one = c.run(kernels.get(1)!);
      expect(allcloseViolation({ shape: [one.length], data: one }, { shape: [one.length], data: c.run(jsKernels) })).toBeUndefined();
      for (const threads of [2, 3, 4]) {
        const many = c.run(kernels.get(threads)!);
        const firstDifference = many.findIndex((v, i) => !Object.is(v, one[i]));
        expect({ threads, firstDifference }).toEqual({ threads, firstDifference: -1 });
      }
    });
  }

  it('gives the same results bit for bit with the default pool, which runs steps on the caller alone while its threads are held up', async () => {
    const adaptive = await createWasmKernels(buildKernels({ quiet: true }), { threads: 2, sharedBinary: buildSharedKernels({ quiet: true }) });
    if (!adaptive) throw new Error('the kernels did not instantiate with 2 threads');
    try {
      for (const c of cases()) {
        const one = c.run(kernels.get(1)!);
        const firstDifference = c.run(adaptive).findIndex((v, i) => !Object.is(v, one[i]));
        expect({ step: c.name, firstDifference }).toEqual({ step: c.name, firstDifference: -1 });
      }
    } finally {
      disposeWasmKernels(adaptive);
    }
  }, 60_000);

  it('reports progress step by step, stops at the step after an abort, and runs again afterwards, on a pool', async () => {
    const spec = {
      layers: [
        { type: 'Conv2d', in_channels: 3, out_channels: 32, kernel_size: 3, stride: 2, padding: 1 },
        { type: 'ReLU6' },
        { type: 'DepthwiseSeparable', in_channels: 32, out_channels: 64 },
        { type: 'DepthwiseSeparable', in_channels: 64, out_channels: 128, stride: 2 },
        { type: 'AdaptiveAvgPool2d', output_size: 1 },
        { type: 'Flatten' },
        { type: 'Linear', in_features: 128, out_features: 10 },
      ],
    } as ModelSpec;
    const model = resolveModel(spec, { inputShape: [1, 3, 96, 96] });
    const weights = initWeights(model, { seed: 5 });
    const input = randomTensor([1, 3, 96, 96], 9);
    const one = await (await prepare(model, weights, { kernels: kernels.get(1)! })).run(input);
    const session = await prepare(model, weights, { kernels: kernels.get(3)! });
    const seen: number[] = [];
    const controller = new AbortController();
    const cancelled = session.run(input, {
      signal: controller.signal,
      onProgress: (done) => {
        seen.push(done);
        if (done === 2) controller.abort();
      },
    });
    await expect(cancelled).rejects.toThrow(CancelledError);
    expect(seen).toEqual([1, 2]);
    const progress: Array<[number, number]> = [];
    const again = await session.run(input, { onProgress: (done, total) => progress.push([done, total]) });
    expect(progress.map(([done]) => done)).toEqual(progress.map((_, i) => i + 1));
    expect(progress.at(-1)![0]).toBe(progress.at(-1)![1]);
    expect(Array.from(again.output.data)).toEqual(Array.from(one.output.data));
  });

  it('splits ranges into whole units, evenly, without empty parts', () => {
    expect(splitRange(100, 4, 8)).toEqual([
      [0, 24],
      [24, 48],
      [48, 72],
      [72, 100],
    ]);
    expect(splitRange(10, 4, 8)).toEqual([
      [0, 8],
      [8, 10],
    ]);
    expect(splitRange(3, 8)).toEqual([
      [0, 1],
      [1, 2],
      [2, 3],
    ]);
    expect(splitRange(0, 2)).toEqual([]);
  });
});
