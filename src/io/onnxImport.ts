/**
 * ONNX import: an .onnx inference graph becomes a graph-form model spec (nodes named after the
 * PyTorch module path where the exporter kept one), a weights map keyed `<node>.weight`,
 * `<node>.bias`, `<node>.running_mean`, ... and every value's shape at a fixed input shape.
 *
 * - Constants (initializers and Constant nodes) and the shape arithmetic exporters emit (Shape,
 *   Gather, Slice, Concat, Cast, Unsqueeze, Squeeze, Reshape, elementwise arithmetic on
 *   constants) are folded at import, with the input shape fixed.
 * - Op patterns become one node: x * clip(x + 3, 0, 6) / 6 and x * HardSigmoid(x) are
 *   Hardswish, x * Sigmoid(x) is SiLU, Reshape-Transpose-Reshape is ChannelShuffle, a per-channel
 *   constant added after a conv or linear without bias becomes its bias, and any other Mul/Add/
 *   Sub/Div by a per-channel constant (PaddlePaddle's learnable affine blocks) becomes a
 *   BatchNorm2d with mean 0, variance 1 and eps 1e-12 (exactly x * scale + shift).
 * - The first op that cannot be imported stops the import with a message naming the node, its
 *   op type and the opset; the nodes before it still form a spec (its outputs are the values the
 *   refused node read), so the graph up to it can be viewed, costed and run.
 *
 * Works on bytes only; external tensor data comes through `options.readExternal` (see
 * onnxFiles.ts for the Node side, which keeps it inside the model's folder).
 * This module imports neither `vscode` nor the DOM.
 */
import { broadcastShapes } from '../shared/spec';
import { elementCount, type Tensor } from '../shared/tensor';
import { OnnxError, readOnnxModel, tensorElementCount, tensorValues, type OnnxAttribute, type OnnxModel, type OnnxNode, type OnnxTensor } from './onnx';

/** A node of the graph-form spec: `type` and PyTorch constructor arguments, plus `name` and `inputs`. */
export interface GraphNodeSpec {
  name: string;
  type: string;
  inputs: string[];
  [argument: string]: unknown;
}

/** The graph form of the model spec (see README.md, "Supported layers and ops", and CONTRIBUTING.md, "The model spec in detail"). */
export interface GraphModelSpec {
  name: string;
  input_shape: number[];
  nodes: GraphNodeSpec[];
  outputs: string[];
}

export interface UnsupportedOp {
  /** The ONNX node's name (or its first output's when it has none). */
  node: string;
  opType: string;
  domain: string;
  opset: number;
  reason: string;
  /** One line for the user: node, op type, opset and reason. */
  message: string;
}

/** Per spec node: output shape(s), params (weights read from the file) and MACs. */
export interface ImportedNodeInfo {
  name: string;
  type: string;
  outputShapes: number[][];
  params: number;
  macs: number;
}

export interface OnnxImport {
  spec: GraphModelSpec;
  /** Keyed `<node>.weight`, `<node>.bias`, `<node>.running_mean`, `<node>.running_var`. */
  weights: Record<string, Tensor>;
  inputShape: number[];
  /** The ONNX input's name, and each spec output's ONNX value name. */
  inputName: string;
  outputNames: string[];
  /** Spec value id ("node" or "node:i") of every ONNX value that became one, for comparing intermediates. */
  valueIds: Map<string, string>;
  nodes: ImportedNodeInfo[];
  /** Parameters: the file's weight tensors the spec uses (not BN running statistics, not shape constants). */
  params: number;
  opset: number;
  producer: string;
  warnings: string[];
  unsupported?: UnsupportedOp;
}

export interface OnnxImportOptions {
  /** The input shape, NCHW; by default the model's, with batch 1 and 224 for other unknown dimensions. */
  inputShape?: number[];
  /** The bytes of external tensor data (`location` relative to the model's folder). */
  readExternal?: (location: string, offset: number, length: number | undefined) => Uint8Array;
  /** The spec's name; by default the graph's. */
  name?: string;
}

type Constant = { kind: 'const'; dims: number[]; data: Float32Array | number[]; float: boolean; source?: string };
type Runtime = { kind: 'tensor'; id: string; shape: number[] };
/** A value inside a channel-shuffle pattern: reshaped to [N, g, C/g, H, W] (and maybe transposed). */
type Shuffle = { kind: 'shuffle'; id: string; shape: number[]; groups: number; transposed: boolean; baseShape: number[] };
/**
 * A run-time tensor zero-padded on H and W by a Pad node: the engine has no padding layer, so
 * the Conv or AveragePool that reads it takes the padding into its own (the same arithmetic:
 * zeros in, and counted by the average).
 */
type Padded = { kind: 'padded'; source: Runtime; pads: [top: number, left: number, bottom: number, right: number]; shape: number[]; described: string };
type Value = Constant | Runtime | Shuffle | Padded;

/** Refusal of one node: caught by the importer, which reports it as the unsupported op. */
class Unsupported extends Error {}

/** Tolerance for attribute constants such as 1/6 stored as float32. */
const CLOSE = 1e-6;
const NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$/;
/** Spatial size for a dimension the model leaves open (PaddlePaddle exports leave H and W open). */
const DEFAULT_SPATIAL = 224;
/** BatchNorm2d standing for x * scale + shift: sqrt(1 + 1e-12) is 1 in float32. */
const AFFINE_EPS = 1e-12;

/** Imports an .onnx file's bytes. Throws OnnxError for a file that cannot be read at all. */
export function importOnnx(bytes: Uint8Array | ArrayBuffer, options: OnnxImportOptions = {}): OnnxImport {
  return new Importer(readOnnxModel(bytes), options).run();
}

/** Imports an already decoded model. */
export function importOnnxModel(model: OnnxModel, options: OnnxImportOptions = {}): OnnxImport {
  return new Importer(model, options).run();
}

class Importer {
  readonly values = new Map<string, Value>();
  readonly nodes: GraphNodeSpec[] = [];
  readonly infos: ImportedNodeInfo[] = [];
  readonly weights: Record<string, Tensor> = {};
  readonly paramSources = new Set<string>();
  readonly usedNames = new Set<string>(['input']);
  readonly warnings: string[] = [];
  readonly valueIds = new Map<string, string>();
  /** How many nodes read each ONNX value (graph outputs count as one more). */
  readonly consumers = new Map<string, number>();
  /** The spec node that produced each spec value id, for bias folding. */
  readonly producer = new Map<string, GraphNodeSpec>();
  /** Constant nodes by output name. */
  readonly constantNodes = new Map<string, OnnxNode>();
  /** The first ONNX name of each spec value id, and each spec node's info, for bias folding. */
  readonly onnxNameOfId = new Map<string, string>();
  readonly infoByName = new Map<string, ImportedNodeInfo>();
  /** Split nodes made for slices of run-time tensors, by input, axis and sections. */
  readonly splits = new Map<string, string>();
  readonly opset: number;
  inputShape: number[] = [];
  inputName = '';
  current: OnnxNode | undefined;

  constructor(
    private readonly model: OnnxModel,
    private readonly options: OnnxImportOptions,
  ) {
    this.opset = model.opsets.get('') ?? 0;
  }

  run(): OnnxImport {
    const graph = this.model.graph;
    if (this.opset < 7) throw new OnnxError(`opset ${this.opset} is not imported: opsets 7 and later are (torch.onnx emits 9-17)`);
    for (const init of graph.initializers) this.values.set(init.name, this.constantOf(init, init.name));
    for (const node of graph.nodes) for (const name of node.inputs) if (name) this.consumers.set(name, (this.consumers.get(name) ?? 0) + 1);
    for (const output of graph.outputs) this.consumers.set(output.name, (this.consumers.get(output.name) ?? 0) + 1);
    this.setUpInput();
    for (const node of graph.nodes) if (node.opType === 'Constant' && node.outputs[0]) this.constantNodes.set(node.outputs[0], node);
    const fused = fusePatterns(graph.nodes, this.consumers, (name) => this.scalarConstant(name));

    let unsupported: UnsupportedOp | undefined;
    let stopOutputs: string[] | undefined;
    for (const node of fused) {
      this.current = node;
      try {
        this.importNode(node);
      } catch (error) {
        // Anything else comes from a node whose inputs or attributes are not what its op defines.
        const reason =
          error instanceof Unsupported || error instanceof OnnxError
            ? error.message
            : `its inputs or attributes are missing or malformed (${error instanceof Error ? error.message : String(error)})`;
        const name = node.name || node.outputs[0] || '(unnamed)';
        const opset = node.domain === '' ? this.opset : (this.model.opsets.get(node.domain) ?? 0);
        const op = node.domain === '' ? node.opType : `${node.domain}::${node.opType}`;
        unsupported = {
          node: name,
          opType: node.opType,
          domain: node.domain,
          opset,
          reason,
          message: `node ${JSON.stringify(name)} (${op}, opset ${opset}) is not supported: ${reason}`,
        };
        stopOutputs = node.inputs
          .map((i) => this.values.get(i))
          .filter((v): v is Runtime => v?.kind === 'tensor')
          .map((v) => v.id);
        break;
      }
    }
    const outputIds: string[] = [];
    const outputNames: string[] = [];
    if (stopOutputs) {
      outputIds.push(...new Set(stopOutputs));
      if (outputIds.length === 0 && this.nodes.length > 0) outputIds.push(this.nodes[this.nodes.length - 1]!.name);
    } else {
      for (const output of graph.outputs) {
        const value = this.values.get(output.name);
        if (value?.kind !== 'tensor')
          throw new OnnxError(`graph output ${JSON.stringify(output.name)} is ${value ? 'a constant' : 'never computed'}; nothing to run`);
        outputIds.push(value.id);
        outputNames.push(output.name);
      }
    }
    if (outputIds.length === 0) outputIds.push('input');
    return {
      spec: { name: this.options.name ?? (graph.name || 'onnx model'), input_shape: this.inputShape, nodes: this.nodes, outputs: outputIds },
      weights: this.weights,
      inputShape: this.inputShape,
      inputName: this.inputName,
      outputNames,
      valueIds: this.valueIds,
      nodes: this.infos,
      params: this.infos.reduce((sum, info) => sum + info.params, 0),
      opset: this.opset,
      producer: [this.model.producerName, this.model.producerVersion].filter(Boolean).join(' '),
      warnings: this.warnings,
      ...(unsupported ? { unsupported } : {}),
    };
  }

