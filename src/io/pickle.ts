/**
 * A restricted reader of Python pickles, for the data.pkl of PyTorch checkpoints.
 *
 * It executes nothing. It builds plain values (None, bools, numbers, strings, bytes, lists and
 * tuples as arrays, dicts as Maps) and accepts exactly these globals, each implemented here as a
 * pure function rather than called: `collections.OrderedDict`, `torch._utils._rebuild_tensor_v2`,
 * `torch._utils._rebuild_parameter` and the storage classes (`torch.FloatStorage`, ...) inside
 * persistent ids `('storage', StorageClass, key, location, numel)`. Any other global (a module
 * class, `os.system`, `builtins.eval`) is a {@link PickleError} naming it, as are the opcodes that
 * build arbitrary objects (INST, OBJ, NEWOBJ, extension registry, out-of-band buffers).
 *
 * Each opcode consumes at least one byte and the value counts are bounded, so a hostile pickle
 * ends in an error, never a hang or a crash.
 * This module imports neither `vscode` nor the DOM.
 */

export class PickleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PickleError';
  }
}

/** A storage named by a persistent id: its bytes are `data/<key>` in the archive. */
export interface PickledStorage {
  kind: 'storage';
  dtype: StorageDtype;
  key: string;
  location: string;
  numel: number;
}

/** torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, ...). */
export interface PickledTensor {
  kind: 'tensor';
  storage: PickledStorage;
  offset: number;
  size: number[];
  stride: number[];
}

interface PickledGlobal {
  kind: 'global';
  module: string;
  name: string;
}

export type StorageDtype = 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

/** Storage classes and their element types. */
export const STORAGE_CLASSES: Record<string, StorageDtype> = {
  FloatStorage: 'float32',
  DoubleStorage: 'float64',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ShortStorage: 'int16',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
};

const ALLOWED_CALLABLES = new Set(['collections.OrderedDict', 'torch._utils._rebuild_tensor_v2', 'torch._utils._rebuild_parameter']);

/** Values the stack and memo may hold in all (a state_dict has a few per tensor). */
const MAX_VALUES = 10_000_000;
const MAX_DIMS = 16;

type Value = unknown;

