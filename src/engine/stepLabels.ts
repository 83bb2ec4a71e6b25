/**
 * What a forward pass reports as its steps, the same on every backend: which leaves a step
 * covers, its key and its label. With fusion a conv takes the BatchNorm (running stats) that
 * follows it, then an activation, then the skip add that closes a Residual; a BatchNorm or an
 * activation takes what may follow it likewise. The CPU plan runs exactly these steps; the WebGPU
 * backend ends its fused dispatches at their boundaries and reports their outputs and timings.
 */
import { describeConv, type LeafInfo, type ResolvedActivation, type ResolvedBatchNorm, type ResolvedChannelScale, type ResolvedConv2d, type ResolvedLeaf, type ResolvedModel, type ResolvedNode, type ResolvedResidual } from '../shared/spec';
import type { Intermediate } from './types';

/** The label of a Residual's add when it is a step of its own. */
export const SKIP_ADD_LABEL = 'skip add (residual)';
/** The label of a squeeze-excitation block's product, always a step of its own. */
export const CHANNEL_SCALE_LABEL = 'channel scale (squeeze-excitation)';

/** A block that keeps its input until its end: a Residual (add) or a squeeze-excitation (product). */
export type SkipBlock = ResolvedResidual | ResolvedChannelScale;

/** What a leaf module does, for people: "Conv2d 3x3 depthwise stride 2", "BatchNorm2d", "GELU (tanh)", ... */
export function leafLabel(node: ResolvedLeaf): string {
  switch (node.op) {
    case 'conv2d': return convLabel(node);
    case 'batchnorm2d': return `BatchNorm2d${node.trackRunningStats ? '' : ' (batch statistics)'}`;
    case 'activation': return activationName(node.fn, node.approximate);
    case 'dropout': return 'Dropout (identity at inference)';
    case 'flatten': return 'Flatten';
    case 'adaptiveavgpool2d': return `AdaptiveAvgPool2d to ${node.outputSize[0]}x${node.outputSize[1]}`;
    case 'linear': return `Linear ${node.inFeatures} -> ${node.outFeatures}`;
    case 'maxpool2d':
    case 'avgpool2d': return poolLabel(node);
    case 'convtranspose2d': {
      const [sh, sw] = node.stride;
      return `ConvTranspose2d ${node.kernel[0]}x${node.kernel[1]} ${describeConv(node)}${sh > 1 || sw > 1 ? ` stride ${sh === sw ? sh : `${sh}x${sw}`}` : ''}`;
    }
    case 'upsample': return `Upsample ${node.mode}${node.mode === 'bilinear' && node.alignCorners ? ' (align_corners)' : ''}`;
    case 'channelshuffle': return `ChannelShuffle groups ${node.groups}`;
  }
}

function poolLabel(node: Extract<ResolvedLeaf, { op: 'maxpool2d' | 'avgpool2d' }>): string {
  const [sh, sw] = node.stride;
  const stride = sh === node.kernel[0] && sw === node.kernel[1] ? '' : ` stride ${sh === sw ? sh : `${sh}x${sw}`}`;
  return `${node.op === 'maxpool2d' ? 'MaxPool2d' : 'AvgPool2d'} ${node.kernel[0]}x${node.kernel[1]}${stride}${node.ceilMode ? ' (ceil)' : ''}`;
}

/** "ReLU6", "GELU (tanh)". */
export function activationName(fn: string, approximate: 'none' | 'tanh'): string {
  return fn === 'GELU' && approximate === 'tanh' ? 'GELU (tanh)' : fn;
}

function convLabel(node: ResolvedConv2d): string {
  const [sh, sw] = node.stride;
  const stride = sh > 1 || sw > 1 ? ` stride ${sh === sw ? sh : `${sh}x${sw}`}` : '';
  const dilation = node.dilation[0] > 1 || node.dilation[1] > 1 ? ` dilation ${node.dilation.join('x')}` : '';
  return `Conv2d ${node.kernel[0]}x${node.kernel[1]} ${describeConv(node)}${stride}${dilation}`;
}

/** What a fused step adds to its first leaf. */
export interface FusedParts {
  /** A BatchNorm folded into the conv's weights and bias. */
  foldedBatchNorm?: boolean;
  /** The activation the step applies, as {@link activationName} names it. */
  activation?: string;
  /** The step ends with a Residual's skip add. */
  skipAdd?: boolean;
}

/** "Conv2d 3x3 depthwise + BatchNorm2d (folded) + ReLU6 + skip add". */
export function fusedStepLabel(first: ResolvedLeaf, parts: FusedParts): string {
  return `${leafLabel(first)}${parts.foldedBatchNorm ? ' + BatchNorm2d (folded)' : ''}${parts.activation ? ` + ${parts.activation}` : ''}${parts.skipAdd ? ' + skip add' : ''}`;
}

/** One step as a forward pass reports it (an {@link Intermediate} without its tensor). */
export type StepOutline = Omit<Intermediate, 'tensor'>;

type Item =
  | { kind: 'leaf'; info: LeafInfo }
  | { kind: 'begin'; residual: SkipBlock }
  | { kind: 'end'; residual: SkipBlock; layerIndex: number };