  setUpInput(): void {
    const graph = this.model.graph;
    const inputs = graph.inputs.filter((i) => !this.values.has(i.name));
    if (inputs.length !== 1)
      throw new OnnxError(
        `the graph has ${inputs.length} inputs besides its initializers (${inputs.map((i) => i.name).join(', ')}); one image input is imported`,
      );
    const input = inputs[0]!;
    this.inputName = input.name;
    const declared = input.shape ?? [];
    if (input.elemType !== undefined && input.elemType !== 1)
      throw new OnnxError(`input ${JSON.stringify(input.name)} is of data type ${input.elemType}; a float32 input is imported`);
    if (this.options.inputShape) {
      const given = this.options.inputShape;
      if (given.length !== 4 || given.some((d) => !Number.isSafeInteger(d) || d < 1))
        throw new OnnxError(`input shape [${given.join(', ')}] must be four positive integers (N, C, H, W)`);
      declared.forEach((d, i) => {
        if (typeof d === 'number' && d > 0 && d !== given[i])
          throw new OnnxError(
            `input shape [${given.join(', ')}] disagrees with the model's ${JSON.stringify(input.name)} [${declared.map((x) => x ?? '?').join(', ')}] at dimension ${i}`,
          );
      });
      this.inputShape = [...given];
    } else {
      if (declared.length !== 4)
        throw new OnnxError(`input ${JSON.stringify(input.name)} has rank ${declared.length}; an NCHW image input (rank 4) is imported`);
      const open: number[] = [];
      this.inputShape = declared.map((d, i) => {
        if (typeof d === 'number' && d > 0) return d;
        open.push(i);
        return i === 0 ? 1 : DEFAULT_SPATIAL;
      });
      if (open.some((i) => i >= 2))
        this.warnings.push(
          `the model leaves its input size open ([${declared.map((d) => (typeof d === 'number' ? d : '?')).join(', ')}]); imported at [${this.inputShape.join(', ')}]`,
        );
      if (open.includes(1)) throw new OnnxError(`input ${JSON.stringify(input.name)} leaves its channel count open; give the input shape`);
    }
    for (const d of this.inputShape)
      if (d > 65536) throw new OnnxError(`input shape [${this.inputShape.join(', ')}]: dimension ${d} is over the limit of 65536`);
    this.values.set(input.name, { kind: 'tensor', id: 'input', shape: this.inputShape });
    this.valueIds.set(input.name, 'input');
  }

  constantOf(t: OnnxTensor, source?: string): Constant {
    const data = tensorValues(t, this.options.readExternal);
    return { kind: 'const', dims: [...t.dims], data, float: data instanceof Float32Array, source };
  }

  /** A scalar constant known without folding (initializer or Constant node), for the pattern pass. */
  scalarConstant(name: string): number | undefined {
    const value = this.values.get(name);
    if (value?.kind === 'const') return value.data.length === 1 ? Number(value.data[0]) : undefined;
    const node = this.constantNodes.get(name);
    const t = node?.attributes.find((a) => a.name === 'value')?.t;
    if (t) return tensorElementCount(t) === 1 ? Number(tensorValues(t, this.options.readExternal)[0]) : undefined;
    return node?.attributes.find((a) => a.name === 'value_float')?.f;
  }

  // ---------------------------------------------------------------- helpers

  get(name: string): Value {
    const value = this.values.get(name);
    if (!value)
      throw new OnnxError(`input ${JSON.stringify(name)} is not computed by any earlier node (the graph is not in topological order or is incomplete)`);
    return value;
  }

  constant(name: string | undefined, what: string): Constant {
    if (!name) throw new Unsupported(`${what} is missing`);
    const value = this.get(name);
    if (value.kind !== 'const') throw new Unsupported(`${what} (${JSON.stringify(name)}) must be a constant, it is computed at run time`);
    return value;
  }

  optionalConstant(node: OnnxNode, index: number, what: string): Constant | undefined {
    const name = node.inputs[index];
    return name ? this.constant(name, what) : undefined;
  }

  tensor(name: string | undefined): Runtime {
    if (!name) throw new Unsupported('an input is missing');
    const value = this.get(name);
    if (value.kind === 'shuffle')
      throw new Unsupported(
        `${JSON.stringify(name)} is a 5-d reshape that is not part of a channel shuffle (Reshape to [N, g, C/g, H, W], Transpose [0, 2, 1, 3, 4], Reshape back)`,
      );
    if (value.kind === 'padded') throw new Unsupported(`${value.described} is imported only right before a Conv or an AveragePool (it becomes their padding)`);
    if (value.kind !== 'tensor') throw new Unsupported(`input ${JSON.stringify(name)} is a constant where a run-time tensor is expected`);
    return value;
  }

  /** A run-time tensor, and the zero padding a Pad node put around it on H and W (see {@link Padded}); none: zeros. */
  paddedTensor(name: string | undefined): { x: Runtime; extra: [number, number, number, number] } {
    const value = name ? this.values.get(name) : undefined;
    if (value?.kind === 'padded') return { x: value.source, extra: value.pads };
    return { x: this.tensor(name), extra: [0, 0, 0, 0] };
  }

  uniqueName(base: string): string {
    let name = base
      .replace(/[^A-Za-z0-9_.]/g, '_')
      .replace(/\.{2,}/g, '.')
      .replace(/^\.+|\.+$/g, '');
    name = name
      .split('.')
      .map((part, i) => (part === '' ? '_' : i === 0 && /^[0-9]/.test(part) ? `_${part}` : part))
      .join('.');
    if (!NAME_PATTERN.test(name)) name = `node_${this.nodes.length}`;
    let candidate = name;
    for (let k = 1; this.usedNames.has(candidate) || candidate === 'input'; k++) candidate = `${name}_${k}`;
    this.usedNames.add(candidate);
    return candidate;
  }

  /** The node's name: the module path of its weight when the exporter kept it (`features.0.0.weight`), else its output's name. */
  nameFor(node: OnnxNode, weightInput?: string): string {
    if (weightInput) {
      const m = /^(.*)\.weight$/.exec(weightInput);
      if (m && NAME_PATTERN.test(m[1]!) && !this.usedNames.has(m[1]!)) return this.uniqueName(m[1]!);
    }
    return this.uniqueName(node.outputs[0] || node.name || node.opType);
  }

  /** Adds a spec node; its output value(s) take the ONNX output names. */
  emit(
    node: OnnxNode,
    spec: GraphNodeSpec,
    outputShapes: number[][],
    weights: Record<string, { tensor: Tensor; param: string | undefined }> = {},
    macs = 0,
  ): GraphNodeSpec {
    for (const shape of outputShapes) checkShape(shape);
    this.nodes.push(spec);
    let params = 0;
    for (const [suffix, { tensor, param }] of Object.entries(weights)) {
      this.weights[`${spec.name}.${suffix}`] = tensor;
      // A tensor read by two nodes (tied weights) is one parameter tensor.
      if (param !== undefined && !this.paramSources.has(param)) {
        params += tensor.data.length;
        this.paramSources.add(param);
      }
    }
    const info = { name: spec.name, type: spec.type, outputShapes, params, macs };
    this.infos.push(info);
    this.infoByName.set(spec.name, info);
    const multi = outputShapes.length > 1;
    outputShapes.forEach((shape, i) => {
      const id = multi ? `${spec.name}:${i}` : spec.name;
      this.producer.set(id, spec);
      const onnxName = node.outputs[i];
      if (onnxName) {
        this.values.set(onnxName, { kind: 'tensor', id, shape });
        this.valueIds.set(onnxName, id);
        this.onnxNameOfId.set(id, onnxName);
      }
    });
    return spec;
  }

  attr(node: OnnxNode, name: string): OnnxAttribute | undefined {
    return node.attributes.find((a) => a.name === name);
  }

  int(node: OnnxNode, name: string, fallback: number): number {
    const a = this.attr(node, name);
    return a?.i ?? fallback;
  }

  ints(node: OnnxNode, name: string): number[] | undefined {
    const a = this.attr(node, name);
    return a ? a.ints : undefined;
  }

  float(node: OnnxNode, name: string, fallback: number): number {
    return this.attr(node, name)?.f ?? fallback;
  }

  text(node: OnnxNode, name: string, fallback: string): string {
    const s = this.attr(node, name)?.s;
    return s ? new TextDecoder().decode(s) : fallback;
  }

  // ---------------------------------------------------------------- nodes

  importNode(node: OnnxNode): void {
    if (node.domain !== '') throw new Unsupported(`the op domain ${JSON.stringify(node.domain)} is not imported (only the default ONNX domain)`);
    if (node.attributes.some((a) => a.hasGraph)) throw new Unsupported('nodes with subgraphs are not imported');
    if (node.opType === 'Constant') {
      this.values.set(node.outputs[0]!, { ...this.constantNode(node), source: node.outputs[0] });
      return;
    }
    // Own properties only: an op named "constructor" or "toString" is just an unknown op.
    const required = Object.hasOwn(REQUIRED_INPUTS, node.opType) ? REQUIRED_INPUTS[node.opType]! : 1;
    const present = node.inputs.slice(0, required).filter(Boolean).length;
    if (present < required) throw new OnnxError(`${node.opType} needs ${required} input${required === 1 ? '' : 's'}, the node gives ${present}`);
    if (node.outputs.length === 0 || !node.outputs[0]) throw new OnnxError(`${node.opType} has no output`);
    const runtimeInputs = node.inputs.filter((name) => name && this.get(name).kind !== 'const');
    if (runtimeInputs.length === 0 && node.inputs.some(Boolean) && FOLDABLE.has(node.opType)) {
      this.fold(node);
      return;
    }
    if (node.opType === 'Shape') {
      const value = this.get(node.inputs[0]!);
      const shape = value.kind === 'const' ? value.dims : value.shape;
      const rank = shape.length;
      const start = clampAxis(this.int(node, 'start', 0), rank);
      const end = clampAxis(this.int(node, 'end', rank), rank);
      this.values.set(node.outputs[0], { kind: 'const', dims: [Math.max(0, end - start)], data: shape.slice(start, end), float: false });
      return;
    }
    const handler = Object.hasOwn(HANDLERS, node.opType) ? HANDLERS[node.opType] : undefined;
    if (!handler) throw new Unsupported(`op ${node.opType} is not imported${FOLDABLE.has(node.opType) ? ' on run-time tensors (only on constants)' : ''}`);
    handler.call(this, node);
  }