/** Reads a pickle; persistent ids must be storage tuples and become {@link PickledStorage}s. */
export function readPickle(bytes: Uint8Array): Value {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stack: Value[] = [];
  const marks: number[] = [];
  const memo = new Map<number, Value>();
  let at = 0;
  let created = 0;
  const need = (count: number, what: string): void => {
    if (count < 0 || at + count > bytes.length)
      throw new PickleError(`truncated pickle: ${what} at byte ${at} needs ${count} bytes, ${bytes.length - at} remain`);
  };
  const u8 = (): number => {
    need(1, 'an argument');
    return bytes[at++]!;
  };
  const u16 = (): number => {
    need(2, 'an argument');
    const v = view.getUint16(at, true);
    at += 2;
    return v;
  };
  const u32 = (): number => {
    need(4, 'an argument');
    const v = view.getUint32(at, true);
    at += 4;
    return v;
  };
  const u64 = (): number => {
    need(8, 'an argument');
    const v = view.getUint32(at + 4, true) * 2 ** 32 + view.getUint32(at, true);
    at += 8;
    if (v > Number.MAX_SAFE_INTEGER) throw new PickleError(`a length at byte ${at - 8} is larger than 2^53`);
    return v;
  };
  const take = (count: number, what: string): Uint8Array => {
    need(count, what);
    const out = bytes.subarray(at, at + count);
    at += count;
    return out;
  };
  const text = (count: number): string => {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(take(count, 'a string'));
    } catch (error) {
      if (error instanceof PickleError) throw error;
      throw new PickleError(`a string before byte ${at} is not valid UTF-8`);
    }
  };
  const line = (): string => {
    const end = bytes.indexOf(0x0a, at);
    if (end < 0) throw new PickleError(`truncated pickle: no end of line after byte ${at}`);
    const s = new TextDecoder().decode(bytes.subarray(at, end));
    at = end + 1;
    return s;
  };
  const push = (value: Value): void => {
    if (++created > MAX_VALUES) throw new PickleError(`more than ${MAX_VALUES} values`);
    stack.push(value);
  };
  const pop = (what: string): Value => {
    if (stack.length === 0 || (marks.length > 0 && stack.length <= marks[marks.length - 1]!))
      throw new PickleError(`${what} at byte ${at - 1} finds an empty stack`);
    return stack.pop();
  };
  const top = (what: string): Value => {
    if (stack.length === 0 || (marks.length > 0 && stack.length <= marks[marks.length - 1]!))
      throw new PickleError(`${what} at byte ${at - 1} finds an empty stack`);
    return stack[stack.length - 1];
  };
  const popMark = (what: string): Value[] => {
    const mark = marks.pop();
    if (mark === undefined) throw new PickleError(`${what} at byte ${at - 1} without a MARK`);
    return stack.splice(mark);
  };
  const memoGet = (index: number): Value => {
    if (!memo.has(index)) throw new PickleError(`memo entry ${index} read at byte ${at} was never stored`);
    return memo.get(index);
  };
  const memoPut = (index: number): void => {
    if (memo.size >= MAX_VALUES) throw new PickleError(`more than ${MAX_VALUES} memo entries`);
    memo.set(index, top('PUT'));
  };
  const global = (module: string, name: string): PickledGlobal => {
    const qualified = `${module}.${name}`;
    if (ALLOWED_CALLABLES.has(qualified) || (module === 'torch' && Object.hasOwn(STORAGE_CLASSES, name))) return { kind: 'global', module, name };
    throw new PickleError(
      `the pickle names the global ${qualified}, which is not allowed: only tensors, storages and OrderedDict are read (a whole model saved with torch.save(model)? save model.state_dict() instead)`,
    );
  };
  const setItems = (target: Value, items: Value[], what: string): void => {
    if (!(target instanceof Map)) throw new PickleError(`${what} at byte ${at - 1} on something that is not a dict`);
    if (items.length % 2 !== 0) throw new PickleError(`${what} at byte ${at - 1} with an odd number of items`);
    for (let i = 0; i < items.length; i += 2) target.set(dictKey(items[i]), items[i + 1]);
  };

  for (;;) {
    if (at >= bytes.length) throw new PickleError('truncated pickle: no STOP opcode');
    const opAt = at;
    const op = bytes[at++]!;
    switch (op) {
      case 0x80: {
        // PROTO
        const version = u8();
        if (version > 5) throw new PickleError(`pickle protocol ${version} is not known`);
        break;
      }
      case 0x95:
        u64();
        break; // FRAME: a length hint only
      case 0x2e: {
        // STOP
        if (stack.length !== 1) throw new PickleError(`STOP at byte ${opAt} with ${stack.length} values on the stack`);
        return stack[0];
      }
      case 0x28:
        marks.push(stack.length);
        break; // MARK
      case 0x30:
        pop('POP');
        break;
      case 0x31:
        popMark('POP_MARK');
        break;
      case 0x32:
        push(top('DUP'));
        break;
      case 0x4e:
        push(null);
        break; // NONE
      case 0x88:
        push(true);
        break;
      case 0x89:
        push(false);
        break;
      case 0x4a:
        push(u32() | 0);
        break; // BININT, signed
      case 0x4b:
        push(u8());
        break; // BININT1
      case 0x4d:
        push(u16());
        break; // BININT2
      case 0x8a:
        push(readLong(take(u8(), 'LONG1')));
        break; // LONG1
      case 0x8b:
        push(readLong(take(u32(), 'LONG4')));
        break; // LONG4
      case 0x47: {
        // BINFLOAT, big-endian
        need(8, 'BINFLOAT');
        push(view.getFloat64(at, false));
        at += 8;
        break;
      }
      case 0x49: {
        // INT (text): protocol 0, also True/False as 01/00
        const s = line();
        const n = Number(s);
        if (!Number.isSafeInteger(n)) throw new PickleError(`INT ${JSON.stringify(s)} at byte ${opAt} is not an integer`);
        push(s === '01' ? true : s === '00' ? false : n);
        break;
      }
      case 0x58:
        push(text(u32()));
        break; // BINUNICODE
      case 0x8c:
        push(text(u8()));
        break; // SHORT_BINUNICODE
      case 0x8d:
        push(text(u64()));
        break; // BINUNICODE8
      case 0x55:
        push(take(u8(), 'SHORT_BINSTRING').slice());
        break;
      case 0x54:
        push(take(u32(), 'BINSTRING').slice());
        break;
      case 0x43:
        push(take(u8(), 'SHORT_BINBYTES').slice());
        break;
      case 0x42:
        push(take(u32(), 'BINBYTES').slice());
        break;
      case 0x8e:
        push(take(u64(), 'BINBYTES8').slice());
        break;
      case 0x29:
        push([]);
        break; // EMPTY_TUPLE
      case 0x5d:
        push([]);
        break; // EMPTY_LIST
      case 0x7d:
        push(new Map());
        break; // EMPTY_DICT
      case 0x8f:
        push([]);
        break; // EMPTY_SET, read as a list
      case 0x85:
        push([pop('TUPLE1')]);
        break;
      case 0x86: {
        const b = pop('TUPLE2');
        const a = pop('TUPLE2');
        push([a, b]);
        break;
      }
      case 0x87: {
        const c = pop('TUPLE3');
        const b = pop('TUPLE3');
        const a = pop('TUPLE3');
        push([a, b, c]);
        break;
      }
      case 0x74:
        push(popMark('TUPLE'));
        break;
      case 0x6c:
        push(popMark('LIST'));
        break;
      case 0x91:
        push(popMark('FROZENSET'));
        break;
      case 0x64: {
        const m = new Map();
        setItems(m, popMark('DICT'), 'DICT');
        push(m);
        break;
      }
      case 0x61: {
        // APPEND
        const value = pop('APPEND');
        const list = top('APPEND');
        if (!Array.isArray(list)) throw new PickleError(`APPEND at byte ${opAt} on something that is not a list`);
        list.push(value);
        break;
      }
      case 0x65:
      case 0x90: {
        // APPENDS, ADDITEMS
        const items = popMark('APPENDS');
        const list = top('APPENDS');
        if (!Array.isArray(list)) throw new PickleError(`APPENDS at byte ${opAt} on something that is not a list`);
        for (const item of items) list.push(item);
        break;
      }
      case 0x73: {
        const value = pop('SETITEM');
        const key = pop('SETITEM');
        setItems(top('SETITEM'), [key, value], 'SETITEM');
        break;
      }
      case 0x75: {
        const items = popMark('SETITEMS');
        setItems(top('SETITEMS'), items, 'SETITEMS');
        break;
      }
      case 0x68:
        push(memoGet(u8()));
        break; // BINGET
      case 0x6a:
        push(memoGet(u32()));
        break; // LONG_BINGET
      case 0x67:
        push(memoGet(Number(line())));
        break; // GET
      case 0x71:
        memoPut(u8());
        break; // BINPUT
      case 0x72:
        memoPut(u32());
        break; // LONG_BINPUT
      case 0x70:
        memoPut(Number(line()));
        break; // PUT
      case 0x94:
        memoPut(memo.size);
        break; // MEMOIZE
      case 0x63: {
        // GLOBAL "module\nname\n"
        const module = line();
        push(global(module, line()));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop('STACK_GLOBAL');
        const module = pop('STACK_GLOBAL');
        if (typeof module !== 'string' || typeof name !== 'string') throw new PickleError(`STACK_GLOBAL at byte ${opAt} without two strings`);
        push(global(module, name));
        break;
      }
      case 0x51:
        push(persistentLoad(pop('BINPERSID')));
        break; // BINPERSID
      case 0x52: {
        // REDUCE
        const args = pop('REDUCE');
        const callable = pop('REDUCE');
        push(reduce(callable, args, opAt));
        break;
      }
      case 0x62: {
        // BUILD: only the attributes an OrderedDict state_dict carries (_metadata)
        const state = pop('BUILD');
        const target = top('BUILD');
        if (!(target instanceof Map) || !(state instanceof Map || state === null))
          throw new PickleError(`BUILD at byte ${opAt} on something other than an OrderedDict`);
        break;
      }
      case 0x69:
      case 0x6f:
      case 0x81:
      case 0x92:
      case 0x82:
      case 0x83:
      case 0x84:
      case 0x96:
      case 0x97:
      case 0x98:
      case 0x50:
        throw new PickleError(`pickle opcode 0x${op.toString(16)} at byte ${opAt} builds arbitrary objects and is not allowed`);
      default:
        throw new PickleError(`unknown or unsupported pickle opcode 0x${op.toString(16)} at byte ${opAt}`);
    }
  }
}

