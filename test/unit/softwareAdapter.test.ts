import { describe, expect, it } from 'vitest';
import { describeAdapter, isSoftwareAdapter } from '../../src/engine/softwareAdapter';

describe('isSoftwareAdapter', () => {
  it('recognises the CPU emulations by their adapter words', () => {
    expect(isSoftwareAdapter({ vendor: 'google', architecture: 'swiftshader', device: '', description: '' })).toBe(true);
    expect(isSoftwareAdapter({ description: 'llvmpipe (LLVM 15.0.6, 256 bits)' })).toBe(true);
    expect(isSoftwareAdapter({ vendor: 'mesa', description: 'Lavapipe' })).toBe(true);
    expect(isSoftwareAdapter({ vendor: 'microsoft', architecture: '', description: 'Microsoft Basic Render Driver (WARP)' })).toBe(true);
  });

  it('takes the fallback flag as a software adapter whatever its words', () => {
    expect(isSoftwareAdapter({ vendor: 'nvidia', architecture: 'ampere' }, true)).toBe(true);
  });

  it('leaves hardware adapters and missing info alone', () => {
    expect(isSoftwareAdapter({ vendor: 'nvidia', architecture: 'ampere', device: '', description: 'NVIDIA GeForce RTX 3080' })).toBe(false);
    expect(isSoftwareAdapter({ vendor: 'apple', architecture: 'metal-3' })).toBe(false);
    expect(isSoftwareAdapter(undefined)).toBe(false);
  });
});

describe('describeAdapter', () => {
  it('joins the fields that are set, or gives the fallback', () => {
    expect(describeAdapter({ vendor: 'google', architecture: 'swiftshader', device: '', description: '' })).toBe('google swiftshader');
    expect(describeAdapter({}, 'WebGPU adapter')).toBe('WebGPU adapter');
    expect(describeAdapter(undefined)).toBe('unknown adapter');
  });
});