  constantNode(node: OnnxNode): Constant {
    const a = node.attributes[0];
    if (!a) throw new OnnxError('Constant node without a value');
    switch (a.name) {
      case 'value':
        return this.constantOf(a.t!);
      case 'value_float':
        return { kind: 'const', dims: [], data: Float32Array.of(a.f ?? 0), float: true };
      case 'value_floats':
        return { kind: 'const', dims: [a.floats.length], data: Float32Array.from(a.floats), float: true };
      case 'value_int':
        return { kind: 'const', dims: [], data: [a.i ?? 0], float: false };
      case 'value_ints':
        return { kind: 'const', dims: [a.ints.length], data: [...a.ints], float: false };
      default:
        throw new Unsupported(`Constant with ${a.name} is not imported`);
    }
  }

  fold(node: OnnxNode): void {
    const c = (i: number): Constant | undefined => (node.inputs[i] ? this.constant(node.inputs[i], `input ${i}`) : undefined);
    const out = (value: Omit<Constant, 'kind'>): void => {
      if (value.data.length !== elementCount(value.dims))
        throw new OnnxError(`folding ${node.opType} gave ${value.data.length} elements for dims [${value.dims.join(', ')}]`);
      this.values.set(node.outputs[0]!, { kind: 'const', ...value });
    };
    const x = c(0)!;
    switch (node.opType) {
      case 'Identity':
      case 'Dropout':
        out(x);
        return;
      case 'Cast': {
        const to = this.int(node, 'to', 1);
        const float = to === 1 || to === 10 || to === 11 || to === 16;
        out({ dims: x.dims, float, data: float ? Float32Array.from(x.data) : Array.from(x.data, (v) => (to === 9 ? (v !== 0 ? 1 : 0) : Math.trunc(v))) });
        return;
      }
      case 'Gather': {
        const axis = normalizeAxis(this.int(node, 'axis', 0), x.dims.length);
        const indices = c(1)!;
        const outer = elementCount(x.dims.slice(0, axis));
        const dim = x.dims[axis]!;
        const inner = elementCount(x.dims.slice(axis + 1));
        checkFoldSize(outer * indices.data.length * inner);
        const data: number[] = [];
        for (let o = 0; o < outer; o++) {
          for (const raw of indices.data) {
            const index = raw < 0 ? raw + dim : raw;
            if (!(index >= 0 && index < dim)) throw new OnnxError(`Gather index ${raw} is out of range for dimension ${dim}`);
            for (let k = 0; k < inner; k++) data.push(x.data[(o * dim + index) * inner + k]!);
          }
        }
        out({ dims: [...x.dims.slice(0, axis), ...indices.dims, ...x.dims.slice(axis + 1)], float: x.float, data: x.float ? Float32Array.from(data) : data });
        return;
      }
      case 'Unsqueeze': {
        const axes = this.opset >= 13 ? Array.from(c(1)?.data ?? []) : (this.ints(node, 'axes') ?? []);
        const rank = x.dims.length + axes.length;
        const normalized = axes.map((a) => normalizeAxis(a, rank));
        const dims: number[] = [];
        let k = 0;
        for (let i = 0; i < rank; i++) dims.push(normalized.includes(i) ? 1 : x.dims[k++]!);
        out({ ...x, dims });
        return;
      }
      case 'Squeeze': {
        const given = this.opset >= 13 ? (c(1) ? Array.from(c(1)!.data) : undefined) : this.ints(node, 'axes');
        const axes = given?.map((a) => normalizeAxis(a, x.dims.length));
        out({ ...x, dims: x.dims.filter((d, i) => (axes ? !axes.includes(i) : d !== 1)) });
        return;
      }
      case 'Reshape': {
        out({ ...x, dims: reshapeDims(x.dims, Array.from(c(1)!.data), this.int(node, 'allowzero', 0) === 1) });
        return;
      }
      case 'Flatten': {
        const axis = normalizeAxis(this.int(node, 'axis', 1), x.dims.length + 1);
        out({ ...x, dims: [elementCount(x.dims.slice(0, axis)), elementCount(x.dims.slice(axis))] });
        return;
      }
      case 'Concat': {
        const parts = node.inputs.map((name, i) => {
          if (!name) throw new OnnxError(`Concat input ${i} is empty`);
          return c(i)!;
        });
        const axis = normalizeAxis(this.int(node, 'axis', 0), x.dims.length);
        const outer = elementCount(x.dims.slice(0, axis));
        checkFoldSize(parts.reduce((n, p) => n + p.data.length, 0));
        const data: number[] = [];
        for (let o = 0; o < outer; o++) {
          for (const p of parts) {
            const chunk = elementCount(p.dims.slice(axis));
            for (let k = 0; k < chunk; k++) data.push(p.data[o * chunk + k]!);
          }
        }
        const dims = [...x.dims];
        dims[axis] = parts.reduce((s, p) => s + (p.dims[axis] ?? 0), 0);
        out({ dims, float: x.float, data: x.float ? Float32Array.from(data) : data });
        return;
      }
      case 'Slice': {
        const rank = x.dims.length;
        const starts = this.opset >= 10 ? Array.from(this.constant(node.inputs[1], 'starts').data) : (this.ints(node, 'starts') ?? []);
        const ends = this.opset >= 10 ? Array.from(this.constant(node.inputs[2], 'ends').data) : (this.ints(node, 'ends') ?? []);
        if (starts.length !== ends.length) throw new OnnxError(`Slice with ${starts.length} starts and ${ends.length} ends`);
        const axes = this.opset >= 10 ? (c(3) ? Array.from(c(3)!.data) : starts.map((_, i) => i)) : (this.ints(node, 'axes') ?? starts.map((_, i) => i));
        const steps = this.opset >= 10 && c(4) ? Array.from(c(4)!.data) : starts.map(() => 1);
        const ranges = x.dims.map((d) => ({ start: 0, step: 1, count: d }));
        axes.forEach((rawAxis, i) => {
          const axis = normalizeAxis(rawAxis, rank);
          ranges[axis] = sliceRange(x.dims[axis]!, starts[i]!, ends[i]!, steps[i]!);
        });
        const dims = ranges.map((r) => r.count);
        checkFoldSize(elementCount(dims));
        const strides = x.dims.map((_, i) => elementCount(x.dims.slice(i + 1)));
        const data: number[] = [];
        const index = new Array<number>(rank).fill(0);
        const total = elementCount(dims);
        for (let n = 0; n < total; n++) {
          let rem = n;
          for (let i = rank - 1; i >= 0; i--) {
            index[i] = rem % dims[i]!;
            rem = Math.floor(rem / dims[i]!);
          }
          let at = 0;
          for (let i = 0; i < rank; i++) at += (ranges[i]!.start + index[i]! * ranges[i]!.step) * strides[i]!;
          data.push(x.data[at]!);
        }
        out({ dims, float: x.float, data: x.float ? Float32Array.from(data) : data });
        return;
      }
      case 'Add':
      case 'Sub':
      case 'Mul':
      case 'Div':
      case 'Pow':
      case 'Equal':
      case 'Less':
      case 'Greater':
      case 'Max':
      case 'Min': {
        const y = c(1)!;
        const f = BINARY[node.opType]!;
        const { dims, data } = broadcastBinary(x, y, (a, b) => f(a, b, x.float || y.float));
        out({ dims, float: x.float || y.float, data: x.float || y.float ? Float32Array.from(data) : data });
        return;
      }
      case 'Neg':
      case 'Sqrt':
      case 'Floor':
      case 'Ceil':
      case 'Relu':
      case 'Reciprocal': {
        const f = UNARY[node.opType]!;
        const data = Array.from(x.data, f);
        out({ dims: x.dims, float: x.float, data: x.float ? Float32Array.from(data) : data });
        return;
      }
      case 'ConstantOfShape': {
        const dims = Array.from(x.data);
        dims.forEach((d) => {
          if (!Number.isSafeInteger(d) || d < 0) throw new OnnxError(`ConstantOfShape dims [${dims.join(', ')}] are not non-negative integers`);
        });
        if (elementCount(dims) > 1 << 20) throw new Unsupported(`ConstantOfShape of [${dims.join(', ')}] is too large to fold`);
        const valueTensor = this.attr(node, 'value')?.t;
        const fill = valueTensor ? this.constantOf(valueTensor) : { data: Float32Array.of(0), float: true };
        const data = new Array<number>(elementCount(dims)).fill(fill.data[0] ?? 0);
        out({ dims, float: fill.float, data: fill.float ? Float32Array.from(data) : data });
        return;
      }
      case 'Range': {
        const [start, limit, delta] = [c(0)!.data[0]!, c(1)!.data[0]!, c(2)!.data[0]!];
        const count = Math.max(Math.ceil((limit - start) / delta), 0);
        if (!Number.isFinite(count) || count > 1 << 20) throw new Unsupported(`Range(${start}, ${limit}, ${delta}) is too large to fold`);
        const data = Array.from({ length: count }, (_, i) => start + i * delta);
        out({ dims: [count], float: x.float, data: x.float ? Float32Array.from(data) : data });
        return;
      }
      default:
        throw new Unsupported(`folding ${node.opType} on constants is not implemented`);
    }
  }

  /** Adds the node's weight tensor under `<node>.<suffix>`: a parameter when it comes from the file. */
  weight(c: Constant, dims?: number[], data?: Float32Array): { tensor: Tensor; param: string | undefined } {
    return { tensor: { shape: dims ?? [...c.dims], data: data ?? Float32Array.from(c.data) }, param: c.float ? c.source : undefined };
  }

  /** A synthesized tensor (not from the file, so not counted as parameters). */
  synthesized(dims: number[], data: Float32Array): { tensor: Tensor; param: undefined } {
    return { tensor: { shape: dims, data }, param: undefined };
  }

  /** Per-channel values of a constant that broadcasts against [N, C, ...] along C only (or a scalar), or undefined. */
  perChannel(c: Constant, shape: number[]): Float32Array | undefined {
    const channels = shape[1] ?? 1;
    const rank = shape.length;
    if (c.dims.length > rank) return undefined;
    const aligned = [...new Array<number>(rank - c.dims.length).fill(1), ...c.dims];
    const nonUnit = aligned.map((d, i) => (d === 1 ? -1 : i)).filter((i) => i >= 0);
    if (nonUnit.length === 0) return new Float32Array(channels).fill(c.data[0] ?? 0);
    if (nonUnit.length === 1 && nonUnit[0] === 1 && aligned[1] === channels) return Float32Array.from(c.data);
    return undefined;
  }