function dictKey(key: Value): Value {
  if (typeof key === 'string' || typeof key === 'number' || typeof key === 'boolean' || key === null) return key;
  throw new PickleError('a dict key that is not a string or a number');
}

function readLong(bytes: Uint8Array): number {
  if (bytes.length === 0) return 0;
  if (bytes.length > 8) throw new PickleError(`an integer of ${bytes.length} bytes is too large`);
  let value = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[i]!);
  if (bytes[bytes.length - 1]! & 0x80) value -= 1n << BigInt(8 * bytes.length);
  if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) throw new PickleError(`the integer ${value} is too large`);
  return Number(value);
}

function isGlobal(value: Value, qualified: string): boolean {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as PickledGlobal).kind === 'global' &&
    `${(value as PickledGlobal).module}.${(value as PickledGlobal).name}` === qualified
  );
}

function persistentLoad(pid: Value): PickledStorage {
  if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length !== 5)
    throw new PickleError(`a persistent id that is not ('storage', type, key, location, numel): ${describe(pid)}`);
  const [, type, key, location, numel] = pid as [string, Value, Value, Value, Value];
  const storage = type as PickledGlobal;
  if (typeof type !== 'object' || type === null || storage.kind !== 'global' || storage.module !== 'torch' || !Object.hasOwn(STORAGE_CLASSES, storage.name)) {
    throw new PickleError(`a persistent id whose storage type is not a torch storage class: ${describe(type)}`);
  }
  if (typeof key !== 'string' || !/^[A-Za-z0-9_]+$/.test(key)) throw new PickleError(`a storage key ${describe(key)} that is not a plain name`);
  if (typeof location !== 'string') throw new PickleError('a storage location that is not a string');
  if (typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) throw new PickleError(`a storage size ${describe(numel)} that is not a count`);
  return { kind: 'storage', dtype: STORAGE_CLASSES[storage.name]!, key, location, numel };
}

