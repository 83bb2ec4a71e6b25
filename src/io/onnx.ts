/**
 * `.onnx` files: the few ONNX protobuf messages an inference graph needs (ModelProto, GraphProto,
 * NodeProto, AttributeProto, TensorProto, ValueInfoProto, TypeProto), decoded into plain objects.
 *
 * The reader is written here rather than taken from a protobuf library: it decodes seven
 * messages, so a generated schema and a runtime (protobufjs is about 300 KB with its reflection)
 * would weigh more than the code, and every length, count and dimension can be checked where it
 * is read. A truncated file, a length that runs past its message, a dimension list whose element
 * count would not fit in memory, or tensor data that disagrees with its dims is an
 * {@link OnnxError} with the reason, never a crash or an out-of-memory.
 *
 * Fields of other messages (training info, functions, sparse tensors, metadata) are skipped.
 * Works on bytes only; external tensor data is handed in by the caller (see onnxFiles.ts).
 * This module imports neither `vscode` nor the DOM.
 */
import { ProtobufError, ProtoReader, WIRE_FIXED32, WIRE_LENGTH, WIRE_VARINT } from './protobuf';
import { decodeFloat16, decodeBfloat16 } from './float16';

/** A file that is not an .onnx model this reader accepts; the message says why. */
export class OnnxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OnnxError';
  }
}

/** TensorProto.DataType values. */
export const ONNX_DTYPES: Record<number, { name: string; bytes: number }> = {
  1: { name: 'float32', bytes: 4 },
  2: { name: 'uint8', bytes: 1 },
  3: { name: 'int8', bytes: 1 },
  4: { name: 'uint16', bytes: 2 },
  5: { name: 'int16', bytes: 2 },
  6: { name: 'int32', bytes: 4 },
  7: { name: 'int64', bytes: 8 },
  8: { name: 'string', bytes: 0 },
  9: { name: 'bool', bytes: 1 },
  10: { name: 'float16', bytes: 2 },
  11: { name: 'float64', bytes: 8 },
  12: { name: 'uint32', bytes: 4 },
  13: { name: 'uint64', bytes: 8 },
  16: { name: 'bfloat16', bytes: 2 },
};
const FLOAT_TYPES = new Set([1, 10, 11, 16]);

/** A tensor's elements beyond this are refused (1 GiB of float32): no mobile CNN weight comes near. */
export const MAX_TENSOR_ELEMENTS = 2 ** 28;
/** Values in a typed repeated field (float_data, int64_data, ...): exporters write large tensors as raw_data, and a JS array of numbers takes 8 bytes a value. */
const MAX_TYPED_VALUES = 2 ** 24;
/** Dimensions of a tensor. */
const MAX_RANK = 64;

export interface OnnxTensor {
  name: string;
  dims: number[];
  dataType: number;
  /** Little-endian bytes in the dtype (raw_data), when the tensor has them inline. */
  raw?: Uint8Array;
  /** Typed fields (float_data, int32_data, int64_data, double_data), when used instead of raw_data. */
  floatData: number[];
  int32Data: number[];
  int64Data: number[];
  doubleData: number[];
  /** data_location EXTERNAL: where the bytes lie, relative to the model's folder. */
  external?: { location: string; offset: number; length?: number };
}

export interface OnnxAttribute {
  name: string;
  /** AttributeProto.type: 1 FLOAT, 2 INT, 3 STRING, 4 TENSOR, 5 GRAPH, 6 FLOATS, 7 INTS, 8 STRINGS, ... */
  type: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: OnnxTensor;
  floats: number[];
  ints: number[];
  strings: Uint8Array[];
  /** Whether the attribute holds a subgraph (If, Loop): such nodes are not imported. */
  hasGraph: boolean;
}

export interface OnnxNode {
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attributes: OnnxAttribute[];
}

/** A value's declared element type and shape; a dimension is a number, a symbolic name, or undefined. */
export interface OnnxValueInfo {
  name: string;
  elemType?: number;
  shape?: Array<number | string | undefined>;
}

