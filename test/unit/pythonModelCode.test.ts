import { describe, it, expect, beforeAll } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { parser, FIXTURES, analyzeCode, type CodeAnalysis } from './pythonHelpers';
import type { PythonParser } from '../../src/python/pythonParser';
import { readModelCode, type ModelCode } from '../../src/python/modelCode';
import { DEFAULT_SETTINGS } from '../../src/python/layerEstimates';
import { showValue } from '../../src/python/pythonValues';
import { separableRewrite, applyEdits } from '../../src/python/separableRewrite';
import { ParseCache, skipReason } from '../../src/python/parseCache';
import { costModel, estimateConv } from '../../src/shared/cost';
import { resolveModel } from '../../src/shared/spec';

let p: PythonParser;
beforeAll(async () => {
  p = await parser();
});

function read(source: string): ModelCode {
  const tree = p.parse(source)!;
  try {
    return readModelCode(tree);
  } finally {
    tree.delete();
  }
}
const analyze = (source: string, settings = DEFAULT_SETTINGS): CodeAnalysis => analyzeCode(read(source), settings);
const fixture = (name: string) => fs.readFileSync(path.join(FIXTURES, name), 'utf8');
const args = (code: ModelCode, i: number) => Object.fromEntries(Object.entries(code.calls[i]!.args).map(([k, v]) => [k, showValue(v.value)]));

describe('recognising layer calls', () => {
  it('reads every import style of nn.Conv2d with resolved arguments', () => {
    const code = read(fixture('torch_styles.py'));
    const convs = code.calls.filter((c) => c.type === 'Conv2d');
    expect(convs.map((c) => c.callee.text)).toEqual(['torch.nn.Conv2d', 'C', 'tnn.Conv2d', 'C', 'tnn.Conv2d', 'tnn.Conv2d', 'tnn.Conv2d']);
    expect(args(code, 0)).toEqual({ in_channels: '3', out_channels: '32', kernel_size: '3', padding: '1' });
    expect(args(code, 1)).toEqual({ in_channels: '32', out_channels: '64', kernel_size: '(3, 3)', stride: '2', padding: '(1, 1)' });
    // WIDTH // 4 with WIDTH = 32; a, b = 16, 48 unpacked.
    expect(args(code, 2).groups).toBe('8');
    expect(args(code, 3)).toMatchObject({ in_channels: '16', out_channels: '32' });
    expect(code.calls.find((c) => c.type === 'BatchNorm2d')?.callee.text).toBe('BatchNorm2d');
    // A function parameter is never guessed.
    expect(args(code, code.calls.length - 1).in_channels).toBe('channels');
  });

  it('does not take a shadowed or re-assigned name for a constant', () => {
    const code = read('import torch.nn as nn\nc = 16\nc = 32\nd = 8\nd += 1\nx = nn.Conv2d(c, d, 3)\n');
    expect(args(code, 0)).toMatchObject({ in_channels: 'c', out_channels: 'd' });
    const same = read('import torch.nn as nn\nc = 16\nif True:\n    c = 16\nx = nn.Conv2d(c, c * 2 - 1, 3)\n');
    expect(args(same, 0)).toMatchObject({ in_channels: '16', out_channels: '31' });
  });

  it('ignores calls whose names are not torch or keras classes', () => {
    const code = read('from mylib import Conv2d\nclass nn:\n    pass\nx = Conv2d(1, 2, 3)\ny = nn.Conv2d(1, 2, 3)\n');
    expect(code.calls).toEqual([]);
  });

  it('reads Keras layers through layers., keras.layers., tf.keras.layers. and direct imports', () => {
    const code = read(fixture('keras_sequential.py'));
    const types = code.calls.map((c) => `${c.callee.text}`);
    expect(types).toContain('layers.Conv2D');
    expect(types).toContain('SeparableConv2D');
    expect(types).toContain('tf.keras.layers.GlobalAveragePooling2D');
    expect(types).toContain('Conv2D');
    expect(code.containers.filter((c) => c.kind === 'keras-sequential')).toHaveLength(2);
  });

  it('finds the containers: Sequentials, nested ones and module classes', () => {
    const code = read(fixture('mobilenet_v1_torch.py'));
    const kinds = code.containers.map((c) => `${c.kind}:${c.name ?? ''}:${c.items.length}`);
    expect(kinds).toEqual(['torch-sequential::3', 'torch-sequential::6', 'torch-sequential:self.stem:9', 'torch-module:MobileNetV1Stem:1']);
  });
});

