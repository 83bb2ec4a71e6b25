/**
 * The CPU side of the ops that have no CPU kernel interface of their own (pooling, transposed
 * conv, upsample, channel shuffle): for a node and its shapes, a function over plain NCHW
 * Float32Arrays, the whole batch at once. The CPU plan runs these; the reference forward pass
 * runs them too, so the PyTorch fixtures are their check.
 */
import type { ResolvedChannelShuffle, ResolvedConvTranspose2d, ResolvedPool2d, ResolvedUpsample } from '../../../shared/spec';
import { upsampleAxisTable } from '../../upsampleCoordinates';
import type { ActivationKind } from '../../activationKind';
import { channelShuffle } from './channelShuffle';
import { convTranspose2d } from './convTranspose2d';
import { avgPool2d, maxPool2d } from './pool2d';
import { upsample2d } from './upsample2d';

export type Shape4 = [number, number, number, number];

export type CpuOpNode = ResolvedPool2d | ResolvedConvTranspose2d | ResolvedUpsample | ResolvedChannelShuffle;

/** Writes all of `output` from `input`; a transposed conv also applies the step's activation and adds `addend`. */
export type CpuOpRun = (input: Float32Array, output: Float32Array, addend?: Float32Array) => void;

/**
 * The runner of one op at fixed shapes (tables and weights are looked up once, here).
 * `tensor` gives a weight by state_dict key; `epilogue` is the activation fused after a transposed conv.
 */
export function cpuOpRunner(
  node: CpuOpNode,
  inShape: Shape4,
  outShape: Shape4,
  tensor: (key: string) => Float32Array,
  epilogue: { activation: ActivationKind; negativeSlope?: number } = { activation: 'none' },
): CpuOpRun {
  switch (node.op) {
    case 'maxpool2d':
      return (input, output) => maxPool2d(input, inShape, output, outShape, node);
    case 'avgpool2d':
      return (input, output) => avgPool2d(input, inShape, output, outShape, node);
    case 'convtranspose2d': {
      const weight = tensor(`${node.key}.weight`);
      const bias = node.bias ? tensor(`${node.key}.bias`) : undefined;
      return (input, output, addend) => convTranspose2d(input, inShape, weight, output, outShape, node, { bias, ...epilogue, residual: addend });
    }
    case 'upsample': {
      const rows = upsampleAxisTable(node, 0, inShape[2], outShape[2]);
      const columns = upsampleAxisTable(node, 1, inShape[3], outShape[3]);
      return (input, output) => upsample2d(input, inShape, output, outShape, rows, columns);
    }
    case 'channelshuffle':
      return (input, output) => channelShuffle(input, inShape, output, node.groups);
  }
}
