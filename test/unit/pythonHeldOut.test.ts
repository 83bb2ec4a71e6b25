/**
 * Patterns seen in real model files that no test had seen, each in its smallest form. The expected
 * figures come from running each snippet with PyTorch 1.13 (media/python/measure.py): a figure the
 * evaluator gives must equal the measured one, and where it cannot know it says why.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import type { PythonParser } from '../../src/python/pythonParser';
import { fileSiteRows, type SiteRow } from '../../src/python/siteRows';
import { parser as loadParser } from './pythonHelpers';
import { modelLensTitle } from '../../src/python/sitePresentation';

let parser: PythonParser;
beforeAll(async () => {
  parser = await loadParser();
});

const SETTINGS = { convention: 'torchinfo' as const, dtype: 'fp32' as const, defaultInputSize: [224, 224] as [number, number] };

/** The file's rows and evaluation, a model's input at `size` where the code does not give one. */
function evaluate(source: string, size: [number, number] = SETTINGS.defaultInputSize) {
  const tree = parser.parse(source)!;
  try {
    return fileSiteRows(tree, source, '/ws/model.py', () => undefined, { ...SETTINGS, defaultInputSize: size });
  } finally {
    tree.delete();
  }
}

const at = (rows: SiteRow[], line: number) => {
  const row = rows.find((r) => r.line === line);
  if (!row) throw new Error(`no site on line ${line}: ${rows.map((r) => r.line).join(', ')}`);
  return row;
};

describe('entries that raise when run', () => {
  // Broken() raises NameError (nothing defines Missing): measured, only Working() builds the conv.
  const NAME_ERROR = `import torch.nn as nn


def conv_bn(inp, oup, stride):
    return nn.Sequential(nn.Conv2d(inp, oup, 3, stride, 1, bias=False), nn.BatchNorm2d(oup), nn.ReLU(inplace=True))


class Broken(nn.Module):
    def __init__(self):
        super().__init__()
        layers = [conv_bn(3, 32, 2)]
        layers.append(Missing(32, 64))
        self.features = nn.Sequential(*layers)

    def forward(self, x):
        return self.features(x)


class Working(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = conv_bn(3, 32, 2)

    def forward(self, x):
        return self.features(x)
`;

  it('a name the file binds nowhere fails the entry, as running it does', () => {
    const { sites, evaluation } = evaluate(NAME_ERROR);
    expect(evaluation.entries.find((e) => e.name === 'Broken')).toMatchObject({
      kept: false,
      // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- vitest types expect.stringContaining() as any
      note: expect.stringContaining("NameError: name 'Missing' is not defined"),
    });
    expect(evaluation.entries.find((e) => e.name === 'Working')).toMatchObject({ kept: true });
    // Measured: 1 instance, 864 params, 10,838,016 MACs, 1x32x112x112.
    const conv = at(sites, 5);
    expect(conv).toMatchObject({ count: 1, params: 864, macs: 10838016, input_shape: [1, 3, 224, 224], output_shape: [1, 32, 112, 112] });
    expect(conv.unknown).toBeUndefined();
  });

  it('a name bound anywhere in the file (or a builtin) does not raise', () => {
    const { evaluation } = evaluate(NAME_ERROR.replace('class Broken', 'Missing = nn.Conv2d\n\n\nclass Broken'));
    expect(evaluation.entries.find((e) => e.name === 'Broken')?.note ?? '').not.toContain('NameError');
  });
});

describe('entries whose known layers are equal but whose build was not all followed', () => {
  // torch.tensor([...]).tolist() is not followed (a tensor made from data): net_large() builds other convs than Net(), though the
  // stem is the same. Measured: the stem has 2 instances (net_small() is the same model as Net()).
  const REPEAT = `import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, scale=1):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, stride=2, padding=1)
        widths = (torch.tensor([0, 1]) * 16 * scale + 16).tolist()
        blocks = []
        c = 16
        for w in widths:
            blocks.append(nn.Conv2d(c, w, 3, padding=1))
            c = w
        self.body = nn.Sequential(*blocks)

    def forward(self, x):
        return self.body(self.stem(x))


def net_small():
    return Net(1)


def net_large():
    return Net(2)
`;

  it('are not taken for the same model: the count is "at least", never a wrong number', () => {
    const { sites, evaluation } = evaluate(REPEAT);
    const stem = at(sites, 8);
    expect(stem.unknown).toBe(true);
    expect(stem.incomplete).toBe(true);
    // The figures of each instance are known (measured: 448 params, 5,619,712 MACs); their count is not.
    expect(stem.instances).toEqual([expect.objectContaining({ count: null, params: 448, macs: 5619712, output_shape: [1, 16, 112, 112] })]);
    expect(stem.reason).toMatch(/at least 1 instance/);
    expect(stem.reason).toMatch(/net_large may build these layers again/);
    expect(evaluation.entries.find((e) => e.name === 'net_large')).toMatchObject({ kept: false });
  });

  it('entries that are followed completely and equal still count once', () => {
    const followed = REPEAT.replace('(torch.tensor([0, 1]) * 16 * scale + 16).tolist()', '[16 + 16 * scale * i for i in range(2)]');
    const { sites, evaluation } = evaluate(followed);
    // Measured with this change: the stem 2 instances of 448 params, 5,619,712 MACs at 1x16x112x112.
    expect(at(sites, 8)).toMatchObject({ count: 2, params: 448, macs: 5619712, output_shape: [1, 16, 112, 112] });
    expect(evaluation.entries.find((e) => e.name === 'net_small')).toMatchObject({ kept: false, note: 'the same model as an earlier entry' });
  });

  it('a block not followed that only sets a local number or text does not make equal entries uncertain', () => {
    // torchvision's _log_api_usage_once: the if on obj.__module__ is not followed, and only sets a
    // local string. Measured: net() is the same model as Net(); the conv has 1 instance, 448 params,
    // 5,619,712 MACs at 1x16x112x112.
    const { sites, evaluation } = evaluate(`import torch.nn as nn


def log_use(obj):
    module = obj.__module__
    if not module.startswith("vision"):
        module = f"internal.{module}"
    return module


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        log_use(self)
        self.conv = nn.Conv2d(3, 16, 3, stride=2, padding=1)

    def forward(self, x):
        return self.conv(x)


def net():
    return Net()
`);
    expect(at(sites, 15)).toMatchObject({ count: 1, params: 448, macs: 5619712, output_shape: [1, 16, 112, 112] });
    expect(at(sites, 15).unknown).toBeUndefined();
    expect(evaluation.entries.find((e) => e.name === 'net')).toMatchObject({ kept: false, note: 'the same model as an earlier entry' });
  });
});

describe('layers that a block not followed may build again', () => {
  // Stages whose number is drawn at random (numpy.random is not followed), so the loop that adds
  // them is not either: the conv has 1 + n instances (the stem's 3 -> 8 and n of 8 -> 8); followed,
  // only the stem would be seen. (WZMIAOMIAO's regnet.py counted its stages with numpy so, before
  // numpy arrays of known numbers were followed.)
  const STAGES = `import numpy as np
import torch.nn as nn


def cb(i, o):
    return nn.Conv2d(i, o, 3, padding=1)


class M(nn.Module):
    def __init__(self):
        super().__init__()
        n = int(np.random.randint(2, 5))
        self.stem = cb(3, 8)
        for i in range(n):
            self.add_module('b%d' % i, cb(8, 8))

    def forward(self, x):
        for l in self.children():
            x = l(x)
        return x
`;

  it('count "at least" the instances followed, with the loop named, never a number that is too small', () => {
    const { sites } = evaluate(STAGES);
    const conv = at(sites, 6);
    expect(conv.incomplete).toBe(true);
    expect(conv.unknown).toBe(true);
    expect(conv.reason).toMatch(/at least 1 instance; code that may build more of it is not followed: a loop over `range\(n\)`/);
  });

  it('a loop not followed that reaches no layer site leaves the counts whole', () => {
    // Measured with this change: 1 instance, 224 params, 11,239,424 MACs.
    const source = STAGES.replace("self.add_module('b%d' % i, cb(8, 8))", 'print(i)');
    const { sites } = evaluate(source);
    expect(at(sites, 6)).toMatchObject({ count: 1, params: 224, macs: 11239424 });
  });
});

