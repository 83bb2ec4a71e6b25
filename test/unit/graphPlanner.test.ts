/**
 * The graph form, the internal graph and the planner: spec errors that name the node, and a
 * property test of random graphs (convs, BatchNorm, activations, Add, Mul, Concat, Split,
 * Softmax, pools) run by the CPU backend through the planner, fused and unfused, against the
 * plain reference, which walks the resolved model without the planner; and the planner's buffer
 * slots checked on their own: no step overwrites a value that a later step still reads.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { forward } from '../../src/engine/forward';
import { lowerModel } from '../../src/engine/graph/graph';
import { planGraph, type Plan } from '../../src/engine/graph/planner';
import { referenceForward } from '../../src/engine/cpu/reference';
import { initWeights } from '../../src/engine/weights';
import { resolveModel, type GraphModelSpec } from '../../src/shared/spec';
import { randomGraph } from './graphArbitraries';
import { allcloseViolation, randomTensor } from './engineAllclose';

/** BatchNorm statistics and affine parameters that matter (initWeights gives 0, 1, 1, 0). */
function randomWeights(model: ReturnType<typeof resolveModel>, seed: number) {
  const weights = initWeights(model, { seed });
  for (const [key, tensor] of Object.entries(weights)) {
    if (/\.(running_mean|bias)$/.test(key) || (key.endsWith('.weight') && tensor.shape.length === 1)) {
      const noise = randomTensor(tensor.shape, seed + key.length);
      tensor.data.forEach((_, i) => {
        tensor.data[i] = key.endsWith('.weight') ? 0.5 + Math.abs(noise.data[i]!) : 0.3 * noise.data[i]!;
      });
    }
    if (key.endsWith('.running_var')) {
      const noise = randomTensor(tensor.shape, seed + 7);
      tensor.data.forEach((_, i) => {
        tensor.data[i] = 0.5 + Math.abs(noise.data[i]!);
      });
    }
  }
  return weights;
}

/** Replays a plan's slots: every value a step reads must still be in its slot. */
function slotViolation(plan: Plan): string | undefined {
  const holder = new Map<number, number>();
  const rootOf = new Map<number, number>();
  const root = (v: number): number => rootOf.get(v) ?? v;
  if (plan.slotOf[plan.graph.input]! >= 0) holder.set(plan.slotOf[plan.graph.input]!, plan.graph.input);
  for (const [i, step] of plan.steps.entries()) {
    for (const v of step.reads) {
      const slot = plan.slotOf[v]!;
      if (slot >= 0 && holder.get(slot) !== root(v))
        return `step ${i} (${step.key}) reads ${plan.graph.values[v]!.name} from slot ${slot}, which now holds ${plan.graph.values[holder.get(slot)!]?.name}`;
    }
    for (const out of step.outputs) {
      if (step.view) rootOf.set(out, root(step.reads[0]!));
      else {
        if (step.reads.some((v) => plan.slotOf[v] === plan.slotOf[out])) return `step ${i} (${step.key}) writes the slot it reads`;
        holder.set(plan.slotOf[out]!, out);
      }
    }
  }
  for (const v of plan.graph.outputs) if (holder.get(plan.slotOf[v]!) !== root(v)) return `output ${plan.graph.values[v]!.name} was overwritten`;
  return undefined;
}

