/**
 * `.safetensors` files: an 8-byte little-endian header length, a JSON header mapping tensor
 * names to `{dtype, shape, data_offsets}` (offsets relative to the data that follows the
 * header), then the raw little-endian data.
 *
 * F32, F16, BF16 and F64 tensors are decoded to float32. Other dtypes (PyTorch's int64
 * `num_batches_tracked`, for one) are listed in `skipped` and not decoded. The header length,
 * the JSON and every tensor's offsets are checked before anything is read: a file whose
 * tensors overlap, leave holes, run past the end or disagree with their shape and dtype is
 * refused with a {@link SafetensorsError} naming the tensor.
 *
 * Works on bytes only (no file system), so the extension host and the webview share it.
 * This module imports neither `vscode` nor the DOM.
 */
import { elementCount, type Tensor } from '../shared/tensor';
import { decodeBfloat16, decodeFloat16, decodeFloat32, decodeFloat64, encodeFloat32 } from './float16';

/** A file that is not a .safetensors this reader accepts; the message says why. */
export class SafetensorsError extends Error {
  constructor(
    message: string,
    readonly tensorName?: string,
  ) {
    super(tensorName === undefined ? message : `tensor ${JSON.stringify(tensorName)}: ${message}`);
    this.name = 'SafetensorsError';
  }
}

/** Bytes per element of every dtype the format defines. */
const DTYPE_BYTES: Record<string, number> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  I64: 8,
  U64: 8,
  F64: 8,
};
const DECODED_DTYPES = ['F32', 'F16', 'BF16', 'F64'];
/** The reference implementation's limit; a real header is a few KiB. */
const MAX_HEADER_BYTES = 100_000_000;
/** The header is padded with spaces so the data starts 8-byte aligned, as the reference writer does. */
const DATA_ALIGNMENT = 8;

/** One tensor as the header describes it. */
export interface SafetensorsEntry {
  name: string;
  dtype: string;
  shape: number[];
  /** Offset of the first byte in the whole file. */
  byteOffset: number;
  byteLength: number;
}

export interface SafetensorsHeader {
  entries: SafetensorsEntry[];
  metadata: Record<string, string>;
  /** Where the data starts in the file. */
  dataOffset: number;
}