describe('layer names made with chr()', () => {
  it('an OrderedDict keyed by str(i + 1) + chr(i + 97) (EfficientNet stages "1a", "1b") is followed into the Sequential', () => {
    // WZMIAOMIAO's efficientnet.py names its blocks so. Measured: the stem 1 instance, 224 params,
    // 11,239,424 MACs; the depthwise conv 2 instances, 80 params, 4,014,080 MACs each.
    const { sites } = evaluate(`from collections import OrderedDict
import torch.nn as nn


class M(nn.Module):
    def __init__(self):
        super().__init__()
        layers = OrderedDict()
        layers.update({"stem": nn.Conv2d(3, 8, 3, padding=1)})
        for i in range(2):
            layers.update({str(i + 1) + chr(i + 97): nn.Conv2d(8, 8, 3, padding=1, groups=8)})
        self.features = nn.Sequential(layers)

    def forward(self, x):
        return self.features(x)
`);
    expect(at(sites, 9)).toMatchObject({ count: 1, params: 224, macs: 11239424 });
    expect(at(sites, 11)).toMatchObject({ count: 2, params: 80, macs: 4014080, output_shape: [1, 8, 224, 224] });
  });
});

describe('tensors of known numbers', () => {
  // ConvNeXt's drop-path rates (WZMIAOMIAO's convnext.py, as the official code writes them):
  // DropPath where the rate is above 0, Identity where it is 0.
  const DROP_PATH = `import torch
import torch.nn as nn


class Block(nn.Module):
    def __init__(self, dim, drop_rate=0.):
        super().__init__()
        self.dw = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.drop_path = nn.Dropout(drop_rate) if drop_rate > 0. else nn.Identity()

    def forward(self, x):
        return x + self.drop_path(self.dw(x))


class M(nn.Module):
    def __init__(self, drop_path_rate=0.1):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        dp_rates = [x.item() for x in torch.linspace(0, drop_path_rate, 3)]
        self.blocks = nn.Sequential(*[Block(8, dp_rates[j]) for j in range(3)])

    def forward(self, x):
        return self.blocks(self.stem(x))
`;

  it('torch.linspace of known numbers is iterated and .item() gives its values: the branch on them is followed', () => {
    // Measured: the depthwise conv 3 instances, 400 params, 20,070,400 MACs at 1x8x224x224; the stem 224 params, 11,239,424 MACs.
    const { sites } = evaluate(DROP_PATH);
    expect(at(sites, 8)).toMatchObject({ count: 3, params: 400, macs: 20070400, output_shape: [1, 8, 224, 224] });
    expect(at(sites, 18)).toMatchObject({ count: 1, params: 224, macs: 11239424 });
  });

  it('values from tolist() and arange(); a tensor changed in place no longer knows them', () => {
    const widths = (expression: string) =>
      evaluate(`import torch
import torch.nn as nn


class M(nn.Module):
    def __init__(self):
        super().__init__()
        w = ${expression}
        self.conv = nn.Conv2d(3, int(w[-1]), 3)

    def forward(self, x):
        return self.conv(x)
`).sites[0]!;
    expect(widths('torch.linspace(8, 16, 3).tolist()')).toMatchObject({ params: 16 * 27 + 16 });
    expect(widths('(torch.arange(4) * 2 + 1).tolist()')).toMatchObject({ params: 7 * 27 + 7 });
    expect(widths('(-torch.arange(4) + 10).tolist()')).toMatchObject({ params: 7 * 27 + 7 });
    expect(widths('[torch.linspace(4, 16, 4)[2].item()]')).toMatchObject({ params: 12 * 27 + 12 });
    expect(widths('(torch.arange(4) / 2 * 4).tolist()')).toMatchObject({ params: 6 * 27 + 6 });
    expect(widths('torch.arange(2, 12, 3).tolist()')).toMatchObject({ params: 11 * 27 + 11 });
    expect(widths('torch.arange(4).float().tolist()')).toMatchObject({ params: 3 * 27 + 3 });
    const changed = widths('torch.linspace(8, 16, 3).mul_(2).tolist()');
    expect(changed.unknown).toBe(true);
    expect(changed.reason).toMatch(/not known/);
  });
});

describe('numpy arrays of known numbers', () => {
  it("RegNet's widths and depths from arange, log, power, round, divide, astype(int) and unique(return_counts=True)", () => {
    // pycls's generator, as RegNet implementations copy it. Measured (PyTorch 1.13, numpy): the body's
    // conv 13 instances in 7 configurations; the first 888 params, 2,784,768 MACs at 1x24x56x56.
    const { sites } = evaluate(`import numpy as np
import torch.nn as nn


def generate_width_depth(wa, w0, wm, depth, q=8):
    widths_cont = np.arange(depth) * wa + w0
    width_exps = np.round(np.log(widths_cont / w0) / np.log(wm))
    widths_j = w0 * np.power(wm, width_exps)
    widths_j = np.round(np.divide(widths_j, q)).astype(int) * q
    num_stages, max_stage = len(np.unique(widths_j)), width_exps.max() + 1
    widths, depths = np.unique(widths_j, return_counts=True)
    return widths.tolist(), depths.tolist(), num_stages, int(max_stage)


class Net(nn.Module):
    def __init__(self, wa=24.48, w0=24, wm=2.54, depth=13):
        super().__init__()
        widths, depths, num_stages, _ = generate_width_depth(wa, w0, wm, depth)
        self.stem = nn.Conv2d(3, 32, 3, stride=2, padding=1)
        layers = []
        c = 32
        for i in range(num_stages):
            for j in range(depths[i]):
                layers.append(nn.Conv2d(c, widths[i], 3, stride=2 if j == 0 else 1, padding=1, groups=8 if c % 8 == 0 and widths[i] % 8 == 0 else 1))
                c = widths[i]
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return self.body(self.stem(x))
`);
    const body = at(sites, 24);
    expect(body.count).toBe(13);
    expect(body.unknown).toBeUndefined();
    expect(body.instances).toHaveLength(7);
    expect(body.instances[0]).toMatchObject({ count: 1, params: 888, macs: 2784768, output_shape: [1, 24, 56, 56] });
    // Measured: 2 instances of 173,264 params, 8,489,936 MACs at 1x392x7x7.
    expect(body.instances).toContainEqual(expect.objectContaining({ count: 2, params: 173264, macs: 8489936, output_shape: [1, 392, 7, 7] }));
  });

  it('values as numpy computes them (float64), lists taken as arrays, and what is not known stays so', () => {
    const channels = (expression: string) =>
      evaluate(`import numpy as np
import torch.nn as nn


class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, ${expression}, 1)

    def forward(self, x):
        return self.conv(x)
`).sites[0]!;
    // Each checked with numpy 1.24: 154, 64, 4, 1, 7, 5, 12.
    expect(channels('int((24 * np.power(2.54, np.round(np.log((np.arange(13) * 24.48 + 24) / 24) / np.log(2.54))))[3])')).toMatchObject({
      params: 154 * 3 + 154,
    });
    expect(channels('int((np.round(np.divide(24 * np.power(2.54, np.array([0., 1, 1, 1])), 8)).astype(int) * 8)[3])')).toMatchObject({ params: 64 * 3 + 64 });
    expect(channels('len(np.unique([1, 1, 2, 3, 5]))')).toMatchObject({ params: 4 * 3 + 4 });
    expect(channels('int(np.unique([4, 4, 2], return_counts=True)[1][0])')).toMatchObject({ params: 1 * 3 + 1 });
    expect(channels('int(np.sum(np.array([1, 2, 4])))')).toMatchObject({ params: 7 * 3 + 7 });
    expect(channels('int(np.linspace(1, 9, 5)[2])')).toMatchObject({ params: 5 * 3 + 5 });
    expect(channels('int(np.arange(3, 15, 3).max())')).toMatchObject({ params: 12 * 3 + 12 });
    const random = channels('int(np.random.randint(4, 8))');
    expect(random.unknown).toBe(true);
  });
});

