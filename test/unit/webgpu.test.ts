/**
 * The WebGPU backend on this machine's adapter (SwiftShader in CI, via VK_ICD_FILENAMES): the
 * PyTorch fixtures within 1e-4, property tests against the reference kernels, fusion, and the
 * failure paths (a WGSL error, an aborted run, a lost device). A missing adapter fails the suite.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { resolveModel, type ModelSpec, type PaddingMode, type ResolvedModel } from '../../src/shared/spec';
import type { Tensor } from '../../src/shared/tensor';
import { getHostDevice, probeReadback, resetHostDevice } from '../../src/engine/gpuDevice';
import { conv2dReference, referenceForward } from '../../src/engine/cpu/reference';
import { initWeights } from '../../src/engine/weights';
import { forwardWebGPU, WebGPUModel, ShaderCompileError } from '../../src/engine/webgpu/index';
import { forward } from '../../src/engine/forward';
import type { Intermediate } from '../../src/engine/types';
import { getPipeline } from '../../src/engine/webgpu/pipelineCache';
import { allcloseViolation, randomTensor } from './engineAllclose';
import { prepare } from '../../src/engine/preparedModel';
import { getPreset } from '../../src/shared/presets';
import { randomGraph } from './graphArbitraries';
import { loadFixtures } from './fixtureLoader';

let device: GPUDevice;

beforeAll(async () => {
  process.env.VK_ICD_FILENAMES ??= '/usr/lib/chromium/vk_swiftshader_icd.json';
  const result = await getHostDevice();
  if (!result.ok) throw new Error(`no WebGPU device, so the WebGPU suite cannot run: ${result.reason}`);
  device = result.device;
});

afterAll(async () => {
  await resetHostDevice();
});

/** |a - b| <= tolerance + tolerance * |b| everywhere; the message names the worst element. */
function expectClose(actual: Tensor, expected: Tensor, what: string, tolerance = 1e-4): void {
  expect(allcloseViolation(actual, expected, tolerance, tolerance), what).toBeUndefined();
}

/** What a step is, without its tensor: both backends must report the same. */
const outline = (steps: Intermediate[]) => steps.map(({ key, leafKeys, label, layerIndex, role }) => ({ key, leafKeys, label, layerIndex, role }));

describe('webgpu: PyTorch fixtures', () => {
  const fixtures = loadFixtures();
  it('has every fixture to check', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(82);
  });

  // One device and one pipeline cache for the whole file: SwiftShader compiles each shader once.
  it.each(fixtures.map((f) => [f.name, f] as const))('%s', async (_name, fixture) => {
    const model = resolveModel(fixture.model, { inputShape: fixture.input.shape });
    // Fully fused, as a run without intermediates goes.
    const fused = await forwardWebGPU(model, fixture.weights, fixture.input, { device });
    expectClose(fused.output, fixture.output, `${fixture.name} output`);
    // The GPU variants (workgroup-tiled GEMM and depthwise), which this CPU-emulated adapter does not pick by itself.
    const tiled = await WebGPUModel.create(device, model, fixture.weights, { gemm: 'workgroup', depthwise: 'workgroup' });
    try {
      expectClose((await tiled.run(fixture.input)).output, fixture.output, `${fixture.name} output (workgroup variants)`);
    } finally {
      tiled.dispose();
    }
    // Through forward(), with intermediates, fused and unfused: the CPU backend's steps, labels and keys.
    for (const fuse of [true, false]) {
      const gpu = await forward(model, fixture.weights, fixture.input, { backend: 'webgpu', device, intermediates: true, fuse });
      const cpu = await forward(model, fixture.weights, fixture.input, { backend: 'cpu', intermediates: true, fuse });
      expect(outline(gpu.intermediates!), `${fixture.name} steps (fuse ${fuse})`).toEqual(outline(cpu.intermediates!));
      // One timing per step (a Split's step has one timing and an intermediate per output), as on the CPU.
      expect(gpu.timings.map((t) => [t.key, t.label])).toEqual(cpu.timings.map((t) => [t.key, t.label]));
      expectClose(gpu.output, fixture.output, `${fixture.name} output (intermediates, fuse ${fuse})`);
      if (fixture.intermediates && !fuse) {
        // Unfused, the last step of each top-level layer is that layer's output (fused, a step may span layers).
        model.layers.forEach((layer, i) => {
          const steps = gpu.intermediates!.filter((step) => step.layerIndex === layer.index);
          expectClose(steps[steps.length - 1]!.tensor, fixture.intermediates![i]!, `${fixture.name} layer ${i} (fuse ${fuse})`);
        });
      }
    }
  });
});

