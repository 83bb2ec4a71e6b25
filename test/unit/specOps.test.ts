/**
 * The layers of mobile nets beyond convs: MaxPool2d, AvgPool2d, ConvTranspose2d, Upsample,
 * ChannelShuffle, SqueezeExcitation and the activations Hardsigmoid, Sigmoid, Tanh and
 * LeakyReLU. Their output shapes are checked against PyTorch itself (one python3 run over a grid
 * of arguments, PyTorch's own errors included), their errors name the field, and the cost model
 * counts them as each tool does.
 */
import { runProcess } from './runProcess';
import { describe, expect, it } from 'vitest';
import { costModel } from '../../src/shared/cost';
import { parameterShapes, resolveModel, SpecError, type ModelSpec } from '../../src/shared/spec';

const PYTHON = process.env.SEPCONV_PYTHON ?? '/usr/bin/python3';

function specError(spec: unknown): SpecError {
  try {
    resolveModel(spec);
  } catch (error) {
    expect(error).toBeInstanceOf(SpecError);
    return error as SpecError;
  }
  throw new Error('expected a SpecError');
}

const one = (layer: Record<string, unknown>, input = [2, 8, 9, 11]): ModelSpec => ({ input_shape: input, layers: [layer] }) as unknown as ModelSpec;

/** Output shape, or "error" where the spec is refused. */
function ourShape(layer: Record<string, unknown>, input: number[]): number[] | 'error' {
  try {
    return resolveModel(one(layer, input)).outputShape;
  } catch (error) {
    if (error instanceof SpecError) return 'error';
    throw error;
  }
}

/** Builds each layer in PyTorch and runs it on zeros: the output shape, or "error" where PyTorch raises. */
const HARNESS = `
import json, sys, warnings
import torch, torch.nn as nn
warnings.filterwarnings("ignore")
cases = json.load(sys.stdin)
out = []
for case in cases:
    layer = dict(case["layer"])
    kind = layer.pop("type")
    layer = {k: tuple(v) if isinstance(v, list) else v for k, v in layer.items()}
    try:
        module = getattr(nn, kind)(**layer)
        with torch.no_grad():
            out.append(list(module(torch.zeros(case["input"])).shape))
    except Exception:
        out.append("error")
print(json.dumps(out))
`;

async function torchShapes(cases: Array<{ layer: Record<string, unknown>; input: number[] }>): Promise<Array<number[] | 'error'>> {
  const run = await runProcess(PYTHON, ['-c', HARNESS], { input: JSON.stringify(cases), timeout: 240_000 });
  if (run.error) throw new Error(`could not run ${PYTHON}: ${run.error.message} (this test needs python3 with torch: apt-get install python3-torch)`);
  if (run.status !== 0) throw new Error(`python3 failed: ${run.stderr}`);
  return JSON.parse(run.stdout) as Array<number[] | 'error'>;
}

describe('output shapes, as PyTorch computes them', () => {
  it('match PyTorch (errors included) over a grid of pooling, transposed conv and upsample arguments', async () => {
    const cases: Array<{ layer: Record<string, unknown>; input: number[] }> = [];
    for (const size of [1, 2, 5, 7, 8]) {
      for (const k of [1, 2, 3]) {
        for (const s of [1, 2, 3]) {
          for (const p of [0, 1]) {
            for (const ceil of [false, true]) {
              cases.push({
                layer: { type: 'MaxPool2d', kernel_size: k, stride: s, padding: p, dilation: k === 3 && s === 1 ? 2 : 1, ceil_mode: ceil },
                input: [1, 2, size, size + 1],
              });
              cases.push({ layer: { type: 'AvgPool2d', kernel_size: k, stride: s, padding: p, ceil_mode: ceil }, input: [1, 2, size + 1, size] });
            }
            for (const op of [0, 1, 2]) {
              cases.push({
                layer: {
                  type: 'ConvTranspose2d',
                  in_channels: 2,
                  out_channels: 2,
                  kernel_size: k,
                  stride: s,
                  padding: p + (size === 1 ? 1 : 0),
                  output_padding: op,
                  dilation: op === 2 && s < 3 ? 3 : 1,
                },
                input: [1, 2, size, size],
              });
            }
          }
        }
      }
      for (const scale of [0.5, 1.5, 2, 2.7]) cases.push({ layer: { type: 'Upsample', scale_factor: scale, mode: 'bilinear' }, input: [1, 2, size, size + 2] });
      cases.push({ layer: { type: 'Upsample', size: [size + 3, 4], mode: 'nearest' }, input: [1, 2, size, size] });
    }
    const expected = await torchShapes(cases);
    const mismatches = cases
      .map((c, i) => ({ ...c, torch: expected[i], ours: ourShape(c.layer, c.input) }))
      .filter((c) => JSON.stringify(c.torch) !== JSON.stringify(c.ours));
    expect(mismatches).toEqual([]);
    // The grid reaches both answers of the ceil-mode rule and PyTorch's refusals.
    expect(expected.filter((e) => e === 'error').length).toBeGreaterThan(10);
  });

  it('drops a ceil-mode window that would start in the right padding', () => {
    // 5 + 2 * 1 - 3 = 4, ceil(4 / 3) + 1 = 3, but window 2 would start at 6 >= 5 + 1: 2 windows.
    expect(resolveModel(one({ type: 'MaxPool2d', kernel_size: 3, stride: 3, padding: 1, ceil_mode: true }, [1, 1, 5, 5])).outputShape).toEqual([1, 1, 2, 2]);
    expect(resolveModel(one({ type: 'MaxPool2d', kernel_size: 2, ceil_mode: true }, [1, 1, 9, 11])).outputShape).toEqual([1, 1, 5, 6]);
  });

  it('keeps the shape through ChannelShuffle and SqueezeExcitation, and changes none through the new activations', () => {
    for (const type of ['Hardsigmoid', 'Sigmoid', 'Tanh', 'LeakyReLU']) expect(resolveModel(one({ type })).outputShape).toEqual([2, 8, 9, 11]);
    expect(resolveModel(one({ type: 'ChannelShuffle', groups: 4 })).outputShape).toEqual([2, 8, 9, 11]);
    expect(resolveModel(one({ type: 'SqueezeExcitation', input_channels: 8, squeeze_channels: 2 })).outputShape).toEqual([2, 8, 9, 11]);
  });
});