describe('planner: random graphs against the reference', () => {
  it('fused and unfused CPU runs equal the reference; slots never lose a live value', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 1e9 }), async (seed) => {
        const spec = randomGraph(seed);
        const model = resolveModel(spec);
        const weights = randomWeights(model, seed);
        const input = randomTensor(model.inputShape, seed + 1);
        const expected = referenceForward(model, weights, input);
        for (const fuse of [true, false]) {
          for (const inputSlot of [false, true]) {
            const plan = planGraph(lowerModel(model), { fuse, inputSlot });
            expect(slotViolation(plan), `${spec.name} fuse ${fuse}`).toBeUndefined();
          }
          const result = await forward(spec, weights, input, { fuse, intermediates: true });
          const outputs = result.outputs ?? [result.output];
          expect(outputs.length).toBe(expected.modelOutputs.length);
          outputs.forEach((output, i) =>
            expect(
              allcloseViolation(output, expected.modelOutputs[i]!, 1e-4, 1e-4),
              `${spec.name} output ${i} fuse ${fuse}\n${JSON.stringify(spec.nodes)}`,
            ).toBeUndefined(),
          );
          if (!fuse) {
            // Unfused, every step is one module: its intermediate is that module's output.
            for (const step of result.intermediates!) {
              const reference = expected.outputs.get(step.key);
              if (reference) expect(allcloseViolation(step.tensor, reference, 1e-4, 1e-4), `${spec.name} ${step.key}`).toBeUndefined();
            }
          }
        }
      }),
      { numRuns: 60, seed: 20261130 },
    );
  });

  it('the planner fuses conv + BN + activation + Add, and not a value another node also reads', () => {
    const spec: GraphModelSpec = {
      input_shape: [1, 4, 5, 5],
      nodes: [
        { name: 'conv', inputs: ['input'], type: 'Conv2d', in_channels: 4, out_channels: 4, kernel_size: 3, padding: 1 },
        { name: 'bn', inputs: ['conv'], type: 'BatchNorm2d', num_features: 4 },
        { name: 'act', inputs: ['bn'], type: 'ReLU' },
        { name: 'add', inputs: ['act', 'input'], type: 'Add' },
        { name: 'conv2', inputs: ['add'], type: 'Conv2d', in_channels: 4, out_channels: 4, kernel_size: 1 },
        { name: 'gate', inputs: ['conv2', 'add'], type: 'Mul' },
      ],
    };
    const plan = planGraph(lowerModel(resolveModel(spec)), { fuse: true });
    expect(plan.steps.map((s) => [s.key, s.leafKeys, s.label])).toEqual([
      ['add', ['conv', 'bn', 'act', 'add'], 'Conv2d 3x3 standard + BatchNorm2d (folded) + ReLU + Add'],
      ['conv2', ['conv2'], 'Conv2d 1x1 pointwise'],
      ['gate', ['gate'], 'Mul'],
    ]);
    // The input and "add" are read later: the first step's output takes a new slot, the last reuses a free one.
    expect(plan.intermediates.map((i) => i.key)).toEqual(['add', 'conv2', 'gate']);
    expect(slotViolation(planGraph(lowerModel(resolveModel(spec)), { fuse: true, inputSlot: true }))).toBeUndefined();
  });
});

