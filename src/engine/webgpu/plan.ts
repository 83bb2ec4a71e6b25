/**
 * Turns a resolved model into a list of GPU steps, fusing what can be fused: a conv (or Linear)
 * absorbs the BatchNorm that follows it (folded into a per-channel scale and shift with its
 * bias), then an activation, then a Residual's add, so that a DepthwiseSeparable block is two
 * dispatches. A leaf whose output the caller asked to see ends its step: nothing after it is
 * folded in, so its output is the module's real output.
 */
import { convOutputSize, type ActivationType, type ResolvedConv2d, type ResolvedLinear, type ResolvedModel, type ResolvedNode, type ResolvedBatchNorm } from '../../shared/spec';
import { elementCount, type Tensor } from '../../shared/tensor';
import { batchNormAffine } from '../batchNormAffine';
import type { Layout } from './repack';
import type { ActivationKey } from './wgsl/common';

export type { Tensor };

/** A tensor on the GPU: its logical (PyTorch) shape, its layout and the storage it lives in. */
export interface Value {
  shape: number[];
  layout: Layout;
  /** Values that share a storage are relabelings of the same bytes (a Flatten of [N, C, 1, 1]). */
  storage: number;
}

export interface EpilogueState {
  /** Per output channel (logical count), or undefined for 1. */
  scale?: Float64Array;
  /** Per output channel, or undefined for 0. */
  shift?: Float64Array;
  activation: ActivationKey;
  /** LeakyReLU's slope. */
  negativeSlope?: number;
  residual?: Value;
  /** A BatchNorm without running stats: scale and shift come from the input's own statistics. */
  batchStatistics?: ResolvedBatchNorm;
}

interface StepBase {
  input: Value;
  output: Value;
  /** The leaves this step computes, in order (their keys name it in timings). */
  keys: string[];
  /** Nothing more may be fused into it (a caller wants its current output). */
  closed: boolean;
}

export type Step =
  | (StepBase & { kind: 'conv'; node: ResolvedConv2d; epilogue: EpilogueState })
  | (StepBase & { kind: 'linear'; node: ResolvedLinear; epilogue: EpilogueState })
  | (StepBase & { kind: 'elementwise'; epilogue: EpilogueState })
  | (StepBase & { kind: 'pool'; outputSize: [number, number] })
  | (StepBase & { kind: 'repack' });

export interface Plan {
  input: Value;
  steps: Step[];
  output: Value;
  /** Leaf, residual, composite and top-level layer key -> the value holding its output. */
  outputs: Map<string, Value>;
  /** The leaf and residual keys in execution order: what "every intermediate" means. */
  moduleKeys: string[];
  storageCount: number;
}

const activationKey = (fn: ActivationType, approximate: 'none' | 'tanh'): ActivationKey => (fn === 'GELU' && approximate === 'tanh' ? 'GELU_tanh' : fn);

/** BatchNorm2d in eval mode (running statistics) as y = scale * x + shift. */
function runningBatchNormAffine(node: ResolvedBatchNorm, weights: Record<string, Tensor>): { scale: Float64Array; shift: Float64Array } {
  const data = (name: string) => weights[`${node.key}.${name}`]!.data;
  return batchNormAffine(node, data('running_mean'), data('running_var'), node.affine ? data('weight') : undefined, node.affine ? data('bias') : undefined);
}

