import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { forward } from '../../src/engine/forward';
import { readNpy } from '../../src/io/npy';
import { PickleError, readPickle, STORAGE_CLASSES } from '../../src/io/pickle';
import { CheckpointError, mapStateDict, readCheckpoint } from '../../src/io/torchCheckpoint';
import { parameterShapes, resolveModel, type ModelSpec } from '../../src/shared/spec';
import { applyByteEdits, byteEdits } from './byteEdits';
import { allcloseViolation } from './engineAllclose';
import { FIXTURE_DIR } from './fixtureLoader';
import { torchvisionCheckpoints } from './onnxModelFiles';

const DIR = join(FIXTURE_DIR, 'checkpoints');
const file = (name: string) => readFileSync(join(DIR, name));

/** The chain-form spec of tiny.pt's Sequential. */
const TINY: ModelSpec = {
  name: 'tiny',
  input_shape: [1, 3, 6, 6],
  layers: [
    { type: 'Conv2d', in_channels: 3, out_channels: 4, kernel_size: 3, padding: 1, bias: false },
    { type: 'BatchNorm2d', num_features: 4 },
    { type: 'ReLU6' },
    { type: 'Conv2d', in_channels: 4, out_channels: 4, kernel_size: 3, padding: 1, groups: 4 },
  ],
};

function refused(read: () => unknown, pattern: RegExp): void {
  let caught: unknown;
  try {
    read();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(CheckpointError);
  expect((caught as Error).message).toMatch(pattern);
}

/** A pickle (protocol 2) built from opcodes; strings are written as SHORT_BINUNICODE. */
function pickle(...parts: Array<number | string | number[]>): Uint8Array {
  const out: number[] = [0x80, 2];
  for (const part of parts) {
    if (typeof part === 'number') out.push(part);
    else if (Array.isArray(part)) out.push(...part);
    else {
      const bytes = new TextEncoder().encode(part);
      out.push(0x8c, bytes.length, ...bytes);
    }
  }
  out.push(0x2e);
  return Uint8Array.from(out);
}
const GLOBAL = (module: string, name: string) => [0x63, ...new TextEncoder().encode(`${module}\n${name}\n`)];
const MARK = 0x28;
const TUPLE = 0x74;
const REDUCE = 0x52;
/** A zip archive of stored entries, as torch.save writes it. */
function zipStored(files: Record<string, Uint8Array>): Uint8Array {
  const local: number[] = [];
  const central: number[] = [];
  const u16 = (v: number) => [v & 0xff, (v >> 8) & 0xff];
  const u32 = (v: number) => [v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >>> 24) & 0xff];
  let count = 0;
  for (const [name, data] of Object.entries(files)) {
    const n = [...new TextEncoder().encode(name)];
    const offset = local.length;
    local.push(...u32(0x04034b50), ...u16(20), ...u16(0), ...u16(0), ...u32(0), ...u32(0), ...u32(data.length), ...u32(data.length), ...u16(n.length), ...u16(0), ...n, ...data);
    central.push(...u32(0x02014b50), ...u16(20), ...u16(20), ...u16(0), ...u16(0), ...u32(0), ...u32(0), ...u32(data.length), ...u32(data.length), ...u16(n.length), ...u16(0), ...u16(0), ...u16(0), ...u16(0), ...u32(0), ...u32(offset), ...n);
    count++;
  }
  const end = [...u32(0x06054b50), ...u16(0), ...u16(0), ...u16(count), ...u16(count), ...u32(central.length), ...u32(local.length), ...u16(0)];
  return Uint8Array.from([...local, ...central, ...end]);
}
const BININT = (v: number) => [0x4a, v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >>> 24) & 0xff];