describe('builders bound at import time', () => {
  it('setattr(sys.modules[__name__], name, partial(...)) rebinds a stub builder: the call given runs the partial', () => {
    // chenyaofo's CIFAR models define `def cifar10_x(*args, **kwargs): pass` and bind each name to a
    // partial of the real builder in a loop at the top level. Measured (cifar10_net(), 32x32):
    // the conv 1 instance, 16 * 27 + 16 = 448 params, 458,752 MACs at 1x16x32x32.
    const source = `import sys
from functools import partial
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, width=8):
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3, padding=1)

    def forward(self, x):
        return self.conv(x)


def _net(width, **kwargs):
    return Net(width)


def cifar10_net(*args, **kwargs) -> Net: pass


thismodule = sys.modules[__name__]
for name, width in zip(["cifar10_net"], [16]):
    setattr(thismodule, name, partial(_net, width=width))
`;
    const tree = parser.parse(source)!;
    const call = parser.parse('cifar10_net()')!;
    try {
      const calls = [{ path: 'cifar10_net()', tree: call }];
      const { sites } = fileSiteRows(tree, source, '/ws/model.py', () => undefined, { ...SETTINGS, defaultInputSize: [32, 32], calls });
      expect(at(sites, 9)).toMatchObject({ count: 1, params: 448, macs: 458752, output_shape: [1, 16, 32, 32] });
    } finally {
      tree.delete();
      call.delete();
    }
  });
});

describe('segmentation nets of a second held-out batch', () => {
  // Each measured with PyTorch 1.13 (media/python/measure.py) at 224x224.
  it("reads a dropout's probability back (`if self.dropout.p != 0:` in forward(), LEDNet, EDANet)", () => {
    const { sites } = evaluate(`import torch.nn as nn


class Block(nn.Module):
    def __init__(self, c, p):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)
        self.dropout = nn.Dropout2d(p)

    def forward(self, x):
        out = self.conv(x)
        if self.dropout.p != 0:
            out = self.dropout(out)
        return out + x


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, 2, 1)
        self.b1 = Block(16, 0.1)
        self.head = nn.Conv2d(16, 8, 1)

    def forward(self, x):
        return self.head(self.b1(self.stem(x)))
`);
    // Measured: the head 136 params, 1,705,984 MACs at 1x8x112x112.
    expect(at(sites, 22)).toMatchObject({ count: 1, params: 136, macs: 1705984, output_shape: [1, 8, 112, 112] });
  });

  it('a subclass of nn.Sequential filled with self.add_module() in __init__ runs its modules (HarDNet)', () => {
    const { sites } = evaluate(`import torch.nn as nn


class ConvLayer(nn.Sequential):
    def __init__(self, cin, cout, kernel=3, stride=1):
        super().__init__()
        self.add_module('conv', nn.Conv2d(cin, cout, kernel_size=kernel, stride=stride, padding=kernel // 2, bias=False))
        self.add_module('norm', nn.BatchNorm2d(cout))
        self.add_module('relu', nn.ReLU6(True))

    def forward(self, x):
        return super().forward(x)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = ConvLayer(3, 16, stride=2)
        self.b = ConvLayer(16, 32, kernel=1)

    def forward(self, x):
        return self.b(self.a(x))
`);
    // Measured: 432 params, 5,419,008 MACs at 1x16x112x112; 512 params, 6,422,528 MACs at 1x32x112x112.
    const conv = at(sites, 7);
    expect(conv.count).toBe(2);
    expect(conv.instances).toEqual([
      expect.objectContaining({ count: 1, params: 432, macs: 5419008, output_shape: [1, 16, 112, 112] }),
      expect.objectContaining({ count: 1, params: 512, macs: 6422528, output_shape: [1, 32, 112, 112] }),
    ]);
  });

  it('type(x) is list and type(x) == int are known for plain values (PeleeNet)', () => {
    const { sites } = evaluate(`import torch.nn as nn


class Net(nn.Module):
    def __init__(self, growth_rate=32):
        super().__init__()
        if type(growth_rate) is list:
            rates = growth_rate
        else:
            rates = [growth_rate] * 2
        if type(rates[0]) == int:
            self.c1 = nn.Conv2d(3, rates[0], 3, padding=1)
        self.c2 = nn.Conv2d(rates[0], rates[1], 3, padding=1)

    def forward(self, x):
        return self.c2(self.c1(x))
`);
    // Measured: 896 params at 1x32x224x224; 9,248 params, 464,027,648 MACs.
    expect(at(sites, 12)).toMatchObject({ count: 1, params: 896, output_shape: [1, 32, 224, 224] });
    expect(at(sites, 13)).toMatchObject({ count: 1, params: 9248, macs: 464027648 });
  });

  it('MaxPool2d(return_indices=True) gives the output and its indices; MaxUnpool2d undoes the pool (ENet)', () => {
    const { sites } = evaluate(`import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, 1, 1)
        self.pool = nn.MaxPool2d(2, stride=2, return_indices=True)
        self.mid = nn.Conv2d(16, 16, 3, 1, 1)
        self.unpool = nn.MaxUnpool2d(kernel_size=2)
        self.head = nn.Conv2d(16, 8, 1)

    def forward(self, x):
        x = self.stem(x)
        x, idx = self.pool(x)
        x = self.mid(x)
        x = self.unpool(x, idx)
        return self.head(x)
`);
    // Measured: mid 2,320 params, 29,102,080 MACs at 1x16x112x112; head 136 params, 6,823,936 MACs at 1x8x224x224.
    expect(at(sites, 9)).toMatchObject({ count: 1, params: 2320, macs: 29102080, output_shape: [1, 16, 112, 112] });
    expect(at(sites, 11)).toMatchObject({ count: 1, params: 136, macs: 6823936, output_shape: [1, 8, 224, 224] });
  });
});

describe('tensor methods of a third held-out batch', () => {
  it('x.unsqueeze_(dim) gives the unsqueezed shape, and the tensor it changed is not kept with its old one (SKNet)', () => {
    const source = `import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 8, 3, padding=1)
        self.b = nn.Conv2d(3, 8, 5, padding=2)
        self.c = nn.Conv2d(8, 4, 1)
        self.d = nn.Conv2d(8, 4, 1)

    def forward(self, x):
        y = self.a(x)
        fa = y.unsqueeze_(dim=1)
        fb = self.b(x).unsqueeze_(dim=1)
        fea = torch.cat([fa, fb], dim=1).sum(dim=1)
        return self.c(fea)
`;
    // Measured: c 36 params, 1,806,336 MACs at 1x4x224x224.
    expect(at(evaluate(source).sites, 10)).toMatchObject({ count: 1, params: 36, macs: 1806336, output_shape: [1, 4, 224, 224] });
    // y itself became 5-D (PyTorch's conv would raise on it): not taken for the 4-D tensor it was.
    const d = at(evaluate(source.replace('return self.c(fea)', 'return self.c(fea), self.d(y)')).sites, 11);
    expect(d.unknown).toBe(true);
    expect(d.reason).toMatch(/changed in place by unsqueeze_\(\)/);
  });

  it("torch.mean(x, axis=[2, 3]) reduces the axes given (numpy's keyword for dim), as torch.cat(..., axis=1) concatenates along it", () => {
    const { sites } = evaluate(`import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, 2, 1)
        self.fc = nn.Conv2d(32, 8, 1)

    def forward(self, x):
        x = self.stem(x)
        x = torch.cat([x, x], axis=1)
        return self.fc(torch.mean(x, axis=[2, 3], keepdim=True))
`);
    // Measured: fc 264 params, 264 MACs at 1x8x1x1.
    expect(at(sites, 9)).toMatchObject({ count: 1, params: 264, macs: 264, output_shape: [1, 8, 1, 1] });
  });
});

