/** PyTorch and Keras code for the export view, from the shared code generator. */
import { kerasCode, pytorchCode } from '../src/shared/codegen';
import { resolveModel, type ModelSpec } from '../src/shared/spec';

export function codeExporters(model: ModelSpec, name: string): { id: string; label: string; fileName: string; text(): string }[] {
  // Throws the spec's error for an invalid model; the export view shows it.
  const resolved = () => resolveModel(model);
  return [
    { id: 'pytorch', label: 'PyTorch', fileName: `${name}.py`, text: () => pytorchCode(resolved()) },
    { id: 'keras', label: 'Keras', fileName: `${name}_keras.py`, text: () => kerasCode(resolved()) },
  ];
}
