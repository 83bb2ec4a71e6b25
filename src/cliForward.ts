/**
 * `sepconv forward`: runs a model on an .npy input and writes the output (and, on request, every
 * step's output) as .npy, so users can check the engine against their own PyTorch runs.
 *
 *   sepconv forward --model M.json|PRESET --input X.npy --output Y.npy
 *     [--weights W.safetensors | --init seed:42 | --init filters:sobel]
 *     [--backend cpu|webgpu] [--intermediates DIR] [--unfused]
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { forward, resolveForInput } from './engine/forward';
import type { BackendName, ForwardResult, WeightMap } from './engine/types';
import { makeWeights, parseWeightSource } from './engine/weights';
import { readNpy, writeNpy } from './io/npy';
import { readSafetensors } from './io/safetensors';
import { getPreset } from './shared/presets';

export const FORWARD_USAGE = 'sepconv forward --model M.json|PRESET --input X.npy --output Y.npy [--weights W.safetensors | --init seed:42 | --init filters:sobel] [--backend cpu|webgpu] [--intermediates DIR] [--unfused]';

function loadModel(text: string): unknown {
  if (existsSync(text)) {
    try {
      return JSON.parse(readFileSync(text, 'utf8'));
    } catch (error) {
      throw new Error(`--model ${text}: not valid JSON (${(error as Error).message})`);
    }
  }
  const preset = getPreset(text);
  if (!preset) throw new Error(`--model ${text}: no such file, and no preset of that name (see \`sepconv presets\`)`);
  return preset;
}

function readFile(option: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new Error(`${option} ${path}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`);
  }
}

/** A file name for a step: its position, then its key ("003_1.conv.1.2.npy"). */
function stepFileName(index: number, key: string): string {
  return `${String(index).padStart(3, '0')}_${key.replace(/[^\w.-]/g, '_')}.npy`;
}

function writeIntermediates(dir: string, result: ForwardResult): number {
  mkdirSync(dir, { recursive: true });
  const steps = result.intermediates ?? [];
  const index = steps.map((step, i) => {
    const file = stepFileName(i, step.key);
    writeFileSync(join(dir, file), writeNpy(step.tensor));
    return { file, key: step.key, leafKeys: step.leafKeys, label: step.label, layerIndex: step.layerIndex, role: step.role, shape: step.tensor.shape };
  });
  writeFileSync(join(dir, 'index.json'), `${JSON.stringify({ backend: result.backend, steps: index }, null, 2)}\n`);
  return steps.length;
}

async function webgpuDevice(): Promise<GPUDevice> {
  const { getHostDevice } = await import('./engine/gpuDevice');
  const host = await getHostDevice();
  if (!host.ok) throw new Error(`--backend webgpu: no usable WebGPU device here (${host.reason})`);
  return host.device;
}

/**
 * Runs the command. Writes a summary to stdout; returns the exit code. Bad arguments and bad
 * files throw an Error with a message for the user (the CLI prints it to stderr and exits 1).
 */
export async function runForwardCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      model: { type: 'string' },
      input: { type: 'string' },
      output: { type: 'string' },
      weights: { type: 'string' },
      init: { type: 'string' },
      backend: { type: 'string', default: 'cpu' },
      intermediates: { type: 'string' },
      unfused: { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  for (const required of ['model', 'input', 'output'] as const) {
    if (!values[required]) throw new Error(`forward needs --${required}\nusage: ${FORWARD_USAGE}`);
  }
  if (values.weights && values.init) throw new Error('give either --weights or --init, not both');
  if (values.backend !== 'cpu' && values.backend !== 'webgpu') throw new Error(`--backend must be cpu or webgpu, got "${values.backend}"`);
  const backend = values.backend as BackendName;

  const model = loadModel(values.model!);
  const input = readNpy(readFile('--input', values.input!));
  const resolved = resolveForInput(model, input);
  let weights: WeightMap;
  if (values.weights) {
    weights = readSafetensors(readFile('--weights', values.weights)).tensors;
  } else {
    const init = values.init ?? 'seed:0';
    if (!values.init) process.stderr.write('sepconv: no --weights or --init given: using --init seed:0\n');
    weights = makeWeights(resolved, parseWeightSource(init));
  }

  const started = performance.now();
  const result = await forward(resolved, weights, input, {
    backend,
    intermediates: values.intermediates !== undefined,
    fuse: !values.unfused,
    device: backend === 'webgpu' ? await webgpuDevice() : undefined,
  });
  const ms = performance.now() - started;
  writeFileSync(values.output!, writeNpy(result.output));
  const lines = [`${resolved.name}: [${input.shape.join(', ')}] -> [${result.output.shape.join(', ')}] on ${result.backend} in ${ms.toFixed(1)} ms`, `wrote ${values.output}`];
  if (values.intermediates !== undefined) lines.push(`wrote ${writeIntermediates(values.intermediates, result)} step outputs and index.json to ${values.intermediates}`);
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}
