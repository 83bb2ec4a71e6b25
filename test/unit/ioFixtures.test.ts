/**
 * The PyTorch fixtures against the spec: every fixture resolves, and the state_dict PyTorch
 * wrote holds exactly the keys and shapes that parameterShapes() asks for (plus the int64
 * num_batches_tracked of each BatchNorm), and every shape the spec infers is the one PyTorch
 * produced. This checks spec.ts's key layout and shape inference against PyTorch itself.
 */
import { describe, expect, it } from 'vitest';
import { parameterShapes, resolveModel } from '../../src/shared/spec';
import { loadFixtures, readManifest } from './fixtureLoader';

const fixtures = loadFixtures();

describe('PyTorch fixtures', () => {
  it('are all listed and loaded', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(60);
    expect(fixtures.map((f) => f.name)).toEqual(readManifest().map((m) => m.name));
  });

  describe.each(fixtures.map((f) => [f.name, f] as const))('%s', (_name, fixture) => {
    const model = resolveModel(fixture.model);

    it('has the input and output shapes the spec infers', () => {
      expect(fixture.input.shape).toEqual(model.inputShape);
      expect(fixture.input.data.length).toBe(model.inputShape.reduce((a, b) => a * b, 1));
      expect(fixture.output.shape).toEqual(model.outputShape);
      if (fixture.intermediates) {
        expect(fixture.intermediates.map((t) => t.shape)).toEqual(model.layers.map((l) => l.outShape));
      }
    });

    it("holds exactly parameterShapes()'s keys and shapes", () => {
      const expected = Object.fromEntries(parameterShapes(model).map((p) => [p.key, p.shape]));
      const actual = Object.fromEntries(Object.entries(fixture.weights).map(([key, t]) => [key, t.shape]));
      expect(actual).toEqual(expected);
    });

    it('skips only the int64 num_batches_tracked of BatchNorm layers', () => {
      const batchNormKeys = model.leaves.filter((l) => l.node.op === 'batchnorm2d' && l.node.trackRunningStats).map((l) => `${l.node.key}.num_batches_tracked`);
      expect(fixture.skippedWeights.map((s) => s.name).sort()).toEqual(batchNormKeys.sort());
      for (const skipped of fixture.skippedWeights) expect(skipped).toMatchObject({ dtype: 'I64', shape: [] });
    });

    it('has finite values of a useful size', () => {
      for (const tensor of [fixture.input, fixture.output, ...Object.values(fixture.weights)]) {
        expect(tensor.data.every(Number.isFinite)).toBe(true);
      }
      const largest = fixture.output.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      expect(largest).toBeGreaterThan(1e-2);
      expect(largest).toBeLessThan(1e3);
    });
  });
});
