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
import { SpecError } from '../shared/spec';
import { CancelledError, EngineInputError } from './errors';
import type { ForwardResult } from './types';
import { buffersOf, isWeightSource, type FromEngineWorker, type ToEngineWorker, type WireError, type WorkerForwardRequest } from './workerProtocol';

export type { WorkerForwardRequest } from './workerProtocol';

export interface RunInWorkerOptions {
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
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

interface Pending {
  resolve(result: ForwardResult): void;
  reject(error: Error): void;
  onProgress?: (done: number, total: number) => void;
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
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  constructor(private readonly options: EngineWorkerClientOptions = {}) {}

  /** Runs one forward pass in the worker. */
  run(request: WorkerForwardRequest, options: RunInWorkerOptions = {}): Promise<ForwardResult> {
    if (options.signal?.aborted) return Promise.reject(new CancelledError());
    const worker = this.ensureWorker();
    const id = this.nextId++;
    return new Promise<ForwardResult>((resolve, reject) => {
      const onAbort = () => {
        this.pending.delete(id);
        reject(new CancelledError());
        // Alone, the run stops at once with its worker. Beside other runs it is cancelled in the
        // worker, where it stops at its next step, and the others go on.
        if (this.pending.size === 0) this.restart(new CancelledError());
        else worker.postMessage({ type: 'cancel', id } satisfies ToEngineWorker);
      };
      options.signal?.addEventListener('abort', onAbort, { once: true });
      const settle = <T>(fn: (value: T) => void) => (value: T) => {
        options.signal?.removeEventListener('abort', onAbort);
        this.pending.delete(id);
        if (this.pending.size === 0) this.worker?.unref();
        fn(value);
      };
      worker.ref(); // a run in flight keeps the process alive (the CLI awaits nothing else)
      this.pending.set(id, { resolve: settle(resolve), reject: settle(reject), onProgress: options.onProgress });
      const transfer = options.transfer
        ? buffersOf([request.input, ...(isWeightSource(request.weights) ? [] : Object.values(request.weights))])
        : [];
      try {
        worker.postMessage({ type: 'forward', id, request } satisfies ToEngineWorker, transfer);
      } catch (error) {
        this.pending.get(id)?.reject(new Error(`could not send the request to the engine worker: ${(error as Error).message}`));
      }
    });
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
      const job = this.pending.get(message.id);
      if (!job) return;
      if (message.type === 'progress') job.onProgress?.(message.done, message.total);
      else if (message.type === 'result') job.resolve(message.result);
      else job.reject(fromWire(message.error));
    });
    worker.on('error', (error) => this.crashed(worker, `${error.name}: ${error.message}`));
    worker.on('exit', (code) => this.crashed(worker, `exit code ${code}`));
    this.worker = worker;
    return worker;
  }

  private crashed(worker: Worker, detail: string): void {
    if (this.worker !== worker) return; // terminated on purpose
    this.worker = undefined;
    const error = new EngineWorkerCrashedError(detail);
    for (const job of [...this.pending.values()]) job.reject(error);
  }

  private restart(reason: Error): void {
    const worker = this.worker;
    this.worker = undefined;
    for (const job of [...this.pending.values()]) job.reject(reason);
    void worker?.terminate();
  }
}

let shared: EngineWorkerClient | undefined;

/** Runs a forward pass in the shared engine worker (created on first use). */
export function runInWorker(request: WorkerForwardRequest, options: RunInWorkerOptions = {}): Promise<ForwardResult> {
  shared ??= new EngineWorkerClient();
  return shared.run(request, options);
}

/** Stops the shared worker (extension deactivation). */
export function disposeSharedWorker(): void {
  shared?.dispose();
  shared = undefined;
}
