/**
 * The page's engine: a Web Worker that runs forward passes with the same engine code as the
 * extension host (src/engine), on the CPU or on the page's WebGPU (navigator.gpu), so the panel
 * never freezes. Cancelling terminates the worker; the page starts a new one.
 */
import { forward } from '../src/engine/forward';
import { makeWeights } from '../src/engine/weights';
import { readSafetensors } from '../src/io/safetensors';
import { resolveModel } from '../src/shared/spec';
import type { RunResult, WireFeatureMap } from '../src/shared/protocol';
import type { FromWorker, PaintedMaps, StepPicture, ToWorker, WebGpuProbe, WorkerWeights } from './workerProtocol';
import { channelRanges, paintGrid, stepGrid, type PaintRequest } from './mapImages';
import type { WeightMap } from '../src/engine/types';

/** The worker's global scope (the project's tsconfig has the DOM lib, not the WebWorker one). */
const scope = self as unknown as { postMessage(message: unknown, transfer: Transferable[]): void; onmessage: ((event: MessageEvent<ToWorker>) => void) | null };

let devicePromise: Promise<{ device: GPUDevice; description: string; software: boolean } | { error: string }> | undefined;

function describeAdapter(adapter: GPUAdapter): { description: string; software: boolean } {
  const info = adapter.info;
  const parts = [info.vendor, info.architecture, info.device, info.description].filter((s) => s && s.length > 0);
  const description = parts.join(' ') || 'WebGPU adapter';
  const software = (adapter as GPUAdapter & { isFallbackAdapter?: boolean }).isFallbackAdapter === true || /swiftshader|llvmpipe|software/i.test(description);
  return { description, software };
}

function getDevice(): Promise<{ device: GPUDevice; description: string; software: boolean } | { error: string }> {
  if (!devicePromise) {
    devicePromise = (async () => {
      if (!('gpu' in navigator) || !navigator.gpu) return { error: 'this browser has no WebGPU (navigator.gpu is missing)' };
      const adapter = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
      if (!adapter) return { error: 'navigator.gpu has no adapter' };
      const { description, software } = describeAdapter(adapter);
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

function loadWeights(source: WorkerWeights, model: Parameters<typeof makeWeights>[0]): WeightMap {
  if (source.kind === 'safetensors') return readSafetensors(source.bytes).tensors;
  return makeWeights(model, source);
}

async function run(message: Extract<ToWorker, { type: 'run' }>): Promise<{ result: RunResult; pictures: (StepPicture | undefined)[]; transfer: ArrayBuffer[] }> {
  const inputShape = message.input.shape;
  const resolved = resolveModel(message.model, { inputShape });
  const weights = loadWeights(message.weights, resolved);
  let device: GPUDevice | undefined;
  let deviceName = navigator.hardwareConcurrency ? `CPU in the page's worker (${navigator.hardwareConcurrency} logical cores)` : "CPU in the page's worker";
  if (message.backend === 'webgpu') {
    const gpu = await getDevice();
    if ('error' in gpu) throw new Error(`WebGPU in the page is unavailable: ${gpu.error}`);
    device = gpu.device;
    deviceName = gpu.description;
  }
  const start = performance.now();
  const result = await forward(resolved, weights, { shape: inputShape, data: new Float32Array(message.input.data) }, {
    backend: message.backend,
    device,
    intermediates: true,
    onProgress: (done, total) => post({ type: 'progress', id: message.id, done, total, label: `step ${done} of ${total}` }),
  });
  const totalMs = performance.now() - start;
  // A copy: the output is often the last step's tensor, whose buffer is transferred with that step.
  const output = { shape: result.output.shape, data: result.output.data.slice().buffer as ArrayBuffer };
  const maps = (result.intermediates ?? []).map(
    (step): WireFeatureMap => ({ key: step.key, leafKeys: step.leafKeys, label: step.label, layerIndex: step.layerIndex, role: step.role, shape: step.tensor.shape, data: ownBuffer(step.tensor.data) }),
  );
  const painted = paintAll(maps, message.paint);
  const runResult: RunResult = {
    backend: message.backend,
    device: `${deviceName}, ${result.backend}`,
    output,
    featureMaps: painted.maps,
    timings: result.timings.map(({ key, label, ms }) => ({ key, label, ms })),
    totalMs,
  };
  return { result: runResult, pictures: painted.pictures, transfer: [output.data, ...transferList(painted)] };
}

/**
 * Paints each feature map's grid here, so that the page only copies finished pixels into its
 * canvases. RGBA pixels rather than ImageBitmaps: making a bitmap here costs as much as the page's
 * putImageData. The caller transfers every buffer (maps, pixels, ranges): nothing is copied.
 */
function paintAll(maps: WireFeatureMap[], request: PaintRequest): PaintedMaps {
  const own = distinctBuffers(maps);
  const pictures = own.map((map): StepPicture | undefined => {
    if (map.shape.length !== 4) return undefined;
    const data = new Float32Array(map.data);
    const [, channels, height, width] = map.shape as [number, number, number, number];
    const ranges = channelRanges(data, channels, height * width);
    const grid = stepGrid(map.key, map.shape, request);
    return { pixels: paintGrid(data, grid, ranges, request).buffer, grid, ranges: ranges.buffer as ArrayBuffer, request };
  });
  return { maps: own, pictures };
}

function transferList(painted: PaintedMaps): ArrayBuffer[] {
  return [...painted.maps.map((m) => m.data), ...painted.pictures.flatMap((p) => (p ? [p.pixels, p.ranges] : []))];
}

/** A buffer that holds exactly the tensor (so it can be transferred without copying more). */
function ownBuffer(data: Float32Array): ArrayBuffer {
  return (data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data.buffer : data.slice().buffer) as ArrayBuffer;
}

/** Maps whose buffers are all different (a step sharing a buffer with an earlier one gets a copy), so each can be transferred. */
function distinctBuffers(maps: WireFeatureMap[]): WireFeatureMap[] {
  const taken = new Set<ArrayBuffer>();
  return maps.map((map) => {
    const own = taken.has(map.data) ? { ...map, data: map.data.slice(0) } : map;
    taken.add(own.data);
    return own;
  });
}

function post(message: FromWorker, transfer: Transferable[] = []): void {
  scope.postMessage(message, transfer);
}

scope.onmessage = async (event: MessageEvent<ToWorker>) => {
  const message = event.data;
  try {
    if (message.type === 'probe') {
      post({ type: 'probe', id: message.id, webgpu: await probe() });
    } else if (message.type === 'paint') {
      const painted = paintAll(message.maps, message.paint);
      post({ type: 'painted', id: message.id, painted }, transferList(painted));
    } else {
      const { result, pictures, transfer } = await run(message);
      post({ type: 'result', id: message.id, result, pictures }, transfer);
    }
  } catch (error) {
    post({ type: 'error', id: message.id, error: error instanceof Error ? error.message : String(error) });
  }
};
