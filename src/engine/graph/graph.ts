/**
 * The internal graph: what every spec becomes before it is planned. The chain form and the graph
 * form lower to the same thing: nodes with an op, its attributes, the values they read and the
 * values they write, every value with its shape. Composites are expanded (a Residual becomes its
 * body and an Add), so a backend never sees a Sequential. Imports neither `vscode` nor the DOM.
 */
import type { LeafInfo, ResolvedLeaf, ResolvedModel, ResolvedNode, Shape, ValueRef } from '../../shared/spec';

/** A value's index in {@link Graph.values}. */
export type ValueId = number;

export interface GraphValue {
  id: ValueId;
  /** "input", the producing node's key, or "<key>:<i>" for the i-th output of a Split. */
  name: string;
  shape: Shape;
  /** The node that writes it; -1 for the model input. */
  producer: number;
}

export interface GraphNode {
  /** Its index in {@link Graph.nodes} (a topological order). */
  index: number;
  op: ResolvedLeaf['op'];
  /** The op's attributes: the resolved module (kernel, stride, eps, dim, ...). */
  attrs: ResolvedLeaf;
  /** The module's state_dict prefix ("3.conv.1.0"): its weights are `<key>.weight`, ... */
  key: string;
  inputs: ValueId[];
  outputs: ValueId[];
  /** The spec's top-level layer (or node) the op belongs to. */
  layerIndex: number;
  role: LeafInfo['role'] | 'add';
  /** The Add that closes a chain-form Residual block (not a module of its own: no leaf key). */
  residualAdd?: boolean;
}

export interface Graph {
  name: string;
  values: GraphValue[];
  nodes: GraphNode[];
  input: ValueId;
  outputs: ValueId[];
}

/** Lowers a resolved model (either form) to the internal graph. */
export function lowerModel(model: ResolvedModel): Graph {
  const infoByNode = new Map<ResolvedNode, LeafInfo>(model.leaves.map((leaf) => [leaf.node, leaf]));
  const values: GraphValue[] = [{ id: 0, name: 'input', shape: [...model.inputShape], producer: -1 }];
  const nodes: GraphNode[] = [];
  const push = (attrs: ResolvedLeaf, inputs: ValueId[], shapes: Shape[], layerIndex: number, role: GraphNode['role'], residualAdd = false): ValueId[] => {
    const index = nodes.length;
    const outputs = shapes.map((shape, i) => {
      const id = values.length;
      values.push({ id, name: shapes.length > 1 ? `${attrs.key}:${i}` : attrs.key, shape: [...shape], producer: index });
      return id;
    });
    nodes.push({ index, op: attrs.op, attrs, key: attrs.key, inputs, outputs, layerIndex, role, ...(residualAdd ? { residualAdd } : {}) });
    return outputs;
  };
  const emit = (node: ResolvedNode, inputs: ValueId[], layerIndex: number): ValueId[] => {
    switch (node.op) {
      case 'sequence':
        return node.children.reduce((x, child) => emit(child, x, layerIndex), inputs);
      case 'residual': {
        const body = emit(node.body, inputs, layerIndex);
        return push({ op: 'add', key: node.key }, [body[0]!, inputs[0]!], [values[inputs[0]!]!.shape], layerIndex, 'add', true);
      }
      case 'channelscale': {
        // Squeeze-excitation: the input times the body's [N, C, 1, 1] gate, a broadcasting Mul.
        const gate = emit(node.body, inputs, layerIndex);
        return push({ op: 'mul', key: node.key }, [inputs[0]!, gate[0]!], [values[inputs[0]!]!.shape], layerIndex, 'elementwise');
      }
      default: {
        const info = infoByNode.get(node);
        if (!info) throw new Error(`internal: module ${node.key} has no shape information`);
        return push(node, inputs, info.outShapes, layerIndex, info.role);
      }
    }
  };
  const layerOutputs: ValueId[][] = [];
  const valueOf = (ref: ValueRef): ValueId => (ref.layer < 0 ? 0 : layerOutputs[ref.layer]![ref.output]!);
  for (const layer of model.layers) layerOutputs.push(emit(layer.node, layer.inputs.map(valueOf), layer.index));
  return { name: model.name, values, nodes, input: 0, outputs: model.outputs.map(valueOf) };
}