  /** True when a value is read by exactly one node and is not a graph output. */
  singleUse(onnxName: string): boolean {
    return this.consumers.get(onnxName) === 1;
  }

  // The handlers below are called with `this` bound to the importer.
  conv(node: OnnxNode): void {
    const { x, extra } = this.paddedTensor(node.inputs[0]);
    const w = this.constant(node.inputs[1], 'the weight');
    const b = this.optionalConstant(node, 2, 'the bias');
    if (x.shape.length !== 4 || w.dims.length !== 4)
      throw new Unsupported(`only 2-d convolutions are imported (input rank ${x.shape.length}, weight rank ${w.dims.length})`);
    const groups = this.int(node, 'group', 1);
    const [cout, cinPerGroup, kh, kw] = w.dims as [number, number, number, number];
    const cin = x.shape[1]!;
    if (cinPerGroup * groups !== cin) throw new OnnxError(`Conv weight [${w.dims.join(', ')}] with group ${groups} does not fit ${cin} input channels`);
    const strides = this.ints(node, 'strides') ?? [1, 1];
    const dilations = this.ints(node, 'dilations') ?? [1, 1];
    const padding = this.convPadding(node, x.shape, [kh, kw], strides, dilations, extra);
    const outH = convOut(x.shape[2]!, kh, strides[0]!, dilations[0]!, padding.total[0]);
    const outW = convOut(x.shape[3]!, kw, strides[1]!, dilations[1]!, padding.total[1]);
    if (outH < 1 || outW < 1) throw new OnnxError(`Conv output would be ${outH}x${outW} for input [${x.shape.join(', ')}]`);
    const name = this.nameFor(node, node.inputs[1]);
    const weights: Record<string, { tensor: Tensor; param: string | undefined }> = { weight: this.weight(w) };
    if (b) weights.bias = this.weight(b, [cout]);
    const outShape = [x.shape[0]!, cout, outH, outW];
    this.emit(
      node,
      {
        name,
        type: 'Conv2d',
        inputs: [x.id],
        in_channels: cin,
        out_channels: cout,
        kernel_size: [kh, kw],
        stride: [strides[0]!, strides[1]!],
        padding: padding.spec,
        dilation: [dilations[0]!, dilations[1]!],
        groups,
        bias: b !== undefined,
      },
      [outShape],
      weights,
      elementCount(outShape) * cinPerGroup * kh * kw,
    );
  }

  convPadding(
    node: OnnxNode,
    inShape: number[],
    kernel: number[],
    strides: number[],
    dilations: number[],
    extra: [number, number, number, number] = [0, 0, 0, 0],
  ): { spec: [number, number] | 'tf_same'; total: [number, number] } {
    const autoPad = this.text(node, 'auto_pad', 'NOTSET');
    if (autoPad !== 'NOTSET' && extra.some((p) => p !== 0)) throw new Unsupported(`a Pad before a Conv with auto_pad ${autoPad} is not imported`);
    const same = (i: number): number => {
      const out = Math.ceil(inShape[2 + i]! / strides[i]!);
      return Math.max(0, (out - 1) * strides[i]! + (kernel[i]! - 1) * dilations[i]! + 1 - inShape[2 + i]!);
    };
    if (autoPad === 'SAME_UPPER') return { spec: 'tf_same', total: [same(0), same(1)] };
    if (autoPad === 'VALID') return { spec: [0, 0], total: [0, 0] };
    if (autoPad !== 'NOTSET') throw new Unsupported(`auto_pad ${autoPad} is not imported`);
    const pads = (this.ints(node, 'pads') ?? [0, 0, 0, 0]).map((p, i) => p + extra[i]!);
    const [top, left, bottom, right] = pads as [number, number, number, number];
    if (top === bottom && left === right) return { spec: [top, left], total: [top + bottom, left + right] };
    // TensorFlow's SAME: the extra pixel on the bottom and right.
    const total: [number, number] = [top + bottom, left + right];
    if (total[0] === same(0) && total[1] === same(1) && bottom - top >= 0 && bottom - top <= 1 && right - left >= 0 && right - left <= 1)
      return { spec: 'tf_same', total };
    throw new Unsupported(`asymmetric pads [${pads.join(', ')}] are not imported`);
  }

  convTranspose(node: OnnxNode): void {
    const x = this.tensor(node.inputs[0]);
    const w = this.constant(node.inputs[1], 'the weight');
    const b = this.optionalConstant(node, 2, 'the bias');
    if (x.shape.length !== 4 || w.dims.length !== 4) throw new Unsupported('only 2-d transposed convolutions are imported');
    const groups = this.int(node, 'group', 1);
    const [cin, coutPerGroup, kh, kw] = w.dims as [number, number, number, number];
    if (cin !== x.shape[1]) throw new OnnxError(`ConvTranspose weight [${w.dims.join(', ')}] does not fit ${x.shape[1]} input channels`);
    const strides = this.ints(node, 'strides') ?? [1, 1];
    const dilations = this.ints(node, 'dilations') ?? [1, 1];
    const autoPad = this.text(node, 'auto_pad', 'NOTSET');
    if (autoPad !== 'NOTSET' && autoPad !== 'VALID') throw new Unsupported(`auto_pad ${autoPad} is not imported`);
    const pads = this.ints(node, 'pads') ?? [0, 0, 0, 0];
    if (pads[0] !== pads[2] || pads[1] !== pads[3]) throw new Unsupported(`asymmetric pads [${pads.join(', ')}] are not imported`);
    let outputPadding = this.ints(node, 'output_padding') ?? [0, 0];
    const natural = (i: number): number => (x.shape[2 + i]! - 1) * strides[i]! - 2 * pads[i]! + dilations[i]! * ((i === 0 ? kh : kw) - 1) + 1;
    const outputShape = this.ints(node, 'output_shape');
    if (outputShape) {
      const wanted = outputShape.slice(-2);
      outputPadding = [wanted[0]! - natural(0), wanted[1]! - natural(1)];
      if (outputPadding.some((p, i) => p < 0 || p >= Math.max(strides[i]!, dilations[i]!)))
        throw new Unsupported(`output_shape [${outputShape.join(', ')}] needs padding that PyTorch cannot express`);
    }
    const outShape = [x.shape[0]!, coutPerGroup * groups, natural(0) + outputPadding[0]!, natural(1) + outputPadding[1]!];
    const name = this.nameFor(node, node.inputs[1]);
    const weights: Record<string, { tensor: Tensor; param: string | undefined }> = { weight: this.weight(w) };
    if (b) weights.bias = this.weight(b, [outShape[1]!]);
    this.emit(
      node,
      {
        name,
        type: 'ConvTranspose2d',
        inputs: [x.id],
        in_channels: cin,
        out_channels: outShape[1],
        kernel_size: [kh, kw],
        stride: [strides[0]!, strides[1]!],
        padding: [pads[0]!, pads[1]!],
        output_padding: [outputPadding[0]!, outputPadding[1]!],
        groups,
        bias: b !== undefined,
        dilation: [dilations[0]!, dilations[1]!],
      },
      [outShape],
      weights,
      elementCount(x.shape) * coutPerGroup * kh * kw,
    );
  }

  batchNorm(node: OnnxNode): void {
    const x = this.tensor(node.inputs[0]);
    if (x.shape.length !== 4) throw new Unsupported(`BatchNormalization of a rank-${x.shape.length} tensor is not imported (rank 4 is)`);
    const c = x.shape[1]!;
    const [scale, bias, mean, variance] = [1, 2, 3, 4].map((i) => this.constant(node.inputs[i], ['scale', 'B', 'mean', 'var'][i - 1]!));
    for (const t of [scale, bias, mean, variance])
      if (t!.data.length !== c) throw new OnnxError(`BatchNormalization statistics of ${t!.data.length} values for ${c} channels`);
    if (node.outputs.length > 1 && node.outputs.slice(1).some(Boolean))
      throw new Unsupported('training-mode BatchNormalization (with running outputs) is not imported');
    const name = this.nameFor(node, node.inputs[1]);
    this.emit(node, { name, type: 'BatchNorm2d', inputs: [x.id], num_features: c, eps: this.float(node, 'epsilon', 1e-5) }, [x.shape], {
      weight: this.weight(scale!, [c]),
      bias: this.weight(bias!, [c]),
      running_mean: { tensor: { shape: [c], data: Float32Array.from(mean!.data) }, param: undefined },
      running_var: { tensor: { shape: [c], data: Float32Array.from(variance!.data) }, param: undefined },
    });
  }

  /** A node of one run-time input that keeps its shape (activations). */
  unary(node: OnnxNode, type: string, extra: Record<string, unknown> = {}): void {
    const x = this.tensor(node.inputs[0]);
    this.emit(node, { name: this.nameFor(node), type, inputs: [x.id], ...extra }, [x.shape]);
  }

  /** x * scale + shift per channel, as BatchNorm2d(mean 0, var 1); `param` says whether scale and shift are the file's weights. */
  affine(node: OnnxNode, x: Runtime, scale: Float32Array, shift: Float32Array, fromFile: { scale?: Constant; shift?: Constant }, nameSuffix = ''): Runtime {
    if (x.shape.length !== 4) throw new Unsupported(`an elementwise op with a per-channel constant on a rank-${x.shape.length} tensor is not imported`);
    const c = x.shape[1]!;
    const name = this.uniqueName((node.outputs[0] || node.opType) + nameSuffix);
    const tensorOf = (data: Float32Array) => ({ tensor: { shape: [c], data } });
    const paramsFromFile = (source: Constant | undefined): number => {
      if (!source?.float || source.source === undefined || this.paramSources.has(source.source)) return 0;
      this.paramSources.add(source.source);
      return source.data.length;
    };
    const spec: GraphNodeSpec = { name, type: 'BatchNorm2d', inputs: [x.id], num_features: c, eps: AFFINE_EPS };
    const fake = { kind: 'tensor' as const, id: name, shape: x.shape };
    this.nodes.push(spec);
    this.weights[`${name}.weight`] = tensorOf(scale).tensor;
    this.weights[`${name}.bias`] = tensorOf(shift).tensor;
    this.weights[`${name}.running_mean`] = { shape: [c], data: new Float32Array(c) };
    this.weights[`${name}.running_var`] = { shape: [c], data: new Float32Array(c).fill(1) };
    this.infos.push({ name, type: 'BatchNorm2d', outputShapes: [x.shape], params: paramsFromFile(fromFile.scale) + paramsFromFile(fromFile.shift), macs: 0 });
    this.producer.set(name, spec);
    return fake;
  }

