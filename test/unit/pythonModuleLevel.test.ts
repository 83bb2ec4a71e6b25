/**
 * Models built at the top level of a file (`model = nn.Sequential(nn.Conv2d(3, 32, 3), ...)`) get
 * figures from their first layer's input at the default size, as a model class does; a lone layer
 * at the top level keeps "input unknown". And the diagnostics that come from the evaluation's
 * figures (a conv given other channels than its in_channels). Figures are PyTorch's.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { PythonParser } from '../../src/python/pythonParser';
import { fileSiteRows, type SiteRow } from '../../src/python/siteRows';
import { readModelCode } from '../../src/python/modelCode';
import { findDiagnostics } from '../../src/python/pythonDiagnostics';
import { FIXTURES, parser as loadParser } from './pythonHelpers';

let parser: PythonParser;
beforeAll(async () => {
  parser = await loadParser();
});

const SETTINGS = { convention: 'torchinfo' as const, dtype: 'fp32' as const, defaultInputSize: [224, 224] as [number, number] };

function evaluate(source: string) {
  const tree = parser.parse(source)!;
  try {
    const code = readModelCode(tree);
    const rows = fileSiteRows(tree, source, '/ws/model.py', () => undefined, SETTINGS, code);
    return { ...rows, diagnostics: findDiagnostics(code, rows.sites) };
  } finally {
    tree.delete();
  }
}

const at = (rows: SiteRow[], line: number) => {
  const row = rows.find((r) => r.line === line);
  if (!row) throw new Error(`no site on line ${line}: ${rows.map((r) => r.line).join(', ')}`);
  return row;
};

describe('models built at the top level', () => {
  it('runs a top-level nn.Sequential from its first conv at the default size', () => {
    const { sites, evaluation } = evaluate(`import torch.nn as nn

model = nn.Sequential(
    nn.Conv2d(3, 32, 3, stride=2, padding=1),
    nn.BatchNorm2d(32),
    nn.ReLU(),
    nn.Conv2d(32, 64, 1),
)
`);
    expect(at(sites, 4)).toMatchObject({ params: 3 * 32 * 9 + 32, input_shape: [1, 3, 224, 224], output_shape: [1, 32, 112, 112] });
    expect(at(sites, 7)).toMatchObject({
      params: 32 * 64 + 64,
      input_shape: [1, 32, 112, 112],
      output_shape: [1, 64, 112, 112],
      macs: (32 + 1) * 64 * 112 * 112,
    });
    expect(at(sites, 7).unknown).toBeUndefined();
    const model = evaluation.models.find((m) => m.name === 'model');
    expect(model).toMatchObject({ line: 2, column: 0, convInstances: 2, unknownInstances: 0 });
    // Both convs, the BatchNorm's 64 parameters; no layer is counted twice.
    expect(model!.params).toBe(3 * 32 * 9 + 32 + 2 * 32 + 32 * 64 + 64);
  });

  it('keeps a lone top-level layer without input, with the reason', () => {
    const { sites, evaluation } = evaluate(`import torch.nn as nn

conv = nn.Conv2d(3, 32, 3)
`);
    const row = at(sites, 3);
    expect(row.unknown).toBe(true);
    expect(row.params).toBe(896);
    expect(row.macs).toBeUndefined();
    expect(row.reason).toMatch(/^input unknown: .*top level/);
    expect(evaluation.models.some((m) => m.name === 'conv')).toBe(false);
  });

  it('runs a Sequential held by another only inside it', () => {
    const { sites, evaluation } = evaluate(`import torch.nn as nn
block = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1), nn.ReLU())
model = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1), block)
`);
    expect(at(sites, 2)).toMatchObject({ count: 1, input_shape: [1, 16, 112, 112], output_shape: [1, 16, 112, 112] });
    expect(evaluation.models.map((m) => m.name)).toEqual(['model']);
  });

  it('runs a top-level instance of a class that needs arguments, and counts an instance of a class already run once', () => {
    const { sites, evaluation } = evaluate(`import torch.nn as nn

class Wide(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3, padding=1)
    def forward(self, x):
        return self.conv(x)

class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 1)
    def forward(self, x):
        return self.conv(x)

net = Wide(16)
small = Small()
`);
    expect(at(sites, 6)).toMatchObject({ params: 3 * 16 * 9 + 16, output_shape: [1, 16, 224, 224] });
    expect(at(sites, 13)).toMatchObject({ count: 1, params: 32 });
    // The file's own call builds the class that needs arguments (once: not again as the top-level `net`).
    expect(evaluation.models.map((m) => m.name)).toEqual(['Small', 'Wide(16)']);
    expect(evaluation.models.find((m) => m.name === 'Wide(16)')).toMatchObject({ line: 16, convInstances: 1 });
  });

  it('leaves a top-level model that a later statement applies as the file applies it', () => {
    const { sites, evaluation } = evaluate(`import torch
import torch.nn as nn
model = nn.Sequential(nn.Conv2d(3, 8, 3))
y = model(torch.zeros(1, 3, 32, 32))
`);
    expect(at(sites, 3)).toMatchObject({ count: 1, input_shape: [1, 3, 32, 32], output_shape: [1, 8, 30, 30] });
    expect(evaluation.models.filter((m) => m.name === 'model')).toEqual([]);
  });
});

describe('diagnostics', () => {
  it('finds groups, same-with-stride and channel mismatches, on the argument or the call at fault', () => {
    const source = fs.readFileSync(path.join(FIXTURES, 'diagnostics.py'), 'utf8');
    const found = evaluate(source).diagnostics.map((d) => `${d.code}@${source.slice(d.span.start, d.span.end)}`);
    expect(found).toEqual(['groups-divide@groups=3', 'same-stride@padding="same"', 'channel-mismatch@nn.Conv2d(32, 64, 1)']);
    const mismatch = evaluate(source).diagnostics.find((d) => d.code === 'channel-mismatch')!;
    expect(mismatch.message).toMatch(/in_channels=32, but the layer before it produces 16 channels/);
  });

  it('finds Keras strides with dilation', () => {
    const keras = fs.readFileSync(path.join(FIXTURES, 'keras_sequential.py'), 'utf8');
    expect(evaluate(keras).diagnostics.map((d) => `${d.code}@${keras.slice(d.span.start, d.span.end)}`)).toEqual(['keras-stride-dilation@strides=2']);
  });
});