describe("a model's totals (its CodeLens): every layer with parameters, each parameter once", () => {
  // Measured with PyTorch 1.13 (media/python/measure.py --input 1,3,64,64): Net 38,851 params and
  // 26,153,870 MACs; Recurrent 800 params (its LSTM's 576 among them), 861,056 MACs.
  const SOURCE = `import math
import torch
import torch.nn as nn


class ECA(nn.Module):
    def __init__(self, channel, gamma=2, beta=1):
        super().__init__()
        t = int(abs(math.log(channel, 2) + beta) / gamma)
        k = max(t if t % 2 else t + 1, 3)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.conv = nn.Conv1d(1, 1, kernel_size=k, padding=(k - 1) // 2, bias=False)

    def forward(self, x):
        y = self.pool(x)
        y = self.conv(y.squeeze(-1).transpose(-1, -2)).transpose(-1, -2).unsqueeze(-1)
        return x * y.sigmoid()


class Block(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.dw = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pw1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.pw2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(1e-6 * torch.ones(dim))

    def forward(self, x):
        y = self.dw(x).permute(0, 2, 3, 1)
        y = self.pw2(self.act(self.pw1(self.norm(y))))
        return x + (self.gamma * y).permute(0, 3, 1, 2)


class Net(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.stem = nn.Conv2d(3, 32, 4, stride=4)
        self.gn = nn.GroupNorm(8, 32)
        self.act = nn.PReLU(32)
        self.block = Block(32)
        self.eca = ECA(144 // 4 + 108)
        self.expand = nn.Conv2d(32, 144, 1)
        self.shared = nn.Conv2d(144, 144, 3, padding=1, groups=144)
        self.up = nn.ConvTranspose2d(144, 16, 3, stride=2, padding=1)
        self.head = nn.Linear(16, num_classes)
        self.bn = nn.BatchNorm1d(num_classes)

    def forward(self, x):
        size = x.shape
        x = self.act(self.gn(self.stem(x)))
        x = self.block(x)
        x = self.expand(x)
        x = self.shared(self.shared(x))
        x = self.eca(x)
        x = self.up(x, output_size=[x.shape[2] * 2, x.shape[3] * 2])
        x = x.mean((2, 3))
        return self.bn(self.head(x))


class Recurrent(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.rnn = nn.LSTM(8, 8)

    def forward(self, x):
        x = self.conv(x)
        return self.rnn(x.flatten(2).permute(2, 0, 1))[0]
`;

  it('counts Conv1d, ConvTranspose2d (with output_size), LayerNorm, Linear on channels-last maps, GroupNorm, PReLU, BatchNorm1d and an nn.Parameter, and a conv applied twice once', () => {
    const { sites, evaluation } = evaluate(SOURCE, [64, 64]);
    const net = evaluation.models.find((m) => m.name === 'Net')!;
    expect([net.params, net.macs, net.unknownInstances]).toEqual([38851, 26153870, 0]);
    // The ECA's kernel from math.log(channel, 2): 5 for 144 channels.
    expect(at(sites, 12)).toMatchObject({ layer: 'Conv1d', params: 5, macs: 720, output_shape: [1, 1, 144] });
    expect(at(sites, 46)).toMatchObject({ layer: 'ConvTranspose2d', kind: 'transposed', params: 20752, macs: 21250048, output_shape: [1, 16, 32, 32] });
    // The LSTM's parameters are not followed: the total says so instead of leaving them out.
    const recurrent = evaluation.models.find((m) => m.name === 'Recurrent')!;
    expect(recurrent.unknownInstances).toBe(1);
    expect(modelLensTitle(recurrent)).toMatch(/1 layer instance without figures, not counted/);
  });

  it('says a model total is a lower bound when code that may build layers was not followed', () => {
    const source = `import os
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        layers = [nn.Conv2d(3, 8, 3)]
        for _ in range(int(os.environ.get('DEPTH', '2'))):
            layers.append(nn.Conv2d(8, 8, 3, groups=8))
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return self.body(x)
`;
    const net = evaluate(source).evaluation.models.find((m) => m.name === 'Net')!;
    expect(net.incomplete).toBe(true);
    expect(modelLensTitle(net)).toMatch(/at least: code that may build more layers is not followed/);
  });

  it("counts a norm subclassed with a forward() of its own (torchvision's LayerNorm2d)", () => {
    // Measured (--input 1,3,64,64): 2,424 params, 608,256 MACs; the LayerNorm2d's 48 parameters among them.
    const source = `import torch
import torch.nn as nn
import torch.nn.functional as F


class LayerNorm2d(nn.LayerNorm):
    def forward(self, x):
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 24, 4, stride=4)
        self.norm = LayerNorm2d(24, eps=1e-6)
        self.dw = nn.Conv2d(24, 24, 7, padding=3, groups=24)

    def forward(self, x):
        return self.dw(self.norm(self.stem(x)))
`;
    const { evaluation } = evaluate(source, [64, 64]);
    const net = evaluation.models.find((m) => m.name === 'Net')!;
    expect([net.params, net.macs, net.unknownInstances]).toEqual([2424, 608256, 0]);
  });

  it("counts a layer the model holds and never applies (PFLD's bn8), and not one a subclass replaced", () => {
    // Measured (--input 1,3,32,32): Net 824 params (the unused BatchNorm2d's 16 among them), 659,456
    // MACs; Wider 320 params, 264,320 MACs (its parent's body conv, replaced, is not a part of it).
    const source = `import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.bn8 = nn.BatchNorm2d(8)
        self.body = nn.Conv2d(8, 8, 3)

    def forward(self, x):
        return self.body(self.conv(x))


class Wider(Net):
    def __init__(self):
        super().__init__()
        self.body = nn.Conv2d(8, 8, 3, groups=8)
`;
    const { sites, evaluation } = evaluate(source, [32, 32]);
    const totals = (name: string) => {
      const m = evaluation.models.find((x) => x.name === name)!;
      return [m.params, m.macs, m.unknownInstances];
    };
    expect(totals('Net')).toEqual([824, 659456, 0]);
    expect(totals('Wider')).toEqual([320, 264320, 0]);
    expect(at(sites, 9)).toMatchObject({ count: 1, params: 584, macs: 457856 });
  });
});

