/** The fused epilogue applied by every kernel: act(x * scale[c] + bias[c]) + residual[i]. */
import { activateRange } from '../activation';
import type { Epilogue } from './cpuKernels';

/** Finishes data[start, end), all of output channel `channel`. */
export function finishRange(epilogue: Epilogue, data: Float32Array, start: number, end: number, channel: number): void {
  const scale = epilogue.scale ? epilogue.scale[channel]! : 1;
  const bias = epilogue.bias ? epilogue.bias[channel]! : 0;
  if (scale !== 1) {
    for (let i = start; i < end; i++) data[i] = data[i]! * scale + bias;
  } else if (bias !== 0) {
    for (let i = start; i < end; i++) data[i] = data[i]! + bias;
  }
  activateRange(epilogue.activation, data, start, end, epilogue.negativeSlope);
  const residual = epilogue.residual;
  if (residual) for (let i = start; i < end; i++) data[i] = data[i]! + residual[i]!;
}

/** The epilogue alone, in place over [channels, pixels]. */
export function epilogueInPlace(data: Float32Array, channels: number, pixels: number, epilogue: Epilogue): void {
  for (let c = 0; c < channels; c++) finishRange(epilogue, data, c * pixels, (c + 1) * pixels, c);
}
