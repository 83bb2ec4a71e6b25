/**
 * PyTorch checkpoints (`.pt`, `.pth`) as torch.save writes them since 1.6: a zip archive holding
 * `<archive>/data.pkl` (the pickled state_dict, read by the restricted reader of pickle.ts, which
 * executes nothing) and one `<archive>/data/<key>` file per storage.
 *
 * {@link readCheckpoint} returns the tensors by state_dict key; {@link mapStateDict} matches them
 * against the keys and shapes a model expects and names every key or shape that differs.
 * Works on bytes only. This module imports neither `vscode` nor the DOM.
 */
import { elementCount, type Tensor } from '../shared/tensor';
import { decodeBfloat16, decodeFloat16 } from './float16';
import { PickleError, readPickle, type PickledStorage, type PickledTensor, type StorageDtype } from './pickle';
import { isZip, readZipEntries, ZipError } from './zip';

export class CheckpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckpointError';
  }
}

const DTYPE_BYTES: Record<StorageDtype, number> = { float32: 4, float64: 8, float16: 2, bfloat16: 2, int64: 8, int32: 4, int16: 2, int8: 1, uint8: 1, bool: 1 };
const FLOAT_DTYPES = new Set<StorageDtype>(['float32', 'float64', 'float16', 'bfloat16']);
/** A tensor's elements beyond this are refused (1 GiB of float32). */
const MAX_ELEMENTS = 2 ** 28;

export interface Checkpoint {
  /** Floating-point tensors by state_dict key, as float32. */
  tensors: Map<string, Tensor>;
  /** Tensors of other dtypes (BatchNorm's int64 num_batches_tracked): listed, not decoded. */
  skipped: Array<{ key: string; dtype: StorageDtype; shape: number[] }>;
}

/** Reads a torch.save'd state_dict (or a dict holding one under "state_dict" or "model"). */
export function readCheckpoint(input: Uint8Array | ArrayBuffer): Checkpoint {
  const bytes = input instanceof Uint8Array ? input : new Uint8Array(input);
  if (!isZip(bytes)) {
    if (bytes[0] === 0x80 && bytes.length > 2 && bytes[1]! <= 5) {
      throw new CheckpointError(
        'a legacy (before PyTorch 1.6) torch.save file, which is not read: load it in PyTorch and save it again with torch.save(state_dict, path)',
      );
    }
    throw new CheckpointError('not a PyTorch checkpoint: a .pt/.pth file is a zip archive (torch.save since PyTorch 1.6)');
  }
  try {
    const entries = readZipEntries(bytes);
    const pickles = [...entries.keys()].filter((name) => /^[^/]+\/data\.pkl$/.test(name));
    if (pickles.length !== 1) throw new CheckpointError(`not a PyTorch checkpoint: ${pickles.length} <archive>/data.pkl entries, expected one`);
    const prefix = pickles[0]!.slice(0, -'data.pkl'.length);
    const pkl = entries.get(pickles[0]!)!;
    const root = readPickle(bytes.subarray(pkl.dataOffset, pkl.dataOffset + pkl.size));
    const stateDict = findStateDict(root);
    const storages = new Map<string, Float32Array | undefined>();
    const tensors = new Map<string, Tensor>();
    const skipped: Checkpoint['skipped'] = [];
    for (const [key, value] of stateDict) {
      const t = value;
      if (!FLOAT_DTYPES.has(t.storage.dtype)) {
        skipped.push({ key, dtype: t.storage.dtype, shape: t.size });
        continue;
      }
      let data = storages.get(t.storage.key);
      if (!data) {
        const entry = entries.get(`${prefix}data/${t.storage.key}`);
        if (!entry) throw new CheckpointError(`tensor ${JSON.stringify(key)}: its storage ${prefix}data/${t.storage.key} is not in the archive`);
        data = decodeStorage(bytes.subarray(entry.dataOffset, entry.dataOffset + entry.size), t.storage, key);
        storages.set(t.storage.key, data);
      }
      tensors.set(key, { shape: [...t.size], data: gather(data, t, key) });
    }
    return { tensors, skipped };
  } catch (error) {
    if (error instanceof ZipError) throw new CheckpointError(`malformed checkpoint: ${error.message}`);
    if (error instanceof PickleError) throw new CheckpointError(`checkpoint refused: ${error.message}`);
    throw error;
  }
}

function isTensor(value: unknown): value is PickledTensor {
  return typeof value === 'object' && value !== null && (value as PickledTensor).kind === 'tensor';
}

function findStateDict(root: unknown): Map<string, PickledTensor> {
  const asStateDict = (value: unknown): Map<string, PickledTensor> | undefined => {
    if (!(value instanceof Map) || value.size === 0) return undefined;
    for (const [k, v] of value) if (typeof k !== 'string' || !isTensor(v)) return undefined;
    return value as Map<string, PickledTensor>;
  };
  const direct = asStateDict(root);
  if (direct) return direct;
  if (root instanceof Map) {
    for (const key of ['state_dict', 'model', 'model_state_dict']) {
      const nested = asStateDict(root.get(key));
      if (nested) return nested;
    }
    const keys = [...root.keys()].slice(0, 8).map(String).join(', ');
    throw new CheckpointError(
      `the checkpoint is a dict without a state_dict of tensors (keys: ${keys}); expected a state_dict, or a dict with one under "state_dict" or "model"`,
    );
  }
  throw new CheckpointError('the checkpoint holds no state_dict: expected a dict of tensors');
}

