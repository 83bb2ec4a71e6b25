/**
 * The host side of the engine worker: `runInWorker()` runs a forward pass in a node worker
 * thread (dist/engineWorker.js) so the extension host's thread stays free. Cancelling a run
 * rejects it with a CancelledError at once: a run alone in its worker is stopped by terminating
 * the worker, a run beside others is cancelled inside the worker (it stops at its next step) so
 * that the others go on; a crashed worker rejects its runs with a clear error; either way the next
 * run starts a fresh worker.
 */
import { join } from 'node:path';
import { Worker, type ResourceLimits } from 'node:worker_threads';
import { RequestClient } from '../shared/requests';
import { SpecError } from '../shared/spec';
import { CancelledError, EngineInputError } from './errors';
import { isWeightSource } from './weights';
import { buffersOf, type FromEngineWorker, type ToEngineWorker, type WireError, type WorkerForwardRequest, type WorkerRunResult } from './workerProtocol';

export type { WorkerForwardRequest } from './workerProtocol';

export interface RunInWorkerOptions {
  signal?: AbortSignal;
  onProgress?(done: number, total: number): void;
  /**
   * Transfer the input's and the weights' buffers to the worker instead of copying them: faster
   * for big models, but the caller's arrays are detached (length 0) afterwards. Default false.
   */
  transfer?: boolean;
}

export interface EngineWorkerClientOptions {
  /** The bundled worker script. Default: engineWorker.js next to this bundle (dist/). */
  workerPath?: string;
  resourceLimits?: ResourceLimits;
}

/** The worker died while running (an uncaught error, out of memory, process.exit). */
export class EngineWorkerCrashedError extends Error {
  constructor(detail: string) {
    super(`the engine worker stopped unexpectedly (${detail}); the next run starts a new one`);
    this.name = 'EngineWorkerCrashedError';
  }
}

function fromWire(error: WireError): Error {
  if (error.name === 'EngineInputError') return new EngineInputError(error.layerPath ?? 'model', error.tensor ?? '', error.reason ?? error.message);
  if (error.name === 'SpecError') return new SpecError(error.path ?? 'model', error.field, error.reason ?? error.message, error.layerIndex ?? -1);
  if (error.name === 'CancelledError') return new CancelledError(error.message);
  const rebuilt = new Error(error.message);
  rebuilt.name = error.name;
  return rebuilt;
}

function defaultWorkerPath(): string {
  return join(typeof __dirname === 'string' ? __dirname : process.cwd(), 'engineWorker.js');
}

export class EngineWorkerClient {
  private worker: Worker | undefined;
  private readonly requests = new RequestClient({
    cancelled: () => new CancelledError(),
    // Alone, the run stops at once with its worker (the next run starts a fresh one). Beside other
    // runs it is cancelled in the worker, where it stops at its next step, and the others go on.
    onCancel: (id) => {
      if (this.requests.size === 0) this.restart(new CancelledError());
      else this.worker?.postMessage({ type: 'cancel', id } satisfies ToEngineWorker);
    },
    onIdle: () => this.worker?.unref(),
  });

  constructor(private readonly options: EngineWorkerClientOptions = {}) {}

  /** Runs one forward pass in the worker. */
  run(request: WorkerForwardRequest, options: RunInWorkerOptions = {}): Promise<WorkerRunResult> {
    if (options.signal?.aborted) return Promise.reject(new CancelledError()); // before a worker starts for nothing
    const worker = this.ensureWorker();
    const transfer = [
      ...(options.transfer ? buffersOf([request.input, ...(isWeightSource(request.weights) ? [] : Object.values(request.weights))]) : []),
      // Spare buffers always move: they are the host's no longer.
      // Shared buffers (the values, see forkSafe.ts) are shared by the message, not transferred.
      ...(request.spare ?? []).filter((buffer) => buffer instanceof ArrayBuffer),
    ];
    worker.ref(); // a run in flight keeps the process alive (the CLI awaits nothing else)
    return this.requests.request<WorkerRunResult>((id) => {
      try {
        worker.postMessage({ type: 'forward', id, request } satisfies ToEngineWorker, transfer);
      } catch (error) {
        throw new Error(`could not send the request to the engine worker: ${(error as Error).message}`);
      }
    }, options);
  }

  /** Stops the worker; runs in flight reject. */
  dispose(): void {
    this.restart(new CancelledError('the engine worker was disposed'));
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(this.options.workerPath ?? defaultWorkerPath(), { resourceLimits: this.options.resourceLimits });
    worker.unref(); // an idle worker never keeps the process alive
    worker.on('message', (message: FromEngineWorker) => {
      if (message.type === 'progress') this.requests.progress(message.id, message.done, message.total);
      else if (message.type === 'result') this.requests.resolve(message.id, message.result);
      else this.requests.reject(message.id, fromWire(message.error));
    });
    worker.on('error', (error) => this.crashed(worker, `${error.name}: ${error.message}`));
    worker.on('exit', (code) => this.crashed(worker, `exit code ${code}`));
    this.worker = worker;
    return worker;
  }

  private crashed(worker: Worker, detail: string): void {
    if (this.worker !== worker) return; // terminated on purpose
    this.worker = undefined;
    this.requests.rejectAll(new EngineWorkerCrashedError(detail));
  }

  private restart(reason: Error): void {
    const worker = this.worker;
    this.worker = undefined;
    this.requests.rejectAll(reason);
    void worker?.terminate();
  }
}

let shared: EngineWorkerClient | undefined;

/** Runs a forward pass in the shared engine worker (created on first use). */
export function runInWorker(request: WorkerForwardRequest, options: RunInWorkerOptions = {}): Promise<WorkerRunResult> {
  shared ??= new EngineWorkerClient();
  return shared.run(request, options);
}

/** Stops the shared worker (extension deactivation). */
export function disposeSharedWorker(): void {
  shared?.dispose();
  shared = undefined;
}