describe('shapes and costs', () => {
  it('propagates shapes through nn.Sequential and costs each layer as costModel does', () => {
    const a = analyze(fixture('mobilenet_v1_torch.py'));
    const stem = a.code.containers.findIndex((c) => c.name === 'self.stem');
    const layers = a.code.containers[stem]!.items.map((item) => (item.kind === 'layer' ? a.estimates.layers[item.call]! : undefined));
    expect(layers[0]!.inShape).toEqual([1, 3, 224, 224]);
    expect(layers[0]!.inputSource).toBe('default');
    expect(layers[3]!.inShape).toEqual([1, 32, 112, 112]);
    expect(layers[3]!.inputSource).toBe('propagated');
    expect(layers[6]!.outShape).toEqual([1, 64, 112, 112]);
    // The same model through the shared cost model directly.
    const model = a.estimates.containers[stem]!.model!;
    expect(model.layers).toHaveLength(9);
    const reference = costModel(resolveModel(model));
    expect(a.estimates.containers[stem]!.total.macs).toBe(reference.total.macs);
    expect(a.estimates.containers[stem]!.total.params).toBe(reference.total.params);
    expect(layers[3]!.conv!.kind).toBe('depthwise');
    expect(layers[3]!.cost!.macs).toBe(32 * 112 * 112 * 9);
    expect(layers[6]!.cost!.macs).toBe(64 * 32 * 112 * 112);
  });

  it('reports a standard conv with its separable replacement, as estimateConv does', () => {
    const a = analyze('import torch.nn as nn\nconv = nn.Conv2d(64, 128, 3, padding=1)\n');
    const e = a.estimates.layers[0]!;
    const reference = estimateConv({ in_channels: 64, out_channels: 128, kernel_size: 3, padding: 1 }, [1, 64, 224, 224]);
    expect(e.conv).toEqual(reference);
    expect(e.conv!.weightShape).toEqual([128, 64, 3, 3]);
    expect(e.cost!.flops).toBe(2 * e.cost!.macs);
    expect(e.conv!.separable!.saving).toBeGreaterThan(0.8);
  });

  it('honours the convention and the default input size', () => {
    const src = 'import torch.nn as nn\nconv = nn.Conv2d(16, 32, 3, groups=4)\n';
    const ti = analyze(src, { ...DEFAULT_SETTINGS, defaultInputSize: [28, 28] }).estimates.layers[0]!;
    const fv = analyze(src, { ...DEFAULT_SETTINGS, convention: 'fvcore', defaultInputSize: [28, 28] }).estimates.layers[0]!;
    // torchinfo's own test: Conv2d(16, 32, 3, groups=4) has 1,184 params.
    expect(ti.cost!.params).toBe(1184);
    const spec = { input_shape: [1, 16, 28, 28], layers: [{ type: 'Conv2d' as const, in_channels: 16, out_channels: 32, kernel_size: 3, groups: 4 }] };
    expect(fv.cost!.macs).toBe(costModel(resolveModel(spec), { convention: 'fvcore' }).total.macs);
    expect(ti.cost!.macs).toBe(costModel(resolveModel(spec), { convention: 'torchinfo' }).total.macs);
    expect(ti.outShape).toEqual([1, 32, 26, 26]);
  });

  it('gives Keras convs their in-channels only from an Input or input_shape', () => {
    const a = analyze(fixture('keras_sequential.py'));
    const byLine = (line: number) => a.estimates.layers[a.code.calls.findIndex((c) => c.span.startLine === line - 1)]!;
    expect(byLine(8).inShape).toEqual([1, 3, 224, 224]);
    expect(byLine(8).outShape).toEqual([1, 32, 112, 112]); // padding="same", stride 2: TensorFlow's SAME
    expect(byLine(11).conv!.kind).toBe('depthwise');
    expect(byLine(15).leaves!.map((l) => l.role)).toEqual(['depthwise', 'pointwise', 'activation']);
    expect(byLine(17).outShape).toEqual([1, 10]);
    expect(byLine(21).outShape).toEqual([1, 16, 30, 30]);
    expect(byLine(23).inShape).toEqual([1, 16, 15, 15]);
    expect(byLine(25).cost).toBeUndefined();
    expect(byLine(25).unresolved[0]).toMatch(/input channels/);
  });
});

