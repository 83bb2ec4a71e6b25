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
import { mobilenetV2Spec, mobilenetV3Spec } from '../../src/shared/torchvisionSpecs';

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
    const model = resolveModel(mobilenetV2Spec(1000, input.shape));
    const weights = mapStateDict(checkpoint, parameterShapes(model));
    expect(Object.keys(weights)).toHaveLength(checkpoint.tensors.size);
    const result = await forward(model, weights, input);
    expect(allcloseViolation(result.output, readNpy(readFileSync(join(dir, 'mobilenet_v2.output.npy'))))).toBeUndefined();
  }, 120_000);

  it('mobilenet_v3_small (squeeze-and-excitation, Hardswish) loads by key into its graph-form spec, and its output equals PyTorch\'s within 1e-4', async () => {
    const checkpoint = readCheckpoint(readFileSync(join(dir, 'mobilenet_v3_small.pt')));
    const input = readNpy(readFileSync(join(dir, 'mobilenet_v3_small.input.npy')));
    const model = resolveModel(mobilenetV3Spec('small', 1000, input.shape));
    const weights = mapStateDict(checkpoint, parameterShapes(model));
    expect(Object.keys(weights)).toHaveLength(checkpoint.tensors.size);
    const result = await forward(model, weights, input);
    expect(allcloseViolation(result.output, readNpy(readFileSync(join(dir, 'mobilenet_v3_small.output.npy'))))).toBeUndefined();
  }, 120_000);
});