describe('webgpu: properties against the reference kernels', () => {
  const modes: PaddingMode[] = ['zeros', 'reflect', 'replicate', 'circular'];
  // SwiftShader compiles every new shader variant on the CPU: a few dozen runs, small shapes.
  it('conv2d: random kernels, strides, dilations, paddings, groups, multipliers, epilogues', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          batch: fc.integer({ min: 1, max: 2 }),
          groups: fc.integer({ min: 1, max: 3 }),
          cinPerGroup: fc.integer({ min: 1, max: 3 }),
          coutPerGroup: fc.integer({ min: 1, max: 3 }),
          depthwise: fc.boolean(),
          kh: fc.integer({ min: 1, max: 4 }),
          kw: fc.integer({ min: 1, max: 4 }),
          sh: fc.integer({ min: 1, max: 2 }),
          sw: fc.integer({ min: 1, max: 3 }),
          dh: fc.integer({ min: 1, max: 2 }),
          dw: fc.integer({ min: 1, max: 2 }),
          padding: fc.oneof(
            fc.constant('tf_same' as const),
            fc.constant('valid' as const),
            fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 })),
          ),
          mode: fc.constantFrom(...modes),
          bias: fc.boolean(),
          activation: fc.constantFrom('ReLU', 'GELU', 'Hardswish', 'Identity'),
          h: fc.integer({ min: 5, max: 9 }),
          w: fc.integer({ min: 5, max: 9 }),
          seed: fc.integer({ min: 1, max: 1e6 }),
        }),
        async (p) => {
          const cin = p.depthwise ? p.groups * 4 + 1 : p.groups * p.cinPerGroup;
          const groups = p.depthwise ? cin : p.groups;
          const cout = p.depthwise ? cin * p.coutPerGroup : p.groups * p.coutPerGroup;
          const spec: ModelSpec = {
            input_shape: [p.batch, cin, p.h, p.w],
            layers: [
              {
                type: 'Conv2d',
                in_channels: cin,
                out_channels: cout,
                kernel_size: [p.kh, p.kw],
                stride: [p.sh, p.sw],
                dilation: [p.dh, p.dw],
                padding: p.padding,
                padding_mode: p.mode,
                groups,
                bias: p.bias,
              },
              { type: p.activation },
            ],
          };
          let model: ResolvedModel;
          try {
            model = resolveModel(spec);
          } catch {
            return; // a combination PyTorch rejects too (reflect pad >= size, kernel larger than the input)
          }
          const weights = initWeights(model, { seed: p.seed });
          const input = randomTensor(model.inputShape, p.seed);
          const expected = referenceForward(model, weights, input).output;
          const actual = await forwardWebGPU(model, weights, input, { device });
          expectClose(actual.output, expected, JSON.stringify(spec.layers[0]));
        },
      ),
      { numRuns: 20, seed: 20240601 },
    );
  });

  it('conv2d on its own equals conv2dReference for a strided, dilated, reflect-padded pointwise-free conv', async () => {
    const spec: ModelSpec = {
      input_shape: [1, 6, 11, 10],
      layers: [
        { type: 'Conv2d', in_channels: 6, out_channels: 5, kernel_size: [3, 2], stride: [2, 1], dilation: [1, 2], padding: [2, 1], padding_mode: 'reflect' },
      ],
    };
    const model = resolveModel(spec);
    const weights = initWeights(model, { seed: 7 });
    const input = randomTensor(model.inputShape, 7);
    const conv = model.leaves[0]!.node;
    if (conv.op !== 'conv2d') throw new Error('expected a conv');
    const expected = conv2dReference(input, weights['0.weight']!, weights['0.bias'], {
      stride: conv.stride,
      dilation: conv.dilation,
      pads: conv.pads!,
      paddingMode: conv.paddingMode,
      groups: conv.groups,
    });
    const actual = await forwardWebGPU(model, weights, input, { device });
    expectClose(actual.output, expected, 'conv');
  });
});

const block: ModelSpec = {
  name: 'block',
  input_shape: [1, 8, 9, 9],
  layers: [
    { type: 'Residual', body: [{ type: 'DepthwiseSeparable', in_channels: 8, out_channels: 8, activation: 'ReLU6', pw_activation: 'Identity' }] },
    { type: 'GELU' },
  ],
};

