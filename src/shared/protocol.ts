/**
 * The one protocol between the extension host and the playground webview.
 *
 * Two unions tagged with `type`: {@link ToWebviewMessage} (host -> page) and
 * {@link FromWebviewMessage} (page -> host). Requests carry a `requestId`; the host answers each
 * with exactly one `response` of the same id (and any number of `progress` messages before it).
 * Binary data travels as `ArrayBuffer`s, never as JSON arrays of numbers: inputs and values read
 * back as float32, feature maps as what the page draws of them (one byte per value, scaled per
 * channel, with each channel's min and max; see featurePreview.ts). The full values of a run's
 * steps stay at the host until the page asks for them (`readTensor`): over a remote connection
 * (code-server, SSH, Codespaces) every byte of a run's answer crosses the network.
 *
 * Everything that arrives from the webview is untrusted: {@link parseFromWebview} checks type,
 * ranges and sizes and returns either the typed message or a readable reason.
 *
 * This module imports neither `vscode` nor the DOM.
 */
import type { CompressedRunResult, PackedRunResult } from './packedMaps';
import type { ModelSpec } from './spec';
import { elementCount, exactBuffer } from './tensor';

/** Where a forward pass runs. 'cpu' and 'webgpu' name the engine backend; where it runs is the sender's choice. */
export type EngineBackend = 'cpu' | 'webgpu';
export const ENGINE_BACKENDS: readonly EngineBackend[] = ['cpu', 'webgpu'];

/** The hand-made depthwise filters of the engine's weight initialiser (src/engine/weights.ts makes them). */
export const FILTER_NAMES = ['identity', 'box_blur', 'gaussian_blur', 'sobel_x', 'sobel_y', 'laplacian', 'sharpen', 'emboss'] as const;
export type FilterName = (typeof FILTER_NAMES)[number];

/** Weights made from a description rather than read from a file: seeded Kaiming-uniform, or hand-made filters. */
export type WeightSource = { kind: 'seed'; seed: number } | { kind: 'filters'; filter: FilterName; seed?: number };

/** The weights of a run: made ({@link WeightSource}), or read from a workspace file. */
export type RunWeights =
  | WeightSource
  /** The trained weights of the model file the host opened in this panel (ONNX import). */
  | { kind: 'imported' }
  /** A workspace-relative path of a `.safetensors` file with PyTorch state_dict names. */
  | { kind: 'safetensors'; path: string };

/** A float32 tensor whose data travels as an ArrayBuffer (byteLength = 4 * product(shape)). */
export interface WireTensor {
  shape: number[];
  data: ArrayBuffer;
}

/**
 * One feature map of a run: a step's output (one module, or a fused conv + BN + activation), as
 * the page draws it. Its float32 values come with `readTensor`.
 */
export interface WireFeatureMap {
  shape: number[];
  /** Channels with preview bytes: the first `previewChannels` (the run request's `previewChannels`, or all when fewer). */
  previewChannels: number;
  /** One byte per value of those channels (`previewByte` of featurePreview.ts), channel after channel. */
  preview: ArrayBuffer;
  /** float32 [min, max] of every channel: 2 * shape[1] values for [1, C, H, W], 2 otherwise. */
  ranges: ArrayBuffer;
  /** state_dict prefix of the step's last module. */
  key: string;
  /** Every module the step covers, in order (a fused conv + BN + activation has three). */
  leafKeys: string[];
  label: string;
  layerIndex: number;
  /** The role of the step's first module: "depthwise", "pointwise", "standard", "add", ... */
  role: string;
}

export interface WireTiming {
  key: string;
  label: string;
  ms: number;
}

/**
 * An input the host already holds from an earlier run of the panel, named by the SHA-256 of its
 * float32 bytes (lowercase hex): a run on the same image sends 64 characters, not the tensor
 * (224x224 RGB: 602 KB, 70-100 ms over code-server's connection on the 2-core machine). The host
 * answers {@link INPUT_NOT_HELD} when it has not got it (any more); the page then sends the tensor.
 */
export interface HeldInput {
  shape: number[];
  held: string;
}

/** The error text of a run that names an input the host does not hold. */
export const INPUT_NOT_HELD = 'the extension host does not hold this input: send it again';

export interface RunRequestBody {
  backend: EngineBackend;
  model: ModelSpec;
  input: WireTensor | HeldInput;
  weights: RunWeights;
  /** Send back every step's output (the feature maps). */
  intermediates: boolean;
  /** Preview bytes for at most this many channels of each step (DEFAULT_PREVIEW_CHANNELS when absent). */
  previewChannels: number;
}

