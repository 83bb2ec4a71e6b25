/**
 * Reads model code from a Python syntax tree: which calls build PyTorch or Keras layers, their
 * arguments (resolved where the code says what they are), and the containers that chain them
 * (nn.Sequential, Keras Sequential, nn.Module subclasses). The result is plain data: no tree nodes.
 */
import type { Node, Tree } from 'web-tree-sitter';
import { CONV_TRANSPOSE_FIELDS } from '../shared/spec';
import { Scopes, type PyValue } from './pythonValues';
import { isExtraNode } from './pythonParser';

export type Framework = 'torch' | 'keras';

/** A piece of source: UTF-16 offsets plus 0-based line/column of both ends. */
export interface Span {
  start: number;
  end: number;
  startLine: number;
  startColumn: number;
  endLine: number;
  endColumn: number;
}

export interface LayerArg {
  /** The parameter it binds to. */
  name: string;
  value: PyValue;
  /** Whether it was written as `name=value`. */
  keyword: boolean;
  /** The whole argument (with `name=` when keyword). */
  span: Span;
  /** Its source text. */
  text: string;
  /** The value's source text (without `name=`). */
  valueText: string;
}

export interface LayerCall {
  framework: Framework;
  /** The class: Conv2d, BatchNorm2d, ReLU, Conv2D, SeparableConv2D, ... */
  type: string;
  span: Span;
  /** The callee as written (`nn.Conv2d`, `C`, `layers.Conv2D`): kept by rewrites. */
  callee: { text: string; span: Span };
  args: Record<string, LayerArg>;
  /** Arguments in source order (including ones the signature does not know, under their keyword). */
  argList: LayerArg[];
  /** Span of the argument list's parentheses. */
  argsSpan: Span;
  /** `*args` or `**kwargs` in the call: parameters not written may still be set. */
  hasSplat: boolean;
  /** Index of the container holding it, if any. */
  container?: number;
}

export type ContainerKind = 'torch-sequential' | 'keras-sequential' | 'torch-module' | 'keras-model';

export type ContainerItem = { kind: 'layer'; call: number } | { kind: 'container'; container: number } | { kind: 'unknown'; text: string; span: Span };

export interface Container {
  kind: ContainerKind;
  /** Class name for modules, the variable or attribute a Sequential is assigned to, else undefined. */
  name?: string;
  /** Where the CodeLens goes: the Sequential call or the class header. */
  span: Span;
  items: ContainerItem[];
  /** Keras: [N, C, H, W] from Input(shape=...) or input_shape=... (undefined entries unknown). */
  declaredInput?: (number | undefined)[];
  parent?: number;
  /** nn.Module: its layers by attribute (`self.conv1 = ...` in `__init__`). */
  members?: Record<string, ContainerItem>;
  /** nn.Module: the data flow of `forward()`, or why it is not followed. */
  forward?: ForwardFlow;
}

/** An expression of a module's forward(), as far as shapes go. */
export type FlowExpr =
  | { kind: 'var'; name: string }
  /** `self.member(arg)`. */
  | { kind: 'apply'; member: string; arg: FlowExpr }
  /** Shape-preserving functions: `F.relu(x)`, `torch.sigmoid(x)`, `x.relu()`, dropout. */
  | { kind: 'same'; arg: FlowExpr }
  /** `torch.flatten(x, 1)`, `x.flatten(1)`, `x.view(x.size(0), -1)`. */
  | { kind: 'flatten'; arg: FlowExpr }
  | { kind: 'add'; left: FlowExpr; right: FlowExpr };

/** forward()'s statements in order (`target = value`), its input name and what it returns; or why it is not simple. */
export type ForwardFlow = { input: string; steps: { target: string; value: FlowExpr }[]; returns: FlowExpr } | { unsupported: string };

export interface ModelCode {
  calls: LayerCall[];
  containers: Container[];
  /** Local name -> what it was imported as (`nn` -> `torch.nn`), for rewrites that must name a class. */
  imports: Record<string, string>;
}