describe('webgpu: pooling, transposed convs, upsampling and shuffles against the reference', () => {
  // One pipeline per op (the geometry is uniforms), so many runs cost one compile each.
  it('random MaxPool2d, AvgPool2d, ConvTranspose2d (+ activation), Upsample and ChannelShuffle', async () => {
    const pair = (max: number, min = 1) => fc.tuple(fc.integer({ min, max }), fc.integer({ min, max }));
    const layer = fc.oneof(
      fc.record({ type: fc.constant('MaxPool2d'), kernel_size: pair(3), stride: pair(3), padding: pair(1, 0), dilation: pair(2), ceil_mode: fc.boolean() }),
      fc.record({
        type: fc.constant('AvgPool2d'),
        kernel_size: pair(3),
        stride: pair(3),
        padding: pair(1, 0),
        ceil_mode: fc.boolean(),
        count_include_pad: fc.boolean(),
      }),
      fc.record({
        type: fc.constant('ConvTranspose2d'),
        in_channels: fc.constant(6),
        out_channels: fc.constantFrom(3, 6, 9),
        kernel_size: pair(4),
        stride: pair(3),
        padding: pair(1, 0),
        output_padding: pair(1, 0),
        groups: fc.constantFrom(1, 3),
        dilation: pair(2),
        bias: fc.boolean(),
      }),
      fc.record({
        type: fc.constant('Upsample'),
        scale_factor: fc.tuple(fc.double({ min: 0.5, max: 3, noNaN: true }), fc.double({ min: 0.5, max: 3, noNaN: true })),
        mode: fc.constantFrom('nearest', 'bilinear'),
      }),
      fc.record({ type: fc.constant('ChannelShuffle'), groups: fc.constantFrom(1, 2, 3, 6) }),
    );
    let checked = 0;
    await fc.assert(
      fc.asyncProperty(
        layer,
        fc.constantFrom('Identity', 'LeakyReLU', 'Sigmoid'),
        fc.integer({ min: 3, max: 9 }),
        fc.integer({ min: 3, max: 9 }),
        fc.integer({ min: 1, max: 1e6 }),
        async (l, activation, h, w, seed) => {
          const spec = { input_shape: [2, 6, h, w], layers: [l, { type: activation }] } as unknown as ModelSpec;
          let model: ResolvedModel;
          try {
            model = resolveModel(spec);
          } catch {
            return; // PyTorch refuses it too (padding over half the kernel, output padding too large, an empty output)
          }
          const weights = initWeights(model, { seed });
          const input = randomTensor(model.inputShape, seed);
          const expected = referenceForward(model, weights, input).output;
          for (const fuse of [true, false]) {
            const actual = await forward(model, weights, input, { backend: 'webgpu', device, fuse });
            expectClose(actual.output, expected, `${JSON.stringify(l)} + ${activation} (fuse ${fuse})`);
          }
          checked++;
        },
      ),
      { numRuns: 30, seed: 20261130 },
    );
    // Not vacuous: most draws are layers PyTorch accepts.
    expect(checked).toBeGreaterThanOrEqual(15);
  });
});

describe('webgpu: fusion, intermediates, timings', () => {
  it('runs a DepthwiseSeparable block (dw+BN+ReLU6, pw+BN, skip add) as two dispatches', async () => {
    const model = resolveModel(block);
    const compiled = await WebGPUModel.create(device, model, initWeights(model, { seed: 3 }));
    try {
      // dw conv + BN + ReLU6; pw conv + BN + skip add; then the GELU, which follows the add.
      expect(compiled.stageNames).toEqual(['0.body.0.0+0.body.0.1+0.body.0.2', '0.body.0.3+0.body.0.4+0', '1']);
    } finally {
      compiled.dispose();
    }
  });

  it('returns every leaf output unfused, equal to the reference, with per-dispatch GPU timings', async () => {
    const model = resolveModel(block);
    const weights = initWeights(model, { seed: 4 });
    const input = randomTensor(model.inputShape, 4);
    const reference = referenceForward(model, weights, input);
    const result = await forwardWebGPU(model, weights, input, { device, intermediates: true, fuse: false });
    const keys = result.intermediates!.map((step) => step.key);
    expect(keys).toEqual(['0.body.0.0', '0.body.0.1', '0.body.0.2', '0.body.0.3', '0.body.0.4', '0', '1']);
    for (const step of result.intermediates!) expectClose(step.tensor, reference.outputs.get(step.key)!, step.key);
    expectClose(result.output, reference.output, 'output');
    expect(result.timings.stages.length).toBe(7);
    for (const stage of result.timings.stages) expect(stage.ms).toBeGreaterThanOrEqual(0);
  });
});

