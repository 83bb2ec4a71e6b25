/**
 * The code export, checked by running it: the PyTorch snippets are executed by /usr/bin/python3
 * with torch (installed by .ci/run; without it this test fails, it does not skip). Their
 * state_dict keys and shapes must equal parameterShapes(); for the fixtures they must also load
 * the fixture's weights strictly and reproduce PyTorch's output. The Keras snippets are parsed
 * by Python (Keras itself is not installed) and checked for the layers they map to.
 */
import { runProcess } from './runProcess';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { kerasCode, pytorchCode } from '../../src/shared/codegen';
import { PRESETS } from '../../src/shared/presets';
import { parameterShapes, resolveModel, type Conv2dSpec, type ModelSpec } from '../../src/shared/spec';
import { FIXTURE_DIR, readManifest } from './fixtureLoader';

const PYTHON = process.env.SEPCONV_PYTHON ?? '/usr/bin/python3';

/** Runs every snippet in one Python process; prints one JSON result per case. */
const HARNESS = String.raw`
import contextlib, io, json, struct, sys
import numpy as np
import torch

def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        dtype = {"F32": np.float32, "F16": np.float16, "I64": np.int64}.get(entry["dtype"])
        if dtype is None:  # BF16: the upper half of a float32
            bits = np.frombuffer(data[begin:end], dtype="<u2").astype(np.uint32) << 16
            array = bits.view(np.float32)
        else:
            array = np.frombuffer(data[begin:end], dtype=np.dtype(dtype).newbyteorder("<"))
        out[name] = torch.from_numpy(array.astype(np.int64 if dtype is np.int64 else np.float32).reshape(entry["shape"]))
    return out

torch.set_num_threads(1)
results = []
for case in json.load(sys.stdin):
    result = {"name": case["name"]}
    try:
        compile(case["keras"], case["name"] + ".keras.py", "exec")
    except SyntaxError as error:
        result["keras_error"] = repr(error)
    namespace = {"__name__": "__main__"}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(case["code"], case["name"] + ".py", "exec"), namespace)
    result["printed"] = printed.getvalue().strip()
    model = namespace["model"]
    result["state"] = [[k, list(v.shape)] for k, v in model.state_dict().items()]
    if case.get("fixture"):
        prefix = case["fixture"]
        model.load_state_dict(read_safetensors(prefix + ".weights.safetensors"), strict=True)
        model.eval()
        x = torch.from_numpy(np.load(prefix + ".input.npy").astype(np.float32))
        expected = torch.from_numpy(np.load(prefix + ".output.npy"))
        with torch.no_grad():
            y = model(x)
        result["max_error"] = float(((y - expected).abs() / (1 + expected.abs())).max())
    results.append(result)
print(json.dumps(results))
`;

interface Case {
  name: string;
  spec: ModelSpec;
  /** Path prefix of a fixture whose weights, input and output the snippet must reproduce. */
  fixture?: string;
}

interface Result {
  name: string;
  printed: string;
  state: Array<[string, number[]]>;
  max_error?: number;
  keras_error?: string;
}

const conv = (cin: number, cout: number, k: number | [number, number], extra: Partial<Conv2dSpec> = {}): Conv2dSpec => ({
  type: 'Conv2d',
  in_channels: cin,
  out_channels: cout,
  kernel_size: k,
  ...extra,
});

const handmade: Case[] = [
  {
    name: 'nested composites',
    spec: {
      input_shape: [1, 8, 10, 10],
      layers: [
        {
          type: 'Residual',
          body: [
            { type: 'InvertedResidual', in_channels: 8, out_channels: 8, expand_ratio: 3 },
            { type: 'Residual', body: [{ type: 'DepthwiseSeparable', in_channels: 8, out_channels: 8, activation: 'Identity', batch_norm: false }] },
            { type: 'InvertedResidual', in_channels: 8, out_channels: 8, stride: 2, expand_ratio: 1 },
            { type: 'AdaptiveAvgPool2d', output_size: 10 },
          ],
        },
      ],
    },
  },
  {
    name: 'tf_same and padding modes',
    spec: {
      input_shape: [2, 3, 13, 8],
      layers: [
        conv(3, 6, 3, { stride: 2, padding: 'tf_same', padding_mode: 'reflect' }),
        conv(6, 6, 5, { padding: 'tf_same', groups: 6, dilation: [1, 2], bias: false }),
        conv(6, 4, 2, { padding: 'same', padding_mode: 'circular' }),
        { type: 'BatchNorm2d', num_features: 4, eps: 0.001, momentum: 0.01, affine: false },
        { type: 'GELU', approximate: 'tanh' },
        { type: 'Flatten', start_dim: 2 },
      ],
    },
  },
];