describe('separable rewrite', () => {
  const rewrite = (src: string) => {
    const code = read(src);
    const index = code.calls.findIndex((c) => c.type === 'Conv2d' || c.type === 'Conv2D');
    const r = separableRewrite(code.calls[index]!, code, src);
    return r ? applyEdits(src, r.edits) : undefined;
  };
  it('turns nn.Conv2d into dw + pw keeping the other arguments', () => {
    expect(rewrite('import torch.nn as nn\nx = nn.Conv2d(64, 128, 3, padding=1)\n')).toBe(
      'import torch.nn as nn\nx = nn.Sequential(nn.Conv2d(64, 64, 3, padding=1, groups=64), nn.Conv2d(64, 128, 1))\n',
    );
    expect(
      rewrite(
        'import torch\nx = torch.nn.Conv2d(in_channels=c, out_channels=2 * c, kernel_size=3, stride=2, dilation=2, padding_mode="reflect", bias=False)\n',
      ),
    ).toBe(
      'import torch\nx = torch.nn.Sequential(\n    torch.nn.Conv2d(in_channels=c, out_channels=c, kernel_size=3, stride=2, dilation=2, padding_mode="reflect", bias=False, groups=c),\n    torch.nn.Conv2d(in_channels=c, out_channels=2 * c, kernel_size=1, bias=False),\n)\n',
    );
  });
  it('names Sequential the way the file can reach it', () => {
    expect(rewrite('from torch.nn import Conv2d as C\nx = C(8, 16, 3)\n')).toBe(
      'from torch.nn import Conv2d as C\nfrom torch.nn import Sequential\nx = Sequential(C(8, 8, 3, groups=8), C(8, 16, 1))\n',
    );
    expect(rewrite('from torch import nn\nfrom torch.nn import Conv2d\nx = Conv2d(8, 16, 3)\n')).toBe(
      'from torch import nn\nfrom torch.nn import Conv2d\nx = nn.Sequential(Conv2d(8, 8, 3, groups=8), Conv2d(8, 16, 1))\n',
    );
  });
  it('turns Keras Conv2D into SeparableConv2D', () => {
    expect(rewrite('from tensorflow.keras import layers\ny = layers.Conv2D(64, 3, padding="same", kernel_initializer="he_normal")\n')).toBe(
      'from tensorflow.keras import layers\ny = layers.SeparableConv2D(\n    64,\n    3,\n    padding="same",\n    depthwise_initializer="he_normal",\n    pointwise_initializer="he_normal",\n)\n',
    );
    expect(rewrite('from keras.layers import Conv2D\ny = Conv2D(64, 3, 2, "same", None, 1, 1, "relu")\n')).toBe(
      'from keras.layers import Conv2D\nfrom keras.layers import SeparableConv2D\ny = SeparableConv2D(64, 3, 2, "same", None, 1, activation="relu")\n',
    );
  });
  it('offers nothing for depthwise, pointwise or grouped convs', () => {
    expect(rewrite('import torch.nn as nn\nx = nn.Conv2d(64, 64, 3, groups=64)\n')).toBeUndefined();
    expect(rewrite('import torch.nn as nn\nx = nn.Conv2d(64, 128, 1)\n')).toBeUndefined();
  });
});

describe('robustness', () => {
  it('reads half-typed code without throwing', () => {
    const a = analyze(fixture('half_typed.py'));
    expect(Array.isArray(a.code.calls)).toBe(true);
  });
  it('ends on code whose tree root is an ERROR node (the scope chain used to loop forever)', () => {
    for (const text of ['b,{0),keras.S()', ')(', 'x = nn.Conv2d(c, 2 *', '{`layers.ReLU(6.0),\nmodel = keras.Sequential()']) {
      expect(Array.isArray(analyze(text).code.calls)).toBe(true);
    }
  });
  it('never throws on random text or truncations of the corpus', () => {
    const corpus = fs
      .readdirSync(FIXTURES)
      .filter((f) => f.endsWith('.py'))
      .map(fixture);
    fc.assert(
      fc.property(fc.string({ maxLength: 400 }), fc.nat(), fc.integer({ min: 0, max: corpus.length - 1 }), (noise, cut, which) => {
        const text = corpus[which]!;
        const at = cut % (text.length + 1);
        analyze(text.slice(0, at) + noise);
        analyze(noise + text.slice(at));
      }),
      { numRuns: 150 },
    );
  });
  it('never throws on random bytes decoded as text', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), (bytes) => {
        const text = Buffer.from(bytes).toString('latin1');
        if (!skipReason(text)) analyze(text);
      }),
      { numRuns: 100 },
    );
  });
  it('skips binary and huge files', () => {
    expect(skipReason('abc\u0000def')).toBe('binary content');
    expect(skipReason('x'.repeat(2 * 1024 * 1024))).toMatch(/larger than/);
  });
});