describe('readCheckpoint', () => {
  it('reads a torch.save\'d state_dict by key, and lists the integer buffers it does not decode', () => {
    const checkpoint = readCheckpoint(file('tiny.pt'));
    expect([...checkpoint.tensors.keys()]).toEqual(['0.weight', '1.weight', '1.bias', '1.running_mean', '1.running_var', '3.weight', '3.bias']);
    expect(checkpoint.tensors.get('0.weight')!.shape).toEqual([4, 3, 3, 3]);
    expect(checkpoint.skipped).toEqual([{ key: '1.num_batches_tracked', dtype: 'int64', shape: [] }]);
  });

  it('maps it onto the equivalent spec by key, and the engine\'s output equals PyTorch\'s within 1e-4', async () => {
    const model = resolveModel(TINY);
    const weights = mapStateDict(readCheckpoint(file('tiny.pt')), parameterShapes(model));
    const result = await forward(model, weights, readNpy(file('tiny.input.npy')));
    expect(allcloseViolation(result.output, readNpy(file('tiny.output.npy')))).toBeUndefined();
  });

  it('reads strided views, slices sharing a storage, float16 and float64 tensors in row-major order', () => {
    const { tensors } = readCheckpoint(file('views.pt'));
    const expected = JSON.parse(file('views.json').toString()) as Record<string, { shape: number[]; values: number[] }>;
    for (const [key, { shape, values }] of Object.entries(expected)) {
      expect(tensors.get(key)!.shape, key).toEqual(shape);
      expect(Array.from(tensors.get(key)!.data), key).toEqual(values.map(Math.fround));
    }
  });

  it('finds the state_dict inside a training checkpoint {"epoch": 3, "state_dict": ...}', () => {
    expect([...readCheckpoint(file('nested.pt')).tensors.keys()]).toHaveLength(7);
  });

  it('refuses the legacy format, whole pickled models and pickles that call anything but the tensor rebuild, naming the global', () => {
    refused(() => readCheckpoint(file('legacy.pt')), /legacy \(before PyTorch 1\.6\) torch\.save file/);
    refused(() => readCheckpoint(file('whole_model.pt')), /the global torch\.nn\.modules\.container\.Sequential, which is not allowed/);
    refused(() => readCheckpoint(file('os_system.pt')), /the global posix\.system, which is not allowed/);
    refused(() => readCheckpoint(new TextEncoder().encode('hello')), /not a PyTorch checkpoint: a \.pt\/\.pth file is a zip archive/);
  });

  it('names the keys and shapes that do not fit the model', () => {
    const checkpoint = readCheckpoint(file('tiny.pt'));
    const expected = parameterShapes(resolveModel({ ...TINY, layers: [...TINY.layers.slice(0, 3), { type: 'Conv2d', in_channels: 4, out_channels: 8, kernel_size: 3, padding: 1, groups: 4 }, { type: 'BatchNorm2d', num_features: 8 }] }));
    expect(() => mapStateDict(checkpoint, expected)).toThrow(
      'the checkpoint does not fit the model; missing from the checkpoint: 4.weight, 4.bias, 4.running_mean, 4.running_var; shapes differ: 3.weight: checkpoint [4, 1, 3, 3], model [8, 1, 3, 3], 3.bias: checkpoint [4], model [8]',
    );
    expect(() => mapStateDict(checkpoint, expected.filter((e) => !e.key.startsWith('3.') && !e.key.startsWith('4.')))).toThrow(/not in the model: 3\.weight, 3\.bias$/);
    const parallel = new Map([...checkpoint.tensors].map(([k, v]) => [`module.${k}`, v]));
    expect(Object.keys(mapStateDict(parallel, parameterShapes(resolveModel(TINY))))).toContain('0.weight');
  });
});

