/**
 * The page's engine: a Web Worker that runs forward passes with the same engine code as the
 * extension host (src/engine), on the CPU or on the page's WebGPU (navigator.gpu), so the panel
 * never freezes. Cancelling terminates the worker; the page starts a new one.
 */
import { featureMapOf, runModel, toRunResult } from '../src/engine/modelRun';
import type { WeightSource } from '../src/shared/protocol';
import { readSafetensors } from '../src/io/safetensors';
import { exactBuffer } from '../src/shared/tensor';
import type { FromWorker, PageFeatureMap, PageRunResult, PaintedMaps, StepPicture, ToWorker, WebGpuProbe, WorkerWeights } from './workerProtocol';
import { paintGrid, stepGrid, type PaintRequest } from './mapImages';
import { SpareBuffers } from '../src/shared/spareBuffers';
import { inflateMaps, unpackMaps } from '../src/shared/packedMaps';
import type { Intermediate, WeightMap } from '../src/engine/types';
import { describeAdapter, isSoftwareAdapter } from '../src/engine/softwareAdapter';
import { importPageModel } from './modelImport';

/** The worker's global scope (the project's tsconfig has the DOM lib, not the WebWorker one). */
const scope = self as unknown as { postMessage(message: unknown, transfer: Transferable[]): void; onmessage: ((event: MessageEvent<ToWorker>) => void) | null };

let devicePromise: Promise<{ device: GPUDevice; description: string; software: boolean } | { error: string }> | undefined;

function describePageAdapter(adapter: GPUAdapter): { description: string; software: boolean } {
  const fallback = (adapter as GPUAdapter & { isFallbackAdapter?: boolean }).isFallbackAdapter === true;
  return { description: describeAdapter(adapter.info, 'WebGPU adapter'), software: isSoftwareAdapter(adapter.info, fallback) };
}

function getDevice(): Promise<{ device: GPUDevice; description: string; software: boolean } | { error: string }> {
  if (!devicePromise) {
    devicePromise = (async () => {
      if (!('gpu' in navigator) || !navigator.gpu) return { error: 'this browser has no WebGPU (navigator.gpu is missing)' };
      const adapter = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
      if (!adapter) return { error: 'navigator.gpu has no adapter' };
      const { description, software } = describePageAdapter(adapter);
      const timestamps = adapter.features.has('timestamp-query');
      const device = await adapter.requestDevice({
        requiredFeatures: timestamps ? ['timestamp-query'] : [],
        requiredLimits: {
          maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
          maxBufferSize: adapter.limits.maxBufferSize,
          maxComputeWorkgroupStorageSize: adapter.limits.maxComputeWorkgroupStorageSize,
        },
      });
      void device.lost.then(() => {
        devicePromise = undefined; // recreated on the next run
      });
      return { device, description, software };
    })().catch((error: unknown) => {
      devicePromise = undefined;
      return { error: error instanceof Error ? error.message : String(error) };
    });
  }
  return devicePromise;
}

async function probe(): Promise<WebGpuProbe> {
  const result = await getDevice();
  if ('error' in result) return { available: false, description: result.error, software: false };
  return { available: true, description: result.description, software: result.software };
}

function loadWeights(source: WorkerWeights): WeightMap | WeightSource {
  if (source.kind === 'safetensors') return readSafetensors(source.bytes).tensors;
  if (source.kind === 'imported') throw new Error("the model file's weights stay in the extension host: run on CPU or Host GPU");
  return source;
}

async function run(
  message: Extract<ToWorker, { type: 'run' }>,
): Promise<{ result: PageRunResult; pictures: (StepPicture | undefined)[]; transfer: ArrayBuffer[] }> {
  const weights = loadWeights(message.weights);
  let device: GPUDevice | undefined;
  let deviceName = navigator.hardwareConcurrency ? `CPU in the page's worker (${navigator.hardwareConcurrency} logical cores)` : "CPU in the page's worker";
  if (message.backend === 'webgpu') {
    const gpu = await getDevice();
    if ('error' in gpu) throw new Error(`WebGPU in the page is unavailable: ${gpu.error}`);
    device = gpu.device;
    deviceName = gpu.description;
  }
  const start = performance.now();
  const result = await runModel(
    message.model,
    weights,
    { shape: message.input.shape, data: new Float32Array(message.input.data) },
    {
      backend: message.backend,
      device,
      intermediates: true,
      onProgress: (done, total) => post({ type: 'progress', id: message.id, done, total, label: `step ${done} of ${total}` }),
    },
  );
  const totalMs = performance.now() - start;
  // Previews of every channel (they stay on this machine), and the values for the value under the pointer and exports.
  const maps = distinctBuffers(result.intermediates ?? []).map((step): PageFeatureMap => ({
    ...featureMapOf(step, step, Infinity),
    values: exactBuffer(step.data),
  }));
  const painted = paintAll(maps, message.paint, spareOf(message.spare));
  const runResult: PageRunResult = toRunResult(result, painted.maps, {
    backend: message.backend,
    device: `${deviceName}, ${result.backend}`,
    runId: 0,
    totalMs,
  });
  return { result: runResult, pictures: painted.pictures, transfer: transferList(painted) };
}

