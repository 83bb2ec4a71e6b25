/**
 * `sepconv forward`: runs a model on an .npy input and writes the output (and, on request, every
 * step's output) as .npy, so users can check the engine against their own PyTorch runs.
 *
 *   sepconv forward --model M.json|PRESET|X.onnx --input X.npy --output Y.npy
 *     [--weights W.safetensors | --init seed:42 | --init filters:sobel] (an .onnx brings its weights)
 *     [--backend cpu|webgpu] [--threads N] [--intermediates DIR] [--unfused] [--verbose]
 */
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { forward, resolveForInput } from '../engine/forward';
import { MAX_THREADS } from '../engine/cpu/cpuBackend';
import type { ForwardResult, WeightMap } from '../engine/types';
import type { EngineBackend } from '../shared/protocol';
import { firstNonFinite, makeWeights, parseWeightSource } from '../engine/weights';
import { checkDirectoryDestination, checkFileDestination, makeDirectories, READ_LIMITS, readRegularFile } from '../io/localFiles';
import { readNpy, writeNpy } from '../io/npy';
import { readSafetensors, requireDecoded } from '../io/safetensors';
import { parameterShapes, type ResolvedModel } from '../shared/spec';
import { probeAdapterQuietly } from './adapterProbe';
import { UsageError, pickOption } from './arguments';
import { forOption, parseOptionFile, writeOptionFile } from './files';
import { isOnnxModel, loadModel } from './modelArgument';
import { terminalSafe, type CliOutput } from './terminal';

/** Reads --weights; a tensor the model needs that is stored with a dtype the reader does not decode is named as such, not as missing. */
function loadWeights(path: string, model: ResolvedModel): WeightMap {
  return parseOptionFile('--weights', path, READ_LIMITS.safetensors, (bytes) => {
    const file = readSafetensors(bytes);
    requireDecoded(
      file,
      parameterShapes(model).map((t) => t.key),
    );
    return file.tensors;
  });
}

/** A file name for a step: its position, then its key ("003_1.conv.1.2.npy"). */
function stepFileName(index: number, key: string): string {
  return `${String(index).padStart(3, '0')}_${key.replace(/[^\w.-]/g, '_')}.npy`;
}

/** What index.json of an intermediates folder says it is (see {@link writeIntermediates}). */
const INDEX_FORMAT = 'sepconv-intermediates';
/** The names {@link stepFileName} makes: only such files are ever removed from a folder. */
const STEP_FILE = /^\d{3,}_[\w.-]+\.npy$/;

/**
 * The step files an earlier run listed in `dir/index.json`, when that index is one this command
 * wrote (a `steps` list of step file names); undefined when there is no such index.
 */
function earlierStepFiles(dir: string): string[] | undefined {
  let index: unknown;
  try {
    index = JSON.parse(readRegularFile(join(dir, 'index.json'), READ_LIMITS.spec).toString('utf8'));
  } catch {
    return undefined;
  }
  const record = index as { format?: unknown; backend?: unknown; steps?: unknown } | null;
  if (typeof record !== 'object' || record === null || !Array.isArray(record.steps)) return undefined;
  if (record.format !== INDEX_FORMAT && typeof record.backend !== 'string') return undefined;
  const files = record.steps.map((step: { file?: unknown } | null) => step?.file);
  return files.every((file): file is string => typeof file === 'string' && STEP_FILE.test(file)) ? files : undefined;
}

/**
 * Checked before the run, so that a bad --intermediates does not fail after the output is written:
 * the folder can be written, or is made here; and it is new, empty, or the folder of an earlier run (whose
 * step files are returned, to be removed once the new ones are written). A folder with other
 * files and no index.json of ours is refused: its files are not this command's to replace.
 */
function checkIntermediatesDir(dir: string): string[] {
  forOption('--intermediates', dir, () => checkDirectoryDestination(dir));
  if (!existsSync(dir)) {
    // Made now, not after the run: a folder that cannot be made (under /proc, say) fails before any work.
    forOption('--intermediates', dir, () => makeDirectories(dir));
    return [];
  }
  const entries = readdirSync(dir);
  if (entries.length === 0) return [];
  const earlier = earlierStepFiles(dir);
  if (!earlier)
    throw new Error(
      `--intermediates ${dir}: the folder holds ${entries.length} file(s) and no index.json of an earlier \`sepconv forward\` run; give a new or empty folder`,
    );
  return earlier;
}

/** Writes every step's output, then index.json, then removes the step files of an earlier run that are not rewritten. */
async function writeIntermediates(dir: string, result: ForwardResult, earlier: readonly string[]): Promise<number> {
  forOption('--intermediates', dir, () => makeDirectories(dir));
  const steps = result.intermediates ?? [];
  const index = [];
  for (const [i, step] of steps.entries()) {
    const file = stepFileName(i, step.key);
    await writeOptionFile('--intermediates', join(dir, file), writeNpy(step.tensor));
    index.push({ file, key: step.key, leafKeys: step.leafKeys, label: step.label, layerIndex: step.layerIndex, role: step.role, shape: step.tensor.shape });
  }
  await writeOptionFile(
    '--intermediates',
    join(dir, 'index.json'),
    new TextEncoder().encode(`${JSON.stringify({ format: INDEX_FORMAT, backend: result.backend, steps: index }, null, 2)}\n`),
  );
  const written = new Set(index.map((entry) => entry.file));
  for (const stale of earlier) {
    if (written.has(stale)) continue;
    const path = join(dir, stale);
    // Only plain files: a folder given one of our names is left alone.
    if (statSync(path, { throwIfNoEntry: false })?.isFile()) rmSync(path);
  }
  return steps.length;
}

