/**
 * `sepconv forward`: runs a model on an .npy input and writes the output (and, on request, every
 * step's output) as .npy, so users can check the engine against their own PyTorch runs.
 *
 *   sepconv forward --model M.json|PRESET --input X.npy --output Y.npy
 *     [--weights W.safetensors | --init seed:42 | --init filters:sobel]
 *     [--backend cpu|webgpu] [--threads N] [--intermediates DIR] [--unfused] [--verbose]
 */
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { forward, resolveForInput } from './engine/forward';
import type { BackendName, ForwardResult, WeightMap } from './engine/types';
import { makeWeights, parseWeightSource } from './engine/weights';
import { readNpy, writeNpy } from './io/npy';
import { readSafetensors, requireDecoded } from './io/safetensors';
import { fileProblem, loadModelArgument } from './cliModel';
import { parameterShapes, type ResolvedModel } from './shared/spec';
import { terminalSafe } from './cliText';
import { probeAdapterQuietly } from './cliGpu';

export const FORWARD_USAGE = 'sepconv forward --model M.json|PRESET --input X.npy --output Y.npy [--weights W.safetensors | --init seed:42 | --init filters:sobel] [--backend cpu|webgpu] [--threads N] [--intermediates DIR] [--unfused] [--verbose]';


function readFile(option: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new Error(`${option} ${path}: ${fileProblem(error)}`);
  }
}

