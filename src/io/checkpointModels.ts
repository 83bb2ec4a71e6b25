/**
 * Which network a PyTorch state_dict belongs to. A state_dict holds tensors, not the code that
 * uses them, so a checkpoint opens in the playground only when its keys and shapes are exactly
 * those of a structure known here: torchvision's mobilenet_v2, mobilenet_v3_small and
 * mobilenet_v3_large at width 1.0 (any number of classes). Anything else is refused with the keys
 * and shapes that differ from the closest of them.
 */
import type { Tensor } from '../shared/tensor';
import { parameterShapes, resolveModel, type GraphModelSpec } from '../shared/spec';
import { CLASSIFIER_WEIGHT, TORCHVISION_STRUCTURES, torchvisionSpec, type TorchvisionStructure } from '../shared/torchvisionSpecs';
import { CheckpointError, mapStateDict, type Checkpoint } from './torchCheckpoint';

export interface RecognisedCheckpoint {
  structure: TorchvisionStructure;
  spec: GraphModelSpec;
  /** The checkpoint's tensors by the spec's keys. */
  weights: Record<string, Tensor>;
  numClasses: number;
}

/** The DataParallel "module." prefix dropped, as mapStateDict drops it. */
function plainKeys(tensors: Map<string, Tensor>): Map<string, Tensor> {
  if (tensors.size > 0 && [...tensors.keys()].every((k) => k.startsWith('module.'))) return new Map([...tensors].map(([k, v]) => [k.slice('module.'.length), v]));
  return tensors;
}

/**
 * The structure whose every parameter and buffer key and shape the checkpoint has, with its
 * tensors mapped by key. Throws a CheckpointError naming the recognised structures and, for the
 * one sharing the most keys with the checkpoint, the keys and shapes that do not match.
 */
export function recogniseCheckpoint(checkpoint: Checkpoint, inputShape: number[] = [1, 3, 224, 224]): RecognisedCheckpoint {
  const tensors = plainKeys(checkpoint.tensors);
  let closest: { structure: TorchvisionStructure; shared: number; message: string } | undefined;
  for (const structure of TORCHVISION_STRUCTURES) {
    const classifier = tensors.get(CLASSIFIER_WEIGHT[structure]);
    const numClasses = classifier && classifier.shape.length === 2 && classifier.shape[0]! >= 1 ? classifier.shape[0]! : 1000;
    const spec = torchvisionSpec(structure, numClasses, inputShape);
    const expected = parameterShapes(resolveModel(spec));
    try {
      return { structure, spec, weights: mapStateDict(tensors, expected), numClasses };
    } catch (error) {
      if (!(error instanceof CheckpointError)) throw error;
      const shared = expected.filter((e) => tensors.has(e.key)).length;
      if (!closest || shared > closest.shared) closest = { structure, shared, message: error.message };
    }
  }
  const known = TORCHVISION_STRUCTURES.join(', ');
  const sample = [...tensors].slice(0, 3).map(([k, t]) => `${k} [${t.shape.join(', ')}]`).join(', ');
  if (!closest || closest.shared === 0) {
    throw new CheckpointError(`the state_dict (${tensors.size} tensors: ${sample}${tensors.size > 3 ? ', ...' : ''}) matches none of the structures recognised by key (torchvision ${known}, width 1.0)`);
  }
  throw new CheckpointError(`the state_dict matches none of the structures recognised by key (torchvision ${known}, width 1.0); closest is ${closest.structure} (${closest.shared} keys shared): ${closest.message.replace(/^the checkpoint does not fit the model; /, '')}`);
}