export interface OnnxGraph {
  name: string;
  nodes: OnnxNode[];
  initializers: OnnxTensor[];
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  valueInfo: OnnxValueInfo[];
}

export interface OnnxModel {
  irVersion: number;
  producerName: string;
  producerVersion: string;
  /** Opset version by domain ("" is the default ONNX domain). */
  opsets: Map<string, number>;
  graph: OnnxGraph;
}

/** Decodes an .onnx file's ModelProto. */
export function readOnnxModel(input: Uint8Array | ArrayBuffer): OnnxModel {
  const bytes = input instanceof Uint8Array ? input : new Uint8Array(input);
  try {
    return decodeModel(new ProtoReader(bytes));
  } catch (error) {
    if (error instanceof ProtobufError) throw new OnnxError(`malformed .onnx file: ${error.message}`);
    throw error;
  }
}

function decodeModel(r: ProtoReader): OnnxModel {
  const model: Partial<OnnxModel> & { opsets: Map<string, number> } = { irVersion: 0, producerName: '', producerVersion: '', opsets: new Map() };
  for (let f = r.nextField(); f; f = r.nextField()) {
    switch (f.field) {
      case 1:
        r.expectWire(f.wire, WIRE_VARINT, 'ModelProto.ir_version');
        model.irVersion = r.int64();
        break;
      case 2:
        r.expectWire(f.wire, WIRE_LENGTH, 'ModelProto.producer_name');
        model.producerName = r.string();
        break;
      case 3:
        r.expectWire(f.wire, WIRE_LENGTH, 'ModelProto.producer_version');
        model.producerVersion = r.string();
        break;
      case 7:
        r.expectWire(f.wire, WIRE_LENGTH, 'ModelProto.graph');
        model.graph = decodeGraph(r.message());
        break;
      case 8: {
        r.expectWire(f.wire, WIRE_LENGTH, 'ModelProto.opset_import');
        const m = r.message();
        let domain = '';
        let version = 0;
        for (let g = m.nextField(); g; g = m.nextField()) {
          if (g.field === 1 && g.wire === WIRE_LENGTH) domain = m.string();
          else if (g.field === 2 && g.wire === WIRE_VARINT) version = m.int64();
          else m.skip(g.wire);
        }
        model.opsets.set(domain === 'ai.onnx' ? '' : domain, version);
        break;
      }
      default:
        r.skip(f.wire);
    }
  }
  if (!model.graph) throw new OnnxError('not an .onnx model: no graph (ModelProto field 7)');
  if (!model.irVersion || model.irVersion <= 0) throw new OnnxError('not an .onnx model: no ir_version (ModelProto field 1)');
  return model as OnnxModel;
}

function decodeGraph(r: ProtoReader): OnnxGraph {
  const graph: OnnxGraph = { name: '', nodes: [], initializers: [], inputs: [], outputs: [], valueInfo: [] };
  for (let f = r.nextField(); f; f = r.nextField()) {
    switch (f.field) {
      case 1:
        r.expectWire(f.wire, WIRE_LENGTH, 'GraphProto.node');
        graph.nodes.push(decodeNode(r.message()));
        break;
      case 2:
        r.expectWire(f.wire, WIRE_LENGTH, 'GraphProto.name');
        graph.name = r.string();
        break;
      case 5:
        r.expectWire(f.wire, WIRE_LENGTH, 'GraphProto.initializer');
        graph.initializers.push(decodeTensor(r.message()));
        break;
      case 11:
        r.expectWire(f.wire, WIRE_LENGTH, 'GraphProto.input');
        graph.inputs.push(decodeValueInfo(r.message()));
        break;
      case 12:
        r.expectWire(f.wire, WIRE_LENGTH, 'GraphProto.output');
        graph.outputs.push(decodeValueInfo(r.message()));
        break;
      case 13:
        r.expectWire(f.wire, WIRE_LENGTH, 'GraphProto.value_info');
        graph.valueInfo.push(decodeValueInfo(r.message()));
        break;
      default:
        r.skip(f.wire);
    }
  }
  return graph;
}