export interface RunResult {
  /** The backend that actually ran (the host may fall back, see `note`). */
  backend: EngineBackend;
  /** Adapter or CPU description, for display. */
  device: string;
  /** Why the requested backend was not used, or other notes worth showing. */
  note?: string;
  /** Names this run in `readTensor` requests while it is the latest run of its panel. */
  runId: number;
  outputShape: number[];
  featureMaps: WireFeatureMap[];
  /** Measured time per step, as the engine reports it. */
  timings: WireTiming[];
  /** Wall time of the forward pass as the runner measured it, ms. */
  totalMs: number;
  /** Host runs: time at the host from the request to its answer (weights, the pass, the previews), ms. */
  hostMs?: number;
}

export interface HostGpuInfo {
  available: boolean;
  /** Adapter name when available; the reason otherwise. */
  description: string;
  /** A CPU emulation (SwiftShader, llvmpipe, ...): correct, but slower than the CPU engine. */
  software: boolean;
}

export interface WorkspaceFile {
  /** Workspace-relative path with forward slashes. */
  path: string;
  bytes: number;
}

/** How the page shows a model it is given. */
export interface LoadModelOptions {
  /**
   * An imported network (ONNX, a PyTorch checkpoint): shown as the list of its blocks rather than
   * the layer editor, its input normalised with ImageNet's mean and std unless `normalisation` says.
   */
  imported?: boolean;
  /** Per colour (R, G, B) mean and std applied to [0, 1] pixel values: (value - mean) / std. */
  normalisation?: { mean: [number, number, number]; std: [number, number, number] };
  /** The model's trained weights stay on the host: runs go there with `weights: {kind: 'imported'}`. */
  hostWeights?: boolean;
  /** Params per node counted from the file where they differ from the spec's count (the cost table shows these). */
  countedParams?: Record<string, number>;
}

/** Requests from the page and what the host answers to each. */
export interface RequestMap {
  /** The maps' previews and ranges share one buffer, compressed on the wire (packedMaps.ts). */
  run: { body: RunRequestBody; result: PackedRunResult | CompressedRunResult };
  probeHostGpu: { body: Record<string, never>; result: HostGpuInfo };
  listWorkspaceFiles: { body: { extension: '.safetensors' }; result: WorkspaceFile[] };
  readWorkspaceFile: { body: { path: string }; result: { path: string; data: ArrayBuffer } };
  /** Saves text or bytes through the host's save dialog; resolves to the chosen path or undefined when cancelled. */
  saveFile: { body: { suggestedName: string; content: string | ArrayBuffer }; result: { path?: string } };
  copyText: { body: { text: string }; result: Record<string, never> };
  /**
   * Float32 values of the latest run: a step's output (`step`: its key) or the model's output (no
   * `step`), channels [channelStart, channelEnd) of [1, C, H, W] (all when absent). The result's
   * shape is [1, channelEnd - channelStart, H, W] (the tensor's own shape when it is not 4-D).
   */
  readTensor: { body: ReadTensorBody; result: WireTensor };
}

export interface ReadTensorBody {
  runId: number;
  step?: string;
  channelStart?: number;
  channelEnd?: number;
}
export type RequestType = keyof RequestMap;
export const REQUEST_TYPES: readonly RequestType[] = ['run', 'probeHostGpu', 'listWorkspaceFiles', 'readWorkspaceFile', 'saveFile', 'copyText', 'readTensor'];

export type RequestMessage<K extends RequestType = RequestType> = K extends RequestType
  ? { type: 'request'; requestId: number; method: K; body: RequestMap[K]['body'] }
  : never;

/** Page -> host. */
export type FromWebviewMessage =
  { type: 'ready' } | RequestMessage | { type: 'cancel'; requestId: number } | { type: 'log'; level: 'info' | 'warn' | 'error'; message: string };

export type ResponseMessage =
  { type: 'response'; requestId: number; ok: true; result: unknown } | { type: 'response'; requestId: number; ok: false; error: string };