describe('readPickle (restricted)', () => {
  it('refuses every global but the tensor rebuild, storages and OrderedDict, before calling anything', () => {
    for (const [module, name] of [['builtins', 'eval'], ['os', 'system'], ['subprocess', 'Popen'], ['torch', 'load'], ['torch', 'toString'], ['torch', '__proto__'], ['torch._utils', '_rebuild_qtensor'], ['collections', 'defaultdict']]) {
      expect(() => readPickle(pickle(GLOBAL(module!, name!), MARK, 'x', TUPLE, REDUCE)), `${module}.${name}`).toThrow(new PickleError(`the pickle names the global ${module}.${name}, which is not allowed: only tensors, storages and OrderedDict are read (a whole model saved with torch.save(model)? save model.state_dict() instead)`));
    }
    expect(() => readPickle(pickle(GLOBAL('torch', 'FloatStorage'), MARK, TUPLE, REDUCE))).toThrow(/REDUCE at byte \d+ calls torch\.FloatStorage, which is not allowed/);
    // Any other module and name, by GLOBAL or STACK_GLOBAL, is refused by name.
    const identifier = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_.]{0,20}$/);
    fc.assert(fc.property(identifier, identifier, fc.boolean(), (module, name, stack) => {
      fc.pre(!['collections.OrderedDict', 'torch._utils._rebuild_tensor_v2', 'torch._utils._rebuild_parameter'].includes(`${module}.${name}`) && !(module === 'torch' && Object.hasOwn(STORAGE_CLASSES, name)));
      const bytes = stack ? pickle(module, name, 0x93, MARK, TUPLE, REDUCE) : pickle(GLOBAL(module, name), MARK, TUPLE, REDUCE);
      expect(() => readPickle(bytes)).toThrow(`the pickle names the global ${module}.${name}, which is not allowed`);
    }), { numRuns: 500 });
    expect(() => readPickle(pickle(0x69, ...new TextEncoder().encode('os\nsystem\n')))).toThrow(/builds arbitrary objects/);
  });

  it('refuses huge sizes, views past their storage and truncated pickles', () => {
    const tensor = (size: number[], numel: number, stride = size.map(() => 1)) =>
      pickle(MARK, 'w', GLOBAL('torch._utils', '_rebuild_tensor_v2'), MARK, MARK, 'storage', GLOBAL('torch', 'FloatStorage'), '0', 'cpu', BININT(numel), TUPLE, 0x51, 0x4b, 0, MARK, ...size.flatMap(BININT), TUPLE, MARK, ...stride.flatMap(BININT), TUPLE, 0x89, 0x4e, TUPLE, REDUCE, 0x64);
    const checkpoint = (size: number[], numel: number, dataBytes: number, stride?: number[]) => zipStored({ 'c/data.pkl': tensor(size, numel, stride), 'c/data/0': new Uint8Array(dataBytes) });
    expect([...readPickle(tensor([2, 3], 6)) as Map<string, unknown>][0]![1]).toMatchObject({ kind: 'tensor', size: [2, 3], stride: [1, 1] });
    expect(readCheckpoint(checkpoint([2, 3], 6, 24, [3, 1])).tensors.get('w')!.shape).toEqual([2, 3]);
    refused(() => readCheckpoint(checkpoint([100000, 100000, 100000], 6, 24)), /tensor "w": size \[100000, 100000, 100000\] is over the limit/);
    refused(() => readCheckpoint(checkpoint([2, 3], 2 ** 31 - 1, 24)), /a storage of 2147483647 elements is over the limit/);
    refused(() => readCheckpoint(checkpoint([2, 3], 6, 20)), /storage 0 should hold 6 float32 values \(24 bytes\) but has 20 bytes/);
    refused(() => readCheckpoint(checkpoint([2, 3], 6, 24, [3, 2])), /reach element 7 of a storage of 6/);
    expect(() => readPickle(tensor([2, 3], 6).subarray(0, 40))).toThrow(PickleError);
    expect(() => readPickle(Uint8Array.from([0x80, 2, 0x58, 0xff, 0xff, 0xff, 0x7f, 0x41]))).toThrow(/truncated pickle: a string at byte 7 needs 2147483647 bytes/);
  });

  it('never throws anything but a CheckpointError, nor hangs, on corrupted checkpoints and random pickles', () => {
    const original = new Uint8Array(file('tiny.pt'));
    const check = (bytes: Uint8Array) => {
      try {
        readCheckpoint(bytes);
      } catch (error) {
        if (!(error instanceof CheckpointError)) throw error;
      }
    };
    fc.assert(fc.property(byteEdits, (edits) => check(applyByteEdits(original, edits, original.length))), { numRuns: 3000 });
    fc.assert(fc.property(fc.nat({ max: original.length }), (end) => check(original.subarray(0, end))), { numRuns: 500 });
    const pkl = original.subarray(original.indexOf(0x80), original.indexOf(0x2e, original.indexOf(0x80)) + 1);
    fc.assert(fc.property(byteEdits, (edits) => {
      try {
        readPickle(applyByteEdits(pkl, edits, pkl.length));
      } catch (error) {
        if (!(error instanceof PickleError)) throw error;
      }
    }), { numRuns: 3000 });
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (random) => {
      try {
        readPickle(random);
      } catch (error) {
        if (!(error instanceof PickleError)) throw error;
      }
    }), { numRuns: 3000 });
  });
});

