import { describe, expect, it } from 'vitest';
import { costModel, estimateConv, type ModelCost } from '../../src/shared/cost';
import { getPreset } from '../../src/shared/presets';
import { resolveModel, type ModelSpec } from '../../src/shared/spec';

const cost = (spec: ModelSpec, convention: 'torchinfo' | 'fvcore' | 'flop_counter' = 'torchinfo') => costModel(resolveModel(spec), { convention });
/** Conv and linear MACs only: what the papers count. */
const convAndLinearMacs = (model: ModelCost) => model.leaves.filter((l) => l.op === 'conv2d' || l.op === 'linear').reduce((a, l) => a + l.macs, 0);

describe('published figures', () => {
  it("torchinfo's test: Conv2d(16, 32, 3, groups=4) on [7, 16, 28, 28]", () => {
    const model = cost({ input_shape: [7, 16, 28, 28], layers: [{ type: 'Conv2d', in_channels: 16, out_channels: 32, kernel_size: 3, groups: 4 }] });
    expect(model.total.params).toBe(1184);
    expect(model.total.macs).toBe(5_602_688);
    expect(model.outputShape).toEqual([7, 32, 26, 26]);
  });

  it("torch.utils.flop_counter's test: (2,3,6,6) input, (6,3,4,4) weight, padding 1", () => {
    const model = cost(
      { input_shape: [2, 3, 6, 6], layers: [{ type: 'Conv2d', in_channels: 3, out_channels: 6, kernel_size: 4, padding: 1 }] },
      'flop_counter',
    );
    expect(model.total.flops).toBe(28_800);
  });

  it("fvcore's docstring: Conv2d(3, 10, 1) on 1x3x10x10", () => {
    const model = cost({ input_shape: [1, 3, 10, 10], layers: [{ type: 'Conv2d', in_channels: 3, out_channels: 10, kernel_size: 1 }] }, 'fvcore');
    expect(model.total.macs).toBe(3000);
  });

  it('MobileNetV1-224: 4.2M params and 569M mult-adds; 29.3M and 4866M with full convs (paper, Table 4)', () => {
    const model = cost(getPreset('mobilenet_v1')!, 'fvcore');
    const weights = model.leaves
      .filter((l) => l.op === 'conv2d' || l.op === 'linear')
      .reduce((a, l) => a + (l.weightShape ?? []).reduce((x, y) => x * y, 1), 0);
    expect(weights / 1e6).toBeCloseTo(4.2, 1);
    expect(Math.round(convAndLinearMacs(model) / 1e6)).toBe(569);
    expect(model.pairs).toHaveLength(13);
    const otherMacs = model.total.macs - convAndLinearMacs(model);
    const fullConvMacs = model.total.withStandardConvs.macs - otherMacs;
    // 4,867.3M here; the paper prints 4866 (0.03% apart: the paper's rounding of its own count).
    expect(Math.abs(fullConvMacs / 4866e6 - 1)).toBeLessThan(0.001);
    const bnAndBiasParams = model.total.params - weights;
    expect((model.total.withStandardConvs.params - bnAndBiasParams) / 1e6).toBeCloseTo(29.3, 1);
  });

  it("MobileNetV2-224: 300M MACs (TF-slim) and torchvision's 3,504,872 params", () => {
    const model = cost(getPreset('mobilenet_v2')!, 'torchinfo');
    expect(model.total.params).toBe(3_504_872);
    expect(Math.round(convAndLinearMacs(model) / 1e6)).toBe(301);
    expect(Math.abs(convAndLinearMacs(model) / 300e6 - 1)).toBeLessThan(0.01);
  });
});

describe('conventions', () => {
  const spec: ModelSpec = {
    input_shape: [2, 8, 10, 10],
    layers: [{ type: 'Conv2d', in_channels: 8, out_channels: 16, kernel_size: 3, padding: 1 }, { type: 'BatchNorm2d', num_features: 16 }, { type: 'ReLU' }],
  };
  const outputs = 2 * 16 * 10 * 10;
  it('torchinfo counts the conv bias and BN as batch x params', () => {
    const model = cost(spec, 'torchinfo');
    expect(model.leaves[0]!.macs).toBe(outputs * 72 + outputs);
    expect(model.leaves[1]!.macs).toBe(2 * 32);
  });
  it('fvcore counts weights only and BN per element (x2 with affine)', () => {
    const model = cost(spec, 'fvcore');
    expect(model.leaves[0]!.macs).toBe(outputs * 72);
    expect(model.leaves[1]!.macs).toBe(outputs * 2);
  });
  it('fvcore counts a BN without running stats as it does in training (5 per element with affine, 4 without)', () => {
    // nn.BatchNorm2d(track_running_stats=False) calls batch_norm with training=True even in eval,
    // and fvcore's batchnorm_flop_jit then uses its norm counter: numel x (5 if affine else 4).
    const bn = (affine: boolean) =>
      cost({ input_shape: [2, 8, 5, 5], layers: [{ type: 'BatchNorm2d', num_features: 8, affine, track_running_stats: false }] }, 'fvcore');
    expect(bn(true).leaves[0]!.macs).toBe(2 * 8 * 5 * 5 * 5);
    expect(bn(false).leaves[0]!.macs).toBe(2 * 8 * 5 * 5 * 4);
    const inference = cost({ input_shape: [2, 8, 5, 5], layers: [{ type: 'BatchNorm2d', num_features: 8, affine: false }] }, 'fvcore');
    expect(inference.leaves[0]!.macs).toBe(2 * 8 * 5 * 5);
  });
  it('flop_counter counts conv only, FLOPs = 2 x MACs', () => {
    const model = cost(spec, 'flop_counter');
    expect(model.total.macs).toBe(outputs * 72);
    expect(model.total.flops).toBe(2 * outputs * 72);
  });
  it('params are the same under every convention', () => {
    const counts = (['torchinfo', 'fvcore', 'flop_counter'] as const).map((c) => cost(spec, c).total.params);
    expect(new Set(counts).size).toBe(1);
    expect(counts[0]).toBe(8 * 16 * 9 + 16 + 32);
  });
});