/** Host -> page. */
export type ToWebviewMessage =
  /** `remote`: the extension host runs on another machine than the panel (code-server, SSH, Codespaces): a run's answer crosses the network. */
  | { type: 'init'; standalone: false; model?: ModelSpec; modelOptions?: LoadModelOptions; convention?: string; dtype?: string; remote?: boolean }
  | { type: 'loadModel'; model: ModelSpec; options?: LoadModelOptions }
  | ResponseMessage
  | { type: 'progress'; requestId: number; done: number; total: number; label: string }
  /** The host could not make sense of a message; `requestId` when the message had one. */
  | { type: 'protocolError'; requestId?: number; error: string }
  /** A model file the user chose did not open: the message names it and why. */
  | { type: 'modelFileError'; error: string };

// ---------------------------------------------------------------------------------------------
// Limits at the boundary

/** Largest input tensor the host accepts from the page, bytes (a 4x3x1024x1024 image is 48 MiB). */
export const MAX_INPUT_BYTES = 64 * 1024 ** 2;
/** Largest JSON model accepted, in layers (MobileNetV2 has 20 top-level layers). */
export const MAX_LAYERS = 512;
/** Nodes of an imported (graph-form) network: the PaddleOCR detector has a few hundred. */
export const MAX_NODES = 4096;
/** Largest text or file the page may ask the host to save, bytes. */
export const MAX_SAVE_BYTES = 64 * 1024 ** 2;
/** Most preview channels a run request may ask for per step (more than any layer of a mobile net has). */
export const MAX_PREVIEW_CHANNELS = 1 << 16;
/** Preview channels per step when a run request does not say (the page's grid shows 128 before "show all"). */
export const DEFAULT_PREVIEW_CHANNELS = 128;
const MAX_STRING = 4096;

// ---------------------------------------------------------------------------------------------
// Validation

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string; requestId?: number };

class ProtocolError extends Error {}

function fail(reason: string): never {
  throw new ProtocolError(reason);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof ArrayBuffer);
}