/** Runs a reader of file bytes; its errors name the option and the file. */
function parseFile<T>(option: string, path: string, read: (bytes: Buffer) => T): T {
  const bytes = readFile(option, path);
  try {
    return read(bytes);
  } catch (error) {
    throw new Error(`${option} ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

function writeFile(option: string, path: string, bytes: Uint8Array): void {
  try {
    writeFileSync(path, bytes);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new Error(`${option} ${path}: ${code === 'EISDIR' ? fileProblem(error) : `cannot write (${code ?? fileProblem(error)})`}`);
  }
}

/** Reads --weights; a tensor the model needs that is stored with a dtype the reader does not decode is named as such, not as missing. */
function loadWeights(path: string, model: ResolvedModel): WeightMap {
  return parseFile('--weights', path, (bytes) => {
    const file = readSafetensors(bytes);
    requireDecoded(file, parameterShapes(model).map((t) => t.key));
    return file.tensors;
  });
}

function firstNonFinite(data: Float32Array): number {
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i]!)) return i;
  return -1;
}

/** A file name for a step: its position, then its key ("003_1.conv.1.2.npy"). */
function stepFileName(index: number, key: string): string {
  return `${String(index).padStart(3, '0')}_${key.replace(/[^\w.-]/g, '_')}.npy`;
}

/** Checked before the run, so that a bad --intermediates does not fail after the output is written. */
function checkIntermediatesDir(dir: string): void {
  let isFile = false;
  try {
    isFile = !statSync(dir).isDirectory();
  } catch {
    return; // does not exist yet: made after the run
  }
  if (isFile) throw new Error(`--intermediates ${dir}: is a file, not a directory`);
}

function writeIntermediates(dir: string, result: ForwardResult): number {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (error) {
    throw new Error(`--intermediates ${dir}: cannot make the directory (${(error as NodeJS.ErrnoException).code ?? fileProblem(error)})`);
  }
  const steps = result.intermediates ?? [];
  const index = steps.map((step, i) => {
    const file = stepFileName(i, step.key);
    writeFile('--intermediates', join(dir, file), writeNpy(step.tensor));
    return { file, key: step.key, leafKeys: step.leafKeys, label: step.label, layerIndex: step.layerIndex, role: step.role, shape: step.tensor.shape };
  });
  writeFile('--intermediates', join(dir, 'index.json'), new TextEncoder().encode(`${JSON.stringify({ backend: result.backend, steps: index }, null, 2)}\n`));
  return steps.length;
}

async function webgpuDevice(verbose: boolean): Promise<GPUDevice> {
  // Dawn's own log lines about a missing driver stay out of the output unless --verbose (then Dawn runs here and prints them).
  if (!verbose) {
    const probe = probeAdapterQuietly();
    if (!probe.found) throw new Error(`--backend webgpu: no usable WebGPU device here (${probe.reason})${probe.dawnLog ? '; --verbose shows what Dawn reported' : ''}`);
  }
  const { getHostDevice } = await import('./engine/gpuDevice');
  const host = await getHostDevice();
  if (!host.ok) throw new Error(`--backend webgpu: no usable WebGPU device here (${host.reason})`);
  return host.device;
}

/**
 * The input and weights are finite (forward() checks them), but finite weights can still overflow
 * float32. Such an output is refused, naming the first step that overflowed (found by a second
 * run with every step's output, made only in this case).
 */
async function refuseNonFinite(result: ForwardResult, rerunWithSteps: () => Promise<ForwardResult>): Promise<void> {
  const data = result.output.data;
  const first = firstNonFinite(data);
  if (first < 0) return;
  let count = 0;
  for (let i = first; i < data.length; i++) if (!Number.isFinite(data[i]!)) count++;
  const steps = result.intermediates ?? (await rerunWithSteps()).intermediates ?? [];
  const step = steps.find((s) => firstNonFinite(s.tensor.data) >= 0);
  const where = step ? `; the first step with one is layers[${step.layerIndex}] (${step.key}: ${step.label})` : '';
  throw new Error(`the output holds ${count} non-finite value${count === 1 ? '' : 's'} (first: ${data[first]} at element ${first})${where}: the weights or the input overflow float32, nothing was written`);
}

/** `--threads N`: an integer from 1 to 64 (CPU threads a step may be split over). */
function parseThreads(text: string): number {
  const threads = Number(text);
  if (!/^\d+$/.test(text) || threads < 1 || threads > 64) throw new Error(`--threads must be an integer from 1 to 64, got "${text}"`);
  return threads;
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
      threads: { type: 'string' },
      verbose: { type: 'boolean', default: false },
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
  const threads = values.threads === undefined ? undefined : parseThreads(values.threads);

  const model = loadModelArgument(values.model!, (note) => process.stderr.write(`${terminalSafe(note)}\n`), (path) => readFile('--model', path));
  const input = parseFile('--input', values.input!, (bytes) => readNpy(bytes));
  const resolved = resolveForInput(model, input);
  if (values.intermediates !== undefined) checkIntermediatesDir(values.intermediates);
  let weights: WeightMap;
  if (values.weights) {
    weights = loadWeights(values.weights, resolved);
  } else {
    const init = values.init ?? 'seed:0';
    if (!values.init) process.stderr.write('sepconv: no --weights or --init given: using --init seed:0\n');
    weights = makeWeights(resolved, parseWeightSource(init));
  }

  const started = performance.now();
  const device = backend === 'webgpu' ? await webgpuDevice(values.verbose!) : undefined;
  const options = { backend, intermediates: values.intermediates !== undefined, fuse: !values.unfused, device, threads };
  const result = await forward(resolved, weights, input, options);
  const ms = performance.now() - started;
  await refuseNonFinite(result, () => forward(resolved, weights, input, { ...options, intermediates: true }));
  writeFile('--output', values.output!, writeNpy(result.output));
  const lines = [`${terminalSafe(resolved.name, true)}: [${input.shape.join(', ')}] -> [${result.output.shape.join(', ')}] on ${result.backend} in ${ms.toFixed(1)} ms`, `wrote ${values.output}`];
  if (values.intermediates !== undefined) lines.push(`wrote ${writeIntermediates(values.intermediates, result)} step outputs and index.json to ${values.intermediates}`);
  process.stdout.write(`${terminalSafe(lines.join('\n'))}\n`);
  return 0;
}