describe('separable pairs', () => {
  it('reports the standard conv replaced and the 1/Cout + 1/k^2 ratio', () => {
    const model = cost({ input_shape: [1, 32, 56, 56], layers: [{ type: 'DepthwiseSeparable', in_channels: 32, out_channels: 64 }] }, 'fvcore');
    const [pair] = model.pairs;
    expect(pair).toBeDefined();
    expect(pair!.standard.weightShape).toEqual([64, 32, 3, 3]);
    expect(pair!.standard.macs).toBe(56 * 56 * 64 * 32 * 9);
    expect(pair!.separable.macs).toBe(56 * 56 * 32 * 9 + 56 * 56 * 32 * 64);
    expect(pair!.reduction).toBeCloseTo(1 / 64 + 1 / 9, 12);
    expect(pair!.formula).toBeCloseTo(1 / 64 + 1 / 9, 12);
  });

  it('does not pair a depthwise and a pointwise conv that a residual add separates', () => {
    // x + dw(x), then pw: no standard conv computes that, so there is nothing to compare with.
    const across = cost({
      input_shape: [1, 8, 16, 16],
      layers: [
        { type: 'Residual', body: [{ type: 'Conv2d', in_channels: 8, out_channels: 8, kernel_size: 3, padding: 1, groups: 8 }] },
        { type: 'Conv2d', in_channels: 8, out_channels: 16, kernel_size: 1 },
      ],
    });
    expect(across.pairs).toEqual([]);
    expect(across.total.withStandardConvs).toEqual({ params: across.total.params, macs: across.total.macs });
    // dw, then a residual whose body starts with the pw: the skip needs the dw output itself.
    const into = cost({
      input_shape: [1, 8, 16, 16],
      layers: [
        { type: 'Conv2d', in_channels: 8, out_channels: 8, kernel_size: 3, padding: 1, groups: 8 },
        { type: 'Residual', body: [{ type: 'Conv2d', in_channels: 8, out_channels: 8, kernel_size: 1 }] },
      ],
    });
    expect(into.pairs).toEqual([]);
    // dw, a residual around an activation, then pw: the add sits between them too.
    const between = cost({
      input_shape: [1, 8, 16, 16],
      layers: [
        { type: 'Conv2d', in_channels: 8, out_channels: 8, kernel_size: 3, padding: 1, groups: 8 },
        { type: 'Residual', body: [{ type: 'ReLU' }] },
        { type: 'Conv2d', in_channels: 8, out_channels: 16, kernel_size: 1 },
      ],
    });
    expect(between.pairs).toEqual([]);
    // Both halves inside one residual body (and InvertedResidual's dw + project) still pair.
    const inside = cost({
      input_shape: [1, 16, 8, 8],
      layers: [
        { type: 'Residual', body: [{ type: 'DepthwiseSeparable', in_channels: 16, out_channels: 16 }] },
        { type: 'InvertedResidual', in_channels: 16, out_channels: 16 },
      ],
    });
    expect(inside.pairs.map((p) => [p.dwKey, p.pwKey])).toEqual([
      ['0.body.0.0', '0.body.0.3'],
      ['1.conv.1.0', '1.conv.2'],
    ]);
  });

  it('estimateConv gives the replacement and the saving of a standard conv', () => {
    const estimate = estimateConv({ in_channels: 64, out_channels: 128, kernel_size: 3, padding: 1, bias: false }, [1, 64, 56, 56], { convention: 'fvcore' });
    expect(estimate.kind).toBe('standard');
    expect(estimate.cost.macs).toBe(56 * 56 * 128 * 64 * 9);
    expect(estimate.separable!.saving).toBeCloseTo(1 - (1 / 128 + 1 / 9), 12);
    expect(estimateConv({ in_channels: 64, out_channels: 128, kernel_size: 1 }, [1, 64, 8, 8]).separable).toBeUndefined();
    expect(estimateConv({ in_channels: 64, out_channels: 128, kernel_size: 3, groups: 64 }, [1, 64, 8, 8]).kind).toBe('depthwise (multiplier 2)');
  });
});

describe('memory traffic', () => {
  it('counts bytes by dtype and the intensity as FLOPs per byte', () => {
    const spec: ModelSpec = {
      input_shape: [1, 4, 8, 8],
      layers: [{ type: 'Conv2d', in_channels: 4, out_channels: 4, kernel_size: 3, padding: 1, groups: 4, bias: false }],
    };
    const fp32 = costModel(resolveModel(spec), { dtype: 'fp32' }).leaves[0]!;
    const fp16 = costModel(resolveModel(spec), { dtype: 'fp16' }).leaves[0]!;
    expect(fp32.weightBytes).toBe(36 * 4);
    expect(fp32.activationBytes).toBe(2 * 256 * 4);
    expect(fp16.trafficBytes).toBe(fp32.trafficBytes / 2);
    expect(fp32.intensity).toBeCloseTo(fp32.flops / fp32.trafficBytes, 12);
  });
});