function allCases(): Case[] {
  // Code export writes nn.Sequential and Keras Sequential: the chain form's fixtures (the graph form is refused, see below).
  const fixtures = readManifest()
    .map((entry) => ({ name: entry.name, spec: requireJson(entry.name), fixture: join(FIXTURE_DIR, entry.name) }))
    .filter((c) => 'layers' in (c.spec as object));
  const presets = PRESETS.map((p) => ({ name: `preset ${p.name}`, spec: p.model }));
  return [...fixtures, ...presets, ...handmade];
}

function requireJson(name: string): ModelSpec {
  return JSON.parse(readFileSync(join(FIXTURE_DIR, `${name}.json`), 'utf8')) as ModelSpec;
}

async function runPython(cases: Case[]): Promise<Map<string, Result>> {
  const input = cases.map((c) => {
    const model = resolveModel(c.spec);
    return { name: c.name, code: pytorchCode(model), keras: kerasCode(model), fixture: c.fixture };
  });
  const run = await runProcess(PYTHON, ['-c', HARNESS], { input: JSON.stringify(input), timeout: 240_000 });
  if (run.error)
    throw new Error(`could not run ${PYTHON}: ${run.error.message} (the PyTorch export test needs python3 with torch: apt-get install python3-torch)`);
  if (run.status !== 0) throw new Error(`${PYTHON} failed (exit ${run.status}); it needs torch and numpy (apt-get install python3-torch):\n${run.stderr}`);
  const results = JSON.parse(run.stdout) as Result[];
  return new Map(results.map((r) => [r.name, r]));
}

describe('pytorchCode, run by PyTorch', () => {
  const cases = allCases();
  let results: Map<string, Result> | undefined;
  // One python3 run for every case, before the tests that read it (asynchronous: see runProcess).
  beforeAll(async () => {
    results = await runPython(cases);
  }, 300_000);
  const result = (name: string): Result => results?.get(name) ?? expect.fail(`no result for ${name}`);

  it('runs every snippet (fixtures, presets, nested composites) in python3 with torch', () => {
    expect(cases.length).toBeGreaterThan(80);
    for (const c of cases) expect(result(c.name).state.length, c.name).toBeGreaterThanOrEqual(0);
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s: state_dict keys and shapes equal parameterShapes()', (name, c) => {
    const model = resolveModel(c.spec);
    const state = result(name).state.filter(([key]) => !key.endsWith('.num_batches_tracked'));
    expect(state).toEqual(parameterShapes(model).map((p) => [p.key, p.shape]));
    // The demo at the bottom of the snippet runs a forward pass and prints the output shape.
    expect(result(name).printed).toBe(`(${model.outputShape.join(', ')}${model.outputShape.length === 1 ? ',' : ''})`);
  });

  it("loads every fixture's weights strictly and reproduces its output", () => {
    const errors = cases.filter((c) => c.fixture).map((c) => [c.name, result(c.name).max_error] as const);
    expect(errors.length).toBeGreaterThan(60);
    for (const [name, error] of errors) expect(error, name).toBeLessThan(1e-4);
  });

  it('writes Keras snippets that are valid Python', () => {
    for (const c of cases) expect(result(c.name).keras_error, c.name).toBeUndefined();
  });
});

describe('pytorchCode', () => {
  it('defines only the helper classes a model uses', () => {
    const graph = resolveModel({ input_shape: [1, 3, 8, 8], nodes: [{ name: 'a', inputs: ['input'], ...conv(3, 4, 3) }] });
    expect(() => pytorchCode(graph)).toThrow('code export takes the chain form');
    expect(() => kerasCode(graph)).toThrow('code export takes the chain form');
    const plain = pytorchCode(resolveModel({ input_shape: [1, 3, 8, 8], layers: [conv(3, 4, 3)] }));
    expect(plain).toContain('nn.Conv2d(3, 4, kernel_size=3)');
    expect(plain).not.toMatch(/class |import torch.nn.functional/);
    const tf = pytorchCode(resolveModel({ input_shape: [1, 3, 8, 8], layers: [conv(3, 4, [3, 5], { padding: 'tf_same', stride: [2, 1], bias: false })] }));
    expect(tf).toContain('Conv2dTfSame(3, 4, kernel_size=(3, 5), stride=(2, 1), bias=False)');
    expect(tf).toContain('import torch.nn.functional as F');
    expect(tf).not.toContain('class Residual');
  });

  it("keeps every spec argument that differs from PyTorch's default", () => {
    const code = pytorchCode(
      resolveModel({
        input_shape: [1, 4, 12, 12],
        layers: [
          conv(4, 8, [3, 1], { stride: 2, padding: [1, 0], dilation: [2, 1], groups: 4, bias: false, padding_mode: 'replicate' }),
          { type: 'BatchNorm2d', num_features: 8, eps: 1e-3, affine: false, track_running_stats: false },
          { type: 'GELU', approximate: 'tanh' },
          { type: 'Dropout', p: 0.25 },
          { type: 'AdaptiveAvgPool2d', output_size: [2, 3] },
          { type: 'Flatten' },
          { type: 'Linear', in_features: 48, out_features: 5, bias: false },
        ],
      }),
    );
    expect(code).toContain("nn.Conv2d(4, 8, kernel_size=(3, 1), stride=2, padding=(1, 0), dilation=(2, 1), groups=4, bias=False, padding_mode='replicate')");
    expect(code).toContain('nn.BatchNorm2d(8, eps=0.001, affine=False, track_running_stats=False)');
    expect(code).toContain("nn.GELU(approximate='tanh')");
    expect(code).toContain('nn.Dropout(p=0.25)');
    expect(code).toContain('nn.AdaptiveAvgPool2d((2, 3))');
    expect(code).toContain('nn.Linear(48, 5, bias=False)');
  });
});