// ---------------------------------------------------------------------------------------------
// What we recognise

const TORCH_SIGNATURES: Record<string, readonly string[]> = {
  Conv2d: ['in_channels', 'out_channels', 'kernel_size', 'stride', 'padding', 'dilation', 'groups', 'bias', 'padding_mode', 'device', 'dtype'],
  BatchNorm2d: ['num_features', 'eps', 'momentum', 'affine', 'track_running_stats', 'device', 'dtype'],
  ReLU: ['inplace'],
  ReLU6: ['inplace'],
  SiLU: ['inplace'],
  Hardswish: ['inplace'],
  GELU: ['approximate'],
  Identity: [],
  Dropout: ['p', 'inplace'],
  Dropout2d: ['p', 'inplace'],
  AdaptiveAvgPool2d: ['output_size'],
  Flatten: ['start_dim', 'end_dim'],
  Linear: ['in_features', 'out_features', 'bias', 'device', 'dtype'],
  MaxPool2d: ['kernel_size', 'stride', 'padding', 'dilation', 'return_indices', 'ceil_mode'],
  AvgPool2d: ['kernel_size', 'stride', 'padding', 'ceil_mode', 'count_include_pad', 'divisor_override'],
  LeakyReLU: ['negative_slope', 'inplace'],
  Sigmoid: [],
  Tanh: [],
  ELU: ['alpha', 'inplace'],
  Mish: ['inplace'],
  Hardsigmoid: ['inplace'],
  PReLU: ['num_parameters', 'init'],
  Softplus: ['beta', 'threshold'],
  ConvTranspose2d: CONV_TRANSPOSE_FIELDS,
  Upsample: ['size', 'scale_factor', 'mode', 'align_corners', 'recompute_scale_factor'],
  ChannelShuffle: ['groups'],
  // torchvision.ops.SqueezeExcitation: the activations are classes (nn.ReLU), read by their name.
  SqueezeExcitation: ['input_channels', 'squeeze_channels', 'activation', 'scale_activation'],
  Sequential: [],
};

const KERAS_SIGNATURES: Record<string, string[]> = {
  Conv2D: ['filters', 'kernel_size', 'strides', 'padding', 'data_format', 'dilation_rate', 'groups', 'activation', 'use_bias'],
  DepthwiseConv2D: ['kernel_size', 'strides', 'padding', 'depth_multiplier', 'data_format', 'dilation_rate', 'activation', 'use_bias'],
  SeparableConv2D: ['filters', 'kernel_size', 'strides', 'padding', 'data_format', 'dilation_rate', 'depth_multiplier', 'activation', 'use_bias'],
  BatchNormalization: ['axis', 'momentum', 'epsilon', 'center', 'scale'],
  ReLU: ['max_value', 'negative_slope', 'threshold'],
  Activation: ['activation'],
  Dropout: ['rate'],
  MaxPooling2D: ['pool_size', 'strides', 'padding', 'data_format'],
  AveragePooling2D: ['pool_size', 'strides', 'padding', 'data_format'],
  GlobalAveragePooling2D: ['data_format', 'keepdims'],
  Flatten: ['data_format'],
  Dense: ['units', 'activation', 'use_bias'],
  Input: ['shape', 'batch_size'],
  InputLayer: ['input_shape', 'batch_size'],
  Sequential: ['layers'],
};

/** Aliases that people use without thinking, honoured only when the file binds the name to nothing else (e.g. a notebook cell whose imports are in another cell). */
const CONVENTIONAL_ROOTS: Record<string, string> = { nn: 'torch.nn', torch: 'torch', layers: 'keras.layers', keras: 'keras', tf: 'tensorflow' };

