/**
 * Random graph-form models for the planner's property tests (graphPlanner.test.ts on the CPU,
 * webgpu.test.ts on the GPU): one seed makes one graph.
 */
import type { GraphModelSpec, GraphNodeSpec, LayerSpec } from '../../src/shared/spec';

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
        add('Conv2d', [x.name], { in_channels: c, out_channels: out, kernel_size: k, padding: (k - 1) / 2, groups: depthwise ? c : 1, bias: pick(2) === 0 }, [
          [n, out, h, w],
        ]);
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
        add(
          'Concat',
          parts.map((v) => v.name),
          { dim: 1 },
          [[n, parts.reduce((sum, v) => sum + v.shape[1]!, 0), h, w]],
        );
        break;
      }
      case 6: {
        if (c < 2) break;
        const first = 1 + pick(c - 1);
        if (pick(2) === 0)
          add('Split', [x.name], { split_size_or_sections: [first, c - first], dim: 1 }, [
            [n, first, h, w],
            [n, c - first, h, w],
          ]);
        else {
          const sizes: number[] = [];
          for (let at = 0; at < c; at += first) sizes.push(Math.min(first, c - at));
          add(
            'Split',
            [x.name],
            { split_size_or_sections: first, dim: -3 },
            sizes.map((s) => [n, s, h, w]),
          );
        }
        break;
      }
      case 7:
        add('Softmax', [x.name], { dim: pick(2) === 0 ? 1 : -1 }, [x.shape]);
        break;
      case 8:
        add(
          'Sequential',
          [x.name],
          {
            layers: [
              { type: 'Conv2d', in_channels: c, out_channels: c, kernel_size: 3, padding: 1, groups: c, bias: false },
              { type: 'BatchNorm2d', num_features: c },
              { type: 'ReLU6' },
            ] as LayerSpec[],
          },
          [x.shape],
        );
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
