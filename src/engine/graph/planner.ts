/**
 * The planner: one plan of a graph for every backend. It decides
 * - the fusion groups: with fusion on, a conv takes the BatchNorm (running statistics) that
 *   follows it (folded into its weights), then an activation, then an Add of a value of the same
 *   shape (a residual); a BatchNorm or an activation takes what may follow it likewise. A value
 *   another node also reads, or a model output, ends the group;
 * - each step's key, the leaves it covers and its label (what timings and intermediates report);
 * - the order of the intermediates (every step's output values, in execution order);
 * - the buffers: every value gets a slot, reused by a later value once every reader has run
 *   (views, such as a Flatten the backend does not copy, share their source's slot).
 * The CPU backend (cpu/plan.ts) and the WebGPU backend (webgpu/webgpuModel.ts) compile these
 * steps; neither decides fusion nor buffer lifetimes on its own.
 */
import type { ResolvedActivation, ResolvedBatchNorm } from '../../shared/spec';
import { sameShape } from '../../shared/tensor';
import type { Intermediate } from '../types';
import type { Graph, GraphNode, ValueId } from './graph';
import { activationKind, activationName } from '../activationKind';
import { fusedStepLabel, leafLabel, SKIP_ADD_LABEL } from './labels';

/** One step as a forward pass reports it (an {@link Intermediate} without its tensor). */
export type StepOutline = Omit<Intermediate, 'tensor'>;

export interface PlanStep extends StepOutline {
  /** The node that computes; the BatchNorm, activation and Add of the group fold into its epilogue. */
  node: GraphNode;
  /** The BatchNorm (running statistics) that follows a conv and is folded into its weights. */
  foldedBatchNorm?: ResolvedBatchNorm;
  /** The activation applied after the node (and after the folded BatchNorm). */
  activation?: ResolvedActivation;
  /** The Add that ends the step: its other operand, added last. */
  addend?: ValueId;
  /** The values the step reads: the node's inputs, then the addend. */
  reads: ValueId[];
  /** The values it writes (the last node's outputs: a Split has several). */
  outputs: ValueId[];
  /** The output is the input's values under another shape (no copy, no buffer of its own). */
  view: boolean;
}

export interface PlannedIntermediate {
  /** The step's key, or "<key>:<i>" for a Split's i-th output. */
  key: string;
  step: number;
  value: ValueId;
}

export interface Plan {
  graph: Graph;
  steps: PlanStep[];
  /** What "every intermediate" means, in execution order: each step's outputs. */
  intermediates: PlannedIntermediate[];
  /** The buffer of every value; views share their source's; -1: none (the input, when the backend reads it in place). */
  slotOf: number[];
  slotCount: number;
}

export interface PlanOptions {
  fuse: boolean;
  /** Whether the backend runs this node as a view of its input (default: Dropout and Flatten). */
  isView?(node: GraphNode, graph: Graph): boolean;
  /** Give the model input a slot of its own that later values may reuse (default false: the caller's buffer). */
  inputSlot?: boolean;
}

const defaultIsView = (node: GraphNode) => node.op === 'dropout' || node.op === 'flatten';