/** torchvision's MobileNetV2 as a graph-form spec whose node names are its module paths. */
function mobilenetV2Graph(inputShape: number[]): unknown {
  const convBnRelu6 = (cin: number, cout: number, k: number, stride: number) => ({
    type: 'Sequential',
    layers: [{ type: 'Conv2d', in_channels: cin, out_channels: cout, kernel_size: k, stride, padding: (k - 1) / 2, bias: false }, { type: 'BatchNorm2d', num_features: cout }, { type: 'ReLU6' }],
  });
  const nodes: Array<Record<string, unknown>> = [{ name: 'features.0', ...convBnRelu6(3, 32, 3, 2) }];
  let channels = 32;
  // (expand ratio t, channels c, repeats n, first stride s), as in the paper and torchvision.
  for (const [t, c, n, s] of [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]] as const) {
    for (let i = 0; i < n; i++) {
      nodes.push({ name: `features.${nodes.length}`, type: 'InvertedResidual', in_channels: channels, out_channels: c, stride: i === 0 ? s : 1, expand_ratio: t });
      channels = c;
    }
  }
  nodes.push({ name: 'features.18', ...convBnRelu6(320, 1280, 1, 1) });
  nodes.push({ name: 'pool', type: 'AdaptiveAvgPool2d', output_size: 1 }, { name: 'flatten', type: 'Flatten', start_dim: 1 }, { name: 'classifier.0', type: 'Dropout', p: 0.2 }, { name: 'classifier.1', type: 'Linear', in_features: 1280, out_features: 1000 });
  let previous = 'input';
  for (const node of nodes) {
    node.inputs = [previous];
    previous = node.name as string;
  }
  return { name: 'torchvision mobilenet_v2', input_shape: inputShape, nodes };
}

/** torchvision's MobileNetV3-small as a graph-form spec whose node names are its module paths. */
function mobilenetV3SmallGraph(inputShape: number[]): unknown {
  // torchvision's _make_divisible(v, 8).
  const divisible8 = (v: number): number => {
    const rounded = Math.max(8, Math.floor((v + 4) / 8) * 8);
    return rounded < 0.9 * v ? rounded + 8 : rounded;
  };
  const convNormAct = (cin: number, cout: number, k: number, stride: number, groups: number, act?: string) => ({
    type: 'Sequential',
    layers: [
      { type: 'Conv2d', in_channels: cin, out_channels: cout, kernel_size: k, stride, padding: (k - 1) / 2, groups, bias: false },
      { type: 'BatchNorm2d', num_features: cout, eps: 0.001 },
      ...(act ? [{ type: act }] : []),
    ],
  });
  const nodes: Array<Record<string, unknown>> = [{ name: 'features.0', inputs: ['input'], ...convNormAct(3, 16, 3, 2, 1, 'Hardswish') }];
  let previous = 'features.0';
  // (in, kernel, expanded, out, squeeze-and-excitation, activation, stride): torchvision's table.
  const table: Array<[number, number, number, number, boolean, string, number]> = [
    [16, 3, 16, 16, true, 'ReLU', 2], [16, 3, 72, 24, false, 'ReLU', 2], [24, 3, 88, 24, false, 'ReLU', 1], [24, 5, 96, 40, true, 'Hardswish', 2],
    [40, 5, 240, 40, true, 'Hardswish', 1], [40, 5, 240, 40, true, 'Hardswish', 1], [40, 5, 120, 48, true, 'Hardswish', 1], [48, 5, 144, 48, true, 'Hardswish', 1],
    [48, 5, 288, 96, true, 'Hardswish', 2], [96, 5, 576, 96, true, 'Hardswish', 1], [96, 5, 576, 96, true, 'Hardswish', 1],
  ];
  table.forEach(([cin, k, expanded, cout, se, act, stride], i) => {
    const layers: unknown[] = [];
    if (expanded !== cin) layers.push(convNormAct(cin, expanded, 1, 1, 1, act));
    layers.push(convNormAct(expanded, expanded, k, stride, expanded, act));
    if (se) layers.push({ type: 'SqueezeExcitation', input_channels: expanded, squeeze_channels: divisible8(expanded / 4), scale_activation: 'Hardsigmoid' });
    layers.push(convNormAct(expanded, cout, 1, 1, 1));
    const name = `features.${i + 1}.block`;
    nodes.push({ name, type: 'Sequential', layers, inputs: [previous] });
    if (stride === 1 && cin === cout) {
      nodes.push({ name: `features.${i + 1}.add`, type: 'Add', inputs: [previous, name] });
      previous = `features.${i + 1}.add`;
    } else previous = name;
  });
  nodes.push({ name: 'features.12', inputs: [previous], ...convNormAct(96, 576, 1, 1, 1, 'Hardswish') });
  nodes.push(
    { name: 'avgpool', type: 'AdaptiveAvgPool2d', output_size: 1, inputs: ['features.12'] },
    { name: 'flatten', type: 'Flatten', start_dim: 1, inputs: ['avgpool'] },
    { name: 'classifier.0', type: 'Linear', in_features: 576, out_features: 1024, inputs: ['flatten'] },
    { name: 'classifier.1', type: 'Hardswish', inputs: ['classifier.0'] },
    { name: 'classifier.3', type: 'Linear', in_features: 1024, out_features: 1000, inputs: ['classifier.1'] },
  );
  return { name: 'torchvision mobilenet_v3_small', input_shape: inputShape, nodes };
}