/** torch.nn.X / torch.nn.modules.conv.X -> X; torchvision.ops.SqueezeExcitation; keras.layers.X, tensorflow.keras.X, keras.models.X -> X. */
export function canonicalClass(qualified: string): { framework: Framework; type: string } | undefined {
  const parts = qualified.split('.');
  const last = parts[parts.length - 1]!;
  if (parts[0] === 'torch' && parts[1] === 'nn' && (parts.length === 3 || (parts[2] === 'modules' && parts.length <= 5))) {
    if (last in TORCH_SIGNATURES) return { framework: 'torch', type: last };
    if (last === 'Module') return { framework: 'torch', type: 'Module' };
    return undefined;
  }
  if (qualified === 'torchvision.ops.SqueezeExcitation' || qualified === 'torchvision.ops.misc.SqueezeExcitation')
    return { framework: 'torch', type: 'SqueezeExcitation' };
  let rest = parts;
  if (rest[0] === 'tensorflow' || rest[0] === 'tf') rest = rest.slice(1);
  if (rest[0] === 'tf_keras') rest = ['keras', ...rest.slice(1)];
  if (rest[0] !== 'keras') return undefined;
  rest = rest.slice(1);
  if (rest[0] === 'src') rest = rest.slice(1);
  const middle = rest.slice(0, -1);
  if (middle.length > 1 || (middle.length === 1 && middle[0] !== 'layers' && middle[0] !== 'models')) return undefined;
  if (last === 'Model' && middle[0] !== 'layers') return { framework: 'keras', type: 'Model' };
  if (last in KERAS_SIGNATURES) return { framework: 'keras', type: last };
  return undefined;
}

// ---------------------------------------------------------------------------------------------

export function spanOf(node: Node): Span {
  return {
    start: node.startIndex,
    end: node.endIndex,
    startLine: node.startPosition.row,
    startColumn: node.startPosition.column,
    endLine: node.endPosition.row,
    endColumn: node.endPosition.column,
  };
}

/** Reads the model code of a tree. Never throws on odd input: what it cannot read, it leaves out. */
export function readModelCode(tree: Tree): ModelCode {
  return new Reader(tree).read();
}

const IMPORT_TYPES = ['import_statement', 'import_from_statement'];

/** The conv layer classes: the calls the hover and the quick fix are about. */
export const CONV_TYPES: ReadonlySet<string> = new Set(['Conv2d', 'Conv2D', 'DepthwiseConv2D', 'SeparableConv2D']);

type Recognised = { node: Node; cls: { framework: Framework; type: string } };

class Reader {
  private readonly scopes: Scopes;
  private readonly imports = new Map<string, string | null>();
  private readonly calls: LayerCall[] = [];
  private readonly containers: Container[] = [];
  /** Call node start index -> index in calls / containers. */
  private readonly callAt = new Map<number, number>();
  private readonly containerAt = new Map<number, number>();
  /** Container index -> id of the scope its Sequential call is in (Keras `.add` calls must share it). */
  private readonly containerScope = new Map<number, number>();
  private readonly root: Node;

  constructor(tree: Tree) {
    this.root = tree.rootNode;
    this.scopes = new Scopes();
  }

  read(): ModelCode {
    const root = this.root;
    this.readImports();
    const callNodes = root.descendantsOfType('call').filter((n): n is Node => !!n);
    this.readCalls(callNodes);
    for (const cls of root.descendantsOfType('class_definition')) if (cls) this.readModuleClass(cls);
    this.readKerasAdds(callNodes);
    return this.result();
  }

  private readImports(): void {
    for (const statement of this.root.descendantsOfType(IMPORT_TYPES)) if (statement) this.readImport(statement);
  }

  private recognise(node: Node): Recognised | undefined {
    const fn = node.childForFieldName('function');
    if (!fn || (fn.type !== 'identifier' && fn.type !== 'attribute')) return undefined;
    const last = fn.type === 'identifier' ? fn.text : (fn.childForFieldName('attribute')?.text ?? '');
    // Cheap filter before resolving the name: class names start with a capital letter.
    if (!/^[A-Z]/.test(last) && !this.imports.has(last)) return undefined;
    const cls = this.classOf(fn);
    return cls && cls.type !== 'Module' && cls.type !== 'Model' ? { node, cls } : undefined;
  }

