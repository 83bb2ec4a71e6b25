// media/python/measure.py, run with the real PyTorch (Debian's python3-torch: /usr/bin/python3, or
// $SEPCONV_TORCH_PYTHON), through runMeasure as the CLI and the editor run it, and
// `sepconv cost FILE.py --measure` itself (needs dist/cli.js: `node esbuild.mjs`).
// Every expected figure below is worked out by hand from the layer's formula.
import { runProcess } from './runProcess';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MeasureError, modelDefinitions, runMeasure, type MeasuredSite, type MeasureResult } from '../../src/python/measureRunner';
import { costModel } from '../../src/shared/cost';
import { resolveModel } from '../../src/shared/spec';

const TORCH_PYTHON = process.env.SEPCONV_TORCH_PYTHON ?? '/usr/bin/python3';
/**
 * The Keras interpreter: $SEPCONV_KERAS_PYTHON, else the repository's .venv-keras/ that
 * `node scripts/kerasPython.mjs` makes (scripts/test.sh runs it before vitest: making it takes minutes).
 */
const KERAS_PYTHON =
  process.env.SEPCONV_KERAS_PYTHON ??
  (existsSync(join(resolve(__dirname, '../..'), '.venv-keras/bin/python')) ? join(resolve(__dirname, '../..'), '.venv-keras/bin/python') : undefined);
const ROOT = resolve(__dirname, '../..');
const SCRIPT = join(ROOT, 'media/python/measure.py');
const CLI = join(ROOT, 'dist/cli.js');
/** Importing torch on a busy 2-core machine takes seconds; a model file's run, tens of seconds. */
const TIMEOUT_MS = 240_000;

function modelFile(name: string, source: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'sepconv-measure-'));
  const file = join(dir, name);
  writeFileSync(file, source);
  return file;
}

function measure(file: string, extra: Partial<Parameters<typeof runMeasure>[0]> = {}): Promise<MeasureResult> {
  return runMeasure({ python: TORCH_PYTHON, file, script: SCRIPT, timeoutMs: TIMEOUT_MS, ...extra });
}

function siteAt(result: MeasureResult, line: number, layer: string): MeasuredSite {
  const hits = result.sites.filter((s) => s.line === line && s.layer === layer);
  expect(hits, `one ${layer} site on line ${line}: ${JSON.stringify(result.sites.map((s) => [s.line, s.column, s.layer]))}`).toHaveLength(1);
  return hits[0]!;
}

// The forms of issue 11: helpers, config loops, forward() with F.max_pool2d, a default-sized input.
const HELPERS = `import torch
import torch.nn as nn
import torch.nn.functional as F

# sepconv: input 1,3,32,32


def conv_bn(inp, oup, stride):
    return nn.Sequential(nn.Conv2d(inp, oup, 3, stride, 1, bias=False), nn.BatchNorm2d(oup), nn.ReLU(inplace=True))


class Block(nn.Module):
    def __init__(self, c, stride):
        super().__init__()
        self.dw = nn.Conv2d(c, c, 3, stride, 1, groups=c, bias=False)

    def forward(self, x):
        return self.dw(x)


class Net(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.stem = nn.Sequential(conv_bn(3, 32, 2), conv_bn(32, 64, 1))
        layers = []
        for c, n, s in [(64, 2, 2), (64, 1, 1)]:
            for i in range(n):
                layers.append(Block(c, s if i == 0 else 1))
        self.blocks = nn.Sequential(*layers)
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        x = F.max_pool2d(x, 2)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def net():
    return Net()


def main():
    open(__file__ + '.ran', 'w').write('main ran')


if __name__ == '__main__':
    main()
`;

describe('the CodeLens targets of "Measure with PyTorch"', () => {
  it('are the model classes and the builders that need no argument, not helpers or script steps', () => {
    expect(modelDefinitions(HELPERS)).toEqual([
      { name: 'Block', kind: 'class', line: 11, character: 6 },
      { name: 'Net', kind: 'class', line: 20, character: 6 },
      { name: 'net', kind: 'function', line: 37, character: 4 },
    ]);
    const builders =
      'def mobilenet_v2(*, weights=None,\n                 progress: bool = True, **kwargs):\n    return MobileNetV2(**kwargs)\n\n\ndef make(cfg, width=1.0):\n    return Net(cfg)\n';
    expect(modelDefinitions(builders).map((d) => d.name)).toEqual(['mobilenet_v2']);
  });
});

