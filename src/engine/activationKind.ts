/**
 * The one name for an activation as the engine applies it, on every backend: the CPU kernels
 * switch on it, the WGSL epilogue numbers it, and step labels show it (through
 * {@link activationName}). GELU with the tanh approximation is a kind of its own.
 */
import type { ActivationType } from '../shared/spec';

/** The activations an epilogue can apply; "none" leaves the values as they are. */
export type ActivationKind = 'none' | 'relu' | 'relu6' | 'silu' | 'hardswish' | 'gelu' | 'gelu_tanh' | 'hardsigmoid' | 'sigmoid' | 'tanh' | 'leaky_relu';

/** Every kind with its name for people; the order is each kind's code in the WGSL `act` uniform (0 = none). */
const NAMES: Record<ActivationKind, string> = {
  none: 'Identity',
  relu: 'ReLU',
  relu6: 'ReLU6',
  silu: 'SiLU',
  hardswish: 'Hardswish',
  gelu: 'GELU',
  gelu_tanh: 'GELU (tanh)',
  hardsigmoid: 'Hardsigmoid',
  sigmoid: 'Sigmoid',
  tanh: 'Tanh',
  leaky_relu: 'LeakyReLU',
};

/** Every kind; the index is the kind's code in the WGSL `act` uniform (0 = "none"). */
export const ACTIVATION_KINDS = Object.keys(NAMES) as readonly ActivationKind[];

/** The kind of a spec activation (`nn.GELU(approximate='tanh')` is "gelu_tanh"). */
export function activationKind(fn: ActivationType, approximate: 'none' | 'tanh' = 'none'): ActivationKind {
  switch (fn) {
    case 'ReLU': return 'relu';
    case 'ReLU6': return 'relu6';
    case 'SiLU': return 'silu';
    case 'Hardswish': return 'hardswish';
    case 'GELU': return approximate === 'tanh' ? 'gelu_tanh' : 'gelu';
    case 'Identity': return 'none';
    case 'Hardsigmoid': return 'hardsigmoid';
    case 'Sigmoid': return 'sigmoid';
    case 'Tanh': return 'tanh';
    case 'LeakyReLU': return 'leaky_relu';
  }
}

/** For people, as PyTorch names the module: "ReLU6", "GELU (tanh)", "LeakyReLU". */
export function activationName(kind: ActivationKind): string {
  return NAMES[kind];
}
