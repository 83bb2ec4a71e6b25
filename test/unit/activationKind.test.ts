import { describe, expect, it } from 'vitest';
import { ACTIVATION_KINDS, activationKind, activationName } from '../../src/engine/activationKind';
import { ACTIVATION_TYPES } from '../../src/shared/spec';

describe('activationKind', () => {
  it('gives every spec activation a kind of its own, and GELU with tanh another', () => {
    const kinds = [...ACTIVATION_TYPES.map((fn) => activationKind(fn)), activationKind('GELU', 'tanh')];
    expect(new Set(kinds).size).toBe(kinds.length);
    expect([...kinds].sort()).toEqual([...ACTIVATION_KINDS].sort());
  });

  it('names a kind as PyTorch names its module', () => {
    for (const fn of ACTIVATION_TYPES) expect(activationName(activationKind(fn))).toBe(fn);
    expect(activationName(activationKind('GELU', 'tanh'))).toBe('GELU (tanh)');
  });

  it('gives "none" the WGSL code 0, the code the shader falls through to', () => {
    expect(ACTIVATION_KINDS[0]).toBe('none');
  });
});