describe('parse cache', () => {
  it('re-parses incrementally and gets the same tree as a full parse', () => {
    const cache = new ParseCache(p);
    const before = fixture('mobilenet_v1_torch.py');
    cache.get('a', 1, before);
    const at = before.indexOf('nn.Conv2d(3, 32');
    const after = `${before.slice(0, at + 10)}4${before.slice(at + 11)}`;
    const tree = cache.get('a', 2, after, [{ rangeOffset: at + 10, rangeLength: 1, text: '4' }])!;
    expect(cache.stats).toEqual({ full: 1, incremental: 1 });
    const fresh = p.parse(after)!;
    expect(tree.rootNode.toString()).toBe(fresh.rootNode.toString());
    fresh.delete();
    // Changes that do not lead to the text: a full parse, not a wrong tree.
    cache.get('a', 3, `${after}\nz = 1\n`, [{ rangeOffset: 0, rangeLength: 0, text: '#' }]);
    expect(cache.stats.full).toBe(2);
    cache.clear();
  });
});

describe('pooling, upsampling, transposed convs and the new activations in Python code', () => {
  it("reads them as layers of the spec: the Sequential is a playground model and its cost is the cost model's", () => {
    const a = analyze(
      [
        'import torch.nn as nn',
        'net = nn.Sequential(',
        '    nn.Conv2d(3, 8, 3, padding=1), nn.LeakyReLU(0.2), nn.MaxPool2d(2, ceil_mode=True),',
        '    nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1, groups=4), nn.Hardsigmoid(),',
        '    nn.Upsample(scale_factor=(2, 1.5), mode="bilinear", align_corners=False), nn.AvgPool2d(3, stride=None, padding=1), nn.ChannelShuffle(2), nn.Tanh(),',
        ')',
        '',
      ].join('\n'),
    );
    const container = a.estimates.containers[0]!;
    expect(container.complete).toBe(true);
    expect(container.model!.layers.map((l) => l.type)).toEqual([
      'Conv2d',
      'LeakyReLU',
      'MaxPool2d',
      'ConvTranspose2d',
      'Hardsigmoid',
      'Upsample',
      'AvgPool2d',
      'ChannelShuffle',
      'Tanh',
    ]);
    expect(container.model!.layers[1]).toEqual({ type: 'LeakyReLU', negative_slope: 0.2 });
    expect(container.model!.layers[5]).toEqual({ type: 'Upsample', scale_factor: [2, 1.5], mode: 'bilinear', align_corners: false });
    const direct = costModel(resolveModel({ ...container.model!, input_shape: container.inputShape }));
    expect(container.total.macs).toBe(direct.total.macs);
    expect(container.total.params).toBe(direct.total.params);
  });

  it("reads torchvision's SqueezeExcitation with its activation classes", () => {
    const a = analyze(
      [
        'import torch.nn as nn',
        'from torchvision.ops import SqueezeExcitation',
        'net = nn.Sequential(nn.Conv2d(3, 16, 3), SqueezeExcitation(16, 4, scale_activation=nn.Hardsigmoid), nn.ReLU())',
        '',
      ].join('\n'),
    );
    const container = a.estimates.containers[0]!;
    expect(container.model!.layers[1]).toEqual({ type: 'SqueezeExcitation', input_channels: 16, squeeze_channels: 4, scale_activation: 'Hardsigmoid' });
    // fc1 16 -> 4 and fc2 4 -> 16 with bias, after a 3x3 conv of 3 * 16 * 9 + 16.
    expect(container.total.params).toBe(448 + 68 + 80);
  });
});