  binary(node: OnnxNode): void {
    const [a, b] = [this.get(node.inputs[0]!), this.get(node.inputs[1]!)];
    const op = node.opType;
    if (a.kind === 'tensor' && b.kind === 'tensor') {
      if (op !== 'Add' && op !== 'Mul') throw new Unsupported(`${op} of two run-time tensors is not imported (Add and Mul are)`);
      const shape = broadcastShapes(a.shape, b.shape);
      if (!shape) throw new OnnxError(`${op} of shapes [${a.shape.join(', ')}] and [${b.shape.join(', ')}] does not broadcast`);
      this.emit(node, { name: this.nameFor(node), type: op, inputs: [a.id, b.id] }, [shape]);
      return;
    }
    const tensorFirst = a.kind === 'tensor';
    const x = this.tensor(tensorFirst ? node.inputs[0] : node.inputs[1]);
    const k = (tensorFirst ? b : a) as Constant;
    if (k.kind !== 'const') throw new Unsupported(`${op} operand is neither a tensor nor a constant`);
    const values = this.perChannel(k, x.shape);
    if (!values)
      throw new Unsupported(
        `${op} by a constant of dims [${k.dims.join(', ')}] on [${x.shape.join(', ')}] is not imported (scalars and per-channel constants are)`,
      );
    const c = values.length;
    // A per-channel constant added to a conv or linear output that nothing else reads becomes its bias.
    if ((op === 'Add' || (op === 'Sub' && tensorFirst)) && this.foldIntoBias(node, x, op === 'Sub' ? values.map((v) => -v) : values, k)) return;
    let scale: Float32Array = new Float32Array(c).fill(1);
    let shift: Float32Array = new Float32Array(c);
    const from: { scale?: Constant; shift?: Constant } = {};
    switch (op) {
      case 'Add':
        shift = values;
        from.shift = k;
        break;
      case 'Sub':
        if (tensorFirst) shift = values.map((v) => -v);
        else {
          scale.fill(-1);
          shift = values;
        }
        from.shift = k;
        break;
      case 'Mul':
        scale = values;
        from.scale = k;
        break;
      case 'Div':
        if (!tensorFirst) throw new Unsupported('a constant divided by a run-time tensor is not imported');
        scale = values.map((v) => 1 / v);
        from.scale = k;
        break;
      default:
        throw new Unsupported(`${op} is not imported`);
    }
    const out = this.affine(node, x, scale, shift, from, '');
    this.values.set(node.outputs[0]!, out);
    this.valueIds.set(node.outputs[0]!, out.id);
  }

  foldIntoBias(node: OnnxNode, x: Runtime, values: Float32Array, k: Constant): boolean {
    const producer = this.producer.get(x.id);
    if (!producer || !['Conv2d', 'ConvTranspose2d', 'Linear'].includes(producer.type) || producer.bias !== false) return false;
    const onnxName = this.onnxNameOfId.get(x.id);
    if (!onnxName || !this.singleUse(onnxName)) return false;
    const channels = producer.type === 'Linear' ? (producer.out_features as number) : (producer.out_channels as number);
    if (values.length !== channels) return false;
    if (producer.type === 'Linear' && !(k.dims.length <= 1 || k.dims.slice(0, -1).every((d) => d === 1))) return false;
    producer.bias = true;
    // The conv's output before the bias is no longer a value of the spec.
    this.valueIds.delete(onnxName);
    this.onnxNameOfId.set(x.id, node.outputs[0]!);
    this.weights[`${producer.name}.bias`] = { shape: [channels], data: values };
    const info = this.infoByName.get(producer.name)!;
    if (k.float && k.source !== undefined && !this.paramSources.has(k.source)) {
      this.paramSources.add(k.source);
      info.params += k.data.length;
    }
    this.values.set(node.outputs[0]!, x);
    this.valueIds.set(node.outputs[0]!, x.id);
    return true;
  }

  unaryShaped(node: OnnxNode, args: { type: string; [k: string]: unknown }, outShape: number[], input?: Runtime): Runtime {
    const x = input ?? this.tensor(node.inputs[0]);
    const name = this.nameFor(node);
    this.emit(node, { name, inputs: [x.id], ...args }, [outShape]);
    return { kind: 'tensor', id: name, shape: outShape };
  }

  emitSimple(node: OnnxNode, args: { type: string; [k: string]: unknown }, inputs: string[], outShapes: number[][]): void {
    this.emit(node, { name: this.nameFor(node), inputs, ...args }, outShapes);
  }

  pool(node: OnnxNode, type: 'MaxPool2d' | 'AvgPool2d'): void {
    // A zero Pad before an AveragePool is its padding, counted: a MaxPool would see the zeros (not imported).
    const { x, extra } = type === 'AvgPool2d' ? this.paddedTensor(node.inputs[0]) : { x: this.tensor(node.inputs[0]), extra: [0, 0, 0, 0] };
    const padded = extra.some((p) => p !== 0);
    if (x.shape.length !== 4) throw new Unsupported(`${node.opType} of rank ${x.shape.length} is not imported`);
    const attr = (name: string) => node.attributes.find((a) => a.name === name);
    const kernel = attr('kernel_shape')?.ints ?? [];
    if (kernel.length !== 2) throw new Unsupported('only 2-d pooling is imported');
    const strides = attr('strides')?.ints ?? [1, 1];
    const dilations = attr('dilations')?.ints ?? [1, 1];
    const own = attr('pads')?.ints ?? [0, 0, 0, 0];
    const countsPads = (attr('count_include_pad')?.i ?? 0) === 1;
    if (padded && own.some((p) => p !== 0) && !countsPads)
      throw new Unsupported('a Pad before an AveragePool with pads of its own that it does not count is not imported');
    const pads = own.map((p, i) => p + extra[i]!);
    const autoPad = attr('auto_pad')?.s ? new TextDecoder().decode(attr('auto_pad')!.s) : 'NOTSET';
    if (autoPad !== 'NOTSET' && autoPad !== 'VALID') throw new Unsupported(`auto_pad ${autoPad} is not imported`);
    if (padded && autoPad !== 'NOTSET') throw new Unsupported(`a Pad before an AveragePool with auto_pad ${autoPad} is not imported`);
    if (pads[0] !== pads[2] || pads[1] !== pads[3]) throw new Unsupported(`asymmetric pads [${pads.join(', ')}] are not imported`);
    const ceil = (attr('ceil_mode')?.i ?? 0) === 1;
    if (type === 'AvgPool2d' && (dilations[0] !== 1 || dilations[1] !== 1)) throw new Unsupported('dilated AveragePool is not imported');
    const size = (i: number): number => {
      const span = x.shape[2 + i]! + 2 * pads[i]! - dilations[i]! * (kernel[i]! - 1) - 1;
      let out = (ceil ? Math.ceil(span / strides[i]!) : Math.floor(span / strides[i]!)) + 1;
      // PyTorch's rule: the last window must start inside the input or its left padding.
      if (ceil && (out - 1) * strides[i]! >= x.shape[2 + i]! + pads[i]!) out--;
      return out;
    };
    const outShape = [x.shape[0]!, x.shape[1]!, size(0), size(1)];
    if (outShape[2]! < 1 || outShape[3]! < 1) throw new OnnxError(`${node.opType} output would be ${outShape[2]}x${outShape[3]}`);
    const args: Record<string, unknown> = {
      type,
      kernel_size: [kernel[0]!, kernel[1]!],
      stride: [strides[0]!, strides[1]!],
      padding: [pads[0]!, pads[1]!],
      ceil_mode: ceil,
    };
    if (type === 'MaxPool2d') args.dilation = [dilations[0]!, dilations[1]!];
    else args.count_include_pad = countsPads || padded;
    this.unaryShaped(node, args as { type: string }, outShape, x);
  }

  resize(node: OnnxNode): void {
    const x = this.tensor(node.inputs[0]);
    if (x.shape.length !== 4) throw new Unsupported(`${node.opType} of rank ${x.shape.length} is not imported`);
    const text = (name: string, fallback: string): string => {
      const s = node.attributes.find((a) => a.name === name)?.s;
      return s ? new TextDecoder().decode(s) : fallback;
    };
    const mode = text('mode', 'nearest');
    const transform = text('coordinate_transformation_mode', node.opType === 'Upsample' || this.opset < 11 ? 'asymmetric' : 'half_pixel');
    const nearestMode = text('nearest_mode', 'round_prefer_floor');
    let scales: number[] | undefined;
    let sizes: number[] | undefined;
    if (node.opType === 'Upsample' || this.opset < 11) {
      const given = this.opset >= 9 ? node.inputs[1] : undefined;
      scales = given ? Array.from(this.constant(given, 'the scales').data) : node.attributes.find((a) => a.name === 'scales')?.floats;
    } else {
      const scaleInput = this.opset >= 13 ? node.inputs[2] : node.inputs[2];
      const sizeInput = node.inputs[3];
      const s = scaleInput ? this.constant(scaleInput, 'the scales') : undefined;
      if (s && s.data.length > 0) scales = Array.from(s.data);
      const z = sizeInput ? this.constant(sizeInput, 'the sizes') : undefined;
      if (z && z.data.length > 0) sizes = Array.from(z.data);
    }
    if (scales && (scales.length !== 4 || scales[0] !== 1 || scales[1] !== 1))
      throw new Unsupported(`Resize scales [${scales.join(', ')}] are not imported (N and C must stay)`);
    if (sizes && (sizes.length !== 4 || sizes[0] !== x.shape[0] || sizes[1] !== x.shape[1]))
      throw new Unsupported(`Resize sizes [${sizes.join(', ')}] are not imported (N and C must stay)`);
    if (!scales && !sizes) throw new Unsupported('Resize without scales or sizes');
    let args: Record<string, unknown>;
    if (mode === 'nearest') {
      if (transform !== 'asymmetric' || (nearestMode !== 'floor' && node.opType !== 'Upsample' && this.opset >= 11)) {
        throw new Unsupported(
          `nearest Resize with ${transform} coordinates and ${nearestMode} rounding is not imported (asymmetric with floor is PyTorch's nearest)`,
        );
      }
      args = { mode: 'nearest' };
    } else if (mode === 'linear' || mode === 'bilinear') {
      if (transform === 'align_corners') args = { mode: 'bilinear', align_corners: true };
      else if (transform === 'half_pixel' || transform === 'pytorch_half_pixel') args = { mode: 'bilinear', align_corners: false };
      else throw new Unsupported(`linear Resize with ${transform} coordinates is not imported`);
    } else throw new Unsupported(`Resize mode ${mode} is not imported`);
    let outShape: number[];
    if (sizes) {
      outShape = sizes;
      args.size = [sizes[2]!, sizes[3]!];
    } else {
      outShape = [x.shape[0]!, x.shape[1]!, Math.floor(x.shape[2]! * scales![2]!), Math.floor(x.shape[3]! * scales![3]!)];
      args.scale_factor = [scales![2]!, scales![3]!];
    }
    if (outShape[2]! < 1 || outShape[3]! < 1 || outShape[2]! > 65536 || outShape[3]! > 65536)
      throw new OnnxError(`Resize to ${outShape[2]}x${outShape[3]} is out of range`);
    this.unaryShaped(node, { type: 'Upsample', ...args }, outShape, x);
  }

