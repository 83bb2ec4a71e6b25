/**
 * The values of the model-code evaluator (see modelEvaluator.ts): Python values, library names,
 * layers built by PyTorch or Keras classes, and tensors that carry only their shape. A value that
 * cannot be known is `unknown` with the reason, never a guess.
 */
import type { Node } from 'web-tree-sitter';

export type Framework = 'torch' | 'keras';

/** Where a layer was built: the call in the evaluated file that was running when it was made. */
export interface SiteRef {
  /** UTF-16 offset of the call's start: the key of the site. */
  start: number;
  end: number;
  /** 0-based. */
  line: number;
  column: number;
  /** The callee as written (`nn.Conv2d`, `conv_bn`, `Conv`). */
  callee: string;
}

/** A tensor: its shape where known (NCHW for PyTorch, NHWC for Keras), else why not. */
export interface TensorInfo {
  shape?: number[];
  reason?: string;
  /** A model's own input at the default size whose channels the first layer will say: [H, W]. */
  pending?: [number, number];
  /** For a pending input: the shape the first registered conv (or Linear) implies, used by operations that do not name channels. */
  hint?: number[];
  /**
   * The values of a small tensor of known numbers, flattened (torch.linspace / torch.arange of
   * known arguments: drop-path rates, stage widths): iterating it, `.item()` and `.tolist()` give them.
   */
  items?: Value[];
  /** A numpy array of known values (evalNumpy.ts): float64 arithmetic, numpy's methods. */
  numpy?: true;
  framework: Framework;
}

/** One cost record: a layer applied once (or built and never applied). */
export interface LayerInstance {
  site: SiteRef;
  layerId: number;
  framework: Framework;
  /** Canonical class, e.g. Conv2d, Conv2D, DepthwiseConv2D. */
  type: string;
  kind?: string;
  params?: number;
  macs?: number;
  input?: number[];
  output?: number[];
  /** Weight shape in the framework's own order (PyTorch: out, in/g, kh, kw; Keras: kh, kw, in, out). */
  weight?: number[];
  /** A standard conv larger than 1x1: its depthwise-separable replacement. */
  separable?: { params: number; macs: number; saving: number };
  /** Why some figure is unknown. */
  reason?: string;
  /**
   * A conv of the model that forward(), followed all the way, never applies (GoogLeNet's auxiliary
   * heads outside training): its parameters count in the model's totals, it has no MACs, and the
   * other instances of its site are all known.
   */
  neverApplied?: true;
  /** Recorded where the layer or parameter was made (an nn.Parameter, an LSTM), not where it was applied. */
  atBuild?: true;
}

export interface Layer {
  id: number;
  /** Canonical name: `torch.nn.Conv2d`, `keras.layers.Conv2D`, `torchvision.ops.Conv2dNormActivation`, ... */
  cls: string;
  framework: Framework;
  site?: SiteRef;
  args: Record<string, Value>;
  /** Containers and composite blocks: their sub-modules in order (with names where they have them). */
  children?: Value[];
  childNames?: string[];
  /** Times applied to a tensor. */
  applied: number;
  /** Why a subclass's parameters are not the layer's (it sets its own weight, bias or nn.Parameter). */
  ownParameters?: string;
  /** Parameters a wrapper added to the layer's own: weight_norm's magnitude g. */
  extraParams?: number;
  /** Taken out of the module that held it (`del model._fc`). */
  detached?: true;
  /** A Keras Sequential or Model: its input once known (for Sequentials built layer by layer). */
  kerasInput?: TensorInfo;
  kerasOutput?: TensorInfo;
}

export interface FunctionDef {
  name: string;
  node: Node;
  file: string;
  /** Defaults, evaluated where the function was defined. */
  defaults: Map<string, Value>;
  closure: Scope;
  /** The class whose body defined it (for super()). */
  owner?: ClassDef;
}

export interface ClassDef {
  name: string;
  node?: Node;
  file: string;
  bases: Value[];
  attrs: Map<string, Value>;
  /** A namedtuple class: its fields. */
  fields?: string[];
  fieldDefaults?: Value[];
  /** Annotated class attributes in order (`name: int = 3`): a dataclass's fields. */
  annotations?: { name: string; dflt?: Value }[];
  dataclass?: boolean;
}

export type NativeFn = (args: Value[], kwargs: Map<string, Value>, node: Node | undefined) => Value;

export type Value =
  | { k: 'int'; v: number }
  | { k: 'float'; v: number }
  | { k: 'bool'; v: boolean }
  | { k: 'str'; v: string }
  | { k: 'none' }
  | { k: 'tuple'; items: Value[]; cls?: ClassDef }
  | { k: 'list'; items: Value[]; taint?: string }
  | { k: 'dict'; entries: Map<string, [Value, Value]>; taint?: string }
  | { k: 'unknown'; reason: string }
  | { k: 'func'; fn: FunctionDef }
  | { k: 'bound'; fn: Value; self: Value }
  | { k: 'class'; cls: ClassDef }
  | { k: 'obj'; cls: ClassDef; attrs: Map<string, Value>; id: number; base?: Layer }
  | { k: 'native'; name: string; call: NativeFn }
  | { k: 'lib'; path: string }
  | { k: 'layer'; layer: Layer }
  | { k: 'tensor'; t: TensorInfo }
  | { k: 'partial'; fn: Value; args: Value[]; kwargs: Map<string, Value> }
  | { k: 'slice'; start: Value; stop: Value; step: Value }
  | { k: 'super'; cls: ClassDef; self: Value }
  | { k: 'module'; file: string; scope: Scope };