  private readCalls(callNodes: Node[]): void {
    const recognised: Recognised[] = [];
    for (const node of callNodes) {
      const found = this.recognise(node);
      if (found) recognised.push(found);
    }
    // Containers first (outer before inner: the nodes are in document order), then layers.
    for (const { node, cls } of recognised) if (cls.type === 'Sequential') this.containerAt.set(node.startIndex, this.addSequential(node, cls.framework));
    for (const { node, cls } of recognised)
      if (cls.type !== 'Sequential' && cls.type !== 'Input' && cls.type !== 'InputLayer') this.callAt.set(node.startIndex, this.addCall(node, cls));
    for (const { node, cls } of recognised) if (cls.type === 'Sequential') this.fillSequential(node, cls.framework);
  }

  private result(): ModelCode {
    const imports: Record<string, string> = {};
    for (const [name, target] of this.imports) if (target) imports[name] = target;
    return { calls: this.calls, containers: this.containers, imports };
  }

  // --- names -----------------------------------------------------------------------------------

  readImport(statement: Node): void {
    const bind = (local: string, target: string) => {
      const known = this.imports.get(local);
      // The same name imported as two different things: not sure which one a call means.
      this.imports.set(local, known !== undefined && known !== target ? null : target);
    };
    if (statement.type === 'import_statement') {
      for (const child of statement.namedChildren) {
        if (child?.type === 'dotted_name') bind(child.namedChildren[0]!.text, child.namedChildren[0]!.text);
        else if (child?.type === 'aliased_import') {
          const name = child.childForFieldName('name')?.text;
          const alias = child.childForFieldName('alias')?.text;
          if (name && alias) bind(alias, name);
        }
      }
      return;
    }
    const moduleNode = statement.childForFieldName('module_name');
    if (!moduleNode || moduleNode.type !== 'dotted_name') return;
    const module = moduleNode.text.replace(/\s+/g, '');
    statement.namedChildren.forEach((child, i) => {
      if (!child || statement.fieldNameForNamedChild(i) === 'module_name') return;
      if (child.type === 'dotted_name') bind(child.text, `${module}.${child.text}`);
      else if (child.type === 'aliased_import') {
        const name = child.childForFieldName('name')?.text;
        const alias = child.childForFieldName('alias')?.text;
        if (name && alias) bind(alias, `${module}.${name}`);
      }
    });
  }

  /** The dotted name an expression refers to, through the file's imports. */
  private qualified(node: Node): string | undefined {
    if (node.type === 'identifier') {
      const name = node.text;
      const imported = this.imports.get(name);
      if (imported) return imported;
      if (imported === null) return undefined;
      if (name in CONVENTIONAL_ROOTS && !this.scopes.isBound(name, node)) return CONVENTIONAL_ROOTS[name];
      return undefined;
    }
    if (node.type === 'attribute') {
      const object = node.childForFieldName('object');
      const attribute = node.childForFieldName('attribute');
      if (!object || !attribute) return undefined;
      const base = this.qualified(object);
      return base ? `${base}.${attribute.text}` : undefined;
    }
    return undefined;
  }

  private classOf(fn: Node): { framework: Framework; type: string } | undefined {
    const qualified = this.qualified(fn);
    return qualified ? canonicalClass(qualified) : undefined;
  }

  // --- calls -----------------------------------------------------------------------------------

