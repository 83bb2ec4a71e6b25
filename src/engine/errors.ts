/**
 * The engine's errors. Every error about the data (weights, input) names the layer path
 * (`layers[3].conv.1.0`, as spec errors do) and the tensor (`3.conv.1.0.weight`, or `input`).
 */

/** Bad weights or a bad input: never a crash, never garbage. */
export class EngineInputError extends Error {
  constructor(
    /** The layer path (`layers[3].conv.1.0`), or `model` when the whole model is concerned. */
    readonly layerPath: string,
    /** The state_dict key (`3.conv.1.0.weight`) or `input`. */
    readonly tensor: string,
    readonly reason: string,
  ) {
    super(`${layerPath}: ${tensor}: ${reason}`);
    this.name = 'EngineInputError';
  }
}

/** A run stopped by its AbortSignal or by cancelling the worker. */
export class CancelledError extends Error {
  constructor(message = 'the forward pass was cancelled') {
    super(message);
    this.name = 'CancelledError';
  }
}

/** The layer path of a state_dict prefix: "3.conv.1.0" -> "layers[3].conv.1.0". */
export function layerPathOf(key: string): string {
  const dot = key.indexOf('.');
  return dot < 0 ? `layers[${key}]` : `layers[${key.slice(0, dot)}]${key.slice(dot)}`;
}
