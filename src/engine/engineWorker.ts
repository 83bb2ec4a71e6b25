/**
 * The engine in a node worker thread (bundled to dist/engineWorker.js): the extension host and
 * the CLI run forward passes here so that their own thread never waits on one. It answers each
 * `forward` message with progress messages and then a result (buffers transferred) or an error.
 */
import { parentPort } from 'node:worker_threads';
import { SpareBuffers } from '../shared/spareBuffers';
import { forkSafeBuffer, forkSafeBytes, forkSafeFloats } from './forkSafe';
import { SpecError } from '../shared/spec';
import { EngineInputError } from './errors';
import { resolveForInput } from './forward';
import { packedFeatureMaps, runModel } from './modelRun';
import { prepare, type PreparedModel } from './preparedModel';
import { isWeightSource, makeWeights } from './weights';
import { buffersOf, type FromEngineWorker, type ToEngineWorker, type WireError, type WorkerForwardRequest, type WorkerRunResult } from './workerProtocol';

const port = parentPort;
if (!port) throw new Error('engineWorker.js must run in a worker thread');

function toWire(error: unknown): WireError {
  if (error instanceof EngineInputError)
    return { name: error.name, message: error.message, layerPath: error.layerPath, tensor: error.tensor, reason: error.reason };
  if (error instanceof SpecError)
    return { name: error.name, message: error.message, path: error.path, field: error.field, reason: error.reason, layerIndex: error.layerIndex };
  if (error instanceof Error) return { name: error.name, message: error.message };
  return { name: 'Error', message: String(error) };
}

async function deviceFor(backend: string | undefined): Promise<GPUDevice | undefined> {
  if (backend !== 'webgpu') return undefined;
  const { getHostDevice } = await import('./gpuDevice');
  const host = await getHostDevice();
  if (!host.ok) throw new Error(`WebGPU is not available in the engine worker: ${host.reason}`);
  return host.device;
}

/** The runs in progress, to cancel by id. */
const running = new Map<number, AbortController>();

/**
 * The model prepared for the last CPU request that could be kept (weights made from a
 * description, or tensors the host named with a weightsKey): the playground runs one model again
 * and again, and a prepared model checks and packs its weights once, not per run.
 */
let kept: Kept | undefined;
interface Kept {
  key: string;
  prepared: Promise<PreparedModel>;
  /** Runs using it now; a model no longer kept is disposed when the last of them ends. */
  users: number;
}

function keyOf(request: WorkerForwardRequest): string | undefined {
  const options = request.options ?? {};
  if ((options.backend ?? 'cpu') !== 'cpu') return undefined;
  const weights = isWeightSource(request.weights) ? JSON.stringify(request.weights) : request.weightsKey;
  if (weights === undefined) return undefined;
  return JSON.stringify([request.model, weights, options.fuse ?? true]);
}

function release(entry: Kept): void {
  if (entry.users > 0 || kept === entry) return;
  void entry.prepared.then(
    (model) => model.dispose(),
    () => undefined,
  );
}

/** Runs `job` on the model prepared for `key` (prepared now unless it is the one kept). */
async function withPrepared<T>(request: WorkerForwardRequest, key: string, job: (model: PreparedModel) => Promise<T>): Promise<T> {
  if (kept?.key !== key) {
    const previous = kept;
    const prepared = (async () => {
      const resolved = resolveForInput(request.model, request.input);
      const weights = isWeightSource(request.weights) ? makeWeights(resolved, request.weights) : request.weights;
      return prepare(resolved, weights, { fuse: request.options?.fuse });
    })();
    const entry: Kept = { key, prepared, users: 0 };
    kept = entry;
    // A failed preparation is not kept.
    prepared.catch(() => {
      if (kept === entry) kept = undefined;
    });
    if (previous) release(previous);
  }
  const entry = kept;
  entry.users++;
  try {
    return await job(await entry.prepared);
  } finally {
    entry.users--;
    release(entry);
  }
}

async function handle(message: Extract<ToEngineWorker, { type: 'forward' }>): Promise<void> {
  const { id, request } = message;
  const controller = new AbortController();
  running.set(id, controller);
  const post = (reply: FromEngineWorker, transfer: ArrayBuffer[] = []) => port!.postMessage(reply, transfer);
  try {
    const options = request.options ?? {};
    const runOptions = {
      ...options,
      signal: controller.signal,
      onProgress: (done: number, total: number) => post({ type: 'progress', id, done, total }),
    };
    const key = keyOf(request);
    // The values and the previews go in memory that a fork of the extension host does not make
    // slow to write (forkSafe.ts), shared with the host, not transferred; spares by their size.
    const spare = new SpareBuffers<ArrayBufferLike>();
    for (const buffer of request.spare ?? []) spare.give(buffer);
    const arrays = (floats: number) => forkSafeFloats(floats, spare.take(forkSafeBytes(floats * 4)));
    const previewsBuffer = (bytes: number) => forkSafeBuffer(bytes, spare.take(forkSafeBytes(bytes)));
    const result: WorkerRunResult = key
      ? await withPrepared(request, key, (model) => model.run(request.input, { ...runOptions, arrays }))
      : await runModel(request.model, request.weights, request.input, { ...runOptions, device: await deviceFor(options.backend) });
    const steps = result.intermediates ?? [];
    if (request.previewChannels !== undefined && steps.length > 0) result.featureMaps = packedFeatureMaps(steps, request.previewChannels, previewsBuffer);
    const packed = result.featureMaps?.[0]?.preview.buffer;
    post({ type: 'result', id, result }, [
      ...buffersOf([result.output, ...steps.map((step) => step.tensor)]),
      ...(packed instanceof ArrayBuffer ? [packed] : []),
    ]);
  } catch (error) {
    post({ type: 'error', id, error: toWire(error) });
  } finally {
    running.delete(id);
  }
}

port.on('message', (message: ToEngineWorker) => {
  if (message?.type === 'forward') void handle(message);
  else if (message?.type === 'cancel') running.get(message.id)?.abort();
});