describe('measure.py with PyTorch', () => {
  it(
    'records each layer at the call that built it, with every instance measured by a forward pass',
    async () => {
      const file = modelFile('helpers.py', HELPERS);
      const result = await measure(file);
      expect(result.framework).toBe('torch');
      // Net is built, net() builds the same model (counted once), Block needs arguments, main is never called.
      expect(result.entries.map((e) => [e.name, e.status])).toEqual([
        ['conv_bn', 'skipped'],
        ['Block', 'skipped'],
        ['Net', 'measured'],
        ['net', 'same model'],
        ['main', 'skipped'],
      ]);
      expect(result.entries.find((e) => e.name === 'Block')!.reason).toBe('needs arguments: c, stride');
      expect(result.entries.find((e) => e.name === 'Net')).toMatchObject({ input_shape: [1, 3, 32, 32], input_source: 'comment' });
      expect(existsSync(`${file}.ran`)).toBe(false);

      // conv_bn's Conv2d: 1-based line 9, column 26 (where `nn.Conv2d(` starts), built twice.
      const conv = siteAt(result, 9, 'Conv2d');
      expect(conv.column).toBe(26);
      expect(conv.via).toBeUndefined();
      expect(conv.instances).toEqual([
        // 3 -> 32, stride 2 on 32x32: 16x16 out; 27 MACs per output
        { count: 1, params: 864, macs: 32 * 16 * 16 * 27, input_shape: [1, 3, 32, 32], output_shape: [1, 32, 16, 16] },
        // 32 -> 64, stride 1 on 16x16: 288 MACs per output
        { count: 1, params: 18_432, macs: 64 * 16 * 16 * 288, input_shape: [1, 32, 16, 16], output_shape: [1, 64, 16, 16] },
      ]);
      // BatchNorm: torchinfo counts batch x affine params
      expect(siteAt(result, 9, 'BatchNorm2d').instances.map((i) => [i.params, i.macs])).toEqual([
        [64, 64],
        [128, 128],
      ]);

      // The depthwise conv of the loop: stride 2 once (16 -> 8), then twice at stride 1 on 8x8.
      const dw = siteAt(result, 15, 'Conv2d');
      expect(dw.column).toBe(19);
      expect(dw.instances).toEqual([
        { count: 1, params: 576, macs: 64 * 8 * 8 * 9, input_shape: [1, 64, 16, 16], output_shape: [1, 64, 8, 8] },
        { count: 2, params: 576, macs: 64 * 8 * 8 * 9, input_shape: [1, 64, 8, 8], output_shape: [1, 64, 8, 8] },
      ]);
      // One configuration: the figures are also given at the top.
      expect(dw.params).toBeUndefined();
      const fc = siteAt(result, 30, 'Linear');
      expect(fc).toMatchObject({ params: 650, macs: 650, input_shape: [1, 64], output_shape: [1, 10] });
    },
    TIMEOUT_MS,
  );

  it(
    "counts a transposed conv as torchinfo does and as the cost model's torchinfo convention does: parameters x N x output pixels",
    async () => {
      const file = modelFile(
        'up.py',
        `import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, 2, 1)
        self.up = nn.ConvTranspose2d(16, 8, kernel_size=3, stride=2, padding=1, output_padding=1, groups=2)

    def forward(self, x):
        return self.up(self.conv(x))
`,
      );
      const result = await measure(file, { inputShape: [1, 3, 32, 32] });
      const spec = {
        type: 'ConvTranspose2d' as const,
        in_channels: 16,
        out_channels: 8,
        kernel_size: 3,
        stride: 2,
        padding: 1,
        output_padding: 1,
        groups: 2,
      };
      const leaf = costModel(resolveModel({ layers: [spec] }, { inputShape: [1, 16, 16, 16] }), { convention: 'torchinfo' }).leaves[0]!;
      // 584 parameters (16 x 4 x 3 x 3 weights and 8 biases) x 32 x 32 output pixels.
      expect(leaf).toMatchObject({ params: 584, macs: 584 * 32 * 32 });
      expect(siteAt(result, 8, 'ConvTranspose2d')).toMatchObject({ params: leaf.params, macs: leaf.macs, output_shape: [1, 8, 32, 32] });
    },
    TIMEOUT_MS,
  );

  it(
    'where the forward pass raises, says where in the file and keeps what it reached',
    async () => {
      const file = modelFile(
        'broken.py',
        `import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.fc = nn.Linear(10, 2)

    def forward(self, x):
        return self.fc(self.conv(x))
`,
      );
      const result = await measure(file, { inputShape: [1, 1, 8, 8] });
      const net = result.entries.find((e) => e.name === 'Net')!;
      expect(net.status).toBe('partial');
      expect(net.reason).toMatch(/^the forward pass raised RuntimeError: mat1 and mat2 shapes cannot be multiplied/);
      expect(net.where).toEqual({ file: 'broken.py', line: 11 });
      expect(siteAt(result, 7, 'Conv2d')).toMatchObject({ params: 40, macs: 4 * 6 * 6 * 9 + 4 * 6 * 6, output_shape: [1, 4, 6, 6] });
      expect(siteAt(result, 8, 'Linear').instances).toEqual([{ count: 1, params: 22, macs: null, input_shape: null, output_shape: null }]);
    },
    TIMEOUT_MS,
  );

  it(
    'an import that raises is an error naming the line; a file with no model says what it tried',
    async () => {
      const raising = modelFile('raising.py', 'import torch\n\nx = 1\nraise ValueError("no data here")\n');
      await expect(measure(raising)).rejects.toThrow(/importing the file raised ValueError: no data here \(raising\.py:4\)/);
      const empty = modelFile('empty.py', 'import torch\n\n\ndef helper(x):\n    return x\n');
      await expect(measure(empty)).rejects.toThrow(/no model could be built \(helper: needs arguments: x\)/);
    },
    TIMEOUT_MS,
  );

  it(
    'says so when the interpreter has no torch, or does not exist',
    async () => {
      // -S leaves out site-packages, where Debian's torch lives.
      const file = modelFile('plain.py', 'import torch\n');
      const run = await runProcess(TORCH_PYTHON, ['-S', SCRIPT, file]);
      expect(run.status).toBe(3);
      expect((JSON.parse(run.stdout) as { error: { message: string } }).error.message).toMatch(/^torch is not installed for .*No module named 'torch'/);
      return expect(runMeasure({ python: join(tmpdir(), 'no-such-python'), file, script: SCRIPT, timeoutMs: 10_000 })).rejects.toMatchObject({
        failure: 'no-python',
      });
    },
    TIMEOUT_MS,
  );

  it(
    'builds the models that test() and `__main__` build with literal arguments, where the entry needs arguments or raises',
    async () => {
      const file = modelFile(
        'scripted.py',
        `import torch
import torch.nn as nn

class Net(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3, padding=1)
    def forward(self, x):
        return self.conv(x)

class Grouped(nn.Module):
    def __init__(self, group=None):
        super().__init__()
        assert group is not None
        self.conv = nn.Conv2d(6, 12, 3, groups=group, bias=False)
    def forward(self, x):
        return self.conv(x)

def test():
    net = Net(8)
    n = 4
    other = Net(n)
    y = net(torch.randn(2, 3, 32, 32))

if __name__ == '__main__':
    model = Grouped(group=3)
`,
      );
      const result = await measure(file);
      expect(result.entries.filter((e) => e.kind === 'call').map((e) => [e.name, e.status])).toEqual([
        ['Net(8)', 'measured'],
        ['Grouped(group=3)', 'measured'],
      ]);
      expect(result.entries.find((e) => e.name === 'Grouped')?.status).toBe('failed');
      // Each at the default size from its first conv (not the script's own tensor); Net(n) is not built.
      expect(siteAt(result, 7, 'Conv2d').instances).toEqual([
        { count: 1, params: 224, macs: 8 * 224 * 224 * 27 + 8 * 224 * 224, input_shape: [1, 3, 224, 224], output_shape: [1, 8, 224, 224] },
      ]);
      expect(siteAt(result, 15, 'Conv2d')).toMatchObject({ params: 216, macs: 12 * 222 * 222 * 2 * 9, output_shape: [1, 12, 222, 222] });
    },
    TIMEOUT_MS,
  );

  it(
    'stops at the time limit, and when cancelled',
    async () => {
      const slow = modelFile('slow.py', 'import time\ntime.sleep(60)\n');
      const started = Date.now();
      const timedOut = await measure(slow, { timeoutMs: 2_000 }).catch((e: unknown) => e);
      expect(timedOut).toBeInstanceOf(MeasureError);
      expect((timedOut as MeasureError).failure).toBe('timeout');
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 300);
      const cancelled = await measure(slow, { signal: controller.signal }).catch((e: unknown) => e);
      expect((cancelled as MeasureError).failure).toBe('cancelled');
      expect(Date.now() - started).toBeLessThan(30_000);
    },
    TIMEOUT_MS,
  );

  it(
    'sepconv cost FILE.py --measure --json gives the corpus truth at every site',
    async () => {
      if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`node esbuild.mjs\` first`);
      const corpus = join(ROOT, 'test/corpus');
      const entry = 'pytorch-cifar/models/mobilenet.py';
      const run = await runProcess(
        process.execPath,
        [CLI, 'cost', join(corpus, entry), '--measure', '--json', '--python', TORCH_PYTHON, '--root', corpus, '--input-shape', '1,3,32,32'],
        { timeout: TIMEOUT_MS },
      );
      expect(run.stderr).toBe('');
      expect(run.status).toBe(0);
      const measured = JSON.parse(run.stdout) as MeasureResult;
      const truth = JSON.parse(readFileSync(join(corpus, 'truth/pytorch-cifar__models__mobilenet.json'), 'utf8')) as MeasureResult;
      expect(measured.sites).toEqual(truth.sites);
      expect(measured.sites.length).toBeGreaterThan(0);
    },
    TIMEOUT_MS,
  );
});