  private bindArgs(node: Node, signature: readonly string[]): { args: Record<string, LayerArg>; argList: LayerArg[]; hasSplat: boolean; argsSpan: Span } {
    const argsNode = node.childForFieldName('arguments');
    const args: Record<string, LayerArg> = {};
    const argList: LayerArg[] = [];
    let hasSplat = false;
    let position = 0;
    for (const child of argsNode?.namedChildren ?? []) {
      if (!child || isExtraNode(child)) continue;
      if (child.type === 'list_splat' || child.type === 'dictionary_splat') {
        hasSplat = true;
        continue;
      }
      if (child.type === 'keyword_argument') {
        const name = child.childForFieldName('name')?.text ?? '';
        const valueNode = child.childForFieldName('value');
        const arg: LayerArg = {
          name,
          value: this.scopes.evaluate(valueNode),
          keyword: true,
          span: spanOf(child),
          text: child.text,
          valueText: valueNode?.text ?? '',
        };
        args[name] = arg;
        argList.push(arg);
        continue;
      }
      const name = hasSplat ? undefined : signature[position];
      position++;
      const arg: LayerArg = {
        name: name ?? `#${position - 1}`,
        value: this.scopes.evaluate(child),
        keyword: false,
        span: spanOf(child),
        text: child.text,
        valueText: child.text,
      };
      if (name) args[name] = arg;
      argList.push(arg);
    }
    return { args, argList, hasSplat, argsSpan: spanOf(argsNode ?? node) };
  }

  private addCall(node: Node, cls: { framework: Framework; type: string }): number {
    const signature = (cls.framework === 'torch' ? TORCH_SIGNATURES : KERAS_SIGNATURES)[cls.type] ?? [];
    const fn = node.childForFieldName('function')!;
    const call: LayerCall = {
      framework: cls.framework,
      type: cls.type,
      span: spanOf(node),
      callee: { text: fn.text, span: spanOf(fn) },
      ...this.bindArgs(node, signature),
    };
    this.calls.push(call);
    return this.calls.length - 1;
  }

  // --- containers ------------------------------------------------------------------------------

  private addSequential(node: Node, framework: Framework): number {
    const index =
      this.containers.push({ kind: framework === 'torch' ? 'torch-sequential' : 'keras-sequential', name: assignedName(node), span: spanOf(node), items: [] }) -
      1;
    if (framework === 'keras') this.containerScope.set(index, this.scopes.scopeOf(node).id);
    return index;
  }

  /** The layer or container a Sequential item expression is. */
  private item(node: Node): ContainerItem {
    if (node.type === 'call') {
      const container = this.containerAt.get(node.startIndex);
      if (container !== undefined) return { kind: 'container', container };
      const call = this.callAt.get(node.startIndex);
      if (call !== undefined) return { kind: 'layer', call };
    }
    return { kind: 'unknown', text: node.text.length > 60 ? `${node.text.slice(0, 57)}...` : node.text, span: spanOf(node) };
  }

  private attach(index: number, item: ContainerItem): void {
    this.containers[index]!.items.push(item);
    if (item.kind === 'layer') this.calls[item.call]!.container ??= index;
    if (item.kind === 'container') this.containers[item.container]!.parent ??= index;
  }

  private fillSequential(node: Node, framework: Framework): void {
    const index = this.containerAt.get(node.startIndex)!;
    const container = this.containers[index]!;
    const argsNode = node.childForFieldName('arguments');
    const positional = (argsNode?.namedChildren ?? []).filter((c): c is Node => !!c && !isExtraNode(c) && c.type !== 'keyword_argument');
    let elements: Node[] = positional;
    if (framework === 'keras') {
      const list =
        positional[0] ??
        argsNode?.namedChildren.find((c) => c?.type === 'keyword_argument' && c.childForFieldName('name')?.text === 'layers')?.childForFieldName('value');
      elements = list && (list.type === 'list' || list.type === 'tuple') ? list.namedChildren.filter((c): c is Node => !!c && !isExtraNode(c)) : [];
      if (list && list.type !== 'list' && list.type !== 'tuple') container.items.push({ kind: 'unknown', text: list.text, span: spanOf(list) });
    } else if (positional.length === 1 && positional[0]!.type === 'call' && /OrderedDict$/.test(positional[0]!.childForFieldName('function')?.text ?? '')) {
      // nn.Sequential(OrderedDict([("conv", nn.Conv2d(...)), ...])): the second item of each pair.
      const pairs = positional[0]!.childForFieldName('arguments')?.namedChildren[0];
      elements = (pairs?.namedChildren ?? [])
        .map((pair) => (pair?.type === 'tuple' ? pair.namedChildren.filter((c) => !isExtraNode(c))[1] : pair))
        .filter((c): c is Node => !!c);
    }
    for (const element of elements) {
      if (element.type === 'list_splat' || element.type === 'dictionary_splat') {
        container.items.push({ kind: 'unknown', text: element.text, span: spanOf(element) });
        continue;
      }
      const item = this.item(element);
      if (framework === 'keras' && item.kind === 'unknown' && element.type === 'call') {
        const shape = this.kerasInputShape(element);
        if (shape) {
          container.declaredInput ??= shape;
          continue;
        }
      }
      this.attach(index, item);
    }
    if (framework === 'keras') {
      const first = container.items[0];
      if (!container.declaredInput && first?.kind === 'layer') {
        const declared = this.calls[first.call]!.args.input_shape;
        if (declared) container.declaredInput = hwcToNchw(declared.value);
      }
      // Sequential(..., input_shape=...) is not Keras; Input(shape=...) as the first item is.
    }
  }

