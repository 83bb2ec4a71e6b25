/** Roofline presets: nominal peak fp32 FLOP/s (FMA = 2 FLOPs, no tensor cores) and memory bandwidth from vendor data sheets. */
import type { RooflineDevice } from './charts';

export const DEVICE_PRESETS: readonly RooflineDevice[] = [
  { name: 'NVIDIA H100 SXM', peakFlops: 67e12, bandwidth: 3.35e12 },
  { name: 'NVIDIA A100 40GB', peakFlops: 19.5e12, bandwidth: 1.555e12 },
  { name: 'NVIDIA RTX 4090', peakFlops: 82.6e12, bandwidth: 1.008e12 },
  { name: 'NVIDIA T4', peakFlops: 8.1e12, bandwidth: 320e9 },
  { name: 'Apple M2 GPU (10-core)', peakFlops: 3.6e12, bandwidth: 100e9 },
  // One core at 3 GHz with two AVX-512 FMA units: 3e9 x 2 x 16 lanes x 2 FLOPs.
  { name: 'x86 core, AVX-512 (3 GHz)', peakFlops: 192e9, bandwidth: 20e9 },
  // One core at 3 GHz with WebAssembly's 128-bit SIMD: 3e9 x 2 x 4 lanes x 2 FLOPs.
  { name: 'x86 core, 128-bit SIMD (3 GHz)', peakFlops: 48e9, bandwidth: 20e9 },
  // Four Cortex-A72 cores at 1.5 GHz, one 128-bit FMA per cycle each.
  { name: 'Raspberry Pi 4 (4x Cortex-A72)', peakFlops: 48e9, bandwidth: 4e9 },
];