  reshape(node: OnnxNode): void {
    const source = this.get(node.inputs[0]!);
    const target = reshapeDims(source.kind === 'const' ? source.dims : source.shape, Array.from(this.constant(node.inputs[1], 'the target shape').data), false);
    if (source.kind === 'tensor') {
      const s = source.shape;
      // Step 1 of a channel shuffle: [N, C, H, W] -> [N, g, C/g, H, W].
      if (s.length === 4 && target.length === 5 && target[0] === s[0] && target[1]! * target[2]! === s[1] && target[3] === s[2] && target[4] === s[3]) {
        this.values.set(node.outputs[0]!, { kind: 'shuffle', id: source.id, shape: target, groups: target[1]!, transposed: false, baseShape: s });
        return;
      }
      // A flatten: [N, ...] -> [N, prod(...)].
      if (target.length === 2 && target[0] === s[0]) {
        this.unaryShaped(node, { type: 'Flatten', start_dim: 1 }, target, source);
        return;
      }
      throw new Unsupported(`Reshape of [${s.join(', ')}] to [${target.join(', ')}] is not imported (flattening to [N, -1] and the channel shuffle are)`);
    }
    if (source.kind === 'shuffle' && source.transposed && target.length === 4 && target.every((d, i) => d === source.baseShape[i])) {
      this.unaryShaped(node, { type: 'ChannelShuffle', groups: source.groups }, source.baseShape, { kind: 'tensor', id: source.id, shape: source.baseShape });
      return;
    }
    throw new Unsupported(`Reshape to [${target.join(', ')}] is not imported here`);
  }

  transpose(node: OnnxNode): void {
    const source = this.get(node.inputs[0]!);
    const perm = node.attributes.find((a) => a.name === 'perm')?.ints ?? [];
    if (source.kind === 'shuffle' && !source.transposed && perm.join(',') === '0,2,1,3,4') {
      const [n, g, cg, h, w] = source.shape as [number, number, number, number, number];
      this.values.set(node.outputs[0]!, { ...source, shape: [n, cg, g, h, w], transposed: true });
      return;
    }
    throw new Unsupported(`Transpose with perm [${perm.join(', ')}] is not imported (only inside a channel shuffle)`);
  }

  /** A slice of a run-time tensor along one axis: one output of a Split (shared by the slices that cut the same sections, as x.chunk(2) gives). */
  slice(node: OnnxNode): void {
    const x = this.tensor(node.inputs[0]);
    const list = (index: number, attr: string): number[] | undefined => {
      if (this.opset < 10) return this.ints(node, attr);
      const name = node.inputs[index];
      return name ? Array.from(this.constant(name, `the ${attr}`).data) : undefined;
    };
    const starts = list(1, 'starts') ?? [];
    const ends = list(2, 'ends') ?? [];
    const axes = (list(3, 'axes') ?? starts.map((_, i) => i)).map((a) => normalizeAxis(a, x.shape.length));
    const steps = list(4, 'steps') ?? starts.map(() => 1);
    if (starts.length !== 1 || ends.length !== 1 || axes.length !== 1)
      throw new Unsupported(`Slice over ${starts.length} axes of a run-time tensor is not imported (over one is)`);
    if (steps[0] !== 1) throw new Unsupported(`Slice with step ${steps[0]} of a run-time tensor is not imported`);
    const axis = axes[0]!;
    const dim = x.shape[axis]!;
    const range = sliceRange(dim, starts[0]!, ends[0]!, 1);
    if (range.count === dim) {
      this.values.set(node.outputs[0]!, x);
      this.valueIds.set(node.outputs[0]!, x.id);
      return;
    }
    if (range.count === 0) throw new Unsupported('an empty Slice is not imported');
    const sections = [range.start, range.count, dim - range.start - range.count].filter((n) => n > 0);
    const piece = range.start > 0 ? 1 : 0;
    const key = `${x.id}|${axis}|${sections.join(',')}`;
    let split = this.splits.get(key);
    if (!split) {
      split = this.uniqueName(`${node.outputs[0] || 'slice'}.split`);
      const shapes = sections.map((size) => x.shape.map((d, i) => (i === axis ? size : d)));
      this.emit({ ...node, outputs: [] }, { name: split, type: 'Split', inputs: [x.id], split_size_or_sections: sections, dim: axis }, shapes);
      this.splits.set(key, split);
    }
    const id = `${split}:${piece}`;
    this.values.set(node.outputs[0]!, { kind: 'tensor', id, shape: x.shape.map((d, i) => (i === axis ? range.count : d)) });
    this.valueIds.set(node.outputs[0]!, id);
  }

  squeezeToFlatten(node: OnnxNode): void {
    const x = this.tensor(node.inputs[0]);
    const axesInput =
      this.opset >= 13 && node.inputs[1] ? Array.from(this.constant(node.inputs[1], 'the axes').data) : node.attributes.find((a) => a.name === 'axes')?.ints;
    const axes = (axesInput ?? x.shape.map((d, i) => (d === 1 ? i : -1)).filter((i) => i >= 0)).map((a) => normalizeAxis(a, x.shape.length)).sort();
    if (x.shape.length === 4 && x.shape[2] === 1 && x.shape[3] === 1 && axes.join(',') === '2,3') {
      this.unaryShaped(node, { type: 'Flatten', start_dim: 1 }, [x.shape[0]!, x.shape[1]!], x);
      return;
    }
    throw new Unsupported(`Squeeze of [${x.shape.join(', ')}] over axes [${axes.join(', ')}] is not imported (of [N, C, 1, 1] over 2 and 3 is)`);
  }

  gemm(node: OnnxNode): void {
    const x = this.tensor(node.inputs[0]);
    const w = this.constant(node.inputs[1], 'the weight');
    const attr = (name: string) => node.attributes.find((a) => a.name === name);
    if (x.shape.length !== 2) throw new Unsupported(`${node.opType} of a rank-${x.shape.length} input is not imported (rank 2, after a flatten, is)`);
    if (w.dims.length !== 2) throw new Unsupported(`${node.opType} weight of rank ${w.dims.length} is not imported`);
    const isGemm = node.opType === 'Gemm';
    if (isGemm && (attr('transA')?.i ?? 0) !== 0) throw new Unsupported('Gemm with transA is not imported');
    const transB = isGemm && (attr('transB')?.i ?? 0) === 1;
    const alpha = isGemm ? (attr('alpha')?.f ?? 1) : 1;
    const beta = isGemm ? (attr('beta')?.f ?? 1) : 1;
    const [rows, cols] = w.dims as [number, number];
    const inFeatures = transB ? cols : rows;
    const outFeatures = transB ? rows : cols;
    if (inFeatures !== x.shape[1]) throw new OnnxError(`${node.opType} weight [${w.dims.join(', ')}] does not fit ${x.shape[1]} input features`);
    // Linear's weight is [out, in]: Gemm with transB stores it so; MatMul and Gemm without transB store [in, out].
    const weight = new Float32Array(outFeatures * inFeatures);
    for (let o = 0; o < outFeatures; o++)
      for (let i = 0; i < inFeatures; i++) weight[o * inFeatures + i] = alpha * Number(transB ? w.data[o * inFeatures + i] : w.data[i * outFeatures + o]);
    const weights: Record<string, { tensor: Tensor; param: string | undefined }> = { weight: this.weight(w, [outFeatures, inFeatures], weight) };
    const c = isGemm ? this.optionalConstant(node, 2, 'the bias') : undefined;
    if (c) {
      if (c.data.length !== outFeatures && c.data.length !== 1)
        throw new Unsupported(`Gemm bias of dims [${c.dims.join(', ')}] is not imported (a vector of ${outFeatures} is)`);
      const bias = new Float32Array(outFeatures).map((_, o) => beta * Number(c.data[c.data.length === 1 ? 0 : o]));
      weights.bias = this.weight(c, [outFeatures], bias);
    }
    const outShape = [x.shape[0]!, outFeatures];
    this.emit(
      node,
      { name: this.nameFor(node, node.inputs[1]), type: 'Linear', inputs: [x.id], in_features: inFeatures, out_features: outFeatures, bias: c !== undefined },
      [outShape],
      weights,
      x.shape[0]! * inFeatures * outFeatures,
    );
  }
}