describe('webgpu: sessions', () => {
  it('a prepared MobileNetV1 writes only its input to the queue on a second run, and submits once', async () => {
    const spec = getPreset('mobilenet_v1')!;
    const model = resolveModel(spec, { inputShape: [1, 3, 64, 64] });
    const weights = initWeights(model, { seed: 5 });
    const session = await prepare(model, weights, { backend: 'webgpu', device });
    const queue = device.queue;
    // eslint-disable-next-line @typescript-eslint/unbound-method -- the originals, called with .call(queue) and put back below
    const { writeBuffer, submit } = queue;
    let bytes = 0;
    let writes = 0;
    let submits = 0;
    queue.writeBuffer = function (
      this: GPUQueue,
      buffer: GPUBuffer,
      offset: number,
      data: BufferSource | SharedArrayBuffer,
      dataOffset?: number,
      size?: number,
    ) {
      writes++;
      const elementBytes = ArrayBuffer.isView(data) && 'BYTES_PER_ELEMENT' in data ? (data as Float32Array).BYTES_PER_ELEMENT : 1;
      bytes += size !== undefined ? size * elementBytes : data.byteLength - (dataOffset ?? 0) * elementBytes;
      return writeBuffer.call(this, buffer, offset, data as BufferSource, dataOffset, size);
    };
    queue.submit = function (this: GPUQueue, buffers: Iterable<GPUCommandBuffer>) {
      submits++;
      return submit.call(this, buffers);
    } as GPUQueue['submit'];
    try {
      const input = randomTensor([1, 3, 64, 64], 9);
      const first = await session.run(input);
      bytes = 0;
      writes = 0;
      submits = 0;
      const second = await session.run(input);
      // The input as the caller holds it (NCHW, 3 * 64 * 64 floats; the GPU lays it out), nothing else.
      expect({ writes, bytes, submits }).toEqual({ writes: 1, bytes: 3 * 64 * 64 * 4, submits: 1 });
      expect(second.output.data).toEqual(first.output.data);
      expectClose(second.output, referenceForward(model, weights, input).output, 'prepared MobileNetV1');
    } finally {
      queue.writeBuffer = writeBuffer;
      queue.submit = submit;
      session.dispose();
    }
  });

  it('forward() and prepare() make a device themselves in Node when none is given', async () => {
    const model = resolveModel(block);
    const weights = initWeights(model, { seed: 6 });
    const input = randomTensor(model.inputShape, 6);
    const expected = referenceForward(model, weights, input).output;
    const once = await forward(model, weights, input, { backend: 'webgpu' });
    expect(once.backend).toBe('webgpu');
    expectClose(once.output, expected, 'forward without a device');
    const session = await prepare(model, weights, { backend: 'webgpu' });
    try {
      const result = await session.run(input, { intermediates: true });
      expectClose(result.output, expected, 'prepare without a device');
      expect(result.intermediates!.map((step) => step.key)).toEqual(['0.body.0.2', '0', '1']);
    } finally {
      session.dispose();
    }
  });

  it('several outputs, one of them the input itself, with and without intermediates', async () => {
    const spec = {
      input_shape: [2, 3, 4, 5],
      nodes: [
        { name: 's', inputs: ['input'], type: 'Split', split_size_or_sections: [1, 2], dim: 1 },
        { name: 'a', inputs: ['s:1'], type: 'ReLU' },
        { name: 'f', inputs: ['a'], type: 'Flatten' },
      ],
      outputs: ['f', 'input', 's:0'],
    };
    const model = resolveModel(spec);
    const input = randomTensor(model.inputShape, 12);
    const expected = referenceForward(model, {}, input).modelOutputs;
    for (const intermediates of [false, true]) {
      const result = await forward(model, {}, input, { backend: 'webgpu', device, intermediates });
      expect(result.outputs!.map((t) => t.shape)).toEqual([
        [2, 40],
        [2, 3, 4, 5],
        [2, 1, 4, 5],
      ]);
      result.outputs!.forEach((t, i) => expectClose(t, expected[i]!, `output ${i} (intermediates ${intermediates})`));
    }
  });

  it("a Concat of more inputs than a shader can bind (DenseNet's blocks) runs as several dispatches, along channels and along width", async () => {
    for (const dim of [1, 3]) {
      // 17 inputs of 1 to 5 channels (columns): three dispatches of at most 7, some ranges not on a vec4 boundary.
      const parts = Array.from({ length: 17 }, (_, i) => ({
        name: `p${i}`,
        inputs: ['input'],
        type: 'Conv2d',
        in_channels: 3,
        out_channels: 1 + (i % 5),
        kernel_size: 1,
      }));
      const spec = {
        input_shape: [1, 3, 6, 7],
        nodes:
          dim === 1
            ? [...parts, { name: 'cat', inputs: parts.map((p) => p.name), type: 'Concat', dim }]
            : [...parts.map((p) => ({ ...p, out_channels: 2 })), { name: 'cat', inputs: parts.map((p) => p.name), type: 'Concat', dim }],
      };
      const model = resolveModel(spec);
      const weights = initWeights(model, { seed: 3 });
      const input = randomTensor(model.inputShape, 4);
      const result = await forward(model, weights, input, { backend: 'webgpu', device });
      expectClose(result.output, referenceForward(model, weights, input).output, `Concat of 17 along dim ${dim}`);
    }
  });

  it('random graphs (concat, split, broadcasts, softmax) equal the reference, fused and unfused', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 1e9 }), async (seed) => {
        const spec = randomGraph(seed);
        const model = resolveModel(spec);
        const weights = initWeights(model, { seed });
        const input = randomTensor(model.inputShape, seed + 1);
        const expected = referenceForward(model, weights, input).modelOutputs;
        for (const fuse of [true, false]) {
          const result = await forward(model, weights, input, { backend: 'webgpu', device, fuse });
          (result.outputs ?? [result.output]).forEach((output, i) =>
            expectClose(output, expected[i]!, `${spec.name} output ${i} fuse ${fuse}: ${JSON.stringify(spec.nodes)}`),
          );
        }
      }),
      { numRuns: 8, seed: 20261130 },
    );
  });
});

