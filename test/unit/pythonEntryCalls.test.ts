/**
 * The models the evaluator builds beyond the entries with default arguments (the calls of a file's
 * script steps, expressions the user gives), and the constructs of real files that build them
 * (conv subclasses that pad first, config strings decoded with re, namedtuple._replace, Keras inputs
 * of free size). Every figure is what PyTorch or Keras gives for the same code, worked out by hand.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import type { PythonParser } from '../../src/python/pythonParser';
import { fileSiteRows, type SiteRow } from '../../src/python/siteRows';
import type { SourceFile } from '../../src/python/modelEvaluator';
import { parser as loadParser } from './pythonHelpers';

let parser: PythonParser;
beforeAll(async () => {
  parser = await loadParser();
});

const SETTINGS = { convention: 'torchinfo' as const, dtype: 'fp32' as const, defaultInputSize: [224, 224] as [number, number] };

function evaluate(source: string, calls: string[] = []) {
  const tree = parser.parse(source)!;
  const parsed: SourceFile[] = calls.map((text) => ({ path: text, tree: parser.parse(text)! }));
  try {
    return fileSiteRows(tree, source, '/ws/model.py', () => undefined, { ...SETTINGS, ...(parsed.length ? { calls: parsed } : {}) });
  } finally {
    tree.delete();
    for (const p of parsed) p.tree.delete();
  }
}

const at = (rows: SiteRow[], line: number) => {
  const row = rows.find((r) => r.line === line);
  if (!row) throw new Error(`no site on line ${line}: ${rows.map((r) => r.line).join(', ')}`);
  return row;
};

describe("models built by the file's script steps", () => {
  it('builds a class that needs arguments as test() builds it, with literal arguments only', () => {
    const { sites, evaluation } = evaluate(`import torch
import torch.nn as nn

class Net(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3, padding=1)
    def forward(self, x):
        return self.conv(x)

class Other(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.conv = nn.Conv2d(3, width, 1)
    def forward(self, x):
        return self.conv(x)

def test():
    net = Net(8)
    n = 4
    other = Other(n)
    y = net(torch.randn(2, 3, 32, 32))
`);
    // The model's input is the default size (batch 1), not the batch of the script's own tensor.
    expect(at(sites, 7)).toMatchObject({
      count: 1,
      params: 224,
      macs: 8 * 224 * 224 * 27 + 8 * 224 * 224,
      input_shape: [1, 3, 224, 224],
      output_shape: [1, 8, 224, 224],
    });
    expect(at(sites, 14)).toMatchObject({ count: 0, unknown: true });
    expect(at(sites, 14).params).toBeUndefined();
    expect(evaluation.entries.map((e) => e.name)).toEqual(['Net(8)']);
  });

  it('builds what `if __name__ == "__main__":` builds where the defaults raise (an assert on None)', () => {
    const { sites, evaluation } = evaluate(`import torch.nn as nn

class Net(nn.Module):
    def __init__(self, group=None):
        super().__init__()
        assert group is not None
        self.conv = nn.Conv2d(6, 12, 3, groups=group, bias=False)
    def forward(self, x):
        return self.conv(x)

if __name__ == '__main__':
    model = Net(group=3)
`);
    expect(at(sites, 7)).toMatchObject({ count: 1, params: 216, macs: 222 * 222 * 12 * 2 * 9, output_shape: [1, 12, 222, 222] });
    expect(evaluation.entries).toEqual([
      // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- vitest types expect.stringContaining() as any
      expect.objectContaining({ name: 'Net', kept: false, note: expect.stringContaining('assert group is not None') }),
      expect.objectContaining({ name: 'Net(group=3)', kept: true }),
    ]);
  });

  it('builds the expressions given instead of the entries (a class method factory)', () => {
    const source = `import torch.nn as nn

class Net(nn.Module):
    def __init__(self, width=None):
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3)
    def forward(self, x):
        return self.conv(x)

    @classmethod
    def from_name(cls, name):
        return cls({'a': 8, 'b': 16}[name])
`;
    expect(at(evaluate(source, ["Net.from_name('b')"]).sites, 6)).toMatchObject({
      count: 1,
      params: 448,
      macs: 16 * 222 * 222 * 27 + 16 * 222 * 222,
      output_shape: [1, 16, 222, 222],
    });
    expect(() => evaluate(source, ['x = 1'])).toThrow(/is not one call/);
  });
});

describe('constructs of real model files', () => {
  it("follows a conv subclass that pads first and calls F.conv2d with its own weight; the input is the module's", () => {
    const { sites } = evaluate(`import math
import torch
from torch import nn
from torch.nn import functional as F


class SameConv(nn.Conv2d):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, image_size=None, **kwargs):
        super().__init__(in_channels, out_channels, kernel_size, stride, **kwargs)
        self.stride = self.stride if len(self.stride) == 2 else [self.stride[0]] * 2
        ih, iw = (image_size, image_size) if isinstance(image_size, int) else image_size
        kh, kw = self.weight.size()[-2:]
        sh, sw = self.stride
        oh, ow = math.ceil(ih / sh), math.ceil(iw / sw)
        pad_h = max((oh - 1) * self.stride[0] + (kh - 1) * self.dilation[0] + 1 - ih, 0)
        pad_w = max((ow - 1) * self.stride[1] + (kw - 1) * self.dilation[1] + 1 - iw, 0)
        if pad_h > 0 or pad_w > 0:
            self.static_padding = nn.ZeroPad2d((pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2))
        else:
            self.static_padding = nn.Identity()

    def forward(self, x):
        x = self.static_padding(x)
        x = F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
        return x


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = SameConv(3, 8, 3, stride=2, image_size=224, bias=False)
        self.b = nn.Conv2d(8, 8, 1)

    def forward(self, x):
        return self.b(self.a(x))
`);
    // Measured with PyTorch 1.13: 216 params, 2,709,504 MACs on 1x3x224x224 -> 1x8x112x112.
    expect(at(sites, 9)).toMatchObject({ params: 216, macs: 2709504, input_shape: [1, 3, 224, 224], output_shape: [1, 8, 112, 112] });
    expect(at(sites, 32)).toMatchObject({ params: 72, macs: 903168, output_shape: [1, 8, 112, 112] });
  });

  it('gives no figure for a conv subclass that replaces its weight (its parameters are its own)', () => {
    const { sites } = evaluate(`import torch
import torch.nn as nn

class Ghost(nn.Conv2d):
    def __init__(self, cin, cout):
        super().__init__(cin, cout, 3, padding=1, bias=False)
        self.weight = None
        self.inner = nn.Conv2d(cin, cout, 1)
    def forward(self, x):
        return self.inner(x)

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.g = Ghost(3, 8)
    def forward(self, x):
        return self.g(x)
`);
    const ghost = at(sites, 6);
    expect(ghost.unknown).toBe(true);
    expect(ghost.reason).toMatch(/parameters of its own/);
    expect(ghost.params).toBeUndefined();
    expect(ghost.instances.every((i) => i.params === null && i.macs === null)).toBe(true);
    expect(at(sites, 8)).toMatchObject({ params: 32, output_shape: [1, 8, 224, 224] });
  });

  it('decodes a config string with re.split and namedtuple._replace', () => {
    const { sites } = evaluate(`import collections
import re
import torch.nn as nn

BlockArgs = collections.namedtuple('BlockArgs', ['kernel', 'stride', 'filters'])

def decode(text):
    options = {}
    for op in text.split('_'):
        key, value = re.split(r'(\\d.*)', op)[:2]
        options[key] = value
    return BlockArgs(kernel=int(options['k']), stride=int(options['s']), filters=int(options['o']))

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        args = decode('k3_s2_o16')._replace(filters=32)
        self.conv = nn.Conv2d(3, args.filters, args.kernel, args.stride, padding=1, bias=False)
    def forward(self, x):
        return self.conv(x)
`);
    expect(at(sites, 18)).toMatchObject({ params: 864, macs: 32 * 112 * 112 * 27, output_shape: [1, 32, 112, 112] });
  });

  it('gives a Keras Input of free size (None, None, 3) the default size, as Keras applications do', () => {
    const { sites } = evaluate(`import keras
from keras import layers

def build():
    inputs = layers.Input(shape=(None, None, 3))
    x = layers.Conv2D(16, 3, strides=2, padding="same", use_bias=False)(inputs)
    return keras.Model(inputs, x)
`);
    expect(at(sites, 6)).toMatchObject({ params: 432, macs: 112 * 112 * 16 * 27, input_shape: [1, 224, 224, 3], output_shape: [1, 112, 112, 16] });
  });
});