describe('attention inside a conv net (MobileNetV4 hybrid blocks)', () => {
  // Measured (--input 1,3,32,32): Net 5,440 params, 1,392,640 MACs (the qkv and proj Linears on
  // B x N x C tokens, the attention's matrix products, then the depthwise conv at 16x16).
  const SOURCE = `import torch
import torch.nn as nn


class Attn(nn.Module):
    def __init__(self, dim=32, heads=4):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        self.conv = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)

    def forward(self, x):
        shape = x.shape
        B, C, H, W = shape
        N = H * W
        if len(shape) == 4:
            x = torch.flatten(x, start_dim=2).transpose(-2, -1)
        qkv = self.qkv(x).reshape(B, N, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        attn = (q * 0.5) @ k.transpose(-2, -1)
        attn = attn.softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(B, N, C)
        x = self.proj(x)
        if len(shape) == 4:
            x = x.transpose(-2, -1).reshape(B, C, H, W)
        return self.conv(x)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 32, 3, stride=2, padding=1)
        self.attn = Attn()

    def forward(self, x):
        return self.attn(self.stem(x))
`;

  it('follows unbind(), matrix products (@) and Linear on tokens, to the conv after them', () => {
    const { sites, evaluation } = evaluate(SOURCE, [32, 32]);
    const net = evaluation.models.find((m) => m.name === 'Net')!;
    expect([net.params, net.macs, net.unknownInstances]).toEqual([5440, 1392640, 0]);
    expect(at(sites, 11).instances.some((i) => i.macs === 81920 && JSON.stringify(i.output_shape) === '[1,32,16,16]')).toBe(true);
  });
});

describe('backslash line continuations inside an expression (HBONet)', () => {
  it('reads `torch.cat((a, \\` + newline + `b), dim=1)` as the two-item tuple it is', () => {
    // Measured (--input 1,3,32,32): the conv after the cat sees 16 channels, 3 x 16 x 3 x 3 + 3 params.
    const source = [
      'import torch',
      'import torch.nn as nn',
      '',
      '',
      'class Net(nn.Module):',
      '    def __init__(self):',
      '        super().__init__()',
      '        self.a = nn.Conv2d(3, 8, 3, padding=1)',
      '        self.b = nn.Conv2d(3, 8, 1)',
      '        self.c = nn.Conv2d(16, 3, 3)',
      '',
      '    def forward(self, x):',
      '        y = torch.cat((self.a(x), \\',
      '                       self.b(x)), dim=1)',
      '        return self.c(y)',
      '',
    ].join('\n');
    const { sites } = evaluate(source, [32, 32]);
    expect(at(sites, 10)).toMatchObject({ params: 435, input_shape: [1, 16, 32, 32], output_shape: [1, 3, 30, 30] });
  });
});

describe("typing.cast (torchvision's VGG)", () => {
  it('gives the value cast, as Python does', () => {
    // 3 x 3 x 3 x 64 weights and 64 biases, at 224x224: 1,792 params; 64 x 224 x 224 outputs of
    // 27 multiply-adds and a bias each: 89,915,392 MACs (torchinfo's count).
    const source = [
      'from typing import cast',
      'import torch.nn as nn',
      '',
      'cfg = [64]',
      '',
      '',
      'def make(cfg):',
      '    layers = []',
      '    for v in cfg:',
      '        v = cast(int, v)',
      '        layers.append(nn.Conv2d(3, v, kernel_size=3, padding=1))',
      '    return nn.Sequential(*layers)',
      '',
      '',
      'model = make(cfg)',
      '',
    ].join('\n');
    const { sites } = evaluate(source);
    expect(at(sites, 11)).toMatchObject({ params: 1792, macs: 89915392, output_shape: [1, 64, 224, 224] });
  });
});

describe("isinstance(x, Tensor) of a list (torchvision's DenseNet)", () => {
  it('is False for the list of earlier features, so the branch that takes the list is followed', () => {
    // A dense layer takes one tensor or the list of every earlier block's output and concatenates
    // it. Measured (--input 1,3,16,16): the layer's conv 4 instances, 1,152 + 1,728 + 2,304 + 2,880
    // params; M 8,512 params and 2,179,072 MACs.
    const source = `import torch
import torch.nn as nn
from torch import Tensor


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, 8, 3, padding=1, bias=False)

    def forward(self, input):
        if isinstance(input, Tensor):
            prev = [input]
        else:
            prev = input
        return self.conv(torch.cat(prev, 1))


class Block(nn.ModuleDict):
    def __init__(self, n, c):
        super().__init__()
        for i in range(n):
            self.add_module("layer%d" % (i + 1), Layer(c + i * 8))

    def forward(self, x):
        features = [x]
        for name, layer in self.items():
            features.append(layer(features))
        return torch.cat(features, 1)


class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.block = Block(3, 16)
        self.head = Layer(40)

    def forward(self, x):
        return self.head(self.block(self.stem(x)))
`;
    const { sites, evaluation } = evaluate(source, [16, 16]);
    const conv = at(sites, 9);
    expect(conv.unknown).toBeUndefined();
    expect(conv.instances.map((i) => [i.count, i.params, i.macs])).toEqual([
      [1, 1152, 294912],
      [1, 1728, 442368],
      [1, 2304, 589824],
      [1, 2880, 737280],
    ]);
    const m = evaluation.models.find((model) => model.name === 'M')!;
    expect([m.params, m.macs, m.unknownInstances]).toEqual([8512, 2179072, 0]);
  });
});

describe("a conv forward() never applies (GoogLeNet's auxiliary heads outside training)", () => {
  // Measured (--input 1,3,16,16): Net 350 params (the aux conv's 36 among them), 57,434 MACs; the
  // aux conv 36 params and no MACs (never applied); net() builds the same model as Net.
  const source = `import torch.nn as nn


class Net(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.aux = nn.Conv2d(8, 4, 1)
        self.fc = nn.Linear(8, num_classes)

    def forward(self, x):
        x = self.conv(x)
        if self.training:
            self.aux(x)
        return self.fc(x.mean((2, 3)))


def net(**kwargs):
    return Net(**kwargs)
`;

  it('counts its parameters, says it is not applied, and leaves a builder of the same model certain', () => {
    const { sites, evaluation } = evaluate(source, [16, 16]);
    expect(at(sites, 7)).toMatchObject({ count: 1, params: 224, macs: 57344, output_shape: [1, 8, 16, 16] });
    expect(at(sites, 7).unknown).toBeUndefined();
    const aux = at(sites, 8);
    expect(aux).toMatchObject({ count: 1, unknown: true });
    expect(aux.reason).toMatch(/never applies/);
    expect(aux.instances).toEqual([expect.objectContaining({ count: 1, params: 36, macs: null })]);
    const net = evaluation.models.find((m) => m.name === 'Net')!;
    expect([net.params, net.macs, net.unknownInstances, net.incomplete]).toEqual([350, 57434, 0, undefined]);
    expect(modelLensTitle(net)).not.toMatch(/not counted|at least/);
  });

  it('where forward() hands the model to code not followed, the same conv stays unknown and uncounted', () => {
    // A call into a library the evaluator does not know: what it does to the model is not known.
    const unfollowed = source
      .replace('import torch.nn as nn\n', 'import torch.nn as nn\nimport hooks\n')
      .replace('        x = self.conv(x)\n', '        x = self.conv(x)\n        hooks.visit(self, x)\n');
    const { sites, evaluation } = evaluate(unfollowed, [16, 16]);
    // The model is handed to it: it may apply the aux conv, which is then not known to be unapplied.
    expect(at(sites, 9)).toMatchObject({ unknown: true });
    expect(at(sites, 9).reason).not.toMatch(/never applies/);
    const net = evaluation.models.find((m) => m.name === 'Net')!;
    expect(net.unknownInstances).toBeGreaterThan(0);
    expect(net.incomplete).toBe(true);
  });
});