describe('torchvision state_dicts (torch.save, torch 1.13)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await torchvisionCheckpoints();
  }, 600_000);

  it.each(['mobilenet_v2', 'mobilenet_v3_small', 'mobilenet_v3_large'])('%s: every key and shape of the state_dict, in order', (name) => {
    const checkpoint = readCheckpoint(readFileSync(join(dir, `${name}.pt`)));
    const keys = JSON.parse(readFileSync(join(dir, `${name}.keys.json`), 'utf8')) as Array<[string, number[]]>;
    const read = [...checkpoint.tensors].map(([k, t]) => [k, t.shape]);
    expect(read).toEqual(keys.filter(([k]) => !k.endsWith('num_batches_tracked')));
    expect(checkpoint.skipped.map((s) => s.key)).toEqual(keys.map(([k]) => k).filter((k) => k.endsWith('num_batches_tracked')));
  });

  it('mobilenet_v2 loads by key into the graph-form spec named after torchvision\'s modules, and its output equals PyTorch\'s within 1e-4', async () => {
    const checkpoint = readCheckpoint(readFileSync(join(dir, 'mobilenet_v2.pt')));
    const input = readNpy(readFileSync(join(dir, 'mobilenet_v2.input.npy')));
    const model = resolveModel(mobilenetV2Graph(input.shape));
    const weights = mapStateDict(checkpoint, parameterShapes(model));
    expect(Object.keys(weights)).toHaveLength(checkpoint.tensors.size);
    const result = await forward(model, weights, input);
    expect(allcloseViolation(result.output, readNpy(readFileSync(join(dir, 'mobilenet_v2.output.npy'))))).toBeUndefined();
  }, 120_000);

  it('mobilenet_v3_small (squeeze-and-excitation, Hardswish) loads by key into its graph-form spec, and its output equals PyTorch\'s within 1e-4', async () => {
    const checkpoint = readCheckpoint(readFileSync(join(dir, 'mobilenet_v3_small.pt')));
    const input = readNpy(readFileSync(join(dir, 'mobilenet_v3_small.input.npy')));
    const model = resolveModel(mobilenetV3SmallGraph(input.shape));
    const weights = mapStateDict(checkpoint, parameterShapes(model));
    expect(Object.keys(weights)).toHaveLength(checkpoint.tensors.size);
    const result = await forward(model, weights, input);
    expect(allcloseViolation(result.output, readNpy(readFileSync(join(dir, 'mobilenet_v3_small.output.npy'))))).toBeUndefined();
  }, 120_000);
});