function decodeStorage(raw: Uint8Array, storage: PickledStorage, key: string): Float32Array {
  const itemBytes = DTYPE_BYTES[storage.dtype];
  if (storage.numel > MAX_ELEMENTS)
    throw new CheckpointError(`tensor ${JSON.stringify(key)}: a storage of ${storage.numel} elements is over the limit of ${MAX_ELEMENTS}`);
  if (raw.length !== storage.numel * itemBytes) {
    throw new CheckpointError(
      `tensor ${JSON.stringify(key)}: storage ${storage.key} should hold ${storage.numel} ${storage.dtype} values (${storage.numel * itemBytes} bytes) but has ${raw.length} bytes`,
    );
  }
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  switch (storage.dtype) {
    case 'float16':
      return decodeFloat16(raw, 0, storage.numel);
    case 'bfloat16':
      return decodeBfloat16(raw, 0, storage.numel);
    case 'float64':
      return Float32Array.from({ length: storage.numel }, (_, i) => view.getFloat64(i * 8, true));
    default:
      return Float32Array.from({ length: storage.numel }, (_, i) => view.getFloat32(i * 4, true));
  }
}

/** The tensor's elements in row-major order, after checking its view stays inside the storage. */
function gather(storage: Float32Array, t: PickledTensor, key: string): Float32Array {
  const count = elementCount(t.size);
  if (count > MAX_ELEMENTS)
    throw new CheckpointError(`tensor ${JSON.stringify(key)}: size [${t.size.join(', ')}] is over the limit of ${MAX_ELEMENTS} elements`);
  if (count === 0) return new Float32Array(0);
  const last = t.offset + t.size.reduce((sum, d, i) => sum + (d - 1) * t.stride[i]!, 0);
  if (last >= storage.length)
    throw new CheckpointError(
      `tensor ${JSON.stringify(key)}: size [${t.size.join(', ')}], stride [${t.stride.join(', ')}] and offset ${t.offset} reach element ${last} of a storage of ${storage.length}`,
    );
  const out = new Float32Array(count);
  const rank = t.size.length;
  const index = new Array<number>(rank).fill(0);
  for (let n = 0; n < count; n++) {
    let at = t.offset;
    for (let i = 0; i < rank; i++) at += index[i]! * t.stride[i]!;
    out[n] = storage[at]!;
    for (let i = rank - 1; i >= 0; i--) {
      if (++index[i]! < t.size[i]!) break;
      index[i] = 0;
    }
  }
  return out;
}

/** What a model expects: a state_dict key and its shape. */
export interface ExpectedTensor {
  key: string;
  shape: readonly number[];
}

/**
 * The checkpoint's tensors for a model that expects `expected`: every expected key must be
 * there with its shape, and every float tensor of the checkpoint must be expected. A
 * DataParallel "module." prefix on every key is dropped. Throws a CheckpointError listing the
 * missing keys, the unexpected ones and the shapes that differ.
 */
export function mapStateDict(checkpoint: Checkpoint | Map<string, Tensor>, expected: readonly ExpectedTensor[]): Record<string, Tensor> {
  let tensors = checkpoint instanceof Map ? checkpoint : checkpoint.tensors;
  if (tensors.size > 0 && [...tensors.keys()].every((k) => k.startsWith('module.')) && !expected.some((e) => e.key.startsWith('module.'))) {
    tensors = new Map([...tensors].map(([k, v]) => [k.slice('module.'.length), v]));
  }
  const wanted = new Map(expected.map((e) => [e.key, e.shape]));
  const missing = expected.filter((e) => !tensors.has(e.key)).map((e) => e.key);
  const unexpected = [...tensors.keys()].filter((k) => !wanted.has(k));
  const mismatched: string[] = [];
  const out: Record<string, Tensor> = {};
  for (const [key, shape] of wanted) {
    const t = tensors.get(key);
    if (!t) continue;
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))
      mismatched.push(`${key}: checkpoint [${t.shape.join(', ')}], model [${shape.join(', ')}]`);
    else Object.defineProperty(out, key, { value: t, enumerable: true, configurable: true, writable: true });
  }
  const problems: string[] = [];
  const list = (keys: string[]) => (keys.length > 10 ? `${keys.slice(0, 10).join(', ')} and ${keys.length - 10} more` : keys.join(', '));
  if (missing.length > 0) problems.push(`missing from the checkpoint: ${list(missing)}`);
  if (unexpected.length > 0) problems.push(`not in the model: ${list(unexpected)}`);
  if (mismatched.length > 0) problems.push(`shapes differ: ${list(mismatched)}`);
  if (problems.length > 0) throw new CheckpointError(`the checkpoint does not fit the model; ${problems.join('; ')}`);
  return out;
}
