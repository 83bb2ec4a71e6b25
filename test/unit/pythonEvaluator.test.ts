/**
 * The model-code evaluator on the constructs of real model files (issue 11's "What fails today"):
 * every figure below is what PyTorch (or Keras) gives for the same code.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import type { PythonParser } from '../../src/python/pythonParser';
import { fileSiteRows, type SiteRow } from '../../src/python/siteRows';
import type { SourceFile } from '../../src/python/modelEvaluator';
import { siteHoverMarkdown, modelLensTitle, escapeMarkdown } from '../../src/python/sitePresentation';
import { parser as loadParser } from './pythonHelpers';

let parser: PythonParser;
beforeAll(async () => {
  parser = await loadParser();
});

const SETTINGS = { convention: 'torchinfo' as const, dtype: 'fp32' as const, defaultInputSize: [224, 224] as [number, number] };

function evaluate(source: string, files: Record<string, string> = {}, settings = SETTINGS) {
  const tree = parser.parse(source)!;
  const others = new Map<string, SourceFile>();
  for (const [path, text] of Object.entries(files)) others.set(path, { path, tree: parser.parse(text)! });
  try {
    return fileSiteRows(tree, source, '/ws/model.py', (_from, module, level) => others.get(`/ws/${level ? '' : ''}${module.replace(/\./g, '/')}.py`), settings);
  } finally {
    tree.delete();
    for (const f of others.values()) f.tree.delete();
  }
}

/** The site whose call starts on this 1-based line. */
const at = (rows: SiteRow[], line: number) => {
  const row = rows.find((r) => r.line === line);
  if (!row) throw new Error(`no site on line ${line}: ${rows.map((r) => r.line).join(', ')}`);
  return row;
};