function reduce(callable: Value, args: Value, at: number): Value {
  if (!Array.isArray(args)) throw new PickleError(`REDUCE at byte ${at} with arguments that are not a tuple`);
  if (isGlobal(callable, 'collections.OrderedDict')) {
    const map = new Map<Value, Value>();
    if (args.length === 1 && Array.isArray(args[0])) {
      for (const pair of args[0]) {
        if (!Array.isArray(pair) || pair.length !== 2) throw new PickleError(`OrderedDict at byte ${at} with an item that is not a pair`);
        map.set(dictKey(pair[0]), pair[1]);
      }
    } else if (args.length !== 0) throw new PickleError(`OrderedDict at byte ${at} with ${args.length} arguments`);
    return map;
  }
  if (isGlobal(callable, 'torch._utils._rebuild_tensor_v2')) {
    const [storage, offset, size, stride] = args as [Value, Value, Value, Value];
    if (typeof storage !== 'object' || storage === null || (storage as PickledStorage).kind !== 'storage')
      throw new PickleError(`_rebuild_tensor_v2 at byte ${at} without a storage`);
    const isCount = (v: Value) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
    if (!isCount(offset)) throw new PickleError(`_rebuild_tensor_v2 at byte ${at}: storage offset ${describe(offset)} is not a count`);
    if (
      !Array.isArray(size) ||
      !Array.isArray(stride) ||
      size.length !== stride.length ||
      size.length > MAX_DIMS ||
      !size.every(isCount) ||
      !stride.every(isCount)
    ) {
      throw new PickleError(
        `_rebuild_tensor_v2 at byte ${at}: size ${describe(size)} and stride ${describe(stride)} are not two lists of counts of the same length`,
      );
    }
    return {
      kind: 'tensor',
      storage: storage as PickledStorage,
      offset: offset as number,
      size: size as number[],
      stride: stride as number[],
    } satisfies PickledTensor;
  }
  if (isGlobal(callable, 'torch._utils._rebuild_parameter')) {
    const [data] = args as [Value];
    if (typeof data !== 'object' || data === null || (data as PickledTensor).kind !== 'tensor')
      throw new PickleError(`_rebuild_parameter at byte ${at} without a tensor`);
    return data;
  }
  throw new PickleError(`REDUCE at byte ${at} calls ${describe(callable)}, which is not allowed`);
}

function describe(value: Value): string {
  if (typeof value === 'object' && value !== null && (value as PickledGlobal).kind === 'global')
    return `${(value as PickledGlobal).module}.${(value as PickledGlobal).name}`;
  try {
    const s = JSON.stringify(value, (_, v: unknown) => (v instanceof Map ? '[dict]' : v instanceof Uint8Array ? '[bytes]' : v));
    return s === undefined ? String(value) : s.length > 80 ? `${s.slice(0, 80)}...` : s;
  } catch {
    return String(value);
  }
}