describe('1-D models (audio nets: Conv-TasNet, TCN, SampleCNN)', () => {
  // Measured (PyTorch 1.13, the comment's input 1x400): Net 978 params (the encoder's 64, the
  // depthwise conv's 48 + 16 bias + 16 of weight_norm's g, Norm's 16, the unapplied conv's 648, the
  // Linear's 170), 25,642 MACs; the encoder 12,736 MACs at 1x1x400 -> 1x16x199, the depthwise conv
  // 12,736 MACs; MaxPool1d(3, 3, ceil_mode) -> 1x16x67.
  const source = `# sepconv: input 1,400
import torch
import torch.nn as nn
from torch.nn.utils import weight_norm


class Norm(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.gamma = nn.Parameter(torch.Tensor(1, c, 1))

    def forward(self, x):
        return self.gamma * x


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Conv1d(1, 16, 4, stride=2, bias=False)
        self.norm = Norm(16)
        self.block = weight_norm(nn.Conv1d(16, 16, 3, padding=2, dilation=2, groups=16))
        self.pool = nn.MaxPool1d(3, stride=3, ceil_mode=True)
        self.spare = nn.Conv1d(16, 8, 5)
        self.head = nn.Sequential(nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(16, 10))

    def forward(self, mixture):
        x = self.encoder(mixture.unsqueeze(1))
        x = self.pool(self.block(self.norm(x)))
        return self.head(x)
`;

  it('a 2-D input from the comment, weight_norm, torch.Tensor(sizes), 1-D pools and an unapplied Conv1d', () => {
    const { sites, evaluation } = evaluate(source);
    expect(at(sites, 19)).toMatchObject({ count: 1, params: 64, macs: 12736, input_shape: [1, 1, 400], output_shape: [1, 16, 199] });
    expect(at(sites, 21)).toMatchObject({ kind: 'depthwise', params: 80, macs: 12736, output_shape: [1, 16, 199] });
    // Never applied: its own parameters (16 x 16 x 5 + 8), not those of a 2-D conv of the same arguments.
    expect(at(sites, 23).instances).toEqual([expect.objectContaining({ params: 648, macs: null })]);
    const net = evaluation.models.find((m) => m.name === 'Net')!;
    expect([net.params, net.macs, net.unknownInstances]).toEqual([978, 25642, 0]);
  });

  it('without the comment, the input the first Conv1d implies is not taken for the model input of an unsqueeze: unknown, with no input shape shown', () => {
    const { sites } = evaluate(source.replace('# sepconv: input 1,400\n', ''));
    const encoder = at(sites, 18);
    expect(encoder.unknown).toBe(true);
    expect(encoder.reason).toMatch(/4-D input/);
    expect(encoder.input_shape).toBeUndefined();
  });

  it("a model whose first layer is a Conv1d takes its input from it, not from a Linear registered later (SampleCNN's x.view(N, 1, -1))", () => {
    // Measured (--input 1,1,300): the conv 512 params, 51,200 MACs (torchinfo: 3 per output and its
    // bias) at 1x1x300 -> 1x128x100.
    const { sites } = evaluate(
      `import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv1d(1, 128, kernel_size=3, stride=3), nn.BatchNorm1d(128), nn.ReLU())
        self.fc = nn.Linear(128, 50)

    def forward(self, x):
        x = x.view(x.shape[0], 1, -1)
        out = self.conv1(x).mean(2)
        return self.fc(out)
`,
      [300, 300],
    );
    expect(at(sites, 7)).toMatchObject({ params: 512, macs: 51200, input_shape: [1, 1, 300], output_shape: [1, 128, 100] });
  });
});

describe('patterns of a fifth batch of real files', () => {
  it("a namedtuple subclass (InsightFace's Bottleneck), a staticmethod forward() (YOLOX's SiLU), a ModuleList sliced (STDC) and math.pow", () => {
    // Measured (--input 1,8,16,16): the conv in the loop 1 x (1,168 params, 74,752 MACs) and
    // 2 x (2,320, 148,480); the head 68 params, 4,352 MACs (16 // math.pow(2, 2) = 4.0 channels, int()
    // of it 4); Net 5,876 params, 376,064 MACs.
    const { sites, evaluation } = evaluate(
      `import math
from collections import namedtuple
import torch
import torch.nn as nn


class SiLU(nn.Module):
    @staticmethod
    def forward(x):
        return x * torch.sigmoid(x)


class Bottleneck(namedtuple('Block', ['in_channel', 'depth', 'stride'])):
    '''A block's configuration.'''


def blocks():
    return [Bottleneck(8, 16, 2)] + [Bottleneck(16, 16, 1) for _ in range(2)]


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.convs = nn.ModuleList()
        for b in blocks():
            self.convs.append(nn.Conv2d(b.in_channel, b.depth, 3, stride=b.stride, padding=1))
        self.act = SiLU()
        self.head = nn.Conv2d(16, int(16 // math.pow(2, 2)), 1)

    def forward(self, x):
        x = self.act(self.convs[0](x))
        for conv in self.convs[1:]:
            x = self.act(conv(x))
        return self.head(x)
`,
      [16, 16],
    );
    const loop = at(sites, 26);
    expect(loop.unknown).toBeUndefined();
    expect(loop.instances.map((i) => [i.count, i.params, i.macs])).toEqual([
      [1, 1168, 74752],
      [2, 2320, 148480],
    ]);
    expect(at(sites, 28)).toMatchObject({ params: 68, macs: 4352, output_shape: [1, 4, 8, 8] });
    const net = evaluation.models.find((m) => m.name === 'Net')!;
    expect([net.params, net.macs, net.unknownInstances]).toEqual([5876, 376064, 0]);
  });

  it("Keras' Conv2DTranspose ('same' and 'valid') and MaxPool2D, Keras' other name for MaxPooling2D", () => {
    // Measured with Keras 3 (measure.py): 264 params, 270,336 MACs -> 1x32x32x8; without bias, 'valid',
    // kernel 3, stride 2: 288 params, 313,632 MACs -> 1x33x33x4; the model 793 params, 830,752 MACs.
    const { sites, evaluation } = evaluate(`from keras.models import Model
from keras.layers import Input, Conv2D, Conv2DTranspose, MaxPool2D, Concatenate


def build(input_shape=(32, 32, 3)):
    inputs = Input(input_shape)
    x = Conv2D(8, 3, padding="same")(inputs)
    p = MaxPool2D((2, 2))(x)
    u = Conv2DTranspose(8, (2, 2), strides=2, padding="same")(p)
    v = Conv2DTranspose(4, 3, strides=2, padding="valid", use_bias=False)(p)
    y = Concatenate()([u, x])
    outputs = Conv2D(1, 1, padding="same", activation="sigmoid")(y)
    return Model(inputs, [outputs, v])
`);
    expect(at(sites, 9)).toMatchObject({ kind: 'transposed', params: 264, macs: 270336, output_shape: [1, 32, 32, 8], weight_shape: [2, 2, 8, 8] });
    expect(at(sites, 10)).toMatchObject({ kind: 'transposed', params: 288, macs: 313632, output_shape: [1, 33, 33, 4] });
    expect(at(sites, 12)).toMatchObject({ params: 17, macs: 17408, input_shape: [1, 32, 32, 16] });
    const build = evaluation.models.find((m) => m.name === 'build')!;
    expect([build.params, build.macs, build.unknownInstances]).toEqual([793, 830752, 0]);
  });
});

