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
import { resolveModel, type GraphModelSpec, type GraphNodeSpec, type LayerSpec } from '../../src/shared/spec';
import { allcloseViolation, randomTensor } from './engineAllclose';

/** A small deterministic generator (mulberry32) so that one fast-check seed makes one graph. */
function generator(seed: number): (n: number) => number {
  let state = seed >>> 0;
  return (n) => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

interface Available {
  name: string;
  shape: number[];
}

/** A random graph-form model: 3 to 10 nodes over 4-D values of one spatial size, and sometimes a classifier head. */
export function randomGraph(seed: number): GraphModelSpec {
  const pick = generator(seed);
  const n = 1 + pick(2);
  const h = 3 + pick(4);
  const w = 3 + pick(4);
  const values: Available[] = [{ name: 'input', shape: [n, 2 + pick(5), h, w] }];
  const nodes: GraphNodeSpec[] = [];
  const add = (type: string, inputs: string[], args: Record<string, unknown>, shapes: number[][]) => {
    const name = `n${nodes.length}.${type.toLowerCase()}`;
    nodes.push({ name, inputs, type, ...args } as GraphNodeSpec);
    if (shapes.length === 1) values.push({ name, shape: shapes[0]! });
    else shapes.forEach((shape, i) => values.push({ name: `${name}:${i}`, shape }));
    return name;
  };
  const any = () => values[pick(values.length)]!;
  const count = 3 + pick(8);
  for (let i = 0; i < count; i++) {
    const x = any();
    const c = x.shape[1]!;
    switch (pick(9)) {
      case 0: {
        const depthwise = pick(3) === 0;
        const out = depthwise ? c : 1 + pick(6);
        const k = pick(2) === 0 ? 1 : 3;
        add('Conv2d', [x.name], { in_channels: c, out_channels: out, kernel_size: k, padding: (k - 1) / 2, groups: depthwise ? c : 1, bias: pick(2) === 0 }, [[n, out, h, w]]);
        break;
      }
      case 1:
        add('BatchNorm2d', [x.name], { num_features: c }, [x.shape]);
        break;
      case 2:
        add(['ReLU', 'ReLU6', 'SiLU', 'Hardswish', 'GELU'][pick(5)]!, [x.name], {}, [x.shape]);
        break;
      case 3: {
        const same = values.filter((v) => v.shape.every((d, j) => d === x.shape[j]));
        add('Add', [x.name, same[pick(same.length)]!.name], {}, [x.shape]);
        break;
      }
      case 4: {
        // A channel gate: x * pool(x) (N,C,H,W * N,C,1,1), either way round.
        const pooled = add('AdaptiveAvgPool2d', [x.name], { output_size: 1 }, [[n, c, 1, 1]]);
        add('Mul', pick(2) === 0 ? [x.name, pooled] : [pooled, x.name], {}, [x.shape]);
        break;
      }
      case 5: {
        const parts = [x, any(), any()].slice(0, 2 + pick(2)).filter((v) => v.shape[2] === h);
        add('Concat', parts.map((v) => v.name), { dim: 1 }, [[n, parts.reduce((sum, v) => sum + v.shape[1]!, 0), h, w]]);
        break;
      }
      case 6: {
        if (c < 2) break;
        const first = 1 + pick(c - 1);
        if (pick(2) === 0) add('Split', [x.name], { split_size_or_sections: [first, c - first], dim: 1 }, [[n, first, h, w], [n, c - first, h, w]]);
        else {
          const sizes: number[] = [];
          for (let at = 0; at < c; at += first) sizes.push(Math.min(first, c - at));
          add('Split', [x.name], { split_size_or_sections: first, dim: -3 }, sizes.map((s) => [n, s, h, w]));
        }
        break;
      }
      case 7:
        add('Softmax', [x.name], { dim: pick(2) === 0 ? 1 : -1 }, [x.shape]);
        break;
      case 8:
        add('Sequential', [x.name], { layers: [{ type: 'Conv2d', in_channels: c, out_channels: c, kernel_size: 3, padding: 1, groups: c, bias: false }, { type: 'BatchNorm2d', num_features: c }, { type: 'ReLU6' }] as LayerSpec[] }, [x.shape]);
        break;
    }
  }
  const last = values[values.length - 1]!;
  const outputs = [last.name];
  if (pick(3) === 0) {
    // A classifier head on another value: pool, flatten, Linear, Softmax over the features.
    const x = any();
    const pooled = add('AdaptiveAvgPool2d', [x.name], { output_size: 1 }, [[n, x.shape[1]!, 1, 1]]);
    const flat = add('Flatten', [pooled], {}, [[n, x.shape[1]!]]);
    const fc = add('Linear', [flat], { in_features: x.shape[1]!, out_features: 3 }, [[n, 3]]);
    outputs.push(add('Softmax', [fc], { dim: 1 }, [[n, 3]]));
  }
  return { name: `random ${seed}`, input_shape: values[0]!.shape, nodes, outputs };
}

/** BatchNorm statistics and affine parameters that matter (initWeights gives 0, 1, 1, 0). */
function randomWeights(model: ReturnType<typeof resolveModel>, seed: number) {
  const weights = initWeights(model, { seed });
  for (const [key, tensor] of Object.entries(weights)) {
    if (/\.(running_mean|bias)$/.test(key) || key.endsWith('.weight') && tensor.shape.length === 1) {
      const noise = randomTensor(tensor.shape, seed + key.length);
      tensor.data.forEach((_, i) => { tensor.data[i] = key.endsWith('.weight') ? 0.5 + Math.abs(noise.data[i]!) : 0.3 * noise.data[i]!; });
    }
    if (key.endsWith('.running_var')) {
      const noise = randomTensor(tensor.shape, seed + 7);
      tensor.data.forEach((_, i) => { tensor.data[i] = 0.5 + Math.abs(noise.data[i]!); });
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
      if (slot >= 0 && holder.get(slot) !== root(v)) return `step ${i} (${step.key}) reads ${plan.graph.values[v]!.name} from slot ${slot}, which now holds ${plan.graph.values[holder.get(slot)!]?.name}`;
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
          outputs.forEach((output, i) => expect(allcloseViolation(output, expected.modelOutputs[i]!, 1e-4, 1e-4), `${spec.name} output ${i} fuse ${fuse}\n${JSON.stringify(spec.nodes)}`).toBeUndefined());
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
    [base([{ name: 'a', inputs: ['input'], ...conv }, { name: 'cat', inputs: ['a', 'foo'], type: 'Concat', dim: 1 }]), 'nodes[1] (cat).inputs[1]: unknown value "foo"'],
    [base([{ name: 'a', inputs: ['b'], ...conv }, { name: 'b', inputs: ['input'], ...conv }]), 'nodes[0] (a).inputs[0]: unknown value "b"'],
    [base([{ name: 'a', inputs: ['input'], ...conv }, { name: 'a', inputs: ['a'], ...conv }]), 'nodes[1].name: "a" is already the name of nodes[0]'],
    [base([{ name: '1bad', inputs: ['input'], ...conv }]), 'nodes[0].name: must be a name'],
    [base([{ name: 's', inputs: ['input'], type: 'Split', split_size_or_sections: [1, 2], dim: 1 }]), 'nodes[0] (s).split_size_or_sections: the sections sum to 3, but dim 1 of [1, 4, 6, 6] is 4'],
    [base([{ name: 's', inputs: ['input'], type: 'Split', split_size_or_sections: 2, dim: 1 }, { name: 'c', inputs: ['s'], ...conv }]), 'nodes[1] (c).inputs[0]: "s" has 2 outputs'],
    [base([{ name: 's', inputs: ['input'], type: 'Split', split_size_or_sections: 2, dim: 1 }, { name: 'c', inputs: ['s:2'], ...conv }]), 'nodes[1] (c).inputs[0]: "s" has 2 output(s), no "2"'],
    [base([{ name: 'p', inputs: ['input'], type: 'AdaptiveAvgPool2d', output_size: 2 }, { name: 'm', inputs: ['input', 'p'], type: 'Mul' }]), 'nodes[1] (m).inputs: shapes [1, 4, 6, 6] and [1, 4, 2, 2] do not broadcast'],
    [base([{ name: 'c', inputs: ['input', 'input'], ...conv }]), 'nodes[0] (c).inputs: Conv2d takes one input, got 2'],
    [base([{ name: 'c', inputs: ['input'], type: 'Conv2d', in_channels: 3, out_channels: 4, kernel_size: 1 }]), 'nodes[0] (c).in_channels: in_channels=3 but the input has 4 channels'],
    [base([{ name: 'b', inputs: ['input'], type: 'Sequential', layers: [conv, { type: 'BatchNorm2d', num_features: 5 }] }]), 'nodes[0] (b).1.num_features: num_features=5'],
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
    await expect(forward(spec, weights, randomTensor([1, 4, 6, 6], 1))).rejects.toThrow('nodes[0] (features.0): features.0.weight: has shape [4, 4, 1, 2], expected [4, 4, 1, 1]');
  });

  it('several outputs come back in order; a spec resolved for one shape runs at another', async () => {
    const spec = base([
      { name: 's', inputs: ['input'], type: 'Split', split_size_or_sections: [1, 3], dim: 1 },
      { name: 'a', inputs: ['s:1'], type: 'ReLU' },
    ], { outputs: ['a', 's:0', 'input'] });
    const input = randomTensor([2, 4, 3, 5], 3);
    const result = await forward(resolveModel(spec), {}, input);
    expect(result.outputs!.map((t) => t.shape)).toEqual([[2, 3, 3, 5], [2, 1, 3, 5], [2, 4, 3, 5]]);
    expect(result.outputs![2]!.data).toEqual(input.data);
    expect(result.output).toEqual(result.outputs![0]);
  });
});
