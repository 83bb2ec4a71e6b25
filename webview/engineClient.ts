/**
 * Starts and talks to the page's engine worker. The worker script is fetched from
 * dist/webviewWorker.js (an asWebviewUri resource in VS Code, allowed by `connect-src`) and
 * started from a blob: URL (allowed by `worker-src blob:`): a webview cannot start a worker from
 * its resource origin directly, and a blob: worker needs no other CSP exception.
 */
import type { EngineBackend, RunResult, WireTensor } from '../src/shared/protocol';
import type { ModelSpec } from '../src/shared/spec';
import type { FromWorker, ToWorker, WebGpuProbe, WorkerWeights } from './workerProtocol';
import { RequestCancelled } from './hostBridge';

export class EngineClient {
  private worker: Worker | undefined;
  private blobUrl: Promise<string> | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void; onProgress?(done: number, total: number, label: string): void }>();

  constructor(private readonly workerUrl: string) {}

  private async start(): Promise<Worker> {
    if (this.worker) return this.worker;
    this.blobUrl ??= fetch(this.workerUrl)
      .then((response) => {
        if (!response.ok) throw new Error(`could not load the engine worker (${response.status} ${response.statusText})`);
        return response.text();
      })
      .then((source) => URL.createObjectURL(new Blob([source], { type: 'text/javascript' })))
      .catch((error: unknown) => {
        this.blobUrl = undefined;
        throw error;
      });
    const worker = new Worker(await this.blobUrl, { type: 'module', name: 'sepconv-engine' });
    worker.onmessage = (event: MessageEvent<FromWorker>) => this.onMessage(event.data);
    worker.onerror = (event) => {
      event.preventDefault();
      this.failAll(new Error(`the engine worker failed: ${event.message || 'unknown error'}`));
    };
    this.worker = worker;
    return worker;
  }

  private onMessage(message: FromWorker): void {
    const entry = this.pending.get(message.id);
    if (!entry) return;
    if (message.type === 'progress') {
      entry.onProgress?.(message.done, message.total, message.label);
      return;
    }
    this.pending.delete(message.id);
    if (message.type === 'error') entry.reject(new Error(message.error));
    else if (message.type === 'probe') entry.resolve(message.webgpu);
    else entry.resolve(message.result);
  }

  private failAll(error: Error): void {
    for (const entry of this.pending.values()) entry.reject(error);
    this.pending.clear();
    this.worker?.terminate();
    this.worker = undefined;
  }

  private async send<T>(message: Omit<ToWorker, 'id'>, transfer: Transferable[], options: { signal?: AbortSignal; onProgress?(done: number, total: number, label: string): void } = {}): Promise<T> {
    const worker = await this.start();
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject, onProgress: options.onProgress });
      options.signal?.addEventListener('abort', () => {
        if (!this.pending.has(id)) return;
        // A CPU pass cannot be interrupted from outside; the worker is dropped and a fresh one starts next time.
        this.failAll(new RequestCancelled());
      });
      worker.postMessage({ ...message, id } as ToWorker, transfer);
    });
  }

  probeWebGpu(): Promise<WebGpuProbe> {
    return this.send<WebGpuProbe>({ type: 'probe' }, []);
  }

  run(backend: EngineBackend, model: ModelSpec, input: WireTensor, weights: WorkerWeights, options: { signal?: AbortSignal; onProgress?(done: number, total: number, label: string): void }): Promise<RunResult> {
    const transfer: Transferable[] = [input.data];
    if (weights.kind === 'safetensors') transfer.push(weights.bytes);
    return this.send<RunResult>({ type: 'run', backend, model, input, weights } as Omit<ToWorker, 'id'>, transfer, options);
  }
}