export function buildPlan(model: ResolvedModel, weights: Record<string, Tensor>, requested: ReadonlySet<string> | 'all'): Plan {
  let storageCount = 0;
  const steps: Step[] = [];
  const outputs = new Map<string, Value>();
  const fresh = (shape: number[], layout: Layout): Value => ({ shape, layout, storage: storageCount++ });
  const nhwc = (shape: number[]): Layout => ({ kind: 'nhwc', n: shape[0]!, c: shape[1]!, h: shape[2]!, w: shape[3]! });
  const flat = (shape: number[]): Layout => ({ kind: 'flat', rows: elementCount(shape.slice(0, -1)), cols: shape[shape.length - 1]! });

  const input = fresh(model.inputShape, nhwc(model.inputShape));

  /** The last step, if it produced `value` and may still take a fused op. */
  const fusable = (value: Value): Extract<Step, { epilogue: EpilogueState }> | undefined => {
    const last = steps[steps.length - 1];
    if (!last || last.output !== value || last.closed) return undefined;
    if (last.kind === 'conv' || last.kind === 'linear' || last.kind === 'elementwise') return last;
    return undefined;
  };
  /** Names a value; a requested name freezes the step that made it, so later ops cannot fold into it. */
  const record = (key: string, value: Value) => {
    outputs.set(key, value);
    const last = steps[steps.length - 1];
    if ((requested === 'all' || requested.has(key)) && last && last.output.storage === value.storage) last.closed = true;
  };
  const finish = (step: Step, key: string) => {
    step.keys.push(key);
    record(key, step.output);
  };
  const toNhwc = (value: Value, key: string): Value => {
    if (value.layout.kind === 'nhwc') return value;
    const output = fresh(value.shape, nhwc(value.shape));
    steps.push({ kind: 'repack', input: value, output, keys: [`${key}(layout)`], closed: true });
    return output;
  };
  const toFlat = (value: Value, shape: number[], key: string): Value => {
    const layout = flat(shape);
    if (value.layout.kind === 'flat' && layout.kind === 'flat' && value.layout.cols === layout.cols) return { shape, layout, storage: value.storage };
    // NHWC with 1x1 pixels is byte for byte a flat [N, C] (both pad channels to vec4s).
    if (value.layout.kind === 'nhwc' && value.layout.h === 1 && value.layout.w === 1 && shape.length === 2 && shape[1] === value.layout.c) {
      return { shape, layout, storage: value.storage };
    }
    const output = fresh(shape, layout);
    steps.push({ kind: 'repack', input: value, output, keys: [`${key}(layout)`], closed: true });
    return output;
  };
  const elementwise = (value: Value, key: string, epilogue: EpilogueState): Value => {
    const output = fresh(value.shape, value.layout);
    const step: Step = { kind: 'elementwise', input: value, output, keys: [], closed: false, epilogue };
    steps.push(step);
    finish(step, key);
    return output;
  };

  const moduleKeys: string[] = [];
  const emit = (node: ResolvedNode, value: Value): Value => {
    // Execution order: a residual's sum comes after its body.
    if (node.op !== 'sequence' && node.op !== 'residual') moduleKeys.push(node.key);
    switch (node.op) {
      case 'sequence': {
        const out = node.children.reduce((v, child) => emit(child, v), value);
        record(node.key, out);
        return out;
      }
      case 'residual': {
        const body = emit(node.body, value);
        moduleKeys.push(node.key);
        const last = body !== value ? fusable(body) : undefined;
        let out: Value;
        if (last && !last.epilogue.residual && sameLayout(body, value)) {
          last.epilogue.residual = value;
          out = body;
          finish(last, node.key);
        } else {
          const bothFlat = body.layout.kind === 'flat' && value.layout.kind === 'flat';
          const lhs = bothFlat ? body : toNhwc(body, node.key);
          const rhs = bothFlat ? value : toNhwc(value, node.key);
          out = elementwise(lhs, node.key, { activation: 'Identity', residual: rhs });
        }
        return out;
      }
      case 'conv2d': {
        const x = toNhwc(value, node.key);
        const output = fresh([x.shape[0]!, node.outChannels, ...convOut(node, x.shape)], { kind: 'nhwc', n: x.shape[0]!, c: node.outChannels, ...hw(convOut(node, x.shape)) });
        const bias = node.bias ? Float64Array.from(weights[`${node.key}.bias`]!.data) : undefined;
        const step: Step = { kind: 'conv', node, input: x, output, keys: [], closed: false, epilogue: { activation: 'Identity', shift: bias } };
        steps.push(step);
        finish(step, node.key);
        return output;
      }
      case 'linear': {
        const x = toFlat(value, value.shape, node.key);
        const shape = [...value.shape.slice(0, -1), node.outFeatures];
        const output = fresh(shape, flat(shape));
        const bias = node.bias ? Float64Array.from(weights[`${node.key}.bias`]!.data) : undefined;
        const step: Step = { kind: 'linear', node, input: x, output, keys: [], closed: false, epilogue: { activation: 'Identity', shift: bias } };
        steps.push(step);
        finish(step, node.key);
        return output;
      }
      case 'batchnorm2d': {
        if (!node.trackRunningStats) return elementwise(toNhwc(value, node.key), node.key, { activation: 'Identity', batchStatistics: node });
        const { scale, shift } = runningBatchNormAffine(node, weights);
        const last = fusable(value);
        if (last && last.epilogue.activation === 'Identity' && !last.epilogue.residual && !last.epilogue.batchStatistics) {
          const e = last.epilogue;
          const channels = scale.length;
          const newShift = new Float64Array(channels);
          const newScale = new Float64Array(channels);
          for (let i = 0; i < channels; i++) {
            newScale[i] = (e.scale ? e.scale[i]! : 1) * scale[i]!;
            newShift[i] = (e.shift ? e.shift[i]! : 0) * scale[i]! + shift[i]!;
          }
          e.scale = newScale;
          e.shift = newShift;
          finish(last, node.key);
          return value;
        }
        return elementwise(toNhwc(value, node.key), node.key, { activation: 'Identity', scale, shift });
      }
      case 'activation': {
        const act = activationKey(node.fn, node.approximate);
        if (act === 'Identity') {
          record(node.key, value);
          return value;
        }
        const last = fusable(value);
        if (last && last.epilogue.activation === 'Identity' && !last.epilogue.residual) {
          last.epilogue.activation = act;
          last.epilogue.negativeSlope = node.negativeSlope;
          finish(last, node.key);
          return value;
        }
        return elementwise(value, node.key, { activation: act, negativeSlope: node.negativeSlope });
      }
      case 'dropout':
        // Eval mode: the identity.
        record(node.key, value);
        return value;
      case 'adaptiveavgpool2d': {
        const x = toNhwc(value, node.key);
        const shape = [x.shape[0]!, x.shape[1]!, ...node.outputSize];
        const output = fresh(shape, nhwc(shape));
        const step: Step = { kind: 'pool', input: x, output, keys: [], closed: true, outputSize: node.outputSize };
        steps.push(step);
        finish(step, node.key);
        return output;
      }
      case 'flatten': {
        const rank = value.shape.length;
        const start = node.startDim < 0 ? rank + node.startDim : node.startDim;
        const end = node.endDim < 0 ? rank + node.endDim : node.endDim;
        const shape = [...value.shape.slice(0, start), elementCount(value.shape.slice(start, end + 1)), ...value.shape.slice(end + 1)];
        const out = shape.length === rank ? value : toFlat(value, shape, node.key);
        record(node.key, out);
        return out;
      }
      default:
        throw new Error(`the webgpu backend has no program for ${node.op} yet`);
    }
  };

  let value = input;
  for (const layer of model.layers) {
    value = emit(layer.node, value);
    // A layer's index names its output too (an InvertedResidual without skip has node key "<i>.conv").
    record(String(layer.index), value);
  }
  return { input, steps, output: value, outputs, moduleKeys, storageCount };
}

function sameLayout(a: Value, b: Value): boolean {
  return a.layout.kind === b.layout.kind && JSON.stringify(a.layout) === JSON.stringify(b.layout);
}

function convOut(node: ResolvedConv2d, input: number[]): [number, number] {
  const pads = node.pads!;
  const size = (d: 0 | 1) => convOutputSize(input[2 + d]!, node.kernel[d]!, node.stride[d]!, node.dilation[d]!, pads[2 * d]! + pads[2 * d + 1]!);
  return [size(0), size(1)];
}

const hw = ([h, w]: [number, number]) => ({ h, w });