export interface SafetensorsFile {
  /** Decoded tensors keyed by name (state_dict names for PyTorch checkpoints). */
  tensors: Record<string, Tensor>;
  /** Tensors of dtypes that are not decoded (integers, bool, fp8): listed, not read. */
  skipped: Array<{ name: string; dtype: string; shape: number[] }>;
  metadata: Record<string, string>;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Parses and checks the header without decoding any tensor. */
export function readSafetensorsHeader(input: Uint8Array | ArrayBuffer): SafetensorsHeader {
  const bytes = input instanceof Uint8Array ? input : new Uint8Array(input);
  if (bytes.length < 8) throw new SafetensorsError(`not a .safetensors file: ${bytes.length} bytes, fewer than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const high = view.getUint32(4, true);
  const headerLength = high * 2 ** 32 + view.getUint32(0, true);
  if (headerLength > MAX_HEADER_BYTES)
    throw new SafetensorsError(`not a .safetensors file: the header length ${headerLength} is over the limit of ${MAX_HEADER_BYTES} bytes`);
  if (8 + headerLength > bytes.length) {
    throw new SafetensorsError(`truncated .safetensors file: the header needs ${headerLength} bytes but only ${bytes.length - 8} follow`);
  }
  let json: unknown;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLength));
    if (!text.startsWith('{')) throw new Error('not a JSON object');
    json = JSON.parse(text);
  } catch (error) {
    throw new SafetensorsError(`malformed .safetensors header: not a UTF-8 JSON object (${error instanceof Error ? error.message : String(error)})`);
  }
  if (!isObject(json)) throw new SafetensorsError('malformed .safetensors header: not a JSON object');
  // JSON.parse keeps the last of a repeated key: the other tensor would vanish without a word.
  const seen = new Set<string>();
  for (const key of topLevelKeys(text)) {
    if (seen.has(key)) throw new SafetensorsError(`malformed .safetensors header: duplicate tensor name ${JSON.stringify(key)}`);
    seen.add(key);
  }

  const dataOffset = 8 + headerLength;
  const dataLength = bytes.length - dataOffset;
  let metadata: Record<string, string> = {};
  const entries: SafetensorsEntry[] = [];
  for (const [name, raw] of Object.entries(json)) {
    if (name === '__metadata__') {
      metadata = checkMetadata(raw);
      continue;
    }
    entries.push(checkEntry(name, raw, dataOffset, dataLength));
  }

  // Sorted by offset, each tensor must start where the previous one ends: no overlaps, no holes.
  const sorted = [...entries].sort((a, b) => a.byteOffset - b.byteOffset || a.byteLength - b.byteLength);
  let end = dataOffset;
  let previous: SafetensorsEntry | undefined;
  for (const entry of sorted) {
    if (entry.byteOffset < end) {
      throw new SafetensorsError(`its data_offsets overlap those of ${JSON.stringify(previous?.name)}`, entry.name);
    }
    if (entry.byteOffset > end) {
      throw new SafetensorsError(
        `its data starts at byte ${entry.byteOffset - dataOffset} of the data section, leaving a hole after ${previous ? JSON.stringify(previous.name) : 'the header'}`,
        entry.name,
      );
    }
    end = entry.byteOffset + entry.byteLength;
    previous = entry;
  }
  if (end !== bytes.length) {
    throw new SafetensorsError(`malformed .safetensors file: ${bytes.length - end} bytes after the last tensor belong to none`);
  }
  return { entries, metadata, dataOffset };
}

/**
 * The keys of the top-level object of `text` (JSON that JSON.parse has already accepted), in order
 * and with repeats, which JSON.parse drops. One pass: strings are skipped whole, so a brace or a
 * colon inside a name counts for nothing.
 */
function topLevelKeys(text: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let end = i + 1;
      while (text.charCodeAt(end) !== 0x22) end += text.charCodeAt(end) === 0x5c /* \ */ ? 2 : 1;
      if (depth === 1) {
        let next = end + 1;
        while (/\s/.test(text[next] ?? '')) next++;
        if (text[next] === ':') keys.push(JSON.parse(text.slice(i, end + 1)) as string);
      }
      i = end;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) depth++;
    else if (c === 0x7d /* } */ || c === 0x5d /* ] */) depth--;
  }
  return keys;
}

function checkMetadata(raw: unknown): Record<string, string> {
  if (!isObject(raw)) throw new SafetensorsError('malformed .safetensors header: __metadata__ must be an object of strings');
  for (const [key, value] of Object.entries(raw)) {
    if (typeof value !== 'string') throw new SafetensorsError(`malformed .safetensors header: __metadata__[${JSON.stringify(key)}] must be a string`);
  }
  return Object.fromEntries(Object.entries(raw)) as Record<string, string>;
}

function checkEntry(name: string, raw: unknown, dataOffset: number, dataLength: number): SafetensorsEntry {
  if (!isObject(raw)) throw new SafetensorsError('its header entry must be an object with dtype, shape and data_offsets', name);
  const { dtype, shape, data_offsets: offsets } = raw;
  if (typeof dtype !== 'string') throw new SafetensorsError(`dtype must be a string, got ${JSON.stringify(dtype)}`, name);
  const itemBytes = DTYPE_BYTES[dtype];
  if (itemBytes === undefined) throw new SafetensorsError(`unknown dtype ${JSON.stringify(dtype)} (known: ${Object.keys(DTYPE_BYTES).join(', ')})`, name);
  if (!Array.isArray(shape) || shape.some((d) => typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0)) {
    throw new SafetensorsError(`shape must be a list of non-negative integers, got ${JSON.stringify(shape)}`, name);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || offsets.some((o) => typeof o !== 'number' || !Number.isSafeInteger(o) || o < 0)) {
    throw new SafetensorsError(`data_offsets must be [begin, end] with non-negative integers, got ${JSON.stringify(offsets)}`, name);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end) throw new SafetensorsError(`data_offsets [${begin}, ${end}] end before they begin`, name);
  if (end > dataLength)
    throw new SafetensorsError(`data_offsets [${begin}, ${end}] run past the end of the data (${dataLength} bytes): the file is truncated or lying`, name);
  const expected = elementCount(shape as number[]) * itemBytes;
  if (expected !== end - begin) {
    throw new SafetensorsError(`shape [${shape.join(', ')}] of ${dtype} needs ${expected} bytes but data_offsets [${begin}, ${end}] hold ${end - begin}`, name);
  }
  return { name, dtype, shape: shape as number[], byteOffset: dataOffset + begin, byteLength: end - begin };
}

/** Reads a .safetensors file, decoding F32, F16, BF16 and F64 tensors to float32. */
export function readSafetensors(input: Uint8Array | ArrayBuffer): SafetensorsFile {
  const bytes = input instanceof Uint8Array ? input : new Uint8Array(input);
  const { entries, metadata } = readSafetensorsHeader(bytes);
  const tensors: Array<[string, Tensor]> = [];
  const skipped: SafetensorsFile['skipped'] = [];
  for (const entry of entries) {
    if (!DECODED_DTYPES.includes(entry.dtype)) {
      skipped.push({ name: entry.name, dtype: entry.dtype, shape: entry.shape });
      continue;
    }
    tensors.push([entry.name, { shape: entry.shape, data: decodeEntry(bytes, entry) }]);
  }
  // fromEntries defines own properties, so a tensor named "__proto__" stays a tensor.
  return { tensors: Object.fromEntries(tensors), skipped, metadata };
}

/**
 * Refuses a file in which a tensor the caller needs (a model's state_dict keys) is stored with a
 * dtype the reader does not decode, so that it is named as such rather than reported missing.
 */
export function requireDecoded(file: SafetensorsFile, needed: Iterable<string>): void {
  const wanted = new Set(needed);
  const undecoded = file.skipped.find((entry) => wanted.has(entry.name));
  if (undecoded) throw new SafetensorsError(`is stored as ${undecoded.dtype}; weights must be ${DECODED_DTYPES.join(', ')}`, undecoded.name);
}

function decodeEntry(bytes: Uint8Array, entry: SafetensorsEntry): Float32Array {
  const count = elementCount(entry.shape);
  switch (entry.dtype) {
    case 'F32':
      return decodeFloat32(bytes, entry.byteOffset, count);
    case 'F16':
      return decodeFloat16(bytes, entry.byteOffset, count);
    case 'BF16':
      return decodeBfloat16(bytes, entry.byteOffset, count);
    case 'F64':
      return decodeFloat64(bytes, entry.byteOffset, count);
    default:
      throw new SafetensorsError(`dtype ${entry.dtype} is not decoded`, entry.name);
  }
}

/**
 * Writes tensors as F32 in a .safetensors file, in name order (the bytes depend only on the
 * contents). `metadata` becomes the header's `__metadata__`.
 */
export function writeSafetensors(tensors: Record<string, Tensor>, metadata?: Record<string, string>): Uint8Array {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) {
    for (const [key, value] of Object.entries(metadata)) {
      if (typeof value !== 'string') throw new SafetensorsError(`cannot write metadata ${JSON.stringify(key)}: values must be strings`);
    }
    header.__metadata__ = metadata;
  }
  let offset = 0;
  for (const name of names) {
    if (name === '__metadata__') throw new SafetensorsError('cannot write a tensor named "__metadata__": the format reserves that name');
    const tensor = tensors[name]!;
    if (!Array.isArray(tensor.shape) || tensor.shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
      throw new SafetensorsError(`cannot write: shape must be a list of non-negative integers, got ${JSON.stringify(tensor.shape)}`, name);
    }
    if (!(tensor.data instanceof Float32Array)) throw new SafetensorsError('cannot write: data must be a Float32Array', name);
    if (elementCount(tensor.shape) !== tensor.data.length) {
      throw new SafetensorsError(
        `cannot write: shape [${tensor.shape.join(', ')}] has ${elementCount(tensor.shape)} elements but the data has ${tensor.data.length}`,
        name,
      );
    }
    const byteLength = tensor.data.length * 4;
    // defineProperty, not assignment: a tensor named "__proto__" must become a key, not a prototype.
    Object.defineProperty(header, name, {
      value: { dtype: 'F32', shape: tensor.shape, data_offsets: [offset, offset + byteLength] },
      enumerable: true,
      configurable: true,
      writable: true,
    });
    offset += byteLength;
  }
  let json = JSON.stringify(header);
  const jsonBytes = new TextEncoder().encode(json);
  const padding = (DATA_ALIGNMENT - ((8 + jsonBytes.length) % DATA_ALIGNMENT)) % DATA_ALIGNMENT;
  json += ' '.repeat(padding);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  const view = new DataView(out.buffer);
  view.setUint32(0, headerBytes.length, true);
  view.setUint32(4, 0, true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const name of names) {
    const data = tensors[name]!.data;
    encodeFloat32(data, out, at);
    at += data.length * 4;
  }
  return out;
}