/** Binary ops on constants; `float` says whether the result is a float (else integer division truncates). */
const BINARY: Record<string, (a: number, b: number, float: boolean) => number> = {
  Add: (a, b) => a + b,
  Sub: (a, b) => a - b,
  Mul: (a, b) => a * b,
  Div: (a, b, float) => (float ? a / b : Math.trunc(a / b)),
  Pow: (a, b) => a ** b,
  Equal: (a, b) => (a === b ? 1 : 0),
  Less: (a, b) => (a < b ? 1 : 0),
  Greater: (a, b) => (a > b ? 1 : 0),
  Max: (a, b) => Math.max(a, b),
  Min: (a, b) => Math.min(a, b),
};
const UNARY: Record<string, (a: number) => number> = {
  Neg: (a) => -a,
  Sqrt: Math.sqrt,
  Floor: Math.floor,
  Ceil: Math.ceil,
  Relu: (a) => Math.max(a, 0),
  Reciprocal: (a) => 1 / a,
};
/** Inputs an op needs (the rest are optional); ops not listed need one. */
const REQUIRED_INPUTS: Record<string, number> = {
  Conv: 2,
  ConvTranspose: 2,
  BatchNormalization: 5,
  Gemm: 2,
  MatMul: 2,
  Reshape: 2,
  Gather: 2,
  Expand: 2,
  Range: 3,
  ...Object.fromEntries(Object.keys({ Add: 0, Sub: 0, Mul: 0, Div: 0, Pow: 0, Equal: 0, Less: 0, Greater: 0, Max: 0, Min: 0 }).map((op) => [op, 2])),
};

/** Ops folded when every input is a constant. */
const FOLDABLE = new Set([
  'Identity',
  'Dropout',
  'Cast',
  'Gather',
  'Unsqueeze',
  'Squeeze',
  'Reshape',
  'Flatten',
  'Concat',
  'Slice',
  'ConstantOfShape',
  'Range',
  ...Object.keys(BINARY),
  ...Object.keys(UNARY),
]);

type Handler = (this: Importer, node: OnnxNode) => void;

/** Import of each op on run-time tensors (Constant, Shape and all-constant nodes are folded before). */
const HANDLERS: Record<string, Handler> = {
  Conv(node) {
    this.conv(node);
  },
  ConvTranspose(node) {
    this.convTranspose(node);
  },
  BatchNormalization(node) {
    this.batchNorm(node);
  },
  Relu(node) {
    this.unary(node, 'ReLU');
  },
  Sigmoid(node) {
    this.unary(node, 'Sigmoid');
  },
  HardSwish(node) {
    this.unary(node, 'Hardswish');
  },
  SiLU(node) {
    this.unary(node, 'SiLU');
  },
  Clip(node) {
    const opset = this.opset;
    const bound = (index: number, attr: string, fallback: number): number => {
      if (opset >= 11) {
        const name = node.inputs[index];
        if (!name) return fallback;
        const value = this.constant(name, `the ${attr} bound`);
        return Number(value.data[0]);
      }
      return node.attributes.find((a) => a.name === attr)?.f ?? fallback;
    };
    const lo = bound(1, 'min', -Infinity);
    const hi = bound(2, 'max', Infinity);
    if (lo === 0 && hi === 6) this.unary(node, 'ReLU6');
    else if (lo === 0 && hi === Infinity) this.unary(node, 'ReLU');
    else throw new Unsupported(`Clip(${lo}, ${hi}) is not imported (Clip(0, 6) is ReLU6, Clip(0, inf) is ReLU)`);
  },
  HardSigmoid(node) {
    const alpha = node.attributes.find((a) => a.name === 'alpha')?.f ?? 0.2;
    const beta = node.attributes.find((a) => a.name === 'beta')?.f ?? 0.5;
    let x = this.tensor(node.inputs[0]);
    if (Math.abs(alpha - 1 / 6) > CLOSE || Math.abs(beta - 0.5) > CLOSE) {
      // clamp(alpha x + beta, 0, 1) = Hardsigmoid(6 alpha x + 6 beta - 3), PyTorch's Hardsigmoid being clamp(y / 6 + 1/2, 0, 1).
      const c = x.shape[1]!;
      x = this.affine(node, x, new Float32Array(c).fill(6 * alpha), new Float32Array(c).fill(6 * beta - 3), {}, '.affine');
    }
    this.emit(node, { name: this.nameFor(node), type: 'Hardsigmoid', inputs: [x.id] }, [x.shape]);
  },
  Add(node) {
    this.binary(node);
  },
  Sub(node) {
    this.binary(node);
  },
  Mul(node) {
    this.binary(node);
  },
  Div(node) {
    this.binary(node);
  },
  Identity(node) {
    alias(this, node);
  },
  Dropout(node) {
    alias(this, node);
  },
  Pad(node) {
    // torch.onnx writes a Pad of nothing before some pools (DenseNet's transitions): that one is
    // an identity. The engine has no padding layer of its own, so any other Pad is reported.
    const x = this.tensor(node.inputs[0]);
    const pads =
      this.opset >= 11 ? (node.inputs[1] ? Array.from(this.constant(node.inputs[1], 'the pads').data, Number) : []) : (this.ints(node, 'pads') ?? []);
    const modeAttr = node.attributes.find((a) => a.name === 'mode')?.s;
    const mode = modeAttr ? new TextDecoder().decode(modeAttr) : 'constant';
    if (pads.length !== 2 * x.shape.length && pads.length !== 0) throw new OnnxError(`Pad has ${pads.length} pads for a rank-${x.shape.length} tensor`);
    if (pads.every((p) => p === 0)) return alias(this, node);
    const described = `Pad ${mode} [${pads.join(', ')}]`;
    const value =
      this.opset >= 11
        ? node.inputs[2]
          ? Number(this.constant(node.inputs[2], 'the pad value').data[0] ?? 0)
          : 0
        : (node.attributes.find((a) => a.name === 'value')?.f ?? 0);
    const rank = x.shape.length;
    const [top, left, bottom, right] = [pads[2]!, pads[3]!, pads[2 + rank]!, pads[3 + rank]!];
    if (mode !== 'constant' || value !== 0 || rank !== 4 || pads.some((p, i) => p < 0 || (i % rank < 2 && p !== 0)))
      throw new Unsupported(`${described} is not imported (zero padding of H and W is, before a Conv or an AveragePool)`);
    const shape = [x.shape[0]!, x.shape[1]!, x.shape[2]! + top + bottom, x.shape[3]! + left + right];
    this.values.set(node.outputs[0]!, { kind: 'padded', source: x, pads: [top, left, bottom, right], shape, described });
  },
  GlobalAveragePool(node) {
    const x = this.tensor(node.inputs[0]);
    if (x.shape.length !== 4) throw new Unsupported(`GlobalAveragePool of rank ${x.shape.length} is not imported`);
    this.unaryShaped(node, { type: 'AdaptiveAvgPool2d', output_size: 1 }, [x.shape[0]!, x.shape[1]!, 1, 1]);
  },
  ReduceMean(node) {
    const x = this.tensor(node.inputs[0]);
    const opset = this.opset;
    const axesInput = opset >= 18 && node.inputs[1] ? Array.from(this.constant(node.inputs[1], 'the axes').data) : undefined;
    const axes = (axesInput ?? node.attributes.find((a) => a.name === 'axes')?.ints ?? []).map((a) => normalizeAxis(a, x.shape.length)).sort();
    const keep = (node.attributes.find((a) => a.name === 'keepdims')?.i ?? 1) === 1;
    if (x.shape.length !== 4 || axes.length !== 2 || axes[0] !== 2 || axes[1] !== 3)
      throw new Unsupported(`ReduceMean over axes [${axes.join(', ')}] is not imported (over H and W of NCHW is)`);
    if (keep) {
      this.unaryShaped(node, { type: 'AdaptiveAvgPool2d', output_size: 1 }, [x.shape[0]!, x.shape[1]!, 1, 1]);
      return;
    }
    const pooled = this.unaryShaped({ ...node, outputs: [`${node.outputs[0]}.pool`] }, { type: 'AdaptiveAvgPool2d', output_size: 1 }, [
      x.shape[0]!,
      x.shape[1]!,
      1,
      1,
    ]);
    this.unaryShaped({ ...node, inputs: [`${node.outputs[0]}.pool`] }, { type: 'Flatten', start_dim: 1 }, [x.shape[0]!, x.shape[1]!], pooled);
  },
  MaxPool(node) {
    this.pool(node, 'MaxPool2d');
  },
  AveragePool(node) {
    this.pool(node, 'AvgPool2d');
  },
  Resize(node) {
    this.resize(node);
  },
  Upsample(node) {
    this.resize(node);
  },
  Concat(node) {
    const xs = node.inputs.map((name) => this.tensor(name));
    const rank = xs[0]!.shape.length;
    const axis = normalizeAxis(node.attributes.find((a) => a.name === 'axis')?.i ?? 0, rank);
    const shape = [...xs[0]!.shape];
    for (const x of xs.slice(1)) {
      if (x.shape.length !== rank || x.shape.some((d, i) => i !== axis && d !== shape[i]))
        throw new OnnxError(`Concat of shapes that differ outside axis ${axis}`);
      shape[axis]! += x.shape[axis]!;
    }
    this.emitSimple(
      node,
      { type: 'Concat', dim: axis },
      xs.map((x) => x.id),
      [shape],
    );
  },
  Split(node) {
    const x = this.tensor(node.inputs[0]);
    const opset = this.opset;
    const axis = normalizeAxis(node.attributes.find((a) => a.name === 'axis')?.i ?? 0, x.shape.length);
    const given =
      opset >= 13
        ? node.inputs[1]
          ? Array.from(this.constant(node.inputs[1], 'the split sizes').data)
          : undefined
        : node.attributes.find((a) => a.name === 'split')?.ints;
    const parts = node.outputs.length;
    const dim = x.shape[axis]!;
    const sizes = given && given.length > 0 ? given : new Array<number>(parts).fill(Math.ceil(dim / parts)).map((s, i) => Math.min(s, dim - i * s));
    if (sizes.length !== parts || sizes.reduce((a, b) => a + b, 0) !== dim || sizes.some((s) => s <= 0))
      throw new OnnxError(`Split sizes [${sizes.join(', ')}] do not add up to ${dim}`);
    this.emitSimple(
      node,
      { type: 'Split', split_size_or_sections: sizes, dim: axis },
      [x.id],
      sizes.map((s) => x.shape.map((d, i) => (i === axis ? s : d))),
    );
  },
  Flatten(node) {
    const x = this.tensor(node.inputs[0]);
    const axis = normalizeAxis(node.attributes.find((a) => a.name === 'axis')?.i ?? 1, x.shape.length + 1);
    if (axis !== 1) throw new Unsupported(`Flatten at axis ${axis} is not imported (axis 1 is)`);
    this.unaryShaped(node, { type: 'Flatten', start_dim: 1 }, [x.shape[0]!, elementCount(x.shape.slice(1))]);
  },
  Reshape(node) {
    this.reshape(node);
  },
  Slice(node) {
    this.slice(node);
  },
  Transpose(node) {
    this.transpose(node);
  },
  Squeeze(node) {
    this.squeezeToFlatten(node);
  },
  Gemm(node) {
    this.gemm(node);
  },
  MatMul(node) {
    this.gemm(node);
  },
  Softmax(node) {
    const x = this.tensor(node.inputs[0]);
    const opset = this.opset;
    const axis = normalizeAxis(node.attributes.find((a) => a.name === 'axis')?.i ?? (opset >= 13 ? -1 : 1), x.shape.length);
    if (opset < 13 && axis !== x.shape.length - 1)
      throw new Unsupported(`Softmax before opset 13 over axis ${axis} of a rank-${x.shape.length} tensor flattens the trailing axes, which is not imported`);
    this.unaryShaped(node, { type: 'Softmax', dim: axis }, x.shape);
  },
};