export const NONE: Value = { k: 'none' };
export const int = (v: number): Value => ({ k: 'int', v });
export const str = (v: string): Value => ({ k: 'str', v });
export const bool = (v: boolean): Value => ({ k: 'bool', v });
export const unknown = (reason: string): Value => ({ k: 'unknown', reason });
export const tuple = (items: Value[]): Value => ({ k: 'tuple', items });

/** A name binding scope: a module, a function call, a class body. */
export class Scope {
  readonly vars = new Map<string, Value>();
  /** Names declared `global` in a function. */
  globals?: Set<string>;
  constructor(
    readonly parent: Scope | undefined,
    readonly module: Scope | undefined,
    readonly kind: 'module' | 'function' | 'class',
  ) {}

  lookup(name: string): Value | undefined {
    if (this.globals?.has(name)) return this.module?.vars.get(name);
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the walk up the scope chain starts here
    for (let s: Scope | undefined = this; s; s = s.parent) {
      const v = s.vars.get(name);
      if (v !== undefined) return v;
    }
    return undefined;
  }

  set(name: string, value: Value): void {
    if (this.globals?.has(name) && this.module) this.module.vars.set(name, value);
    else this.vars.set(name, value);
  }
}

/** Short text of a node for reasons: one line, at most 50 characters. */
export function snippet(node: Node | null | undefined): string {
  if (!node) return '?';
  const text = node.text.replace(/\s+/g, ' ');
  return text.length > 50 ? `${text.slice(0, 47)}...` : text;
}

/** The number in an int, float or bool value. */
export function num(v: Value): number | undefined {
  if (v.k === 'int' || v.k === 'float') return v.v;
  if (v.k === 'bool') return v.v ? 1 : 0;
  return undefined;
}

/** Python's repr, for dict keys and messages. */
export function repr(v: Value): string {
  switch (v.k) {
    case 'int':
      return String(v.v);
    case 'float':
      return Number.isInteger(v.v) ? `${v.v}.0` : String(v.v);
    case 'bool':
      return v.v ? 'True' : 'False';
    case 'str':
      return `'${v.v}'`;
    case 'none':
      return 'None';
    case 'tuple':
      return `(${v.items.map(repr).join(', ')}${v.items.length === 1 ? ',' : ''})`;
    case 'list':
      return `[${v.items.map(repr).join(', ')}]`;
    case 'unknown':
      return '<unknown>';
    case 'func':
      return `<function ${v.fn.name}>`;
    case 'class':
      return `<class ${v.cls.name}>`;
    case 'lib':
      return v.path;
    case 'layer':
      return `<${v.layer.cls}#${v.layer.id}>`;
    case 'obj':
      return `<${v.cls.name}#${v.id}>`;
    default:
      return `<${v.k}>`;
  }
}

/** The key a value has in a dict (hashable values only). */
export function hashKey(v: Value): string | undefined {
  switch (v.k) {
    case 'int':
    case 'float':
      return `n:${v.v}`;
    case 'bool':
      return `n:${v.v ? 1 : 0}`;
    case 'str':
      return `s:${v.v}`;
    case 'none':
      return 'none';
    case 'tuple': {
      const parts = v.items.map(hashKey);
      return parts.every((p) => p !== undefined) ? `t:(${parts.join(',')})` : undefined;
    }
    case 'lib':
      return `l:${v.path}`;
    case 'class':
      return `c:${v.cls.name}:${v.cls.node?.startIndex ?? ''}`;
    case 'layer':
      return `L:${v.layer.id}`;
    case 'obj':
      return `o:${v.id}`;
    default:
      return undefined;
  }
}

/** Python truthiness; undefined when it cannot be known. */
export function truthy(v: Value): boolean | undefined {
  switch (v.k) {
    case 'int':
    case 'float':
      return v.v !== 0;
    case 'bool':
      return v.v;
    case 'str':
      return v.v.length > 0;
    case 'none':
      return false;
    case 'tuple':
      return v.items.length > 0;
    case 'list':
      return v.taint ? undefined : v.items.length > 0;
    case 'dict':
      return v.taint ? undefined : v.entries.size > 0;
    case 'unknown':
    case 'tensor':
      return undefined;
    default:
      return true;
  }
}

/** The evaluation went past one of its bounds. */
export class LimitError extends Error {}
/** `raise` reached, or Python would raise here: the run stops. */
export class RaiseError extends Error {}

/** Whether a value (or a list of items) is an unknown. */
/** The values a module or container holds: a layer's children, an object's base layer and attributes, a list's or dict's items. */
export function heldValues(v: Value): Value[] {
  switch (v.k) {
    case 'layer':
      return v.layer.children ?? [];
    case 'obj':
      return [...(v.base ? [{ k: 'layer', layer: v.base } as Value] : []), ...v.attrs.values()];
    case 'list':
    case 'tuple':
      return v.items;
    case 'dict':
      return [...v.entries.values()].map(([, item]) => item);
    default:
      return [];
  }
}

/** A module, a library layer, or a method bound to one: what code not followed could apply or change. */
export function isModuleValue(v: Value): boolean {
  return v.k === 'obj' || v.k === 'layer' || (v.k === 'bound' && (v.self.k === 'obj' || v.self.k === 'layer'));
}

export function isUnknown(v: Value | readonly Value[]): v is { k: 'unknown'; reason: string } {
  return !Array.isArray(v) && (v as Value).k === 'unknown';
}