describe('webgpu: failures read like errors', () => {
  it('a WGSL error rejects with the compiler message', async () => {
    const broken = {
      label: 'broken',
      shaderKey: 'broken',
      workgroupSize: [1, 1, 1] as [number, number, number],
      dispatch: [1, 1, 1] as [number, number, number],
      uniforms: [['n', 1]] as Array<[string, number]>,
      bindings: [{ name: 'y', access: 'write' as const, element: 'f32' as const }],
      body: 'fn main() { y[0] = undefinedThing; }',
    };
    const error = await getPipeline(device, broken).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ShaderCompileError);
    expect((error as Error).message).toMatch(/broken.*undefinedThing/);
  });

  it('rejects a weight of the wrong shape, naming it', async () => {
    const model = resolveModel(block);
    const weights = initWeights(model, { seed: 1 });
    weights['0.body.0.3.weight'] = { shape: [8, 8, 1, 2], data: new Float32Array(128) };
    await expect(forwardWebGPU(model, weights, randomTensor(model.inputShape, 1), { device })).rejects.toThrow(/0\.body\.0\.3\.weight.*\[8, 8, 1, 2\]/);
  });

  it('an aborted signal stops the run', async () => {
    const model = resolveModel(block);
    const controller = new AbortController();
    controller.abort();
    await expect(
      forwardWebGPU(model, initWeights(model, { seed: 1 }), randomTensor(model.inputShape, 1), { device, signal: controller.signal }),
    ).rejects.toThrow();
  });

  it('the readback probe passes on this adapter', async () => {
    expect(await probeReadback(device)).toBeUndefined();
  });

  it('a lost device fails the run readably, and the next request gets a new device', async () => {
    const own = await getHostDevice();
    if (!own.ok) throw new Error(own.reason);
    const model = resolveModel(block);
    const compiled = await WebGPUModel.create(own.device, model, initWeights(model, { seed: 1 }));
    own.device.destroy();
    await own.device.lost;
    await expect(compiled.run(randomTensor(model.inputShape, 1))).rejects.toThrow(/lost/);
    compiled.dispose();
    const next = await getHostDevice();
    if (!next.ok) throw new Error(next.reason);
    expect(next.device).not.toBe(own.device);
    device = next.device;
    const result = await forwardWebGPU(model, initWeights(model, { seed: 1 }), randomTensor(model.inputShape, 1), { device });
    expect(result.output.shape).toEqual([1, 8, 9, 9]);
  });
});
