/**
 * What the steps of a forward pass are called, for people: the labels the planner gives its steps
 * ("Conv2d 3x3 depthwise + BatchNorm2d (folded) + ReLU6"), the same on every backend.
 */
import { activationKind, activationName } from '../activationKind';
import { describeConv, type ResolvedConv2d, type ResolvedLeaf, type ResolvedPool2d } from '../../shared/spec';

/** The label of a Residual's add when it is a step of its own. */
export const SKIP_ADD_LABEL = 'skip add (residual)';

/** What a leaf module does, for people: "Conv2d 3x3 depthwise stride 2", "BatchNorm2d", "GELU (tanh)", ... */
export function leafLabel(node: ResolvedLeaf): string {
  switch (node.op) {
    case 'conv2d': return convLabel(node);
    case 'batchnorm2d': return `BatchNorm2d${node.trackRunningStats ? '' : ' (batch statistics)'}`;
    case 'activation': return activationName(activationKind(node.fn, node.approximate));
    case 'dropout': return 'Dropout (identity at inference)';
    case 'flatten': return 'Flatten';
    case 'adaptiveavgpool2d': return `AdaptiveAvgPool2d to ${node.outputSize[0]}x${node.outputSize[1]}`;
    case 'linear': return `Linear ${node.inFeatures} -> ${node.outFeatures}`;
    case 'softmax': return `Softmax (dim ${node.dim})`;
    case 'add': return 'Add';
    case 'mul': return 'Mul';
    case 'concat': return `Concat (dim ${node.dim})`;
    case 'split': return `Split (dim ${node.dim}) into ${node.sections ? `[${node.sections.join(', ')}]` : 'chunks'}`;
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

function poolLabel(node: ResolvedPool2d): string {
  const [sh, sw] = node.stride;
  const stride = sh === node.kernel[0] && sw === node.kernel[1] ? '' : ` stride ${sh === sw ? sh : `${sh}x${sw}`}`;
  return `${node.op === 'maxpool2d' ? 'MaxPool2d' : 'AvgPool2d'} ${node.kernel[0]}x${node.kernel[1]}${stride}${node.ceilMode ? ' (ceil)' : ''}`;
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
  /** The step ends with an add: a Residual's skip add ('skip'), or an Add node of the graph form ('add'). */
  skipAdd?: 'skip' | 'add';
}

/** "Conv2d 3x3 depthwise + BatchNorm2d (folded) + ReLU6 + skip add". */
export function fusedStepLabel(first: ResolvedLeaf, parts: FusedParts): string {
  return `${leafLabel(first)}${parts.foldedBatchNorm ? ' + BatchNorm2d (folded)' : ''}${parts.activation ? ` + ${parts.activation}` : ''}${parts.skipAdd === 'skip' ? ' + skip add' : parts.skipAdd === 'add' ? ' + Add' : ''}`;
}