describe('model-code evaluator', () => {
  it('follows helper functions that return layers (conv_bn)', () => {
    const { sites } = evaluate(`import torch.nn as nn
def conv_bn(inp, oup, stride):
    return nn.Sequential(nn.Conv2d(inp, oup, 3, stride, 1, bias=False), nn.BatchNorm2d(oup), nn.ReLU(inplace=True))

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(conv_bn(3, 32, 2), conv_bn(32, 64, 1))
    def forward(self, x):
        return self.features(x)
`);
    const row = at(sites, 3);
    expect(row.count).toBe(2);
    expect(row.instances.map((i) => i.params)).toEqual([864, 18432]);
    expect(row.instances.map((i) => i.output_shape)).toEqual([
      [1, 32, 112, 112],
      [1, 64, 112, 112],
    ]);
    expect(row.params).toBeUndefined();
  });

  it('follows block classes built in a config loop, with every instance', () => {
    const { sites } = evaluate(`import torch.nn as nn
class Block(nn.Module):
    def __init__(self, inp, oup, stride, expand_ratio):
        super(Block, self).__init__()
        hidden = inp * expand_ratio
        self.use_res = stride == 1 and inp == oup
        self.conv = nn.Sequential(
            nn.Conv2d(inp, hidden, 1, bias=False),
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
            nn.Conv2d(hidden, oup, 1, bias=False))
    def forward(self, x):
        if self.use_res:
            return x + self.conv(x)
        return self.conv(x)

class Net(nn.Module):
    def __init__(self, width=1.0):
        super().__init__()
        settings = [[1, 16, 1, 1], [6, 24, 2, 2]]
        input_channel = int(32 * width)
        layers = [nn.Conv2d(3, input_channel, 3, 2, 1, bias=False)]
        for t, c, n, s in settings:
            for i in range(n):
                layers.append(Block(input_channel, c, s if i == 0 else 1, expand_ratio=t))
                input_channel = c
        self.features = nn.Sequential(*layers)
    def forward(self, x):
        return self.features(x)
`);
    const dw = at(sites, 9);
    expect(dw.count).toBe(3);
    expect(dw.kind).toBe('depthwise');
    expect(dw.instances.map((i) => [i.count, i.params, i.output_shape])).toEqual([
      [1, 288, [1, 32, 112, 112]],
      [1, 864, [1, 96, 56, 56]],
      [1, 1296, [1, 144, 56, 56]],
    ]);
    expect(dw.unknown).toBeUndefined();
  });

  it('follows forward() statement by statement (MNIST at 28x28)', () => {
    const { sites } = evaluate(`# sepconv: input 1,1,28,28
import torch
import torch.nn as nn
import torch.nn.functional as F
class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.fc1 = nn.Linear(9216, 128)
    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2)
        x = torch.flatten(x, 1)
        return F.log_softmax(self.fc1(x), dim=1)
`);
    expect(at(sites, 9).output_shape).toEqual([1, 64, 24, 24]);
    expect(at(sites, 9).params).toBe(18496);
  });

  it('never gives a layer after something not followed the default size; the model input only', () => {
    const source = `import torch.nn as nn
from somewhere import mystery
class Net(nn.Module):
    def __init__(self, depth=4):
        super().__init__()
        self.layers = nn.Sequential(*[nn.Conv2d(32, 32, 3, stride=2, padding=1) for _ in range(depth)])
        self.conv2 = nn.Conv2d(32, 64, 1)
    def forward(self, x):
        x = self.layers(x)
        return self.conv2(x)

class Other(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 3)
        self.conv2 = nn.Conv2d(32, 64, 1)
    def forward(self, x):
        x = self.conv1(x)
        x = mystery(x)
        return self.conv2(x)
`;
    const { sites } = evaluate(source);
    expect(at(sites, 7).macs).toBe(413952);
    expect(at(sites, 7).input_shape).toEqual([1, 32, 14, 14]);
    expect(at(sites, 6).count).toBe(4);
    // After a call that is not followed: params (from its own arguments), no shapes, the reason.
    const after = at(sites, 16);
    expect(after.params).toBe(2112);
    expect(after.macs).toBeUndefined();
    expect(after.output_shape).toBeUndefined();
    expect(after.unknown).toBe(true);
    expect(after.reason).toMatch(/input unknown: .*mystery/);
    // The statement before it is still followed.
    expect(at(sites, 15).output_shape).toEqual([1, 32, 222, 222]);
  });

  it('follows aliases, functools.partial and functions that return a class', () => {
    const { sites } = evaluate(`import torch.nn as nn
from functools import partial
Conv = nn.Conv2d
def get_conv(bias):
    return partial(nn.Conv2d, bias=bias)
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        NoBias = partial(nn.Conv2d, bias=False)
        C = get_conv(False)
        self.a = Conv(3, 16, 3)
        self.b = NoBias(16, 32, 3)
        self.c = C(32, 64, 1)
    def forward(self, x):
        return self.c(self.b(self.a(x)))
`);
    expect(at(sites, 11).params).toBe(448);
    expect(at(sites, 12).params).toBe(4608);
    expect(at(sites, 13).params).toBe(2048);
    expect(at(sites, 13).output_shape).toEqual([1, 64, 220, 220]);
  });

  it('follows the Keras functional API, with kernel shapes in Keras order', () => {
    const { sites, evaluation } = evaluate(`from tensorflow.keras import layers, Model
def build():
    inputs = layers.Input(shape=(224, 224, 3))
    x = layers.Conv2D(32, 3, strides=2, use_bias=False)(inputs)
    x = layers.BatchNormalization()(x)
    y = layers.DepthwiseConv2D(3, padding='same')(x)
    x = layers.add([x, y])
    x = layers.ZeroPadding2D(((0, 1), (0, 1)))(x)
    x = layers.Flatten()(layers.MaxPooling2D()(x))
    x = layers.Dense(10)(x)
    return Model(inputs, x)
`);
    const conv = at(sites, 4);
    expect(conv.params).toBe(864);
    expect(conv.output_shape).toEqual([1, 111, 111, 32]);
    expect(conv.weight_shape).toEqual([3, 3, 3, 32]);
    expect(conv.layout).toBe('NHWC');
    expect(at(sites, 6).params).toBe(320);
    expect(at(sites, 6).output_shape).toEqual([1, 111, 111, 32]);
    const model = evaluation.models.find((m) => m.name === 'build')!;
    // conv + BN (gamma and beta, 2 x 32; its moving statistics are not parameters, as PyTorch's
    // running ones and as measure.py counts) + dw + Dense(56*56*32 -> 10)
    expect(model.params).toBe(864 + 64 + 320 + (56 * 56 * 32 * 10 + 10));
    expect(modelLensTitle(model)).toContain('2 conv instances');
  });

  it('reads files of the workspace that the model imports', () => {
    const { sites } = evaluate(
      `import torch.nn as nn
from .blocks import Block
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, 2, 1)
        self.block = Block(8, 16)
    def forward(self, x):
        return self.block(self.stem(x))
`,
      {
        '/ws/blocks.py': `import torch.nn as nn
class Block(nn.Module):
    def __init__(self, inp, oup):
        super().__init__()
        self.conv = nn.Conv2d(inp, oup, 1)
    def forward(self, x):
        return self.conv(x)
`,
      },
    );
    // The conv of the other file is reported at the call in this file that built it.
    const row = at(sites, 7);
    expect(row.params).toBe(144);
    expect(row.output_shape).toEqual([1, 16, 112, 112]);
  });

  it('stops at its bounds with "evaluation limit", giving no figure', () => {
    const { sites } = evaluate(
      `import torch.nn as nn
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        n = 0
        while True:
            n += 1
    def forward(self, x):
        return self.conv(x)
`,
      {},
      { ...SETTINGS, limits: { maxSteps: 20_000, maxDepth: 20, maxIterations: 1000, maxMillis: 5000 } } as typeof SETTINGS,
    );
    const row = at(sites, 5);
    expect(row.unknown).toBe(true);
    expect(row.reason).toMatch(/evaluation limit/);
    expect(row.params).toBeUndefined();
    expect(row.instances.every((i) => i.count === null || i.params === null)).toBe(true);
  });

  it('lists every configuration of a multi-instance site in the hover, escaped', () => {
    const { sites } = evaluate(`import torch.nn as nn
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.convs = nn.ModuleList([nn.Conv2d(8, 8, 3, padding=1) for _ in range(3)])
        self.down = nn.Conv2d(3, 8, 3, stride=2, padding=1)
    def forward(self, x):
        x = self.down(x)
        for conv in self.convs:
            x = conv(x)
        return x
`);
    const row = at(sites, 5);
    expect(row.count).toBe(3);
    expect(row.instances).toHaveLength(1);
    expect(row.instances[0]!.count).toBe(3);
    const md = siteHoverMarkdown(row, SETTINGS);
    expect(md).toContain('3 instances');
    expect(md).toContain('1×8×112×112');
    expect(escapeMarkdown('[x](command:evil) <b>|`')).toBe('\\[x\\]\\(command\\:evil\\) \\<b\\>\\|\\`');
  });
});
