/**
 * Starts and talks to the page's engine worker. The worker script is fetched from
 * dist/webviewWorker.js (an asWebviewUri resource in VS Code, allowed by `connect-src`) and
 * started from a blob: URL (allowed by `worker-src blob:`): a webview cannot start a worker from
 * its resource origin directly, and a blob: worker needs no other CSP exception.
 */
import type { EngineBackend, WireTensor } from '../src/shared/protocol';
import type { ModelSpec } from '../src/shared/spec';
import type { FromWorker, PageFeatureMap, PageRunResult, PaintedMaps, StepPicture, ToWorker, WebGpuProbe, WorkerWeights } from './workerProtocol';
import type { PaintRequest } from './mapImages';
import { SpareBuffers } from '../src/shared/spareBuffers';
import { RequestCancelled } from './hostBridge';
import { RequestClient, type RequestOptions } from '../src/shared/requests';
import type { PageModelFile } from './modelImport';
import type { CompressedRunResult } from '../src/shared/packedMaps';

/** Buffers the page keeps for its worker between two requests, at most (the latest). */
const SPARE_LIMIT = 64;

export class EngineClient {
  private worker: Worker | undefined;
  private blobUrl: Promise<string> | undefined;
  private readonly requests = new RequestClient({
    cancelled: () => new RequestCancelled(),
    // A CPU pass cannot be interrupted from outside; the worker is dropped and a fresh one starts next time.
    onCancel: () => this.failAll(new RequestCancelled()),
  });

  /** Pixel buffers of drawn pictures, for the worker to paint the next ones into. */
  private readonly spare = new SpareBuffers();

  constructor(private readonly workerUrl: string) {}

  /** Hands back a drawn picture's pixel buffer: it goes to the worker with the next run or paint. */
  recycle(pixels: ArrayBuffer): void {
    this.spare.give(pixels, SPARE_LIMIT);
  }

  /**
   * Hands back the previews and ranges of maps no longer shown (a run replaced by a later one): the
   * worker unpacks the next host answers into them. Nothing may read those maps afterwards.
   */
  recycleMaps(maps: readonly PageFeatureMap[]): void {
    for (const buffer of new Set(maps.flatMap((m) => [m.preview, m.ranges]))) this.spare.give(buffer, SPARE_LIMIT);
  }

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
    switch (message.type) {
      case 'progress':
        return this.requests.progress(message.id, message.done, message.total, message.label);
      case 'error':
        return this.requests.reject(message.id, new Error(message.error));
      case 'probe':
        return this.requests.resolve(message.id, message.webgpu);
      case 'painted':
        return this.requests.resolve(message.id, message.painted);
      case 'imported':
        return this.requests.resolve(message.id, message.model);
      case 'result':
        return this.requests.resolve(message.id, { result: message.result, pictures: message.pictures });
    }
  }

  private failAll(error: Error): void {
    this.requests.rejectAll(error);
    this.worker?.terminate();
    this.worker = undefined;
  }

  private async send<T>(message: Omit<ToWorker, 'id'>, transfer: Transferable[], options: RequestOptions = {}): Promise<T> {
    const worker = await this.start();
    return this.requests.request<T>((id) => worker.postMessage({ ...message, id }, transfer), options);
  }

  probeWebGpu(): Promise<WebGpuProbe> {
    return this.send<WebGpuProbe>({ type: 'probe' }, []);
  }

  /** A forward pass in the worker, with its feature maps painted for `paint` (`pictures[i]` for `result.featureMaps[i]`). */
  run(
    backend: EngineBackend,
    model: ModelSpec,
    input: WireTensor,
    weights: WorkerWeights,
    paint: PaintRequest,
    options: RequestOptions,
  ): Promise<{ result: PageRunResult; pictures: (StepPicture | undefined)[] }> {
    const spare = this.spare.takeAll();
    const transfer: Transferable[] = [input.data, ...spare];
    if (weights.kind === 'safetensors') transfer.push(weights.bytes);
    return this.send({ type: 'run', backend, model, input, weights, paint, spare } as Omit<ToWorker, 'id'>, transfer, options);
  }

  /** Imports a model file's bytes in the worker (they move there); rejects with the import's message. */
  importModel(bytes: ArrayBuffer, name: string): Promise<PageModelFile> {
    return this.send<PageModelFile>({ type: 'import', name, bytes } as Omit<ToWorker, 'id'>, [bytes]);
  }

  /**
   * Paints feature maps computed elsewhere (the host's runs). Their buffers move to the worker and
   * come back with the pictures: use the returned maps, the ones passed in are detached.
   */
  paint(maps: PageFeatureMap[], paint: PaintRequest, options: RequestOptions = {}): Promise<PaintedMaps> {
    const spare = this.spare.takeAll();
    const transfer = [...new Set(maps.flatMap((m) => [m.preview, m.ranges, ...(m.values ? [m.values] : [])])), ...spare];
    return this.send<PaintedMaps>({ type: 'paint', maps, paint, spare } as Omit<ToWorker, 'id'>, transfer, options);
  }

  /**
   * Inflates and paints a host run's compressed maps in the worker: the page's thread does neither
   * (new memory costs its first writes: 3 MB of previews inflated and split here took 30-90 ms).
   * The deflated buffer moves to the worker: when this rejects, it is detached unless the worker
   * never started.
   */
  unpack(answer: CompressedRunResult, paint: PaintRequest, options: RequestOptions = {}): Promise<PaintedMaps> {
    const spare = this.spare.takeAll();
    const message = { type: 'unpack', maps: answer.featureMaps, deflated: answer.mapsDeflated, bytes: answer.mapsBytes, paint, spare };
    return this.send<PaintedMaps>(message as Omit<ToWorker, 'id'>, [answer.mapsDeflated, ...spare], options);
  }
}