describe('measure.py and models of unusual shape', () => {
  it(
    "a model whose eval() means something else (Wav2Letter's eval(self, sample)) is measured in inference mode all the same",
    async () => {
      const file = modelFile(
        'evalov.py',
        'import torch.nn as nn\n\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.conv = nn.Conv2d(3, 8, 3)\n\n    def forward(self, x):\n        return self.conv(x)\n\n    def eval(self, sample):\n        return self.forward(sample).argmax()\n',
      );
      const measured = await measure(file, { inputShape: [1, 3, 8, 8] });
      // 8 x 3 x 3 x 3 + 8 = 224 params; 8 x 6 x 6 outputs of 27 multiply-adds and a bias.
      expect(measured.entries).toEqual([expect.objectContaining({ name: 'Net', status: 'measured', params: 224, macs: 8 * 36 * 28 })]);
    },
    TIMEOUT_MS,
  );
});

describe('`# sepconv: call` comments: models that need arguments, built as the comment says', () => {
  // A UNet needs its channels (milesial's UNet(n_channels, n_classes)): no entry builds it alone.
  const SOURCE = `import torch.nn as nn

# sepconv: call UNet(3, 2)
# sepconv: call UNet(1, 5, width=8)
# sepconv: call not a call (


class UNet(nn.Module):
    def __init__(self, n_channels, n_classes, width=16):
        super().__init__()
        self.inc = nn.Conv2d(n_channels, width, 3, padding=1)
        self.outc = nn.Conv2d(width, n_classes, 1)

    def forward(self, x):
        return self.outc(self.inc(x))
`;

  it(
    "measure.py builds each comment's model and says which comment is not a call; the static figures are the same",
    async () => {
      const file = modelFile('unet.py', SOURCE);
      const measured = await measure(file);
      const byName = new Map(measured.entries.map((e) => [e.name, e]));
      // 3 -> 16 channels, 3x3, at 224x224 (the first conv's channels at the default size): 448 params,
      // 224 x 224 x 16 x (27 + 1) MACs; 1 -> 8 for the second comment: 80 params.
      expect(byName.get('UNet(3, 2)')).toMatchObject({ status: 'measured', params: 448 + 34, macs: 224 * 224 * 16 * 28 + 224 * 224 * 2 * 17 });
      expect(byName.get('UNet(1, 5, width=8)')).toMatchObject({ status: 'measured', params: 80 + 45 });
      expect(byName.get('not a call (')).toMatchObject({ status: 'failed' });
      const { parseCommentCalls, fileSiteRows } = await import('../../src/python/siteRows');
      const { parser: loadParser } = await import('./pythonHelpers');
      const parser = await loadParser();
      const tree = parser.parse(SOURCE)!;
      const calls = parseCommentCalls(parser, SOURCE);
      try {
        const settings = { convention: 'torchinfo' as const, dtype: 'fp32' as const, defaultInputSize: [224, 224] as [number, number], commentCalls: calls };
        const { evaluation } = fileSiteRows(tree, SOURCE, file, () => undefined, settings);
        for (const model of evaluation.models) {
          const entry = byName.get(model.name)!;
          expect([model.name, model.params, model.macs]).toEqual([entry.name, entry.params, entry.macs]);
        }
        expect(evaluation.models.map((m) => m.name)).toEqual(['UNet(3, 2)', 'UNet(1, 5, width=8)']);
        expect(evaluation.entries.find((e) => e.name === 'not a call (')?.note).toMatch(/not one call/);
      } finally {
        tree.delete();
        for (const call of calls) call.tree.delete();
      }
    },
    TIMEOUT_MS,
  );
});