/**
 * One step of a forward pass: its outline and what it is made of. A step is either leaves (the
 * first, then the BatchNorm folded into a conv, then the activation of the epilogue) possibly
 * closing a Residual with its add, or a Residual's add on its own (no leaves).
 */
export interface StepGroup {
  outline: StepOutline;
  /** The leaves the step computes, in order; empty for a skip add of its own. */
  leaves: LeafInfo[];
  /** The BatchNorm (running stats) that follows a conv and is folded into it. */
  foldedBatchNorm?: ResolvedBatchNorm;
  /** The activation leaf the step applies after its first leaf. */
  activation?: ResolvedActivation;
  /** The Residual whose add the step does. */
  skipAdd?: ResolvedResidual;
  /** The squeeze-excitation block whose product (input x the body's [N, C, 1, 1] output) the step does. */
  channelScale?: ResolvedChannelScale;
  /** Blocks that start at this step: their input is this step's input. */
  opens: SkipBlock[];
}

/**
 * The steps of a forward pass in execution order, with what each is made of. With `fuse` false
 * every leaf is a step, and every Residual's add too. Both backends take their steps from here:
 * the CPU plan (cpu/plan.ts) runs them, the WebGPU backend ends its fused dispatches at them.
 */
export function groupSteps(model: ResolvedModel, options: { fuse: boolean }): StepGroup[] {
  const infoByNode = new Map<ResolvedNode, LeafInfo>(model.leaves.map((leaf) => [leaf.node, leaf]));
  const items: Item[] = [];
  const flatten = (node: ResolvedNode, layerIndex: number): void => {
    if (node.op === 'sequence') node.children.forEach((child) => flatten(child, layerIndex));
    else if (node.op === 'residual' || node.op === 'channelscale') {
      items.push({ kind: 'begin', residual: node });
      flatten(node.body, layerIndex);
      items.push({ kind: 'end', residual: node, layerIndex });
    } else {
      const info = infoByNode.get(node);
      if (!info) throw new Error(`internal: leaf ${node.key} has no shape information`);
      items.push({ kind: 'leaf', info });
    }
  };
  for (const layer of model.layers) flatten(layer.node, layer.index);

  const leafAt = (i: number): LeafInfo | undefined => {
    const item = items[i];
    return item?.kind === 'leaf' ? item.info : undefined;
  };
  const groups: StepGroup[] = [];
  let opens: SkipBlock[] = [];
  for (let i = 0; i < items.length; ) {
    const item = items[i]!;
    i++;
    if (item.kind === 'begin') {
      opens.push(item.residual);
      continue;
    }
    if (item.kind === 'end') {
      const block = item.residual;
      const outline: StepOutline = block.op === 'channelscale'
        ? { key: block.key, leafKeys: [], label: CHANNEL_SCALE_LABEL, layerIndex: item.layerIndex, role: 'scale' }
        : { key: block.key, leafKeys: [], label: SKIP_ADD_LABEL, layerIndex: item.layerIndex, role: 'add' };
      groups.push(block.op === 'channelscale' ? { outline, leaves: [], channelScale: block, opens } : { outline, leaves: [], skipAdd: block, opens });
      opens = [];
      continue;
    }
    const node = item.info.node;
    const leaves: LeafInfo[] = [item.info];
    let foldedBatchNorm: ResolvedBatchNorm | undefined;
    let activation: ResolvedActivation | undefined;
    let skipAdd: ResolvedResidual | undefined;
    if (options.fuse && (node.op === 'conv2d' || node.op === 'convtranspose2d' || node.op === 'batchnorm2d' || node.op === 'activation')) {
      const next = leafAt(i)?.node;
      if (node.op === 'conv2d' && next?.op === 'batchnorm2d' && next.trackRunningStats) {
        foldedBatchNorm = next;
        leaves.push(leafAt(i++)!);
      }
      const after = leafAt(i)?.node;
      if (node.op !== 'activation' && after?.op === 'activation') {
        activation = after;
        leaves.push(leafAt(i++)!);
      }
      const maybeEnd = items[i];
      if (maybeEnd?.kind === 'end' && maybeEnd.residual.op === 'residual') {
        skipAdd = maybeEnd.residual;
        i++;
      }
    }
    const parts: FusedParts = {
      foldedBatchNorm: foldedBatchNorm !== undefined,
      activation: activation && activationName(activation.fn, activation.approximate),
      skipAdd: skipAdd !== undefined,
    };
    const outline: StepOutline = {
      // A step that did the skip add outputs the residual block's value: it takes the block's key.
      key: skipAdd?.key ?? leaves[leaves.length - 1]!.node.key,
      leafKeys: leaves.map((leaf) => leaf.node.key),
      label: fusedStepLabel(node, parts),
      layerIndex: item.info.layerIndex,
      role: item.info.role,
    };
    groups.push({ outline, leaves, foldedBatchNorm, activation, skipAdd, opens });
    opens = [];
  }
  return groups;
}

/** The steps of a forward pass as they are reported (see {@link groupSteps}). */
export function outlineSteps(model: ResolvedModel, options: { fuse: boolean }): StepOutline[] {
  return groupSteps(model, options).map((group) => group.outline);
}
