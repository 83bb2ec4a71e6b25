// A small ONNX writer for the benchmark: just enough protobuf (varints, length-delimited fields)
// to describe a graph of Conv / Relu / GlobalAveragePool / Flatten / Gemm nodes with float
// initializers. Field numbers are those of onnx.proto (ModelProto, GraphProto, NodeProto, ...).

class Writer {
  constructor() {
    this.chunks = [];
    this.length = 0;
  }
  bytes(b) {
    this.chunks.push(b);
    this.length += b.length;
  }
  varint(value) {
    let v = BigInt.asUintN(64, BigInt(value));
    const out = [];
    do {
      let byte = Number(v & 0x7fn);
      v >>= 7n;
      if (v) byte |= 0x80;
      out.push(byte);
    } while (v);
    this.bytes(Uint8Array.from(out));
  }
  tag(field, wire) {
    this.varint((field << 3) | wire);
  }
  int(field, value) {
    this.tag(field, 0);
    this.varint(value);
  }
  float(field, value) {
    this.tag(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.bytes(b);
  }
  blob(field, b) {
    this.tag(field, 2);
    this.varint(b.length);
    this.bytes(b);
  }
  string(field, s) {
    this.blob(field, new TextEncoder().encode(s));
  }
  message(field, build) {
    const inner = new Writer();
    build(inner);
    this.blob(field, inner.finish());
  }
  finish() {
    const out = new Uint8Array(this.length);
    let offset = 0;
    for (const c of this.chunks) {
      out.set(c, offset);
      offset += c.length;
    }
    return out;
  }
}

const FLOAT = 1;
const ATTRIBUTE_INT = 2;
const ATTRIBUTE_INTS = 7;
const ATTRIBUTE_FLOAT = 1;

function valueInfo(w, field, name, shape) {
  w.message(field, (v) => {
    v.string(1, name);
    v.message(2, (type) =>
      type.message(1, (tensor) => {
        tensor.int(1, FLOAT);
        tensor.message(2, (s) => {
          for (const d of shape) s.message(1, (dim) => dim.int(1, d));
        });
      }),
    );
  });
}

/**
 * Encodes an ONNX model (opset 13).
 * @param {{ nodes: { op: string, inputs: string[], outputs: string[], attributes?: Record<string, number | number[]> }[],
 *   initializers: { name: string, shape: number[], data: Float32Array }[],
 *   input: { name: string, shape: number[] }, output: { name: string, shape: number[] } }} graph
 * Attribute values: an integer is INT, an array INTS, a non-integer number FLOAT.
 * @returns {Uint8Array}
 */
export function encodeOnnxModel(graph) {
  const w = new Writer();
  w.int(1, 8); // ir_version
  w.string(2, 'sepconv-lab-bench'); // producer_name
  w.message(7, (g) => {
    graph.nodes.forEach((node, index) =>
      g.message(1, (n) => {
        for (const input of node.inputs) n.string(1, input);
        for (const output of node.outputs) n.string(2, output);
        n.string(3, `${node.op}_${index}`);
        n.string(4, node.op);
        for (const [name, value] of Object.entries(node.attributes ?? {})) {
          n.message(5, (a) => {
            a.string(1, name);
            if (Array.isArray(value)) {
              a.int(20, ATTRIBUTE_INTS);
              for (const v of value) a.int(8, v);
            } else if (Number.isInteger(value)) {
              a.int(20, ATTRIBUTE_INT);
              a.int(3, value);
            } else {
              a.int(20, ATTRIBUTE_FLOAT);
              a.float(2, value);
            }
          });
        }
      }),
    );
    g.string(2, 'graph');
    for (const init of graph.initializers) {
      g.message(5, (t) => {
        for (const d of init.shape) t.int(1, d);
        t.int(2, FLOAT);
        t.string(8, init.name);
        t.blob(9, new Uint8Array(init.data.buffer, init.data.byteOffset, init.data.byteLength));
      });
    }
    valueInfo(g, 11, graph.input.name, graph.input.shape);
    valueInfo(g, 12, graph.output.name, graph.output.shape);
  });
  w.message(8, (o) => {
    o.string(1, '');
    o.int(2, 13);
  }); // opset_import
  return w.finish();
}
