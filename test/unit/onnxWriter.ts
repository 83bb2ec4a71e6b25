/**
 * Writes small .onnx files for the import tests: a protobuf encoder of the few messages the reader
 * decodes, independent of it (field numbers from onnx.proto).
 */

type Field = [number, 'varint', number | bigint] | [number, 'bytes', Uint8Array | string] | [number, 'float', number] | [number, 'message', Field[]];

function varint(value: number | bigint): number[] {
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v !== 0n) byte |= 0x80;
    out.push(byte);
  } while (v !== 0n);
  return out;
}

/** Encodes a message given as a list of fields. */
export function encode(fields: Field[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const [number, kind, value] of fields) {
    if (kind === 'varint') parts.push(Uint8Array.from([...varint(number * 8), ...varint(value as number)]));
    else if (kind === 'float') {
      const b = new Uint8Array(4);
      new DataView(b.buffer).setFloat32(0, value, true);
      parts.push(Uint8Array.from(varint(number * 8 + 5)), b);
    } else {
      const bytes = kind === 'message' ? encode(value) : typeof value === 'string' ? new TextEncoder().encode(value) : value;
      parts.push(Uint8Array.from([...varint(number * 8 + 2), ...varint(bytes.length)]), bytes);
    }
  }
  return concatBytes(parts);
}

/** The byte arrays one after the other. */
export function concatBytes(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export interface TensorInit {
  name: string;
  dims: number[];
  data: number[];
  int64?: boolean;
  external?: { location: string; offset?: number; length?: number };
}

export function tensorFields(t: TensorInit): Field[] {
  const fields: Field[] = t.dims.map((d) => [1, 'varint', d] as Field);
  fields.push([2, 'varint', t.int64 ? 7 : 1], [8, 'bytes', t.name]);
  if (t.external) {
    fields.push([
      13,
      'message',
      [
        [1, 'bytes', 'location'],
        [2, 'bytes', t.external.location],
      ],
    ]);
    if (t.external.offset !== undefined)
      fields.push([
        13,
        'message',
        [
          [1, 'bytes', 'offset'],
          [2, 'bytes', String(t.external.offset)],
        ],
      ]);
    if (t.external.length !== undefined)
      fields.push([
        13,
        'message',
        [
          [1, 'bytes', 'length'],
          [2, 'bytes', String(t.external.length)],
        ],
      ]);
    fields.push([14, 'varint', 1]);
    return fields;
  }
  fields.push([9, 'bytes', rawBytes(t.data, t.int64 ?? false)]);
  return fields;
}

export function rawBytes(data: number[], int64: boolean): Uint8Array {
  const out = new Uint8Array(data.length * (int64 ? 8 : 4));
  const view = new DataView(out.buffer);
  data.forEach((v, i) => (int64 ? view.setBigInt64(i * 8, BigInt(v), true) : view.setFloat32(i * 4, v, true)));
  return out;
}

export type AttrValue = number | number[] | string | { float: number } | { floats: number[] } | { tensor: TensorInit };

export interface NodeInit {
  op: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  domain?: string;
  attrs?: Record<string, AttrValue>;
}

function attributeFields(name: string, value: AttrValue): Field[] {
  const fields: Field[] = [[1, 'bytes', name]];
  if (typeof value === 'number') fields.push([3, 'varint', value], [20, 'varint', 2]);
  else if (typeof value === 'string') fields.push([4, 'bytes', value], [20, 'varint', 3]);
  else if (Array.isArray(value)) {
    for (const v of value) fields.push([8, 'varint', v]);
    fields.push([20, 'varint', 7]);
  } else if ('float' in value) fields.push([2, 'float', value.float], [20, 'varint', 1]);
  else if ('floats' in value) {
    for (const v of value.floats) fields.push([7, 'float', v]);
    fields.push([20, 'varint', 6]);
  } else fields.push([5, 'message', tensorFields(value.tensor)], [20, 'varint', 4]);
  return fields;
}

function valueInfo(name: string, shape: Array<number | string>): Field[] {
  const dims: Field[] = shape.map((d) => [1, 'message', [typeof d === 'number' ? [1, 'varint', d] : [2, 'bytes', d]]] as Field);
  return [
    [1, 'bytes', name],
    [
      2,
      'message',
      [
        [
          1,
          'message',
          [
            [1, 'varint', 1],
            [2, 'message', dims],
          ],
        ],
      ],
    ],
  ];
}

export interface ModelInit {
  opset?: number;
  input: { name: string; shape: Array<number | string> };
  outputs: string[];
  nodes: NodeInit[];
  initializers?: TensorInit[];
}

/** An .onnx file of one graph. */
export function writeOnnx(model: ModelInit): Uint8Array {
  const graph: Field[] = [];
  for (const n of model.nodes) {
    const node: Field[] = [];
    for (const i of n.inputs) node.push([1, 'bytes', i]);
    for (const o of n.outputs) node.push([2, 'bytes', o]);
    if (n.name) node.push([3, 'bytes', n.name]);
    node.push([4, 'bytes', n.op]);
    for (const [k, v] of Object.entries(n.attrs ?? {})) node.push([5, 'message', attributeFields(k, v)]);
    if (n.domain) node.push([7, 'bytes', n.domain]);
    graph.push([1, 'message', node]);
  }
  graph.push([2, 'bytes', 'test graph']);
  for (const t of model.initializers ?? []) graph.push([5, 'message', tensorFields(t)]);
  graph.push([11, 'message', valueInfo(model.input.name, model.input.shape)]);
  for (const o of model.outputs) graph.push([12, 'message', [[1, 'bytes', o]]]);
  return encode([
    [1, 'varint', 8],
    [2, 'bytes', 'sepconv-test'],
    [7, 'message', graph],
    [
      8,
      'message',
      [
        [1, 'bytes', ''],
        [2, 'varint', model.opset ?? 13],
      ],
    ],
  ]);
}

/** Seeded pseudo-random values in [-1, 1). */
export function seeded(count: number, seed: number): number[] {
  let s = seed >>> 0 || 1;
  return Array.from({ length: count }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}
