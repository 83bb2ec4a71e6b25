import { readOnnxModel, tensorValues } from '../../src/io/onnx';

/**
 * An independent count of a model's parameters, from the file alone: every float tensor of rank 1
 * or more (initializer or Constant node) that a Conv, ConvTranspose, Gemm, MatMul, Add or Mul
 * reads, or that a BatchNormalization reads as its scale or bias; each tensor once.
 */
export function countParameters(bytes: Uint8Array): number {
  const model = readOnnxModel(bytes);
  const tensors = new Map<string, number>();
  for (const t of model.graph.initializers) if (t.dataType === 1 && t.dims.length > 0) tensors.set(t.name, tensorValues(t).length);
  for (const n of model.graph.nodes) {
    const t = n.opType === 'Constant' ? n.attributes.find((a) => a.name === 'value')?.t : undefined;
    if (t && t.dataType === 1 && t.dims.length > 0) tensors.set(n.outputs[0]!, tensorValues(t).length);
  }
  const counted = new Set<string>();
  for (const n of model.graph.nodes) {
    const reads = n.opType === 'BatchNormalization' ? n.inputs.slice(1, 3) : ['Conv', 'ConvTranspose', 'Gemm', 'MatMul', 'Add', 'Mul'].includes(n.opType) ? n.inputs : [];
    for (const name of reads) if (tensors.has(name)) counted.add(name);
  }
  return [...counted].reduce((sum, name) => sum + tensors.get(name)!, 0);
}