describe('measure.py with Keras 3 (SEPCONV_KERAS_PYTHON or .venv-keras/: a Python with keras and jax)', () => {
  it('has a Python with Keras 3 and jax (never skipped: `node scripts/kerasPython.mjs` makes one)', () => {
    expect(
      KERAS_PYTHON,
      'no Keras interpreter: SEPCONV_KERAS_PYTHON is not set and .venv-keras/ is missing. Run `node scripts/kerasPython.mjs` (npm test does) or set SEPCONV_KERAS_PYTHON to a Python with keras and jax',
    ).toBeDefined();
  });

  it(
    'reads the functional graph: channels-last shapes, depthwise MACs, BatchNormalization without its moving statistics',
    async () => {
      if (!KERAS_PYTHON) throw new Error('no Keras interpreter: run `node scripts/kerasPython.mjs` or set SEPCONV_KERAS_PYTHON');
      const file = modelFile(
        'functional.py',
        `import keras
from keras import layers


def build():
    inputs = layers.Input(shape=(32, 32, 3))
    x = layers.Conv2D(16, 3, strides=2, padding="same", use_bias=False)(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.DepthwiseConv2D(3, padding="same")(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(10)(x)
    return keras.Model(inputs, outputs)
`,
      );
      const result = await runMeasure({ python: KERAS_PYTHON, file, script: SCRIPT, timeoutMs: TIMEOUT_MS });
      expect(result.framework).toBe('keras');
      expect(result.layout).toBe('NHWC');
      expect(siteAt(result, 7, 'Conv2D')).toMatchObject({
        column: 9,
        params: 432,
        macs: 16 * 16 * 16 * 27,
        input_shape: [1, 32, 32, 3],
        output_shape: [1, 16, 16, 16],
      });
      expect(siteAt(result, 8, 'BatchNormalization')).toMatchObject({ params: 32, macs: 32 });
      expect(siteAt(result, 9, 'DepthwiseConv2D')).toMatchObject({ params: 160, macs: 16 * 16 * 16 * 9 + 16 * 16 * 16 });
      expect(siteAt(result, 11, 'Dense')).toMatchObject({ params: 170, macs: 170, output_shape: [1, 10] });
    },
    TIMEOUT_MS,
  );
});