function decodeNode(r: ProtoReader): OnnxNode {
  const node: OnnxNode = { name: '', opType: '', domain: '', inputs: [], outputs: [], attributes: [] };
  for (let f = r.nextField(); f; f = r.nextField()) {
    switch (f.field) {
      case 1:
        r.expectWire(f.wire, WIRE_LENGTH, 'NodeProto.input');
        node.inputs.push(r.string());
        break;
      case 2:
        r.expectWire(f.wire, WIRE_LENGTH, 'NodeProto.output');
        node.outputs.push(r.string());
        break;
      case 3:
        r.expectWire(f.wire, WIRE_LENGTH, 'NodeProto.name');
        node.name = r.string();
        break;
      case 4:
        r.expectWire(f.wire, WIRE_LENGTH, 'NodeProto.op_type');
        node.opType = r.string();
        break;
      case 5:
        r.expectWire(f.wire, WIRE_LENGTH, 'NodeProto.attribute');
        node.attributes.push(decodeAttribute(r.message()));
        break;
      case 7:
        r.expectWire(f.wire, WIRE_LENGTH, 'NodeProto.domain');
        node.domain = r.string();
        break;
      default:
        r.skip(f.wire);
    }
  }
  if (node.domain === 'ai.onnx') node.domain = '';
  return node;
}

function decodeAttribute(r: ProtoReader): OnnxAttribute {
  const a: OnnxAttribute = { name: '', type: 0, floats: [], ints: [], strings: [], hasGraph: false };
  for (let f = r.nextField(); f; f = r.nextField()) {
    switch (f.field) {
      case 1:
        r.expectWire(f.wire, WIRE_LENGTH, 'AttributeProto.name');
        a.name = r.string();
        break;
      case 2:
        r.expectWire(f.wire, WIRE_FIXED32, 'AttributeProto.f');
        a.f = r.float32();
        break;
      case 3:
        r.expectWire(f.wire, WIRE_VARINT, 'AttributeProto.i');
        a.i = r.int64();
        break;
      case 4:
        r.expectWire(f.wire, WIRE_LENGTH, 'AttributeProto.s');
        a.s = r.bytesField();
        break;
      case 5:
        r.expectWire(f.wire, WIRE_LENGTH, 'AttributeProto.t');
        a.t = decodeTensor(r.message());
        break;
      case 6:
      case 11:
        a.hasGraph = true;
        r.skip(f.wire);
        break;
      case 7:
        r.repeatedFloat32(f.wire, a.floats, MAX_TYPED_VALUES);
        break;
      case 8:
        r.repeatedInt64(f.wire, a.ints, MAX_TYPED_VALUES);
        break;
      case 9:
        r.expectWire(f.wire, WIRE_LENGTH, 'AttributeProto.strings');
        a.strings.push(r.bytesField());
        break;
      case 20:
        r.expectWire(f.wire, WIRE_VARINT, 'AttributeProto.type');
        a.type = r.int64();
        break;
      default:
        r.skip(f.wire);
    }
  }
  return a;
}

