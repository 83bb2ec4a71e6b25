import { describe, it, expect, beforeAll } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parser, FIXTURES, analyzeCode, type CodeAnalysis } from './pythonHelpers';
import { readModelCode } from '../../src/python/modelCode';
import type { PythonParser } from '../../src/python/pythonParser';
import { DEFAULT_SETTINGS } from '../../src/python/layerEstimates';

let p: PythonParser;
beforeAll(async () => {
  p = await parser();
});

function analyse(file: string): { analysis: CodeAnalysis; text: string } {
  const text = fs.readFileSync(path.join(FIXTURES, file), 'utf8');
  const tree = p.parse(text)!;
  const analysis = analyzeCode(readModelCode(tree), DEFAULT_SETTINGS);
  tree.delete();
  return { analysis, text };
}

/** The estimate of the layer call on the line that holds `needle`. */
function layer(a: { analysis: CodeAnalysis; text: string }, needle: string) {
  const at = a.text.indexOf(needle);
  expect(at, needle).toBeGreaterThanOrEqual(0);
  const index = a.analysis.code.calls.findIndex((c) => c.span.start <= at + needle.length && at < c.span.end);
  return a.analysis.estimates.layers[index]!;
}

function moduleNamed(a: { analysis: CodeAnalysis }, name: string) {
  const index = a.analysis.code.containers.findIndex((c) => c.kind === 'torch-module' && c.name === name);
  return { info: a.analysis.code.containers[index]!, estimate: a.analysis.estimates.containers[index]! };
}

describe('nn.Module shapes through forward()', () => {
  it('follows a stem Sequential, a functional relu, a pool and a flatten into the Linear', () => {
    const a = analyse('resnet_block_module.py');
    // Stem: 3 -> 32, stride 2: 224 -> 112; conv 32 -> 64, stride 2: 112 -> 56.
    expect(layer(a, 'nn.Conv2d(32, 64, 3, stride=2').inShape).toEqual([1, 32, 112, 112]);
    expect(layer(a, 'nn.Conv2d(32, 64, 3, stride=2').inputSource).toBe('forward');
    expect(layer(a, 'nn.Conv2d(32, 64, 3, stride=2').outShape).toEqual([1, 64, 56, 56]);
    const fc = layer(a, 'nn.Linear(64, 10)');
    expect(fc.inShape).toEqual([1, 64]);
    const small = moduleNamed(a, 'SmallResNet');
    expect(small.estimate.forward).toBe(true);
    expect(small.estimate.inputShape).toEqual([1, 3, 224, 224]);
    // The module's MACs: the sum of its layers' at their propagated inputs.
    const convMacs = (32 * 9 + 1) * 64 * 56 * 56;
    expect(layer(a, 'nn.Conv2d(32, 64, 3, stride=2').cost!.macs).toBe(convMacs);
  });

  it('follows a residual block (identity = x, out += identity) and counts a member used twice twice', () => {
    const a = analyse('resnet_block_module.py');
    const block = moduleNamed(a, 'BasicBlock');
    expect(block.estimate.forward).toBe(true);
    expect(layer(a, 'self.conv2 = nn.Conv2d').inShape).toEqual([1, 64, 224, 224]);
    expect(layer(a, 'self.conv2 = nn.Conv2d').inputSource).toBe('forward');
    const conv = 64 * 64 * 9 * 224 * 224;
    expect(block.estimate.total.macsByRole.standard).toBe(2 * conv);
  });

  it('falls back to the default size, with the reason, where forward() is not simple', () => {
    const a = analyse('resnet_block_module.py');
    const gated = moduleNamed(a, 'Gated');
    expect(typeof gated.estimate.forward).toBe('string');
    const conv = layer(a, 'nn.Conv2d(16, 16, 3, padding=1)');
    expect(conv.inShape).toEqual([1, 16, 224, 224]);
    expect(conv.note).toMatch(/forward\(\) not followed/);
  });

  it('follows nested calls and x.view(x.size(0), -1) in MobileNet-style modules', () => {
    const a = analyse('mobilenet_module.py');
    expect(moduleNamed(a, 'DepthwiseSeparable').estimate.forward).toBe(true);
    expect(layer(a, 'self.pointwise = nn.Conv2d(32, 64, 1').inShape).toEqual([1, 32, 224, 224]);
    const tiny = moduleNamed(a, 'TinyMobileNet');
    expect(tiny.estimate.forward).toBe(true);
    expect(layer(a, 'nn.Linear(64, 1000)').inShape).toEqual([1, 64]);
    expect(tiny.estimate.complete).toBe(true);
  });
});
