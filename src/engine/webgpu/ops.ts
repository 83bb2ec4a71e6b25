/**
 * Which op file encodes a plan step: the one table between the planner's ops and the GPU
 * programs. An op that runs as a view (see {@link isGpuView}) has no dispatch at all.
 */
import type { Graph, GraphNode } from '../graph/graph';
import { sameShape } from '../../shared/tensor';
import { encodeAdaptiveAvgPool2d } from './adaptiveAvgPool2d';
import { encodeAvgPool2d } from './avgPool2d';
import { encodeBinary } from './binary';
import { encodeChannelShuffle } from './channelShuffle';
import { encodeConvTranspose2d } from './convTranspose2d';
import { encodeMaxPool2d } from './maxPool2d';
import { encodeUpsample2d } from './upsample2d';
import { encodeConcat, encodeSplit } from './concat';
import { encodeConv2d } from './conv2d';
import { encodeElementwise } from './elementwise';
import { layoutOf, sameBytes, type EncodeContext, type EncodedDispatch } from './encoding';
import { encodeLinear } from './linear';
import { encodeReshape } from './repack';
import { encodeSoftmax } from './softmax';

/** A Dropout, or a Flatten whose input and output layouts have the same bytes: no dispatch, the same buffer. */
export function isGpuView(node: GraphNode, graph: Graph): boolean {
  if (node.op !== 'dropout' && node.op !== 'flatten') return false;
  return sameBytes(layoutOf(graph.values[node.inputs[0]!]!.shape), layoutOf(graph.values[node.outputs[0]!]!.shape));
}

/** The dispatches of one step. */
export function encodeStep(ctx: EncodeContext): EncodedDispatch[] {
  const { step, graph } = ctx;
  switch (step.node.op) {
    case 'conv2d':
      return encodeConv2d(ctx);
    case 'linear':
      return encodeLinear(ctx);
    case 'batchnorm2d':
    case 'activation':
      return encodeElementwise(ctx);
    case 'add': {
      const [a, b] = step.reads.map((id) => graph.values[id]!.shape) as [number[], number[]];
      return sameShape(a, b) ? encodeElementwise(ctx) : encodeBinary(ctx);
    }
    case 'mul':
      return encodeBinary(ctx);
    case 'concat':
      return encodeConcat(ctx);
    case 'split':
      return encodeSplit(ctx);
    case 'softmax':
      return encodeSoftmax(ctx);
    case 'adaptiveavgpool2d':
      return encodeAdaptiveAvgPool2d(ctx);
    case 'dropout':
    case 'flatten':
      return encodeReshape(ctx);
    case 'maxpool2d':
      return encodeMaxPool2d(ctx);
    case 'avgpool2d':
      return encodeAvgPool2d(ctx);
    case 'convtranspose2d':
      return encodeConvTranspose2d(ctx);
    case 'upsample':
      return encodeUpsample2d(ctx);
    case 'channelshuffle':
      return encodeChannelShuffle(ctx);
  }
}