describe('common idioms', () => {
  it('register_buffer, getattr(nn, name)(), an nn.Sequential subclass calling super().forward(), a ModuleDict of f-string keys', () => {
    // Measured (--input 1,3,32,32): the stage conv 2 x (2,320 params, 593,920 MACs), 4,640 / 296,960 and
    // 9,248 / 591,872; the stem 448 / 114,688; Net 19,306 params, 2,191,690 MACs.
    const { sites, evaluation } = evaluate(
      `import torch
import torch.nn as nn
import torch.nn.functional as F


def act(name):
    return getattr(nn, name)(inplace=True)


class Stage(nn.Sequential):
    def __init__(self, cin, cout, n):
        layers = [nn.Conv2d(cin if i == 0 else cout, cout, 3, padding=1) for i in range(n)]
        super().__init__(*layers)

    def forward(self, x):
        return super().forward(x) + 0


class Net(nn.Module):
    def __init__(self, widths=(16, 32), act_name="ReLU6"):
        super().__init__()
        self.register_buffer("mean", torch.zeros(1, 3, 1, 1))
        self.stem = nn.Conv2d(3, widths[0], 3, 2, 1)
        self.act = act(act_name)
        self.stages = nn.ModuleDict({f"s{i}": Stage(widths[i - 1] if i else widths[0], w, 2) for i, w in enumerate(widths)})
        self.fc = nn.Linear(widths[-1], 10)

    def forward(self, x):
        x = self.act(self.stem(x - self.mean))
        for name, stage in self.stages.items():
            x = F.max_pool2d(stage(x), 2)
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(x)
`,
      [32, 32],
    );
    expect(at(sites, 12).instances.map((i) => [i.count, i.params, i.macs])).toEqual([
      [2, 2320, 593920],
      [1, 4640, 296960],
      [1, 9248, 591872],
    ]);
    expect(at(sites, 23)).toMatchObject({ params: 448, macs: 114688 });
    const net = evaluation.models.find((m) => m.name === 'Net')!;
    expect([net.params, net.macs, net.unknownInstances]).toEqual([19306, 2191690, 0]);
  });

  it('torch.einsum (explicit and implicit output, a size of 1 broadcast) and F.pixel_shuffle', () => {
    // Measured (--input 1,3,16,16): the projection 272 params, 69,632 MACs at 1x16x16x16; the up conv
    // 1,740 / 445,440; Net 3,276 params, 838,656 MACs.
    const { sites, evaluation } = evaluate(
      `import torch
import torch.nn as nn
import torch.nn.functional as F


class Attn(nn.Module):
    def __init__(self, c, heads=2):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Conv2d(c, 3 * c, 1)
        self.proj = nn.Conv2d(c, c, 1)

    def forward(self, x):
        b, c, h, w = x.shape
        q, k, v = self.qkv(x).reshape(b, 3, self.heads, c // self.heads, h * w).unbind(1)
        attn = torch.einsum("bhdn,bhdm->bhnm", q, k).softmax(-1)
        out = torch.einsum("bhnm,bhdm->bhdn", attn, v).reshape(b, c, h, w)
        return self.proj(out)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.attn = Attn(16)
        self.up = nn.Conv2d(16, 3 * 4, 3, padding=1)

    def forward(self, x):
        x = self.attn(self.stem(x))
        x = F.pixel_shuffle(self.up(x), 2)
        return x
`,
      [16, 16],
    );
    expect(at(sites, 11)).toMatchObject({ params: 272, macs: 69632, input_shape: [1, 16, 16, 16] });
    const net = evaluation.models.find((m) => m.name === 'Net')!;
    expect([net.params, net.macs, net.unknownInstances]).toEqual([3276, 838656, 0]);
    const conv = (operands: string) =>
      evaluate(`import torch
import torch.nn as nn


class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x):
        return self.conv(torch.einsum(${operands}).reshape(1, 3, 2, 2))
`).sites[0]!;
    expect(conv('"ij,jk", torch.zeros(3, 1), torch.zeros(5, 4)')).toMatchObject({ input_shape: [1, 3, 2, 2], output_shape: [1, 4, 2, 2] });
    expect(conv('"ba,ca", torch.zeros(3, 2), torch.zeros(4, 2)')).toMatchObject({ input_shape: [1, 3, 2, 2] });
    expect(conv('"ij,jk->ik", torch.zeros(3, 2), torch.zeros(5, 4)').reason).toMatch(/j is 2 and 5/);
    expect(conv('"...ij,jk->ik", torch.zeros(3, 2), torch.zeros(2, 4)').reason).toMatch(/not followed/);
  });

  it("F.conv2d with a weight of its own: its output shape, the model's input channels from that weight, zeros_like", () => {
    // Measured (--input 1,3,16,16): Net 332 params (the nn.Parameter's 216 among them), 118,784 MACs
    // (the layers': the functional conv is not a layer); the depthwise conv 80 params, 81,920 MACs at
    // 1x8x32x32. The Conv2d(8, ...) registered after DynConv does not say the model's input.
    const { sites, evaluation } = evaluate(
      `import torch
import torch.nn as nn
import torch.nn.functional as F


class DynConv(nn.Module):
    def __init__(self, cin, cout, k=3):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, k, k))
        self.stride = 1

    def forward(self, x):
        return F.conv2d(x, self.weight, None, self.stride, 1)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = DynConv(3, 8)
        self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.b = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.shuffle = nn.ChannelShuffle(2)
        self.c = nn.Conv2d(8, 4, 1)

    def forward(self, x):
        y = self.a(x)
        z = torch.zeros_like(y)
        y = self.b(self.up(y + z))
        y = self.shuffle(y)
        return self.c(y).sigmoid_()
`,
      [16, 16],
    );
    expect(at(sites, 21)).toMatchObject({ kind: 'depthwise', params: 80, macs: 81920, input_shape: [1, 8, 32, 32] });
    expect(at(sites, 23)).toMatchObject({ params: 36, macs: 36864, output_shape: [1, 4, 32, 32] });
    const net = evaluation.models.find((m) => m.name === 'Net')!;
    expect([net.params, net.macs, net.unknownInstances]).toEqual([332, 118784, 0]);
  });
});

describe('a model class that needs arguments and no comment builds it', () => {
  it('its sites say what needs arguments and how to build it', () => {
    const { sites, evaluation } = evaluate(`import torch.nn as nn


class UNet(nn.Module):
    def __init__(self, n_channels, n_classes):
        super().__init__()
        self.inc = nn.Conv2d(n_channels, 16, 3, padding=1)

    def forward(self, x):
        return self.inc(x)
`);
    expect(evaluation.needsArguments).toEqual(['UNet']);
    expect(at(sites, 7).reason).toMatch(/UNet needs arguments: a line `# sepconv: call UNet\(\.\.\.\)` in the file/);
  });
});

describe("Keras' 1-D layers", () => {
  it("Conv1D ('causal', dilated), DepthwiseConv1D, SeparableConv1D, the 1-D pools and Dense on a sequence", () => {
    // Measured with Keras 3 (measure.py): Conv1D 400 params, 20,000 MACs -> 1x50x16; DepthwiseConv1D
    // (5, stride 2, x2, no bias) 160 / 3,680 -> 1x23x32; Dense(12) on 1x23x32 396 / 9,108; the model
    // 1,008 params, 32,840 MACs.
    const { sites, evaluation } = evaluate(`import keras
from keras import layers


def build(length=50):
    inputs = keras.Input(shape=(length, 8))
    x = layers.Conv1D(16, 3, padding="causal", dilation_rate=2)(inputs)
    x = layers.DepthwiseConv1D(5, strides=2, depth_multiplier=2, use_bias=False)(x)
    x = layers.Dense(12)(x)
    x = layers.AveragePooling1D(3, padding="same")(x)
    x = layers.GlobalMaxPooling1D(keepdims=True)(x)
    return keras.Model(inputs, layers.Dense(4)(layers.Flatten()(x)))
`);
    expect(at(sites, 7)).toMatchObject({ kind: 'standard', params: 400, macs: 20000, output_shape: [1, 50, 16] });
    expect(at(sites, 8)).toMatchObject({ kind: 'depthwise', params: 160, macs: 3680, output_shape: [1, 23, 32] });
    const build = evaluation.models.find((m) => m.name === 'build')!;
    expect([build.params, build.macs, build.unknownInstances]).toEqual([1008, 32840, 0]);
    // SeparableConv1D(32, 3, 'same') on 1x498x16: 16 x 3 + 16 x 32 + 32 = 592 params, 498 x (16 x 3 + 16 x 32 + 32) MACs.
    const separable = evaluate(`import keras
from keras import layers


def build_audio(length=1000):
    inputs = keras.Input(shape=(length, 1))
    x = layers.Conv1D(16, 5, strides=2, activation="relu")(inputs)
    x = layers.SeparableConv1D(32, 3, padding="same")(x)
    return keras.Model(inputs, x)
`);
    expect(at(separable.sites, 8)).toMatchObject({ kind: 'depthwise separable', params: 592, macs: 294816, output_shape: [1, 498, 32] });
  });
});