describe('the graph form: errors name the node', () => {
  const base = (nodes: unknown[], extra: Record<string, unknown> = {}) => ({ input_shape: [1, 4, 6, 6], nodes, ...extra });
  const conv = { type: 'Conv2d', in_channels: 4, out_channels: 4, kernel_size: 1 };
  it.each([
    [
      base([
        { name: 'a', inputs: ['input'], ...conv },
        { name: 'cat', inputs: ['a', 'foo'], type: 'Concat', dim: 1 },
      ]),
      'nodes[1] (cat).inputs[1]: unknown value "foo"',
    ],
    [
      base([
        { name: 'a', inputs: ['b'], ...conv },
        { name: 'b', inputs: ['input'], ...conv },
      ]),
      'nodes[0] (a).inputs[0]: unknown value "b"',
    ],
    [
      base([
        { name: 'a', inputs: ['input'], ...conv },
        { name: 'a', inputs: ['a'], ...conv },
      ]),
      'nodes[1].name: "a" is already the name of nodes[0]',
    ],
    [base([{ name: '1bad', inputs: ['input'], ...conv }]), 'nodes[0].name: must be a name'],
    [
      base([{ name: 's', inputs: ['input'], type: 'Split', split_size_or_sections: [1, 2], dim: 1 }]),
      'nodes[0] (s).split_size_or_sections: the sections sum to 3, but dim 1 of [1, 4, 6, 6] is 4',
    ],
    [
      base([
        { name: 's', inputs: ['input'], type: 'Split', split_size_or_sections: 2, dim: 1 },
        { name: 'c', inputs: ['s'], ...conv },
      ]),
      'nodes[1] (c).inputs[0]: "s" has 2 outputs',
    ],
    [
      base([
        { name: 's', inputs: ['input'], type: 'Split', split_size_or_sections: 2, dim: 1 },
        { name: 'c', inputs: ['s:2'], ...conv },
      ]),
      'nodes[1] (c).inputs[0]: "s" has 2 output(s), no "2"',
    ],
    [
      base([
        { name: 'p', inputs: ['input'], type: 'AdaptiveAvgPool2d', output_size: 2 },
        { name: 'm', inputs: ['input', 'p'], type: 'Mul' },
      ]),
      'nodes[1] (m).inputs: shapes [1, 4, 6, 6] and [1, 4, 2, 2] do not broadcast',
    ],
    [base([{ name: 'c', inputs: ['input', 'input'], ...conv }]), 'nodes[0] (c).inputs: Conv2d takes one input, got 2'],
    [
      base([{ name: 'c', inputs: ['input'], type: 'Conv2d', in_channels: 3, out_channels: 4, kernel_size: 1 }]),
      'nodes[0] (c).in_channels: in_channels=3 but the input has 4 channels',
    ],
    [
      base([{ name: 'b', inputs: ['input'], type: 'Sequential', layers: [conv, { type: 'BatchNorm2d', num_features: 5 }] }]),
      'nodes[0] (b).1.num_features: num_features=5',
    ],
    [base([{ name: 'x', inputs: ['input'], type: 'Concat', dim: 4 }]), 'nodes[0] (x).dim: dim=4 is out of range for a 4-D value'],
    [base([{ name: 's', inputs: ['input'], type: 'Split', split_size_or_sections: 2, dim: 1 }]), 'model.outputs: the last node, "s", has 2 outputs'],
    [base([{ name: 'a', inputs: ['input'], ...conv }], { outputs: ['zz'] }), 'model.outputs[0]: unknown value "zz"'],
    [{ layers: [{ type: 'Add' }] }, 'layers[0].type: Add takes or gives several values: it exists only in the graph form'],
  ])('%#: %s', (spec, message) => {
    expect(() => resolveModel(spec)).toThrow(message);
  });

  it('a weight error names the node', async () => {
    const spec = base([{ name: 'features.0', inputs: ['input'], ...conv }]);
    const model = resolveModel(spec);
    const weights = initWeights(model, { seed: 1 });
    weights['features.0.weight'] = { shape: [4, 4, 1, 2], data: new Float32Array(32) };
    await expect(forward(spec, weights, randomTensor([1, 4, 6, 6], 1))).rejects.toThrow(
      'nodes[0] (features.0): features.0.weight: has shape [4, 4, 1, 2], expected [4, 4, 1, 1]',
    );
  });

  it('several outputs come back in order; a spec resolved for one shape runs at another', async () => {
    const spec = base(
      [
        { name: 's', inputs: ['input'], type: 'Split', split_size_or_sections: [1, 3], dim: 1 },
        { name: 'a', inputs: ['s:1'], type: 'ReLU' },
      ],
      { outputs: ['a', 's:0', 'input'] },
    );
    const input = randomTensor([2, 4, 3, 5], 3);
    const result = await forward(resolveModel(spec), {}, input);
    expect(result.outputs!.map((t) => t.shape)).toEqual([
      [2, 3, 3, 5],
      [2, 1, 3, 5],
      [2, 4, 3, 5],
    ]);
    expect(result.outputs![2]!.data).toEqual(input.data);
    expect(result.output).toEqual(result.outputs![0]);
  });
});
