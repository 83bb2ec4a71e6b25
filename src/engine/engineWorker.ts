/**
 * The engine in a node worker thread (bundled to dist/engineWorker.js): the extension host and
 * the CLI run forward passes here so that their own thread never waits on one. It answers each
 * `forward` message with progress messages and then a result (buffers transferred) or an error.
 */
import { parentPort } from 'node:worker_threads';
import { SpecError } from '../shared/spec';
import { EngineInputError } from './errors';
import { runModel } from './modelRun';
import { buffersOf, type FromEngineWorker, type ToEngineWorker, type WireError } from './workerProtocol';

const port = parentPort;
if (!port) throw new Error('engineWorker.js must run in a worker thread');

function toWire(error: unknown): WireError {
  if (error instanceof EngineInputError) return { name: error.name, message: error.message, layerPath: error.layerPath, tensor: error.tensor, reason: error.reason };
  if (error instanceof SpecError) return { name: error.name, message: error.message, path: error.path, field: error.field, reason: error.reason, layerIndex: error.layerIndex };
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

async function handle(message: Extract<ToEngineWorker, { type: 'forward' }>): Promise<void> {
  const { id, request } = message;
  const controller = new AbortController();
  running.set(id, controller);
  const post = (reply: FromEngineWorker, transfer: ArrayBuffer[] = []) => port!.postMessage(reply, transfer);
  try {
    const options = request.options ?? {};
    const result = await runModel(request.model, request.weights, request.input, {
      ...options,
      device: await deviceFor(options.backend),
      signal: controller.signal,
      onProgress: (done, total) => post({ type: 'progress', id, done, total }),
    });
    post({ type: 'result', id, result }, buffersOf([result.output, ...(result.intermediates ?? []).map((step) => step.tensor)]));
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