function decodeTensor(r: ProtoReader): OnnxTensor {
  const t: OnnxTensor = { name: '', dims: [], dataType: 0, floatData: [], int32Data: [], int64Data: [], doubleData: [] };
  let location: number | undefined;
  const externalEntries: Array<[string, string]> = [];
  for (let f = r.nextField(); f; f = r.nextField()) {
    switch (f.field) {
      case 1:
        r.repeatedInt64(f.wire, t.dims, MAX_RANK);
        break;
      case 2:
        r.expectWire(f.wire, WIRE_VARINT, 'TensorProto.data_type');
        t.dataType = r.int64();
        break;
      case 4:
        r.repeatedFloat32(f.wire, t.floatData, MAX_TYPED_VALUES);
        break;
      case 5:
        r.repeatedInt64(f.wire, t.int32Data, MAX_TYPED_VALUES);
        break;
      case 7:
        r.repeatedInt64(f.wire, t.int64Data, MAX_TYPED_VALUES);
        break;
      case 8:
        r.expectWire(f.wire, WIRE_LENGTH, 'TensorProto.name');
        t.name = r.string();
        break;
      case 9:
        r.expectWire(f.wire, WIRE_LENGTH, 'TensorProto.raw_data');
        t.raw = r.bytesField();
        break;
      case 10:
        r.repeatedFloat64(f.wire, t.doubleData, MAX_TYPED_VALUES);
        break;
      case 13: {
        r.expectWire(f.wire, WIRE_LENGTH, 'TensorProto.external_data');
        const m = r.message();
        let key = '';
        let value = '';
        for (let g = m.nextField(); g; g = m.nextField()) {
          if (g.field === 1 && g.wire === WIRE_LENGTH) key = m.string();
          else if (g.field === 2 && g.wire === WIRE_LENGTH) value = m.string();
          else m.skip(g.wire);
        }
        externalEntries.push([key, value]);
        break;
      }
      case 14:
        r.expectWire(f.wire, WIRE_VARINT, 'TensorProto.data_location');
        location = r.int64();
        break;
      default:
        r.skip(f.wire);
    }
  }
  const label = `tensor ${JSON.stringify(t.name)}`;
  for (const d of t.dims) {
    if (!Number.isSafeInteger(d) || d < 0) throw new OnnxError(`${label}: dimension ${d} is not a non-negative integer`);
  }
  let count = 1;
  for (const d of t.dims) {
    count *= d;
    if (count > MAX_TENSOR_ELEMENTS) throw new OnnxError(`${label}: dims [${t.dims.join(', ')}] hold more than ${MAX_TENSOR_ELEMENTS} elements`);
  }
  if (location === 1) {
    const entries = new Map(externalEntries);
    const where = entries.get('location');
    if (where === undefined) throw new OnnxError(`${label}: external data without a location`);
    const offset = entries.has('offset') ? Number(entries.get('offset')) : 0;
    const length = entries.has('length') ? Number(entries.get('length')) : undefined;
    if (!Number.isSafeInteger(offset) || offset < 0)
      throw new OnnxError(`${label}: external data offset ${JSON.stringify(entries.get('offset'))} is not a non-negative integer`);
    if (length !== undefined && (!Number.isSafeInteger(length) || length < 0))
      throw new OnnxError(`${label}: external data length ${JSON.stringify(entries.get('length'))} is not a non-negative integer`);
    t.external = { location: where, offset, length };
  }
  return t;
}

function decodeValueInfo(r: ProtoReader): OnnxValueInfo {
  const info: OnnxValueInfo = { name: '' };
  for (let f = r.nextField(); f; f = r.nextField()) {
    if (f.field === 1 && f.wire === WIRE_LENGTH) info.name = r.string();
    else if (f.field === 2 && f.wire === WIRE_LENGTH) {
      const type = r.message();
      for (let g = type.nextField(); g; g = type.nextField()) {
        if (g.field !== 1 || g.wire !== WIRE_LENGTH) {
          type.skip(g.wire);
          continue;
        }
        const tensorType = type.message();
        for (let h = tensorType.nextField(); h; h = tensorType.nextField()) {
          if (h.field === 1 && h.wire === WIRE_VARINT) info.elemType = tensorType.int64();
          else if (h.field === 2 && h.wire === WIRE_LENGTH) info.shape = decodeShape(tensorType.message());
          else tensorType.skip(h.wire);
        }
      }
    } else r.skip(f.wire);
  }
  return info;
}

function decodeShape(r: ProtoReader): Array<number | string | undefined> {
  const dims: Array<number | string | undefined> = [];
  for (let f = r.nextField(); f; f = r.nextField()) {
    if (f.field !== 1 || f.wire !== WIRE_LENGTH) {
      r.skip(f.wire);
      continue;
    }
    const dim = r.message();
    let value: number | string | undefined;
    for (let g = dim.nextField(); g; g = dim.nextField()) {
      if (g.field === 1 && g.wire === WIRE_VARINT) value = dim.int64();
      else if (g.field === 2 && g.wire === WIRE_LENGTH) value = dim.string();
      else dim.skip(g.wire);
    }
    dims.push(value);
  }
  return dims;
}

