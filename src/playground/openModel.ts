/**
 * What the playground gets from a model file: the graph spec, its trained weights, the import's
 * warnings, and the unsupported op (if any) as one line for the user. No VS Code here, so that
 * the CLI and the tests can use it as the command does.
 */
import type { ModelSpec } from '../shared/spec';
import type { WeightMap } from '../engine/types';
import { importOnnx, type UnsupportedOp } from '../io/onnxImport';

/** The largest model file the playground opens (the engine holds every weight in memory). */
export const MAX_MODEL_BYTES = 256 * 1024 * 1024;

export interface OpenedModel {
  spec: ModelSpec;
  weights: WeightMap;
  warnings: string[];
  unsupported?: UnsupportedOp;
  /** The parameters of the network (weights read from the file). */
  params: number;
}

/** A file that cannot be opened: the message names the file and why. */
export class OpenModelError extends Error {}

/**
 * Imports `bytes` (the contents of `name`, an .onnx file). External tensor data is read through
 * `readExternal` when given, and refused otherwise. Throws OpenModelError for a bad file; a model
 * with an op the engine lacks still opens up to that op when the importer keeps a graph before it.
 */
export function openModelBytes(
  bytes: Uint8Array,
  name: string,
  readExternal?: (location: string, offset: number, length: number | undefined) => Uint8Array,
): OpenedModel {
  if (!name.toLowerCase().endsWith('.onnx')) throw new OpenModelError(`${name}: only .onnx files open in the playground`);
  if (bytes.byteLength === 0) throw new OpenModelError(`${name}: the file is empty`);
  if (bytes.byteLength > MAX_MODEL_BYTES) throw new OpenModelError(`${name}: ${bytes.byteLength} bytes, over the ${MAX_MODEL_BYTES}-byte limit`);
  let imported;
  try {
    imported = importOnnx(bytes, {
      readExternal:
        readExternal ??
        ((location) => {
          throw new Error(`external data ${JSON.stringify(location)} is not available here`);
        }),
    });
  } catch (error) {
    throw new OpenModelError(`${name}: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (imported.unsupported && imported.spec.nodes.length === 0) {
    throw new OpenModelError(`${name}: ${imported.unsupported.message}; nothing before it can be shown`);
  }
  return {
    spec: imported.spec as unknown as ModelSpec,
    weights: imported.weights,
    warnings: imported.warnings,
    unsupported: imported.unsupported,
    params: imported.params,
  };
}