/**
 * Paints each feature map's grid here, so that the page only copies finished pixels into its
 * canvases. RGBA pixels rather than ImageBitmaps: making a bitmap here costs as much as the page's
 * putImageData. The caller transfers every buffer (maps, pixels, ranges): nothing is copied.
 */
function paintAll(maps: PageFeatureMap[], request: PaintRequest, buffers: SpareBuffers): PaintedMaps {
  const pictures = maps.map((map): StepPicture | undefined => {
    if (map.shape.length !== 4 || map.previewChannels === 0) return undefined;
    const ranges = new Float32Array(map.ranges);
    const grid = stepGrid(map.key, map.shape, request, map.previewChannels);
    const into = buffers.take(grid.layout.width * grid.layout.height * 4);
    return { pixels: paintGrid(new Uint8Array(map.preview), grid, ranges, request, into).buffer, grid, request };
  });
  return { maps, pictures };
}

/** The buffers the page handed back, to be written again (src/shared/spareBuffers.ts). */
function spareOf(spare: ArrayBuffer[] = []): SpareBuffers {
  const buffers = new SpareBuffers();
  for (const buffer of spare) buffers.give(buffer);
  return buffers;
}

/**
 * What a host run's deflated maps inflate into: kept from one answer to the next, never sent (the
 * maps are copied out of it into buffers of their own, the page's spare ones when it gave some).
 */
let inflated: Uint8Array | undefined;

/** A host run's compressed maps, inflated and unpacked here (not on the page's thread), then painted. */
function unpack(message: Extract<ToWorker, { type: 'unpack' }>): PaintedMaps {
  const buffers = spareOf(message.spare);
  if (!inflated || inflated.length < message.bytes) inflated = new Uint8Array(message.bytes);
  const maps = unpackMaps(message.maps, inflateMaps(message.deflated, message.bytes, inflated), (bytes) => buffers.take(bytes) ?? new ArrayBuffer(bytes));
  return paintAll(maps, message.paint, buffers);
}

/** Every buffer of the maps and pictures: they move to the page, nothing is copied. */
function transferList(painted: PaintedMaps): ArrayBuffer[] {
  const buffers = painted.maps.flatMap((m) => [m.preview, m.ranges, ...(m.values ? [m.values] : [])]);
  return [...new Set([...buffers, ...painted.pictures.flatMap((p) => (p ? [p.pixels] : []))])];
}

/** The steps with their tensors, each in a buffer of its own (a step sharing a buffer with an earlier one gets a copy), so each can be transferred. */
function distinctBuffers(steps: Intermediate[]): (Omit<Intermediate, 'tensor'> & { shape: number[]; data: Float32Array })[] {
  const taken = new Set<ArrayBufferLike>();
  return steps.map(({ tensor, ...step }) => {
    const data = taken.has(tensor.data.buffer) ? tensor.data.slice() : tensor.data;
    taken.add(data.buffer);
    return { ...step, shape: tensor.shape, data };
  });
}

function post(message: FromWorker, transfer: Transferable[] = []): void {
  scope.postMessage(message, transfer);
}

// answer() catches its errors and posts them to the page, so the promise needs no handler.
scope.onmessage = (event: MessageEvent<ToWorker>) => void answer(event.data);

async function answer(message: ToWorker): Promise<void> {
  try {
    if (message.type === 'probe') {
      post({ type: 'probe', id: message.id, webgpu: await probe() });
    } else if (message.type === 'paint') {
      const painted = paintAll(message.maps, message.paint, spareOf(message.spare));
      post({ type: 'painted', id: message.id, painted }, transferList(painted));
    } else if (message.type === 'unpack') {
      const painted = unpack(message);
      post({ type: 'painted', id: message.id, painted }, transferList(painted));
    } else if (message.type === 'import') {
      const model = importPageModel(new Uint8Array(message.bytes), message.name);
      post({ type: 'imported', id: message.id, model }, [model.weights.bytes]);
    } else {
      const { result, pictures, transfer } = await run(message);
      post({ type: 'result', id: message.id, result, pictures }, transfer);
    }
  } catch (error) {
    post({ type: 'error', id: message.id, error: error instanceof Error ? error.message : String(error) });
  }
}