describe('errors name the layer, the field and the reason', () => {
  it.each([
    [{ type: 'MaxPool2d', kernel_size: 3, padding: 2 }, 'padding', /at most half of kernel size/],
    [{ type: 'AvgPool2d', kernel_size: 2, stride: 2, padding: [0, 2] }, 'padding', /at most half/],
    [{ type: 'MaxPool2d', kernel_size: 3, return_indices: true }, 'return_indices', /must be false/],
    [{ type: 'MaxPool2d', kernel_size: 12 }, 'kernel_size', /output size is too small/],
    [{ type: 'AvgPool2d', kernel_size: 2, divisor_override: 0 }, 'divisor_override', /must be not zero/],
    [{ type: 'AvgPool2d', kernel_size: 2, divisor_override: 1.5 }, 'divisor_override', /must be an integer/],
    [
      { type: 'ConvTranspose2d', in_channels: 8, out_channels: 4, kernel_size: 3, stride: 2, output_padding: 2 },
      'output_padding',
      /smaller than either stride or dilation/,
    ],
    [{ type: 'ConvTranspose2d', in_channels: 8, out_channels: 6, kernel_size: 3, groups: 4 }, 'groups', /does not divide out_channels=6/],
    [{ type: 'ConvTranspose2d', in_channels: 4, out_channels: 4, kernel_size: 3 }, 'in_channels', /input has 8 channels/],
    [{ type: 'ConvTranspose2d', in_channels: 8, out_channels: 4, kernel_size: 3, padding: 'same' }, 'padding', /integer or a pair/],
    [{ type: 'ConvTranspose2d', in_channels: 8, out_channels: 4, kernel_size: 1, padding: 5 }, 'padding', /output height would be/],
    [{ type: 'ConvTranspose2d', in_channels: 8, out_channels: 4, kernel_size: 3, padding_mode: 'reflect' }, 'padding_mode', /must be one of "zeros"/],
    [{ type: 'Upsample', size: 4, scale_factor: 2 }, 'scale_factor', /only one of size or scale_factor/],
    [{ type: 'Upsample', mode: 'bilinear' }, 'size', /either size or scale_factor/],
    [{ type: 'Upsample', scale_factor: 2, align_corners: false }, 'align_corners', /only be set with the interpolating modes/],
    [{ type: 'Upsample', scale_factor: 0.05 }, 'scale_factor', /is 0/],
    [{ type: 'Upsample', scale_factor: -1 }, 'scale_factor', /positive number/],
    [{ type: 'Upsample', scale_factor: 2, mode: 'bicubic' }, 'mode', /must be one of "nearest", "bilinear"/],
    [{ type: 'ChannelShuffle', groups: 3 }, 'groups', /does not divide the input's 8 channels/],
    [{ type: 'SqueezeExcitation', input_channels: 8, squeeze_channels: 2, scale_activation: 'Softmax' }, 'scale_activation', /must be one of/],
    [{ type: 'SqueezeExcitation', input_channels: 6, squeeze_channels: 2 }, 'in_channels', /input has 8 channels/],
    [{ type: 'LeakyReLU', negative_slope: 'x' }, 'negative_slope', /finite number/],
    [{ type: 'Sigmoid', inplace: true }, 'inplace', /not an argument of Sigmoid/],
  ])('%j', (layer, field, reason) => {
    const error = specError(one(layer));
    expect(error.path.startsWith('layers[0]')).toBe(true);
    expect(error.field).toBe(field);
    expect(error.message).toMatch(reason);
  });
});

describe('state_dict keys, as nn.Sequential and torchvision give them', () => {
  it('SqueezeExcitation has fc1.* and fc2.* (1x1 convs with bias); ConvTranspose2d [in, out / groups, kh, kw]', () => {
    const model = resolveModel({
      input_shape: [1, 8, 6, 6],
      layers: [
        { type: 'SqueezeExcitation', input_channels: 8, squeeze_channels: 2, scale_activation: 'Hardsigmoid' },
        { type: 'ConvTranspose2d', in_channels: 8, out_channels: 6, kernel_size: [3, 2], groups: 2 },
        { type: 'MaxPool2d', kernel_size: 2 },
      ],
    });
    expect(parameterShapes(model).map((t) => [t.key, t.shape])).toEqual([
      ['0.fc1.weight', [2, 8, 1, 1]],
      ['0.fc1.bias', [2]],
      ['0.fc2.weight', [8, 2, 1, 1]],
      ['0.fc2.bias', [8]],
      ['1.weight', [8, 3, 3, 2]],
      ['1.bias', [6]],
    ]);
    expect(model.leaves.map((l) => l.node.key)).toEqual(['0.avgpool', '0.fc1', '0.activation', '0.fc2', '0.scale_activation', '1', '2']);
  });
});

describe('cost, under each convention as its tool counts', () => {
  const costs = (layer: Record<string, unknown>, input: number[]) => {
    const model = resolveModel(one(layer, input));
    return {
      torchinfo: costModel(model, { convention: 'torchinfo' }).total,
      fvcore: costModel(model, { convention: 'fvcore' }).total,
      flop_counter: costModel(model, { convention: 'flop_counter' }).total,
    };
  };

  it('ConvTranspose2d: torchinfo counts its parameters per output pixel, fvcore and flop_counter the weights per input pixel', () => {
    // ConvTranspose2d(8, 4, 3, stride 2, groups 2) on [2, 8, 5, 5]: out 11x11; weight [8, 2, 3, 3] = 144, bias 4.
    const c = costs({ type: 'ConvTranspose2d', in_channels: 8, out_channels: 4, kernel_size: 3, stride: 2, groups: 2 }, [2, 8, 5, 5]);
    expect(c.torchinfo.params).toBe(148);
    expect(c.torchinfo.macs).toBe(148 * 2 * 11 * 11);
    expect(c.fvcore.macs).toBe(2 * 144 * 5 * 5);
    expect(c.flop_counter.flops).toBe(2 * 2 * 144 * 5 * 5);
  });

  it('pools, shuffles and the new activations count nothing; fvcore counts Upsample per output element (4 for bilinear)', () => {
    for (const layer of [
      { type: 'MaxPool2d', kernel_size: 2 },
      { type: 'AvgPool2d', kernel_size: 3 },
      { type: 'ChannelShuffle', groups: 2 },
      { type: 'Hardsigmoid' },
      { type: 'LeakyReLU' },
    ]) {
      const c = costs(layer, [2, 8, 9, 11]);
      expect([c.torchinfo.macs, c.fvcore.macs, c.flop_counter.macs, c.torchinfo.params]).toEqual([0, 0, 0, 0]);
      expect(c.torchinfo.activationBytes).toBeGreaterThan(0);
    }
    expect(costs({ type: 'Upsample', scale_factor: 2 }, [2, 8, 9, 11]).fvcore.macs).toBe(2 * 8 * 18 * 22);
    expect(costs({ type: 'Upsample', scale_factor: 2, mode: 'bilinear' }, [2, 8, 9, 11]).fvcore.macs).toBe(4 * 2 * 8 * 18 * 22);
    expect(costs({ type: 'Upsample', scale_factor: 2, mode: 'bilinear' }, [2, 8, 9, 11]).torchinfo.macs).toBe(0);
  });

  it('SqueezeExcitation: its two 1x1 convs; fvcore adds the global pool, one per input element', () => {
    // fc1 8 -> 2 and fc2 2 -> 8 with bias on [3, 8, 9, 11]: 16 + 2 + 16 + 8 = 42 params.
    const c = costs({ type: 'SqueezeExcitation', input_channels: 8, squeeze_channels: 2 }, [3, 8, 9, 11]);
    expect(c.torchinfo.params).toBe(42);
    expect(c.torchinfo.macs).toBe(3 * 42);
    expect(c.fvcore.macs).toBe(3 * 32 + 3 * 8 * 9 * 11);
    expect(c.flop_counter.macs).toBe(3 * 32);
  });
});