/** Plans a graph: fusion groups, step outlines, intermediates and buffer slots. */
export function planGraph(graph: Graph, options: PlanOptions): Plan {
  const isView = options.isView ?? defaultIsView;
  const readers = new Map<ValueId, number>();
  for (const node of graph.nodes) for (const v of new Set(node.inputs)) readers.set(v, (readers.get(v) ?? 0) + 1);
  const isOutput = new Set(graph.outputs);
  /** `value` flows only into `next` (which reads it once) and nowhere else: a fusion may swallow it. */
  const onlyInto = (value: ValueId, next: GraphNode | undefined): next is GraphNode => {
    return next !== undefined && !isOutput.has(value) && readers.get(value) === 1 && next.inputs.filter((v) => v === value).length === 1;
  };

  const steps: PlanStep[] = [];
  const nodes = graph.nodes;
  for (let i = 0; i < nodes.length; ) {
    const node = nodes[i++]!;
    const covered: GraphNode[] = [node];
    let foldedBatchNorm: ResolvedBatchNorm | undefined;
    let activation: ResolvedActivation | undefined;
    let add: GraphNode | undefined;
    let addend: ValueId | undefined;
    let current = node.outputs[0]!;
    if (options.fuse && (node.op === 'conv2d' || node.op === 'convtranspose2d' || node.op === 'batchnorm2d' || node.op === 'activation')) {
      const next = nodes[i];
      if (node.attrs.op === 'conv2d' && next?.attrs.op === 'batchnorm2d' && next.attrs.trackRunningStats && onlyInto(current, next)) {
        foldedBatchNorm = next.attrs;
        covered.push(next);
        current = next.outputs[0]!;
        i++;
      }
      const after = nodes[i];
      if (node.op !== 'activation' && after?.attrs.op === 'activation' && onlyInto(current, after)) {
        activation = after.attrs;
        covered.push(after);
        current = after.outputs[0]!;
        i++;
      }
      const last = nodes[i];
      if (last?.op === 'add' && onlyInto(current, last)) {
        const other = last.inputs.find((v) => v !== current)!;
        const shape = graph.values[current]!.shape;
        if (sameShape(graph.values[other]!.shape, shape) && sameShape(graph.values[last.outputs[0]!]!.shape, shape)) {
          add = last;
          addend = other;
          i++;
        }
      }
    }
    const end = add ?? covered[covered.length - 1]!;
    const residualOnly = node.op === 'add' && node.residualAdd;
    const leafKeys = residualOnly ? [] : covered.map((n) => n.key);
    if (add && !add.residualAdd) leafKeys.push(add.key);
    const label = residualOnly
      ? SKIP_ADD_LABEL
      : covered.length === 1 && !add
        ? leafLabel(node.attrs)
        : fusedStepLabel(node.attrs, {
          foldedBatchNorm: foldedBatchNorm !== undefined,
          activation: activation && activationName(activationKind(activation.fn, activation.approximate)),
          skipAdd: add ? (add.residualAdd ? 'skip' : 'add') : undefined,
        });
    steps.push({
      key: end.key,
      leafKeys,
      label,
      layerIndex: node.layerIndex,
      role: node.role,
      node,
      foldedBatchNorm,
      activation,
      addend,
      reads: addend === undefined ? [...node.inputs] : [...node.inputs, addend],
      outputs: [...end.outputs],
      view: covered.length === 1 && !add && isView(node, graph),
    });
  }

  const intermediates: PlannedIntermediate[] = [];
  steps.forEach((step, index) => {
    step.outputs.forEach((value, i) => intermediates.push({ key: step.outputs.length > 1 ? `${step.key}:${i}` : step.key, step: index, value }));
  });
  const { slotOf, slotCount } = assignSlots(graph, steps, options.inputSlot ?? false);
  return { graph, steps, intermediates, slotOf, slotCount };
}

/**
 * Buffer reuse by liveness: a step's outputs take free slots (never one it reads), and a slot
 * is free again after the last step that reads its value (or a view of it). Model outputs keep
 * theirs to the end.
 */
function assignSlots(graph: Graph, steps: PlanStep[], inputSlot: boolean): { slotOf: number[]; slotCount: number } {
  const source = new Map<ValueId, ValueId>();
  steps.forEach((step) => {
    if (step.view) source.set(step.outputs[0]!, step.reads[0]!);
  });
  const root = (v: ValueId): ValueId => {
    let r = v;
    while (source.has(r)) r = source.get(r)!;
    return r;
  };
  const lastUse = new Map<ValueId, number>();
  steps.forEach((step, i) => {
    for (const v of step.reads) lastUse.set(root(v), i);
  });
  for (const v of graph.outputs) lastUse.set(root(v), Infinity);

  const slotOf = new Array<number>(graph.values.length).fill(-1);
  const free: number[] = [];
  let slotCount = 0;
  const take = () => free.pop() ?? slotCount++;
  const release = (v: ValueId) => {
    const slot = slotOf[v]!;
    if (slot >= 0) free.push(slot);
  };
  if (inputSlot) slotOf[graph.input] = take();
  if (!lastUse.has(graph.input) && inputSlot) release(graph.input);
  steps.forEach((step, i) => {
    for (const out of step.outputs) slotOf[out] = step.view ? slotOf[root(step.reads[0]!)]! : take();
    const done = new Set<ValueId>();
    for (const v of step.reads) {
      const r = root(v);
      if (lastUse.get(r) === i && !done.has(r)) {
        done.add(r);
        release(r);
      }
    }
    // An output nobody reads (an unused Split chunk) frees its slot at once.
    for (const out of step.outputs) if (!step.view && !lastUse.has(out)) release(out);
  });
  return { slotOf, slotCount };
}
