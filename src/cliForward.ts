/**
 * `sepconv forward`: runs a model on an .npy input and writes the output (and, on request, every
 * step's output) as .npy, so users can check the engine against their own PyTorch runs.
 *
 *   sepconv forward --model M.json|PRESET|X.onnx --input X.npy --output Y.npy
 *     [--weights W.safetensors | --init seed:42 | --init filters:sobel] (an .onnx brings its weights)
 *     [--backend cpu|webgpu] [--intermediates DIR] [--unfused]
 */
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { forward, resolveForInput } from './engine/forward';
import type { BackendName, ForwardResult, WeightMap } from './engine/types';
import { makeWeights, parseWeightSource } from './engine/weights';
import { readNpy, writeNpy } from './io/npy';
import { readSafetensors, requireDecoded } from './io/safetensors';
import { getPreset } from './shared/presets';
import { parameterShapes, type ResolvedModel } from './shared/spec';

export const FORWARD_USAGE = 'sepconv forward --model M.json|PRESET|X.onnx --input X.npy --output Y.npy [--weights W.safetensors | --init seed:42 | --init filters:sobel] [--backend cpu|webgpu] [--intermediates DIR] [--unfused]';

function loadModel(text: string): unknown {
  if (existsSync(text)) {
    const bytes = readFile('--model', text);
    try {
      return JSON.parse(bytes.toString('utf8'));
    } catch (error) {
      throw new Error(`--model ${text}: not valid JSON (${(error as Error).message})`);
    }
  }
  const preset = getPreset(text);
  if (!preset) throw new Error(`--model ${text}: no such file, and no preset of that name (see \`sepconv presets\`)`);
  return preset;
}

/** An .onnx model imported at the input's shape, with its own weights; an op it cannot import stops the command. */
async function loadOnnx(path: string, inputShape: number[], otherWeights: string | undefined): Promise<{ spec: unknown; weights: WeightMap }> {
  if (otherWeights !== undefined) throw new Error(`--model ${path}: an .onnx model brings its own weights; drop --weights and --init`);
  const { importOnnxFile } = await import('./io/onnxFiles');
  let imported: Awaited<ReturnType<typeof importOnnxFile>>;
  try {
    imported = importOnnxFile(path, { inputShape });
  } catch (error) {
    throw new Error(`--model ${path}: ${(error as NodeJS.ErrnoException).code ? fileProblem(error) : error instanceof Error ? error.message : String(error)}`);
  }
  if (imported.unsupported) throw new Error(`--model ${path}: ${imported.unsupported.message} (sepconv cost --model ${path} shows the graph up to it)`);
  for (const warning of imported.warnings) process.stderr.write(`sepconv: ${warning}\n`);
  return { spec: imported.spec, weights: imported.weights };
}

/** What went wrong with a path, for people: "no such file", "is a directory, not a file", ... */
function fileProblem(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EISDIR') return 'is a directory, not a file';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  return error instanceof Error ? error.message : String(error);
}

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

async function webgpuDevice(): Promise<GPUDevice> {
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

  const input = parseFile('--input', values.input!, (bytes) => readNpy(bytes));
  const onnx = values.model!.toLowerCase().endsWith('.onnx') ? await loadOnnx(values.model!, input.shape, values.weights ?? values.init) : undefined;
  const model = onnx ? onnx.spec : loadModel(values.model!);
  const resolved = resolveForInput(model, input);
  if (values.intermediates !== undefined) checkIntermediatesDir(values.intermediates);
  let weights: WeightMap;
  if (onnx) {
    weights = onnx.weights;
  } else if (values.weights) {
    weights = loadWeights(values.weights, resolved);
  } else {
    const init = values.init ?? 'seed:0';
    if (!values.init) process.stderr.write('sepconv: no --weights or --init given: using --init seed:0\n');
    weights = makeWeights(resolved, parseWeightSource(init));
  }

  const started = performance.now();
  const device = backend === 'webgpu' ? await webgpuDevice() : undefined;
  const options = { backend, intermediates: values.intermediates !== undefined, fuse: !values.unfused, device };
  const result = await forward(resolved, weights, input, options);
  const ms = performance.now() - started;
  await refuseNonFinite(result, () => forward(resolved, weights, input, { ...options, intermediates: true }));
  writeFile('--output', values.output!, writeNpy(result.output));
  const lines = [`${resolved.name}: [${input.shape.join(', ')}] -> [${result.output.shape.join(', ')}] on ${result.backend} in ${ms.toFixed(1)} ms`, `wrote ${values.output}`];
  if (values.intermediates !== undefined) lines.push(`wrote ${writeIntermediates(values.intermediates, result)} step outputs and index.json to ${values.intermediates}`);
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}
