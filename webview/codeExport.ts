/** PyTorch and Keras code for the export view, from the shared code generator when it is built in. */
import type { ModelSpec } from '../src/shared/spec';

export function codeExporters(_model: ModelSpec, _name: string): { id: string; label: string; fileName: string; text(): string }[] {
  return [];
}