function alias(importer: Importer, node: OnnxNode): void {
  const x = importer.tensor(node.inputs[0]);
  const values = importer.values;
  values.set(node.outputs[0]!, x);
  importer.valueIds.set(node.outputs[0]!, x.id);
}

// ---------------------------------------------------------------- pattern fusion

/**
 * Replaces the op sequences that spell one activation by a single node, so that they import as
 * one spec node: Hardswish (x * clip(x + 3, 0, 6) / 6 in either order, x * HardSigmoid(x) with
 * PyTorch's 1/6 slope) and SiLU (x * Sigmoid(x)). A sequence is fused only when its inner values
 * are read by nothing else.
 */
export function fusePatterns(nodes: OnnxNode[], consumers: Map<string, number>, scalarOf: (name: string) => number | undefined): OnnxNode[] {
  const readers = new Map<string, number[]>();
  const indexOf = new Map<OnnxNode, number>();
  nodes.forEach((n, i) => {
    indexOf.set(n, i);
    for (const name of n.inputs) {
      const list = readers.get(name);
      if (list) list.push(i);
      else readers.set(name, [i]);
    }
  });
  const removed = new Set<number>();
  const replaced = new Map<number, OnnxNode>();
  const isScalar = (name: string | undefined, value: number): boolean => {
    if (!name) return false;
    const c = scalarOf(name);
    return c !== undefined && Math.abs(c - value) <= CLOSE * Math.max(1, Math.abs(value));
  };
  const only = (name: string): OnnxNode | undefined => {
    if (consumers.get(name) !== 1) return undefined;
    const r = readers.get(name);
    return r && r.length === 1 && !removed.has(r[0]!) ? nodes[r[0]!] : undefined;
  };
  const index = (n: OnnxNode): number => indexOf.get(n)!;
  const other = (n: OnnxNode, name: string): string | undefined => (n.inputs[0] === name ? n.inputs[1] : n.inputs[1] === name ? n.inputs[0] : undefined);
  const isDivBy6 = (n: OnnxNode, name: string): boolean =>
    (n.opType === 'Div' && n.inputs[0] === name && isScalar(n.inputs[1], 6)) || (n.opType === 'Mul' && isScalar(other(n, name), 1 / 6));
  const clipIs0To6 = (n: OnnxNode): boolean => {
    if (n.opType !== 'Clip') return false;
    const attr = (k: string) => n.attributes.find((a) => a.name === k)?.f;
    const lo = n.inputs[1] ? (isScalar(n.inputs[1], 0) ? 0 : NaN) : attr('min');
    const hi = n.inputs[2] ? (isScalar(n.inputs[2], 6) ? 6 : NaN) : attr('max');
    return lo === 0 && hi === 6;
  };

  nodes.forEach((node, i) => {
    if (removed.has(i) || node.domain !== '') return;
    const fuse = (chain: OnnxNode[], type: string, x: string): void => {
      const last = chain[chain.length - 1]!;
      chain.forEach((n) => removed.add(index(n)));
      removed.delete(index(last));
      replaced.set(index(last), { name: node.name || last.name, opType: type, domain: '', inputs: [x], outputs: [last.outputs[0]!], attributes: [] });
    };
    if (node.opType === 'Add' && node.inputs.length === 2) {
      // x + 3 -> clip(0, 6) -> (* x, / 6) in either order.
      const x = isScalar(node.inputs[1], 3) ? node.inputs[0]! : isScalar(node.inputs[0], 3) ? node.inputs[1]! : undefined;
      if (!x) return;
      const clip = only(node.outputs[0]!);
      if (!clip || !clipIs0To6(clip) || clip.inputs[0] !== node.outputs[0]) return;
      const next = only(clip.outputs[0]!);
      if (!next) return;
      if (next.opType === 'Mul' && other(next, clip.outputs[0]!) === x) {
        const div = only(next.outputs[0]!);
        if (div && isDivBy6(div, next.outputs[0]!)) fuse([node, clip, next, div], 'HardSwish', x);
      } else if (isDivBy6(next, clip.outputs[0]!)) {
        const mul = only(next.outputs[0]!);
        if (mul && mul.opType === 'Mul' && other(mul, next.outputs[0]!) === x) fuse([node, clip, next, mul], 'HardSwish', x);
      }
      return;
    }
    if (node.opType === 'HardSigmoid' || node.opType === 'Sigmoid') {
      const x = node.inputs[0]!;
      if (node.opType === 'HardSigmoid') {
        const alpha = node.attributes.find((a) => a.name === 'alpha')?.f ?? 0.2;
        const beta = node.attributes.find((a) => a.name === 'beta')?.f ?? 0.5;
        if (Math.abs(alpha - 1 / 6) > CLOSE || Math.abs(beta - 0.5) > CLOSE) return;
      }
      const mul = only(node.outputs[0]!);
      if (mul && mul.opType === 'Mul' && other(mul, node.outputs[0]!) === x) fuse([node, mul], node.opType === 'Sigmoid' ? 'SiLU' : 'HardSwish', x);
    }
  });
  return nodes.flatMap((n, i) => (removed.has(i) ? [] : [replaced.get(i) ?? n]));
}

// ---------------------------------------------------------------- shape helpers

/** Folded constants beyond this many elements are refused: shape arithmetic is a few values, weights are never recomputed. */
const MAX_FOLD_ELEMENTS = 1 << 24;

function checkFoldSize(count: number): void {
  if (count > MAX_FOLD_ELEMENTS) throw new Unsupported(`folding a constant of ${count} elements is over the limit of ${MAX_FOLD_ELEMENTS}`);
}

function normalizeAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!(a >= 0 && a < rank)) throw new OnnxError(`axis ${axis} is out of range for rank ${rank}`);
  return a;
}

function clampAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  return Math.min(Math.max(a, 0), rank);
}

function sliceRange(dim: number, start: number, end: number, step: number): { start: number; step: number; count: number } {
  if (step === 0 || !Number.isFinite(step)) throw new OnnxError('Slice step 0');
  const clamp = (v: number, lo: number, hi: number): number => Math.min(Math.max(v, lo), hi);
  let s = start < 0 ? start + dim : start;
  let e = end < 0 ? end + dim : end;
  if (step > 0) {
    s = clamp(s, 0, dim);
    e = clamp(e, 0, dim);
    return { start: s, step, count: Math.max(0, Math.ceil((e - s) / step)) };
  }
  s = clamp(s, -1, dim - 1);
  e = clamp(e, -1, dim - 1);
  return { start: s, step, count: Math.max(0, Math.ceil((e - s) / step)) };
}

function reshapeDims(from: number[], target: number[], allowZero: boolean): number[] {
  const total = elementCount(from);
  const dims = target.map((d, i) => (d === 0 && !allowZero ? (from[i] ?? 0) : d));
  const unknown = dims.filter((d) => d === -1).length;
  if (unknown > 1 || dims.some((d) => !Number.isSafeInteger(d) || d < -1)) throw new OnnxError(`Reshape target [${target.join(', ')}] is invalid`);
  if (unknown === 1) {
    const known = elementCount(dims.filter((d) => d !== -1));
    if (known === 0 || total % known !== 0) throw new OnnxError(`Reshape of [${from.join(', ')}] to [${target.join(', ')}] does not divide`);
    dims[dims.indexOf(-1)] = total / known;
  }
  if (elementCount(dims) !== total) throw new OnnxError(`Reshape of [${from.join(', ')}] (${total} elements) to [${target.join(', ')}]`);
  return dims;
}

function broadcastBinary(x: Constant, y: Constant, f: (a: number, b: number) => number): { dims: number[]; data: number[] } {
  const dims = broadcastShapes(x.dims, y.dims);
  if (!dims) throw new OnnxError(`constants of dims [${x.dims.join(', ')}] and [${y.dims.join(', ')}] do not broadcast`);
  const total = elementCount(dims);
  checkFoldSize(total);
  const index = (c: Constant, flat: number): number => {
    let at = 0;
    let stride = 1;
    let rem = flat;
    const offset = dims.length - c.dims.length;
    const coords: number[] = [];
    for (let i = dims.length - 1; i >= 0; i--) {
      coords[i] = rem % dims[i]!;
      rem = Math.floor(rem / dims[i]!);
    }
    for (let i = c.dims.length - 1; i >= 0; i--) {
      const d = c.dims[i]!;
      at += (d === 1 ? 0 : coords[i + offset]!) * stride;
      stride *= d;
    }
    return at;
  };
  const data = new Array<number>(total);
  for (let n = 0; n < total; n++) data[n] = f(Number(x.data[index(x, n)]), Number(y.data[index(y, n)]));
  return { dims, data };
}

function convOut(size: number, kernel: number, stride: number, dilation: number, padTotal: number): number {
  return Math.floor((size + padTotal - dilation * (kernel - 1) - 1) / stride) + 1;
}

/** Activations beyond this many elements are refused (2 GiB of float32), as the spec's memory budget does. */
const MAX_ACTIVATION_ELEMENTS = 2 ** 29;

function checkShape(shape: number[]): void {
  if (shape.some((d) => !Number.isSafeInteger(d) || d < 0)) throw new OnnxError(`shape [${shape.join(', ')}] is not a list of non-negative integers`);
  if (elementCount(shape) > MAX_ACTIVATION_ELEMENTS) throw new OnnxError(`an activation of shape [${shape.join(', ')}] would need more than 2 GiB`);
}
