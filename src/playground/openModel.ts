/**
 * What the playground gets from a model file: the graph spec, its trained weights, the import's
 * warnings, and the unsupported op (if any) as one line for the user. An .onnx file is imported
 * node by node; a .pt/.pth state_dict opens when its keys and shapes are those of a structure
 * recognised by key (checkpointModels.ts). No VS Code here: the import worker
 * (modelImportWorker.ts), the CLI and the tests use it as the command does.
 */
import type { ModelSpec } from '../shared/spec';
import { parameterShapes, resolveModel } from '../shared/spec';
import { costModel } from '../shared/cost';
import type { WeightMap } from '../engine/types';
import { importOnnx, type UnsupportedOp } from '../io/onnxImport';
import { recogniseCheckpoint } from '../io/checkpointModels';
import { readCheckpoint } from '../io/torchCheckpoint';

/** The largest model file the playground opens (the engine holds every weight in memory). */
export const MAX_MODEL_BYTES = 256 * 1024 * 1024;

/** The file kinds "Open Model in Playground" accepts, by extension. */
export const MODEL_EXTENSIONS = ['onnx', 'pt', 'pth'] as const;

export interface OpenedModel {
  spec: ModelSpec;
  weights: WeightMap;
  warnings: string[];
  unsupported?: UnsupportedOp;
  /** The parameters of the network (weights read from the file). */
  params: number;
  /**
   * Params per node where the file's count differs from the spec's (a per-channel Mul or Add by a
   * file constant runs as a BatchNorm2d node); the cost table shows these.
   */
  countedParams?: Record<string, number>;
}

/** A file that cannot be opened: the message names the file and why. */
export class OpenModelError extends Error {}

type ReadExternal = (location: string, offset: number, length: number | undefined) => Uint8Array;

/**
 * Imports `bytes` (the contents of `name`, an .onnx, .pt or .pth file). External tensor data of an
 * .onnx is read through `readExternal` when given, and refused otherwise. Throws OpenModelError
 * for a bad file; a model with an op the engine lacks still opens up to that op when the importer
 * keeps a graph before it.
 */
export function openModelBytes(bytes: Uint8Array, name: string, readExternal?: ReadExternal): OpenedModel {
  const extension = /\.([^.]+)$/.exec(name.toLowerCase())?.[1];
  if (!MODEL_EXTENSIONS.includes(extension as (typeof MODEL_EXTENSIONS)[number])) throw new OpenModelError(`${name}: only .onnx, .pt and .pth files open in the playground`);
  if (bytes.byteLength === 0) throw new OpenModelError(`${name}: the file is empty`);
  if (bytes.byteLength > MAX_MODEL_BYTES) throw new OpenModelError(`${name}: ${bytes.byteLength} bytes, over the ${MAX_MODEL_BYTES}-byte limit`);
  try {
    return extension === 'onnx' ? openOnnx(bytes, name, readExternal) : openCheckpoint(bytes);
  } catch (error) {
    if (error instanceof OpenModelError) throw error;
    throw new OpenModelError(`${name}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

function openOnnx(bytes: Uint8Array, name: string, readExternal: ReadExternal | undefined): OpenedModel {
  const imported = importOnnx(bytes, {
    readExternal:
      readExternal ??
      ((location) => {
        throw new Error(`external data ${JSON.stringify(location)} is not available here`);
      }),
  });
  if (imported.unsupported && imported.spec.nodes.length === 0) {
    throw new OpenModelError(`${name}: ${imported.unsupported.message}; nothing before it can be shown`);
  }
  // The spec's count of each node against the file's: they differ where a node's weights are not all the file's.
  const countedParams: Record<string, number> = {};
  try {
    const leaves = costModel(resolveModel(imported.spec)).leaves;
    const fromFile = new Map(imported.nodes.map((node) => [node.name, node.params]));
    for (const leaf of leaves) {
      const params = fromFile.get(leaf.key);
      if (params !== undefined && params !== leaf.params) Object.defineProperty(countedParams, leaf.key, { value: params, enumerable: true });
    }
  } catch {
    // A spec the cost model refuses is reported by the page when it resolves it.
  }
  return {
    spec: imported.spec as unknown as ModelSpec,
    weights: imported.weights,
    warnings: imported.warnings,
    unsupported: imported.unsupported,
    params: imported.params,
    ...(Object.keys(countedParams).length ? { countedParams } : {}),
  };
}

function openCheckpoint(bytes: Uint8Array): OpenedModel {
  const checkpoint = readCheckpoint(bytes);
  const recognised = recogniseCheckpoint(checkpoint);
  const model = resolveModel(recognised.spec);
  const params = parameterShapes(model)
    .filter((t) => t.kind === 'param')
    .reduce((sum, t) => sum + recognised.weights[t.key]!.data.length, 0);
  const warnings = [`recognised as torchvision ${recognised.structure} (${recognised.numClasses} classes) by its keys and shapes`];
  return { spec: recognised.spec as unknown as ModelSpec, weights: recognised.weights, warnings, params };
}
