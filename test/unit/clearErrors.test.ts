/** Errors that name what is wrong: numbers JSON cannot hold, byte-order marks, bad channel counts, floats, a file shadowing a preset. */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { resolveModel } from '../../src/shared/spec';
import { writeNpy, readNpy } from '../../src/io/npy';
import { readModelCode } from '../../src/python/modelCode';
import { DEFAULT_SETTINGS } from '../../src/python/layerEstimates';
import type { PythonParser } from '../../src/python/pythonParser';
import { parser, analyzeCode } from './pythonHelpers';
import { runCli } from './cliCapture';

const conv = (extra: string) => `{"input_shape": [1, 3, 8, 8], "layers": [{"type": "Conv2d", "in_channels": 3, "out_channels": 8, ${extra}}]}`;

describe('spec values JSON cannot write', () => {
  it('kernel_size: 1e400 names the value (JSON.parse reads it as Infinity)', () => {
    expect(() => resolveModel(JSON.parse(conv('"kernel_size": 1e400')))).toThrow(/layers\[0\]\.kernel_size: must be an integer, got Infinity \(.*1e400/);
    expect(() => resolveModel(JSON.parse(conv('"kernel_size": [3, -1e400]')))).toThrow(/kernel_size: must hold integers >= 1, got \[3,-Infinity\]/);
    expect(() => resolveModel(JSON.parse(conv('"kernel_size": 3, "padding": 1e999')))).toThrow(/padding: .*got Infinity/);
    expect(() => resolveModel(JSON.parse(conv('"kernel_size": 3, "bias": 1e400')))).toThrow(/bias: must be true or false, got Infinity/);
  });
});

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sepconv-errors-'));
});

describe('sepconv --model', () => {
  it('accepts a JSON spec that starts with a UTF-8 byte-order mark, in cost and forward', async () => {
    const path = join(dir, 'bom.json');
    writeFileSync(path, `\ufeff${conv('"kernel_size": 3')}`);
    const cost = await runCli(['cost', '--model', path, '--json']);
    expect(cost.err).toBe('');
    expect(cost.code).toBe(0);
    expect(JSON.parse(cost.out).output_shape).toEqual([1, 8, 6, 6]);
    writeFileSync(join(dir, 'x.npy'), writeNpy({ shape: [1, 3, 8, 8], data: new Float32Array(192) }));
    const forward = await runCli(['forward', '--model', path, '--input', join(dir, 'x.npy'), '--output', join(dir, 'y.npy'), '--init', 'seed:1']);
    expect(forward.code).toBe(0);
    expect(readNpy(readFileSync(join(dir, 'y.npy'))).shape).toEqual([1, 8, 6, 6]);
  });

  it('one rule for cost and forward: a path that exists wins over a preset of that name, and a note says so', async () => {
    const shadow = 'mobilenet_v1';
    const path = join(dir, shadow);
    writeFileSync(path, `{"name": "the file", ${conv('"kernel_size": 3').slice(1)}`);
    // The CLI resolves the relative name against its working folder: run it from `dir`.
    const before = process.cwd();
    process.chdir(dir);
    try {
      const cost = await runCli(['cost', '--model', shadow, '--json']);
      expect(cost.code).toBe(0);
      expect(JSON.parse(cost.out).name).toBe('the file');
      expect(cost.err).toMatch(/--model mobilenet_v1: reading the file "mobilenet_v1" of the current folder, not the preset of the same name/);
      writeFileSync(join(dir, 'x.npy'), writeNpy({ shape: [1, 3, 8, 8], data: new Float32Array(192) }));
      const forward = await runCli(['forward', '--model', shadow, '--input', 'x.npy', '--output', 'y.npy', '--init', 'seed:1']);
      expect(forward.code).toBe(0);
      expect(forward.out).toMatch(/^the file: .*-> \[1, 8, 6, 6\]/);
      expect(forward.err).toMatch(/reading the file "mobilenet_v1" of the current folder, not the preset/);
      // Without the file, the same name is the preset, with no note.
      const preset = await runCli(['cost', '--model', 'mobilenet_v2', '--json']);
      expect(preset.code).toBe(0);
      expect(preset.err).toBe('');
      expect(JSON.parse(preset.out).total.params).toBe(3_504_872);
    } finally {
      process.chdir(before);
    }
  });

  it('a name that is neither a file nor a preset says both', async () => {
    const r = await runCli(['cost', '--model', join(dir, 'nothing.json')]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/no such file, and no preset of that name/);
  });
});

describe('Python: channel counts PyTorch would refuse', () => {
  let p: PythonParser;
  beforeAll(async () => {
    p = await parser();
  });
  const estimates = (source: string) => {
    const tree = p.parse(source)!;
    try {
      return analyzeCode(readModelCode(tree), DEFAULT_SETTINGS);
    } finally {
      tree.delete();
    }
  };

  it('nn.Conv2d(-3, 8, 3) is a bad in_channels, not a bad input_shape', () => {
    const a = estimates('import torch.nn as nn\nconv = nn.Conv2d(-3, 8, 3)\nseq = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Conv2d(-8, 4, 3))\nbn = nn.BatchNorm2d(-1)\nout = nn.Conv2d(3, -8, 3)\n');
    const errors = a.estimates.layers.map((e) => e.error);
    expect(errors).toEqual(['in_channels must be >= 1, got -3', undefined, 'in_channels must be >= 1, got -8', 'num_features must be >= 1, got -1', 'out_channels must be >= 1, got -8']);
  });

  it('nn.Conv2d(3.0, 8, 3) says that in_channels is a float', () => {
    const a = estimates('import torch.nn as nn\nconv = nn.Conv2d(3.0, 8, 3)\nk = nn.Conv2d(3, 8, (3, 3.0))\n');
    expect(a.estimates.layers[0]!.unresolved).toEqual(['in_channels = 3.0 (a float where an int is needed)']);
    expect(a.estimates.layers[1]!.unresolved).toEqual(['kernel_size = (3, 3.0) (a float where an int is needed)']);
  });
});