  /** `keras.Input(shape=(H, W, C))` or `InputLayer(input_shape=...)`: [1, C, H, W]. */
  private kerasInputShape(node: Node): (number | undefined)[] | undefined {
    const fn = node.childForFieldName('function');
    const cls = fn ? this.classOf(fn) : undefined;
    if (!cls || (cls.type !== 'Input' && cls.type !== 'InputLayer')) return undefined;
    const { args } = this.bindArgs(node, KERAS_SIGNATURES[cls.type]!);
    const shape = args.shape ?? args.input_shape;
    return shape ? hwcToNchw(shape.value) : [1, undefined, undefined, undefined];
  }

  /** `model = Sequential()` then `model.add(layer)`: the nearest such Sequential before the call, in the same scope. */
  private readKerasAdds(callNodes: Node[]): void {
    for (const node of callNodes) {
      const found = kerasAddTarget(node);
      if (!found) continue;
      const { target, argument: arg } = found;
      const scope = this.scopes.scopeOf(node).id;
      let index = -1;
      this.containers.forEach((c, i) => {
        if (
          c.kind === 'keras-sequential' &&
          c.name === target.text &&
          c.span.start < node.startIndex &&
          this.containerScope.get(i) === scope &&
          (index === -1 || c.span.start > this.containers[index]!.span.start)
        )
          index = i;
      });
      if (index === -1) continue;
      const shape = arg.type === 'call' ? this.kerasInputShape(arg) : undefined;
      const container = this.containers[index]!;
      if (shape && container.items.length === 0) {
        container.declaredInput ??= shape;
        continue;
      }
      this.attach(index, this.item(arg));
      if (container.items.length === 1 && !container.declaredInput) {
        const first = container.items[0]!;
        if (first.kind === 'layer' && this.calls[first.call]!.args.input_shape)
          container.declaredInput = hwcToNchw(this.calls[first.call]!.args.input_shape!.value);
      }
    }
  }

  /** `class Net(nn.Module)` (or keras.Model) with `self.x = <layer or Sequential>` in __init__, in order. */
  private readModuleClass(cls: Node): void {
    const bases = cls.childForFieldName('superclasses')?.namedChildren ?? [];
    let kind: ContainerKind | undefined;
    for (const base of bases) {
      if (!base || (base.type !== 'identifier' && base.type !== 'attribute')) continue;
      const c = this.classOf(base);
      if (c?.type === 'Module') kind = 'torch-module';
      else if (c?.type === 'Model') kind = 'keras-model';
    }
    if (!kind) return;
    const body = cls.childForFieldName('body');
    const init = body?.namedChildren.find(
      (s) => s?.type === 'function_definition' && s.childForFieldName('name')?.text === (kind === 'torch-module' ? '__init__' : '__init__'),
    );
    const name = cls.childForFieldName('name')?.text;
    const header = spanOf(cls);
    const container: Container = { kind, name, span: header, items: [] };
    const index = this.containers.push(container) - 1;
    if (!init) return;
    const members: Record<string, ContainerItem> = {};
    for (const assignment of init.descendantsOfType('assignment')) {
      const left = assignment?.childForFieldName('left');
      const right = assignment?.childForFieldName('right');
      if (!left || !right || left.type !== 'attribute' || left.childForFieldName('object')?.text !== 'self' || right.type !== 'call') continue;
      const item = this.item(right);
      if (item.kind !== 'unknown') this.attach(index, item);
      const attribute = left.childForFieldName('attribute')?.text;
      // A name assigned twice (in branches) has no single layer: forward() through it is not followed.
      if (attribute) members[attribute] = attribute in members ? { kind: 'unknown', text: attribute, span: spanOf(left) } : item;
    }
    if (kind !== 'torch-module') return;
    container.members = members;
    const forward = body?.namedChildren.find((s) => s?.type === 'function_definition' && s.childForFieldName('name')?.text === 'forward');
    container.forward = forward ? readForward(forward, members) : { unsupported: 'no forward()' };
  }
}

