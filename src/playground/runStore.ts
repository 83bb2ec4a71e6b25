/**
 * The full values of a panel's latest run, kept at the host: the page gets previews of the
 * feature maps (featurePreview.ts) and reads values from here when it needs them (the value under
 * the pointer, an export). Only the latest run is kept, so a panel holds one run's tensors at most.
 *
 * No `vscode` import: the request handlers and the tests use it alike.
 */
import type { ReadTensorBody, WireTensor } from '../shared/protocol';
import { channelPlanes } from '../shared/featurePreview';

export interface StoredTensor {
  shape: number[];
  data: Float32Array;
}

export class RunStore {
  private nextId = 1;
  private latest: { id: number; output: StoredTensor; steps: Map<string, StoredTensor> } | undefined;

  /** Keeps a run's tensors (dropping the previous run's) and returns the id the page names it by. */
  keep(output: StoredTensor, steps: readonly (StoredTensor & { key: string })[]): number {
    const id = this.nextId++;
    this.latest = { id, output, steps: new Map(steps.map((s) => [s.key, { shape: s.shape, data: s.data }])) };
    return id;
  }

  /** Buffers of the latest run that are free once its answer is sent (the previews', compressed on the way): handed back by release(). */
  private spare: ArrayBufferLike[] = [];

  clear(): void {
    this.latest = undefined;
    this.spare = [];
  }

  /** Keeps a buffer nothing reads any more, for the next run to write into (see release()). */
  giveBack(buffer: ArrayBufferLike): void {
    if (buffer.byteLength > 0) this.spare = [...this.spare.slice(-3), buffer];
  }

  /**
   * Drops the latest run and hands back the buffers of its values (each once), for the next run
   * to write into: a panel about to run again no longer needs them.
   */
  release(): ArrayBufferLike[] {
    const run = this.latest;
    this.latest = undefined;
    const buffers = new Set<ArrayBufferLike>(this.spare);
    this.spare = [];
    if (!run) return [...buffers];
    // The engine worker's values are SharedArrayBuffers (forkSafe.ts): they go back as they are.
    for (const tensor of [run.output, ...run.steps.values()]) buffers.add(tensor.data.buffer);
    return [...buffers];
  }

  /** The values a `readTensor` request asks for, as a fresh buffer; a clear error when they are gone or out of range. */
  read(body: ReadTensorBody): WireTensor {
    const run = this.latest;
    if (!run || run.id !== body.runId) throw new Error(`run ${body.runId} is no longer kept (only the latest run's values are): run again`);
    const tensor = body.step === undefined ? run.output : run.steps.get(body.step);
    if (!tensor) throw new Error(`run ${body.runId} has no step ${JSON.stringify(body.step)}`);
    if (body.channelStart === undefined || body.channelEnd === undefined) return { shape: [...tensor.shape], data: tensor.data.slice().buffer };
    if (tensor.shape.length !== 4 || tensor.shape[0] !== 1)
      throw new Error(`channels can be read only from a [1, C, H, W] tensor; ${body.step ?? 'the output'} is [${tensor.shape.join(', ')}]`);
    const { channels, plane } = channelPlanes(tensor.shape);
    if (body.channelEnd > channels)
      throw new Error(`channels [${body.channelStart}, ${body.channelEnd}) are out of range: ${body.step ?? 'the output'} has ${channels}`);
    const data = tensor.data.slice(body.channelStart * plane, body.channelEnd * plane);
    return { shape: [1, body.channelEnd - body.channelStart, tensor.shape[2]!, tensor.shape[3]!], data: data.buffer };
  }
}
