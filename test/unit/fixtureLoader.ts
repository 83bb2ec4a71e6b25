/**
 * Loads the PyTorch reference fixtures of test/fixtures (written by test/fixtures/generate.py)
 * with the project's own .npy and .safetensors readers.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { readNpy } from '../../src/io/npy';
import { readSafetensors } from '../../src/io/safetensors';
import type { ModelSpec } from '../../src/shared/spec';
import type { Tensor } from '../../src/shared/tensor';

export const FIXTURE_DIR = fileURLToPath(new URL('../fixtures/', import.meta.url));

export interface ManifestEntry {
  name: string;
  description: string;
  input_shape: number[];
  output_shape: number[];
  input_dtype: 'float32' | 'float16';
  /** How many `<name>.intermediate.<i>.npy` files there are (0 for none). */
  intermediates: number;
}

export interface Fixture {
  name: string;
  description: string;
  /** The spec as the file holds it, with name and input_shape. */
  model: ModelSpec;
  input: Tensor;
  /** Decoded tensors keyed by state_dict name (the int64 num_batches_tracked entries are not among them). */
  weights: Record<string, Tensor>;
  /** Every state_dict entry of the file that was not decoded, e.g. `1.num_batches_tracked` (I64). */
  skippedWeights: Array<{ name: string; dtype: string; shape: number[] }>;
  output: Tensor;
  /** The output of every top-level layer, for the fixtures that have them. */
  intermediates?: Tensor[];
}

export function readManifest(): ManifestEntry[] {
  const manifest = JSON.parse(readFileSync(join(FIXTURE_DIR, 'manifest.json'), 'utf8')) as { fixtures: ManifestEntry[] };
  return manifest.fixtures;
}

const tensorOf = ({ shape, data }: Tensor): Tensor => ({ shape, data });

export function loadFixture(entry: ManifestEntry): Fixture {
  const file = (suffix: string) => readFileSync(join(FIXTURE_DIR, `${entry.name}.${suffix}`));
  const weights = readSafetensors(file('weights.safetensors'));
  const fixture: Fixture = {
    name: entry.name,
    description: entry.description,
    model: JSON.parse(file('json').toString('utf8')) as ModelSpec,
    input: tensorOf(readNpy(file('input.npy'))),
    weights: weights.tensors,
    skippedWeights: weights.skipped,
    output: tensorOf(readNpy(file('output.npy'))),
  };
  if (entry.intermediates > 0) {
    fixture.intermediates = Array.from({ length: entry.intermediates }, (_, i) => tensorOf(readNpy(file(`intermediate.${i}.npy`))));
  }
  return fixture;
}

/** Every fixture of the manifest, loaded. */
export function loadFixtures(): Fixture[] {
  return readManifest().map(loadFixture);
}