/** `model.add(argument)`: the call, `model` and the argument; undefined for any other node. */
function kerasAddTarget(node: Node | null | undefined): { call: Node; target: Node; argument: Node } | undefined {
  if (node?.type !== 'call') return undefined;
  const fn = node.childForFieldName('function');
  if (fn?.type !== 'attribute' || fn.childForFieldName('attribute')?.text !== 'add') return undefined;
  const target = fn.childForFieldName('object');
  const argument = node.childForFieldName('arguments')?.namedChildren.find((c) => c && !isExtraNode(c));
  return target && argument ? { call: node, target, argument } : undefined;
}

/** `x = nn.Sequential(...)` / `self.features = ...` -> "x" / "self.features". */
function assignedName(node: Node): string | undefined {
  const parent = node.parent;
  if (parent?.type === 'assignment' && parent.childForFieldName('right')?.startIndex === node.startIndex) return parent.childForFieldName('left')?.text;
  return undefined;
}

/** Keras (H, W, C) (channels last) -> [1, C, H, W]; unknown dims (None, symbols) stay undefined. */
function hwcToNchw(value: PyValue): (number | undefined)[] | undefined {
  if (value.kind !== 'tuple' || value.items.length !== 3) return undefined;
  const dims = value.items.map((v) => (v.kind === 'int' && v.value >= 1 ? v.value : undefined));
  return [1, dims[2], dims[0], dims[1]];
}

// ---------------------------------------------------------------------------------------------
// forward(): simple data flow only

/** Functions that keep the shape of their first argument, called as `F.x(t)`, `torch.x(t)` or `t.x()`. */
const SAME_SHAPE_FUNCTIONS = new Set([
  'relu',
  'relu_',
  'relu6',
  'gelu',
  'silu',
  'sigmoid',
  'tanh',
  'hardswish',
  'hardsigmoid',
  'leaky_relu',
  'elu',
  'mish',
  'dropout',
  'dropout2d',
  'contiguous',
  'clone',
]);
const FUNCTION_MODULES = new Set(['F', 'torch', 'nn.functional', 'torch.nn.functional']);

class NotSimple extends Error {}

function positionalArgs(call: Node): Node[] | undefined {
  const args = call.childForFieldName('arguments');
  if (!args || args.type !== 'argument_list') return undefined;
  return args.namedChildren.filter((c): c is Node => !!c && !isExtraNode(c));
}

