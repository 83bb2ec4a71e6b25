/**
 * A model file (.onnx, .pt/.pth) imported for the standalone page, which has no extension host to
 * keep its weights: the file is read as the host's import worker reads it (openModel.ts) and its
 * trained weights become the page's weights file, a .safetensors made in memory that the page's
 * engine worker reads as it reads one the user opens. Runs in the page's engine worker
 * (engineWorker.ts), never on the page's thread: a large file takes seconds to read.
 */
import { writeSafetensors } from '../src/io/safetensors';
import { openModelBytes } from '../src/playground/openModel';
import type { LoadModelOptions } from '../src/shared/protocol';
import type { ModelSpec } from '../src/shared/spec';

export interface PageModelFile {
  spec: ModelSpec;
  options: LoadModelOptions;
  /** The trained weights as a .safetensors file, and the name the weights control shows. */
  weights: { name: string; bytes: ArrayBuffer };
  /** Warnings of the import and the unsupported op, one line each. */
  notes: string[];
}

/** Imports the bytes of a model file named `name`; throws an Error whose message names the file and the reason. */
export function importPageModel(bytes: Uint8Array, name: string): PageModelFile {
  const opened = openModelBytes(bytes, name);
  const weights = writeSafetensors(opened.weights, { source: name });
  return {
    spec: opened.spec,
    options: { imported: true, ...(opened.countedParams ? { countedParams: opened.countedParams } : {}) },
    weights: {
      name: `${name} (trained weights)`,
      bytes: weights.buffer.byteLength === weights.byteLength ? (weights.buffer as ArrayBuffer) : weights.slice().buffer,
    },
    notes: [...opened.warnings, ...(opened.unsupported ? [`${opened.unsupported.message}: the graph before it is shown and runs`] : [])],
  };
}