async function webgpuDevice(verbose: boolean): Promise<GPUDevice> {
  // Dawn's own log lines about a missing driver stay out of the output unless --verbose (then Dawn runs here and prints them).
  if (!verbose) {
    const probe = probeAdapterQuietly();
    if (!probe.found)
      throw new Error(`--backend webgpu: no usable WebGPU device here (${probe.reason})${probe.dawnLog ? '; --verbose shows what Dawn reported' : ''}`);
  }
  const { getHostDevice } = await import('../engine/gpuDevice');
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
  throw new Error(
    `the output holds ${count} non-finite value${count === 1 ? '' : 's'} (first: ${data[first]} at element ${first})${where}: the weights or the input overflow float32, nothing was written`,
  );
}

/** `--threads N`: an integer from 1 to MAX_THREADS (CPU threads a step may be split over), as the engine accepts. */
function parseThreads(text: string): number {
  const threads = Number(text);
  if (!/^\d+$/.test(text) || threads < 1 || threads > MAX_THREADS) throw new UsageError(`--threads must be an integer from 1 to ${MAX_THREADS}, got "${text}"`);
  return threads;
}

/**
 * Runs `sepconv forward ARGS`: writes a summary through `io.out` and notes through `io.err`;
 * returns the exit code. Bad arguments and bad files throw an Error with a message for the user
 * (main() prints it and exits 1).
 */
export async function runForwardCommand(args: string[], io: CliOutput): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      model: { type: 'string' },
      input: { type: 'string' },
      output: { type: 'string' },
      weights: { type: 'string' },
      init: { type: 'string' },
      backend: { type: 'string' },
      intermediates: { type: 'string' },
      unfused: { type: 'boolean', default: false },
      threads: { type: 'string' },
      verbose: { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  for (const required of ['model', 'input', 'output'] as const) {
    if (!values[required]) throw new UsageError(`forward needs --${required}`);
  }
  if (values.weights && values.init) throw new UsageError('give either --weights or --init, not both');
  const backend = pickOption<EngineBackend>(values.backend, ['cpu', 'webgpu'], 'cpu', '--backend');
  const threads = values.threads === undefined ? undefined : parseThreads(values.threads);

  forOption('--output', values.output!, () => checkFileDestination(values.output!));
  const input = parseOptionFile('--input', values.input!, READ_LIMITS.npy, (bytes) => readNpy(bytes));
  // An .onnx model brings its own weights, and runs only when every node was imported.
  if (isOnnxModel(values.model!) && (values.weights !== undefined || values.init !== undefined))
    throw new UsageError(`--model ${values.model}: an .onnx model brings its own weights; drop --weights and --init`);
  const model = await loadModel(values.model!, { note: io.err, inputShape: input.shape });
  if (model.kind === 'onnx') {
    if (model.imported.unsupported)
      throw new Error(`--model ${values.model}: ${model.imported.unsupported.message} (sepconv cost --model ${values.model} shows the graph up to it)`);
    for (const warning of model.imported.warnings) io.err(`sepconv: ${warning}`);
  }
  const resolved = resolveForInput(model.kind === 'onnx' ? model.imported.spec : model.spec, input);
  const earlierSteps = values.intermediates !== undefined ? checkIntermediatesDir(values.intermediates) : [];
  let weights: WeightMap;
  if (model.kind === 'onnx') {
    weights = model.imported.weights;
  } else if (values.weights) {
    weights = loadWeights(values.weights, resolved);
  } else {
    if (!values.init) io.err('sepconv: no --weights or --init given: using --init seed:0');
    weights = makeWeights(resolved, parseWeightSource(values.init ?? 'seed:0'));
  }

  const started = performance.now();
  const device = backend === 'webgpu' ? await webgpuDevice(values.verbose) : undefined;
  const options = { backend, intermediates: values.intermediates !== undefined, fuse: !values.unfused, device, threads };
  const result = await forward(resolved, weights, input, options);
  const ms = performance.now() - started;
  await refuseNonFinite(result, () => forward(resolved, weights, input, { ...options, intermediates: true }));
  await writeOptionFile('--output', values.output!, writeNpy(result.output));
  const lines = [
    `${terminalSafe(resolved.name, true)}: [${input.shape.join(', ')}] -> [${result.output.shape.join(', ')}] on ${result.backend} in ${ms.toFixed(1)} ms`,
    `wrote ${values.output}`,
  ];
  if (values.intermediates !== undefined)
    lines.push(`wrote ${await writeIntermediates(values.intermediates, result, earlierSteps)} step outputs and index.json to ${values.intermediates}`);
  io.out(lines.join('\n'));
  return 0;
}