describe('patterns of a sixth batch of real files (video, point clouds, restoration)', () => {
  const source = `import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.autograd import Variable
from torch.nn.modules.utils import _triple


class Block(nn.Module):
    def __init__(self, cin, cout, k):
        super().__init__()
        k = _triple(k)
        self.conv = nn.Conv3d(cin, cout, k, padding=(k[0] // 2, k[1] // 2, k[2] // 2))

    def forward(self, x):
        return self.conv(x)


class Video(nn.Module):
    def __init__(self, cfg=type("Cfg", (), {"width": 8, "depth": 2})()):
        super().__init__()
        self.stem = nn.Conv3d(3, cfg.width, 3, stride=2, padding=1)
        self.blocks = nn.ModuleList([])
        for _ in range(cfg.depth):
            self.blocks += [Block(cfg.width, cfg.width, 3)]
        self.up = nn.Upsample(scale_factor=(1, 2, 2), mode="trilinear")
        self.add_module("head", nn.Conv3d(cfg.width, 2, 1))

    def forward(self, x):
        x = self.stem(x)
        for block in self.blocks:
            x = block(x)
        return self._modules["head"](self.up(x))


class Points(nn.Module):
    def __init__(self):
        super().__init__()
        self.pad = nn.ReflectionPad1d(2)
        self.conv = nn.Conv1d(3, 16, 5)
        self.fc = nn.Linear(16, 9)

    def forward(self, x):
        x = F.relu(self.conv(self.pad(x)))
        x = torch.max(x, 2, keepdim=True)[0].view(-1, 16)
        iden = Variable(torch.from_numpy(np.array([1, 0, 0, 0, 1, 0, 0, 0, 1]).astype(np.float32))).view(1, 9).repeat(x.size(0), 1)
        if x.is_cuda:
            iden = iden.cuda()
        return self.fc(x) + iden
`;
  const models = (inputShape: number[]) => {
    const tree = parser.parse(source)!;
    try {
      return fileSiteRows(tree, source, '/ws/model.py', () => undefined, { ...SETTINGS, inputShape }).evaluation.models;
    } finally {
      tree.delete();
    }
  };

  it("_triple, type(name, bases, dict), ModuleList +=, a 3-D Upsample and self._modules[name] (R(2+1)D, RCAN's args, I3D)", () => {
    // Measured (--call 'Video()' --input 1,3,8,16,16): 4,146 params, 1,075,200 MACs.
    expect(models([1, 3, 8, 16, 16]).find((m) => m.name === 'Video')).toMatchObject({ params: 4146, macs: 1075200, unknownInstances: 0 });
  });

  it("ReflectionPad1d, torch.max over a dim, Variable(torch.from_numpy(...)), repeat() and is_cuda (PointNet's STN)", () => {
    // Measured (--call 'Points()' --input 1,3,64): 409 params, 16,537 MACs.
    expect(models([1, 3, 64]).find((m) => m.name === 'Points')).toMatchObject({ params: 409, macs: 16537, unknownInstances: 0 });
  });
});

describe('patterns of a seventh batch of real files (YOLO backbones, EfficientDet, SegNet)', () => {
  it("a forward pass in __init__, del of a module's layers, a conv that pads its input first, max_pool2d's indices and max_unpool2d", () => {
    // Measured (--input 1,3,32,32): Net 2,688 params, 242,688 MACs; the padded stem 224 params,
    // 57,344 MACs at 1x3x32x32 -> 1x8x16x16; the neck 2,320 / 148,480 at 1x16x8x8. The pass in
    // __init__ (at 64x64) is not the model's, and the deleted head and fc are not a part of it.
    const { sites, evaluation } = evaluate(
      `import torch
import torch.nn as nn
import torch.nn.functional as F


class SamePadConv(nn.Conv2d):
    def __init__(self, cin, cout, k, stride=1):
        super().__init__(cin, cout, k, stride=stride)
        self.static_padding = nn.ZeroPad2d((0, 1, 0, 1))

    def forward(self, x):
        return F.conv2d(self.static_padding(x), self.weight, self.bias, self.stride, 0)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = SamePadConv(3, 8, 3, stride=2)
        self.head = nn.Conv2d(8, 64, 1)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        return self.fc(self.head(self.stem(x)).mean((2, 3)))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.neck = nn.Conv2d(16, 16, 3, padding=1)
        encoder = Encoder()
        del encoder.head
        del encoder.fc
        self.encoder = encoder
        self.mid = nn.Conv2d(8, 16, 1)
        self.widths = [y.size(1) for y in self.forward(torch.randn(1, 3, 64, 64))]

    def forward(self, x):
        x = self.mid(self.encoder.stem(x))
        y, idx = F.max_pool2d(x, 2, 2, return_indices=True)
        z = F.max_unpool2d(self.neck(y), idx, 2, 2)
        return [z]
`,
      [32, 32],
    );
    expect(at(sites, 8).instances).toEqual([
      expect.objectContaining({ count: 2, params: 224, macs: 57344, input_shape: [1, 3, 32, 32], output_shape: [1, 8, 16, 16] }),
    ]);
    expect(at(sites, 29)).toMatchObject({ count: 1, params: 2320, macs: 148480, input_shape: [1, 16, 8, 8] });
    const net = evaluation.models.find((m) => m.name === 'Net')!;
    expect([net.params, net.macs, net.unknownInstances]).toEqual([2688, 242688, 0]);
  });

  it("hasattr(nn, 'SiLU') and F.upsample(input=..., size=...) (EfficientNetV2, PSPNet)", () => {
    // Measured (--input 1,3,16,16): Net 260 params, 23,552 MACs.
    const net = evaluate(
      `import torch.nn as nn
import torch.nn.functional as F

SiLU = nn.SiLU if hasattr(nn, "SiLU") else nn.ReLU


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), SiLU())
        self.head = nn.Conv2d(8, 4, 1)

    def forward(self, x):
        h, w = x.size(2), x.size(3)
        y = F.upsample(input=self.conv(x), size=(h, w), mode="bilinear")
        return self.head(y)
`,
      [16, 16],
    ).evaluation.models.find((m) => m.name === 'Net')!;
    expect([net.params, net.macs, net.unknownInstances]).toEqual([260, 23552, 0]);
  });

  it('a Keras layer with weights on an input not known is counted as not known, never as nothing', () => {
    const { evaluation } = evaluate(`import keras
from keras import layers


def build():
    inputs = keras.Input(shape=(8, 8, 3))
    inner = keras.Model(inputs, layers.Conv2D(4, 3)(inputs))
    x = inner(inputs)
    return keras.Model(inputs, layers.Dense(10)(layers.Flatten()(x)))
`);
    const build = evaluation.models.find((m) => m.name === 'build')!;
    expect(build.unknownInstances).toBeGreaterThan(0);
  });
});