function flowExpr(node: Node, members: Record<string, ContainerItem>): FlowExpr {
  const fail = (): never => {
    throw new NotSimple(node.text.length > 50 ? `${node.text.slice(0, 47)}...` : node.text);
  };
  if (node.type === 'identifier') return { kind: 'var', name: node.text };
  if (node.type === 'parenthesized_expression' && node.namedChildren.length === 1) return flowExpr(node.namedChildren[0]!, members);
  if (node.type === 'binary_operator' && node.childForFieldName('operator')?.text === '+') {
    return { kind: 'add', left: flowExpr(node.childForFieldName('left')!, members), right: flowExpr(node.childForFieldName('right')!, members) };
  }
  if (node.type !== 'call') return fail();
  const fn = node.childForFieldName('function');
  const args = positionalArgs(node);
  if (!fn || fn.type !== 'attribute' || !args) return fail();
  const object = fn.childForFieldName('object')!;
  const name = fn.childForFieldName('attribute')?.text ?? '';
  const plain = args.filter((a) => a.type !== 'keyword_argument');
  if (object.text === 'self') {
    const member = members[name];
    if (!member || member.kind === 'unknown' || args.length !== 1 || plain.length !== 1) return fail();
    return { kind: 'apply', member: name, arg: flowExpr(plain[0]!, members) };
  }
  if (FUNCTION_MODULES.has(object.text)) {
    if (SAME_SHAPE_FUNCTIONS.has(name) && plain.length >= 1) return { kind: 'same', arg: flowExpr(plain[0]!, members) };
    if (name === 'flatten' && plain.length === 2 && plain[1]!.text === '1') return { kind: 'flatten', arg: flowExpr(plain[0]!, members) };
    return fail();
  }
  // Methods of the tensor itself.
  if (SAME_SHAPE_FUNCTIONS.has(name) && args.length === 0) return { kind: 'same', arg: flowExpr(object, members) };
  if (name === 'flatten' && plain.length === 1 && plain[0]!.text === '1') return { kind: 'flatten', arg: flowExpr(object, members) };
  if ((name === 'view' || name === 'reshape') && plain.length === 2 && plain[1]!.text === '-1' && /^\w+\.size\(0\)$/.test(plain[0]!.text))
    return { kind: 'flatten', arg: flowExpr(object, members) };
  return fail();
}

/** Reads `def forward(self, x)` as a straight line of assignments and one return; anything else is not followed. */
function readForward(fn: Node, members: Record<string, ContainerItem>): ForwardFlow {
  const params = (fn.childForFieldName('parameters')?.namedChildren ?? []).filter((p): p is Node => !!p);
  if (params.length !== 2 || params[1]!.type !== 'identifier') return { unsupported: 'forward() does not take one input' };
  const steps: { target: string; value: FlowExpr }[] = [];
  try {
    const statements = (fn.childForFieldName('body')?.namedChildren ?? []).filter((c): c is Node => !!c && !isExtraNode(c));
    for (const [i, statement] of statements.entries()) {
      if (statement.type === 'pass_statement') continue;
      if (statement.type === 'return_statement') {
        const value = statement.namedChildren.find((c) => !isExtraNode(c));
        if (!value || i !== statements.length - 1) return { unsupported: 'forward() returns early or returns nothing' };
        return { input: params[1]!.text, steps, returns: flowExpr(value, members) };
      }
      const inner = statement.type === 'expression_statement' && statement.namedChildren.length === 1 ? statement.namedChildren[0]! : undefined;
      if (inner?.type === 'string' && i === 0) continue;
      if (
        inner?.type === 'assignment' &&
        inner.childForFieldName('left')?.type === 'identifier' &&
        inner.childForFieldName('right') &&
        !inner.childForFieldName('type')
      ) {
        steps.push({ target: inner.childForFieldName('left')!.text, value: flowExpr(inner.childForFieldName('right')!, members) });
        continue;
      }
      if (
        inner?.type === 'augmented_assignment' &&
        inner.childForFieldName('operator')?.text === '+=' &&
        inner.childForFieldName('left')?.type === 'identifier'
      ) {
        const target = inner.childForFieldName('left')!.text;
        steps.push({ target, value: { kind: 'add', left: { kind: 'var', name: target }, right: flowExpr(inner.childForFieldName('right')!, members) } });
        continue;
      }
      return { unsupported: `forward() has \`${statement.text.split('\n')[0]!.slice(0, 40)}\`` };
    }
    return { unsupported: 'forward() has no return' };
  } catch (error) {
    if (error instanceof NotSimple) return { unsupported: `forward() calls \`${error.message}\`` };
    throw error;
  }
}