describe('kerasCode', () => {
  const keras = (spec: ModelSpec) => kerasCode(resolveModel(spec));

  it('maps convolutions to Conv2D, DepthwiseConv2D and SeparableConv2D', () => {
    const code = keras({
      input_shape: [1, 4, 10, 12],
      layers: [
        conv(4, 8, 3, { padding: 1, groups: 4 }),
        conv(8, 8, 3, { padding: 1, groups: 2, bias: false }),
        {
          type: 'DepthwiseSeparable',
          in_channels: 8,
          out_channels: 16,
          depth_multiplier: 2,
          batch_norm: false,
          activation: 'Identity',
          pw_activation: 'Identity',
          stride: 2,
        },
      ],
    });
    expect(code).toContain('keras.Sequential([');
    expect(code).toContain('keras.Input(shape=(10, 12, 4))');
    expect(code).toContain("layers.DepthwiseConv2D(kernel_size=3, depth_multiplier=2, padding='same')");
    expect(code).toContain("layers.Conv2D(8, kernel_size=3, groups=2, padding='same', use_bias=False)");
    // stride 2 with PyTorch's symmetric padding 1 on 10x12 is not TensorFlow's SAME (0 before, 1 after): explicit padding.
    expect(code).toContain('layers.ZeroPadding2D(padding=((1, 1), (1, 1)))');
    expect(code).toContain("layers.SeparableConv2D(16, kernel_size=3, padding='valid', strides=2, depth_multiplier=2, use_bias=False)");
  });

  it("uses 'same' for TensorFlow's SAME and explicit ZeroPadding2D for PyTorch's asymmetric cases", () => {
    const code = keras({ input_shape: [1, 3, 9, 11], layers: [conv(3, 4, 4, { stride: 2, padding: 'tf_same' }), conv(4, 4, 3, { padding: [2, 0] })] });
    expect(code).toContain("layers.Conv2D(4, kernel_size=4, padding='same', strides=2)");
    expect(code).toContain('layers.ZeroPadding2D(padding=((2, 2), (0, 0)))');
  });

  it('uses the functional API for residual adds', () => {
    const code = keras(PRESETS.find((p) => p.name === 'mobilenet_v2_block')!.model);
    expect(code).toContain('inputs = keras.Input(shape=(56, 56, 24))');
    expect(code).toContain('skip = x');
    expect(code).toContain('x = layers.Add()([skip, x])');
    expect(code).toContain('model = keras.Model(inputs, x');
  });

  it('maps BatchNorm, activations and the head, and says what cannot map exactly', () => {
    const code = keras({
      input_shape: [1, 4, 9, 11],
      layers: [
        conv(4, 4, 3, { padding: 1, padding_mode: 'reflect' }),
        { type: 'BatchNorm2d', num_features: 4, eps: 0.001 },
        { type: 'ReLU6' },
        { type: 'Hardswish' },
        { type: 'SiLU' },
        { type: 'GELU' },
        { type: 'AdaptiveAvgPool2d', output_size: [2, 3] },
        { type: 'Flatten' },
        { type: 'Linear', in_features: 24, out_features: 3 },
      ],
    });
    expect(code).toMatch(/# .*padding_mode='reflect'.*zeros are used/);
    expect(code).toContain('layers.BatchNormalization(epsilon=0.001, momentum=0.9)');
    expect(code).toContain('layers.ReLU(max_value=6.0)');
    expect(code).toContain("layers.Activation('hard_swish')");
    expect(code).toContain("layers.Activation('silu')");
    expect(code).toContain('def gelu_erf(x):');
    expect(code).toContain('layers.Activation(gelu_erf)');
    expect(code).toMatch(/# AdaptiveAvgPool2d\(\(2, 3\)\) on 9x11 has uneven bins/);
    expect(code).toMatch(/# channels_last: Keras orders the flattened features H, W, C/);
    expect(code).toContain('layers.Dense(3)');
  });
});