function record(value: unknown, what: string): Record<string, unknown> {
  if (!isRecord(value)) fail(`${what} must be an object, got ${describe(value)}`);
  return value;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof ArrayBuffer) return 'an ArrayBuffer';
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name}`;
  if (typeof value === 'string') return value.length > 40 ? `a string of ${value.length} characters` : JSON.stringify(value);
  // eslint-disable-next-line @typescript-eslint/no-base-to-string -- objects are handled above: only primitives reach String()
  return typeof value === 'object' ? 'an object' : `${typeof value} ${String(value)}`;
}

function int(value: unknown, what: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) fail(`${what} must be an integer, got ${describe(value)}`);
  if (value < min || value > max) fail(`${what} must be in [${min}, ${max}], got ${value}`);
  return value;
}

function string(value: unknown, what: string, maxLength = MAX_STRING): string {
  if (typeof value !== 'string') fail(`${what} must be a string, got ${describe(value)}`);
  if (value.length > maxLength) fail(`${what} is too long (${value.length} characters, at most ${maxLength})`);
  return value;
}

function oneOf<T extends string>(value: unknown, options: readonly T[], what: string): T {
  if (typeof value !== 'string' || !options.includes(value as T)) fail(`${what} must be one of ${options.join(', ')}, got ${describe(value)}`);
  return value as T;
}

/** ArrayBuffer, or a typed array view of float32 (some transports deliver views). */
function buffer(value: unknown, what: string): ArrayBuffer {
  if (value instanceof ArrayBuffer) return value;
  if (value instanceof Float32Array || value instanceof Uint8Array) return exactBuffer(value);
  fail(`${what} must be an ArrayBuffer, got ${describe(value)}`);
}

/** Checks a float32 tensor: a shape of 1 to 6 positive dims whose element count matches the buffer, finite values. */
export function parseWireTensor(value: unknown, what: string, maxBytes = MAX_INPUT_BYTES): WireTensor {
  const raw = record(value, what);
  if (!Array.isArray(raw.shape) || raw.shape.length < 1 || raw.shape.length > 6) fail(`${what}.shape must be a list of 1 to 6 dimensions`);
  const shape = raw.shape.map((d, i) => int(d, `${what}.shape[${i}]`, 1, 1 << 20));
  const data = buffer(raw.data, `${what}.data`);
  const elements = elementCount(shape);
  if (elements * 4 > maxBytes) fail(`${what} is too large (${elements * 4} bytes, at most ${maxBytes})`);
  if (data.byteLength !== elements * 4) fail(`${what}.data holds ${data.byteLength} bytes but shape [${shape.join(', ')}] needs ${elements * 4} (float32)`);
  const floats = new Float32Array(data);
  for (let i = 0; i < floats.length; i++) {
    if (!Number.isFinite(floats[i]!)) fail(`${what}.data[${i}] is ${floats[i]}; inputs must be finite`);
  }
  return { shape, data };
}

/** A workspace-relative path: no absolute paths, no `..`, no drive letters, no NUL. */
export function parseWorkspacePath(value: unknown, what = 'path'): string {
  const path = string(value, what, 1024).replace(/\\/g, '/');
  if (path.length === 0) fail(`${what} is empty`);
  if (path.startsWith('/') || /^[a-zA-Z]:/.test(path) || path.includes('\0')) fail(`${what} must be relative to the workspace, got ${JSON.stringify(path)}`);
  if (path.split('/').some((part) => part === '..')) fail(`${what} must not leave the workspace (contains ".."): ${JSON.stringify(path)}`);
  return path;
}

export function parseRunWeights(value: unknown): RunWeights {
  const raw = record(value, 'weights');
  const kind = oneOf(raw.kind, ['seed', 'filters', 'safetensors', 'imported'] as const, 'weights.kind');
  switch (kind) {
    case 'imported':
      return { kind };
    case 'seed':
      return { kind, seed: int(raw.seed, 'weights.seed', 0, 2 ** 32 - 1) };
    case 'filters':
      return { kind, filter: oneOf(raw.filter, FILTER_NAMES, 'weights.filter'), seed: int(raw.seed ?? 0, 'weights.seed', 0, 2 ** 32 - 1) };
    case 'safetensors': {
      const path = parseWorkspacePath(raw.path, 'weights.path');
      if (!path.toLowerCase().endsWith('.safetensors')) fail(`weights.path must name a .safetensors file, got ${JSON.stringify(path)}`);
      return { kind, path };
    }
  }
}

/**
 * A model spec's outer form: an object with a non-empty `layers` (or, graph form, `nodes`) list
 * of objects with a string `type`. The full check (every field, every shape) is `resolveModel`'s, which the runner calls
 * and whose SpecError it reports.
 */
export function parseModelShape(value: unknown): ModelSpec {
  const raw = record(value, 'model');
  // The graph form (an imported network) lists `nodes`; the chain form `layers`.
  const field = raw.nodes !== undefined && raw.layers === undefined ? 'nodes' : 'layers';
  const list = raw[field];
  if (!Array.isArray(list) || list.length === 0) fail(`model.${field} must be a non-empty list`);
  const max = field === 'nodes' ? MAX_NODES : MAX_LAYERS;
  if (list.length > max) fail(`model.${field} has ${list.length} entries, at most ${max}`);
  list.forEach((layer, i) => {
    if (!isRecord(layer) || typeof layer.type !== 'string') fail(`model.${field}[${i}] must be an object with a string "type"`);
  });
  if (raw.name !== undefined) string(raw.name, 'model.name', 200);
  return raw as unknown as ModelSpec;
}

function parseRunBody(value: unknown): RunRequestBody {
  const raw = record(value, 'body');
  const backend = oneOf(raw.backend, ENGINE_BACKENDS, 'body.backend');
  const model = parseModelShape(raw.model);
  const input = isRecord(raw.input) && raw.input.held !== undefined ? parseHeldInput(raw.input) : parseWireTensor(raw.input, 'body.input');
  if (input.shape.length !== 4) fail(`body.input must be NCHW (4 dimensions), got [${input.shape.join(', ')}]`);
  const weights = parseRunWeights(raw.weights);
  if (typeof raw.intermediates !== 'boolean') fail(`body.intermediates must be true or false, got ${describe(raw.intermediates)}`);
  const previewChannels =
    raw.previewChannels === undefined ? DEFAULT_PREVIEW_CHANNELS : int(raw.previewChannels, 'body.previewChannels', 0, MAX_PREVIEW_CHANNELS);
  return { backend, model, input, weights, intermediates: raw.intermediates, previewChannels };
}

function parseHeldInput(raw: Record<string, unknown>): HeldInput {
  if (!Array.isArray(raw.shape) || raw.shape.length < 1 || raw.shape.length > 6) fail('body.input.shape must be a list of 1 to 6 dimensions');
  const shape = raw.shape.map((d, i) => int(d, `body.input.shape[${i}]`, 1, 1 << 20));
  const held = string(raw.held, 'body.input.held', 64);
  if (!/^[0-9a-f]{64}$/.test(held)) fail('body.input.held must be a SHA-256 digest in lowercase hex');
  if (raw.data !== undefined) fail('body.input has both held and data');
  return { shape, held };
}

/** Whether a run's input is named, not sent (see {@link HeldInput}). */
export function isHeldInput(input: WireTensor | HeldInput): input is HeldInput {
  return typeof (input as HeldInput).held === 'string';
}

function parseReadTensorBody(value: unknown): ReadTensorBody {
  const raw = record(value, 'body');
  const body: ReadTensorBody = { runId: int(raw.runId, 'body.runId', 0, Number.MAX_SAFE_INTEGER) };
  if (raw.step !== undefined) body.step = string(raw.step, 'body.step', 1024);
  if (raw.channelStart !== undefined || raw.channelEnd !== undefined) {
    body.channelStart = int(raw.channelStart, 'body.channelStart', 0, 1 << 20);
    body.channelEnd = int(raw.channelEnd, 'body.channelEnd', 1, 1 << 20);
    if (body.channelEnd <= body.channelStart) fail(`body.channelEnd (${body.channelEnd}) must be greater than body.channelStart (${body.channelStart})`);
  }
  return body;
}

function parseRequestBody(method: RequestType, body: unknown): RequestMap[RequestType]['body'] {
  switch (method) {
    case 'run':
      return parseRunBody(body);
    case 'probeHostGpu':
      record(body ?? {}, 'body');
      return {};
    case 'listWorkspaceFiles': {
      const raw = record(body, 'body');
      return { extension: oneOf(raw.extension, ['.safetensors'] as const, 'body.extension') };
    }
    case 'readWorkspaceFile':
      return { path: parseWorkspacePath(record(body, 'body').path, 'body.path') };
    case 'saveFile': {
      const raw = record(body, 'body');
      const suggestedName = string(raw.suggestedName, 'body.suggestedName', 255);
      if (/[\\/\0]/.test(suggestedName) || suggestedName === '' || suggestedName.startsWith('.')) {
        fail(`body.suggestedName must be a plain file name, got ${JSON.stringify(suggestedName)}`);
      }
      const content = typeof raw.content === 'string' ? string(raw.content, 'body.content', MAX_SAVE_BYTES) : buffer(raw.content, 'body.content');
      if (typeof content !== 'string' && content.byteLength > MAX_SAVE_BYTES) fail(`body.content is too large (${content.byteLength} bytes)`);
      return { suggestedName, content };
    }
    case 'copyText':
      return { text: string(record(body, 'body').text, 'body.text', MAX_SAVE_BYTES) };
    case 'readTensor':
      return parseReadTensorBody(body);
  }
}

/**
 * Checks a message that arrived from the webview. Never throws: a message that makes no sense
 * gives `{ok: false, error}` (with the request id when one could be read, so that the host can
 * answer the request with the error).
 */
export function parseFromWebview(message: unknown): Parsed<FromWebviewMessage> {
  let requestId: number | undefined;
  try {
    const raw = record(message, 'message');
    if (typeof raw.requestId === 'number' && Number.isSafeInteger(raw.requestId) && raw.requestId >= 0) requestId = raw.requestId;
    const type = oneOf(raw.type, ['ready', 'request', 'cancel', 'log'] as const, 'message.type');
    switch (type) {
      case 'ready':
        return { ok: true, value: { type } };
      case 'cancel':
        return { ok: true, value: { type, requestId: int(raw.requestId, 'requestId', 0, Number.MAX_SAFE_INTEGER) } };
      case 'log':
        return {
          ok: true,
          value: { type, level: oneOf(raw.level, ['info', 'warn', 'error'] as const, 'level'), message: string(raw.message, 'message', MAX_STRING) },
        };
      case 'request': {
        const id = int(raw.requestId, 'requestId', 0, Number.MAX_SAFE_INTEGER);
        const method = oneOf(raw.method, REQUEST_TYPES, 'method');
        const body = parseRequestBody(method, raw.body);
        return { ok: true, value: { type, requestId: id, method, body } as RequestMessage };
      }
    }
  } catch (error) {
    const reason = error instanceof ProtocolError ? error.message : `unexpected ${String(error)}`;
    return requestId === undefined ? { ok: false, error: reason } : { ok: false, error: reason, requestId };
  }
}

// ---------------------------------------------------------------------------------------------
// Conversions

export function toWireTensor(shape: readonly number[], data: Float32Array): WireTensor {
  return { shape: [...shape], data: exactBuffer(data) };
}

export function fromWireTensor(tensor: WireTensor): { shape: number[]; data: Float32Array } {
  return { shape: [...tensor.shape], data: new Float32Array(tensor.data) };
}
