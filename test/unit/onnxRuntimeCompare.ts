/**
 * Runs an .onnx model on onnxruntime-node with extra graph outputs, so that the engine's
 * intermediates can be compared with onnxruntime's values of the same ONNX tensors.
 */
import * as ort from 'onnxruntime-node';
import { ProtoReader, WIRE_LENGTH } from '../../src/io/protobuf';
import type { Tensor } from '../../src/shared/tensor';
import { concatBytes, encode } from './onnxWriter';

/** The model with `names` added as graph outputs (GraphProto.output, field 12, names only). */
export function withOutputs(model: Uint8Array, names: string[]): Uint8Array {
  const reader = new ProtoReader(model);
  const parts: Uint8Array[] = [];
  let copied = 0;
  for (let before = reader.offset, f = reader.nextField(); f; before = reader.offset, f = reader.nextField()) {
    if (f.field !== 7 || f.wire !== WIRE_LENGTH) {
      reader.skip(f.wire);
      continue;
    }
    const graph = reader.bytesField();
    const extra = encode(names.map((name) => [12, 'message', [[1, 'bytes', name]]]));
    parts.push(model.subarray(copied, before), encode([[7, 'bytes', concatBytes([graph, extra])]]));
    copied = reader.offset;
  }
  parts.push(model.subarray(copied));
  return concatBytes(parts);
}

/** onnxruntime's values of the model's outputs and of `names`, on the CPU provider. */
export async function runOnnxRuntime(model: Uint8Array, input: Tensor, names: string[]): Promise<Map<string, Tensor>> {
  const session = await ort.InferenceSession.create(withOutputs(model, names));
  const result = await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', input.data, input.shape) });
  const out = new Map<string, Tensor>();
  for (const [name, t] of Object.entries(result)) out.set(name, { shape: t.dims.map(Number), data: t.data as Float32Array });
  return out;
}