/** Elements of a tensor (its dims are checked when it is decoded). */
export function tensorElementCount(t: OnnxTensor): number {
  return t.dims.reduce((a, b) => a * b, 1);
}

/**
 * A tensor's values: float types as a Float32Array, integer and bool types as numbers (int64
 * values past 2^53 rounded, as shape arithmetic never needs them exactly). `external` gives the
 * bytes of a tensor whose data lies outside the model.
 */
export function tensorValues(t: OnnxTensor, external?: (location: string, offset: number, length: number | undefined) => Uint8Array): Float32Array | number[] {
  const label = `tensor ${JSON.stringify(t.name)}`;
  const dtype = ONNX_DTYPES[t.dataType];
  if (!dtype || dtype.bytes === 0) throw new OnnxError(`${label}: data type ${t.dataType} is not read (numeric types only)`);
  const count = tensorElementCount(t);
  let raw = t.raw;
  if (t.external) {
    if (!external) throw new OnnxError(`${label}: its data lies in the external file ${JSON.stringify(t.external.location)}, which was not provided`);
    raw = external(t.external.location, t.external.offset, t.external.length ?? count * dtype.bytes);
  }
  if (raw !== undefined) {
    if (raw.length !== count * dtype.bytes) {
      throw new OnnxError(`${label}: dims [${t.dims.join(', ')}] of ${dtype.name} need ${count * dtype.bytes} bytes but its data holds ${raw.length}`);
    }
    return decodeRaw(raw, t.dataType, count);
  }
  const typed =
    t.dataType === 1 || t.dataType === 10 || t.dataType === 16
      ? t.floatData
      : t.dataType === 11
        ? t.doubleData
        : t.dataType === 7
          ? t.int64Data
          : t.dataType === 13 || t.dataType === 12
            ? t.int64Data.length > 0
              ? t.int64Data
              : t.int32Data
            : t.int32Data;
  if (typed.length !== count) throw new OnnxError(`${label}: dims [${t.dims.join(', ')}] hold ${count} elements but its data holds ${typed.length}`);
  if (t.dataType === 10 || t.dataType === 16) {
    // float16/bfloat16 in int32_data: one 16-bit pattern per int32; float_data is not used for them.
    const bits = new Uint8Array(count * 2);
    const view = new DataView(bits.buffer);
    t.int32Data.forEach((v, i) => view.setUint16(i * 2, v & 0xffff, true));
    return t.dataType === 10 ? decodeFloat16(bits, 0, count) : decodeBfloat16(bits, 0, count);
  }
  return FLOAT_TYPES.has(t.dataType) ? Float32Array.from(typed) : typed.slice();
}

function decodeRaw(raw: Uint8Array, dataType: number, count: number): Float32Array | number[] {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  switch (dataType) {
    case 1: {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
      return out;
    }
    case 10:
      return decodeFloat16(raw, 0, count);
    case 16:
      return decodeBfloat16(raw, 0, count);
    case 11: {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(i * 8, true);
      return out;
    }
    default: {
      const out = new Array<number>(count);
      for (let i = 0; i < count; i++) out[i] = readInteger(view, dataType, i);
      return out;
    }
  }
}

function readInteger(view: DataView, dataType: number, i: number): number {
  switch (dataType) {
    case 2:
    case 9:
      return view.getUint8(i);
    case 3:
      return view.getInt8(i);
    case 4:
      return view.getUint16(i * 2, true);
    case 5:
      return view.getInt16(i * 2, true);
    case 6:
      return view.getInt32(i * 4, true);
    case 12:
      return view.getUint32(i * 4, true);
    case 7:
      return Number(view.getBigInt64(i * 8, true));
    case 13:
      return Number(view.getBigUint64(i * 8, true));
    default:
      throw new OnnxError(`data type ${dataType} is not read`);
  }
}
