/**
 * A bounded evaluator for the part of Python that builds models, over the tree-sitter tree:
 * values, functions and classes (positional, keyword, default, *args, **kwargs), methods,
 * super().__init__, loops over known iterables, comprehensions, containers, if/else on known
 * values, imports of other files of the workspace, and the PyTorch / Keras calls of
 * evalLibrary.ts. Whatever it cannot follow becomes an `unknown` value with the reason; nothing is
 * guessed. Evaluation is bounded in steps, call depth, loop iterations and time.
 */
import type { Node, Tree } from 'web-tree-sitter';
import {
  type ClassDef,
  type FunctionDef,
  type Layer,
  type LayerInstance,
  type SiteRef,
  type Value,
  Scope,
  NONE,
  int,
  str,
  bool,
  unknown,
  tuple,
  snippet,
  num,
  repr,
  hashKey,
  truthy,
  LimitError,
  RaiseError,
  isUnknown,
  isModuleValue,
  heldValues,
} from './evalValues';
import type { CostOptions } from '../shared/cost';
import { Library, percentFormat } from './evalLibrary';
import { isUnboundName } from './unboundNames';
import { isExtraNode } from './pythonParser';

export interface EvalLimits {
  /** Expression and statement evaluations per file. */
  maxSteps: number;
  maxDepth: number;
  /** Iterations of one loop. */
  maxIterations: number;
  /** Wall time per file (ms). */
  maxMillis: number;
}

/** Steps bound the work; the time bound is a backstop on a machine that is busy elsewhere. */
export const DEFAULT_LIMITS: EvalLimits = { maxSteps: 5_000_000, maxDepth: 60, maxIterations: 20_000, maxMillis: 20_000 };

/** A parsed file of the workspace. */
export interface SourceFile {
  path: string;
  tree: Tree;
}

/** Finds another file of the workspace for an import: `from .blocks import X` in `from`. */
export type ImportResolver = (fromPath: string, module: string, level: number) => SourceFile | undefined;

export { LimitError, RaiseError };

/** Whether a block has a `return` of its own (not one of a function or class defined in it). */
function returnsFrom(node: Node): boolean {
  for (const child of node.namedChildren) {
    if (!child || child.type === 'function_definition' || child.type === 'class_definition' || child.type === 'decorated_definition' || child.type === 'lambda')
      continue;
    if (child.type === 'return_statement' || returnsFrom(child)) return true;
  }
  return false;
}

/** Names of methods that add to a model's structure. */
const ADDS = new Set(['append', 'extend', 'insert', 'add_module', 'register_module', 'update', '__setattr__', 'setattr', 'add']);

/**
 * Whether a block not followed only assigns plain local names that hold numbers or text
 * (`module = f"torchvision.internal.{module}"`): what uses them becomes unknown in turn, and is
 * counted there, so the block itself cannot have changed the model unseen.
 */
function onlyScalarLocals(node: Node, scope: Scope): boolean {
  if (scope.kind !== 'function') return false;
  const scalar = (target: Node | null): boolean => {
    if (!target) return false;
    if (target.type === 'identifier') {
      const v = scope.lookup(target.text);
      return v === undefined || ['int', 'float', 'bool', 'str', 'none', 'unknown'].includes(v.k);
    }
    if (target.type === 'pattern_list' || target.type === 'tuple_pattern') return target.namedChildren.every((c) => scalar(c));
    return false;
  };
  for (const child of node.namedChildren) {
    if (!child || isExtraNode(child)) continue;
    if (
      child.type === 'return_statement' ||
      child.type === 'call' ||
      child.type === 'function_definition' ||
      child.type === 'class_definition' ||
      child.type === 'decorated_definition'
    )
      return false;
    if (child.type === 'assignment' || child.type === 'augmented_assignment') {
      if (!scalar(child.childForFieldName('left'))) return false;
      // Only arithmetic on the right: a call of something else might add layers on its way.
      const calls = child.childForFieldName('right')?.descendantsOfType('call') ?? [];
      if (calls.some((c) => !/^(int|float|round|max|min|len|str|abs|math\.\w+)$/.test(c?.childForFieldName('function')?.text ?? ''))) return false;
      continue;
    }
    if (!onlyScalarLocals(child, scope)) return false;
  }
  return true;
}

/**
 * Whether a block not followed may have built or added layers: it assigns (other than a weight's
 * data or a parameter's initial value), adds to a container or returns. A weight-initialising loop
 * (`for m in self.modules(): nn.init.normal_(m.weight)`) may not.
 */
function mayBuild(node: Node): boolean {
  for (const child of node.namedChildren) {
    if (!child || child.type === 'function_definition' || child.type === 'class_definition' || child.type === 'decorated_definition' || child.type === 'lambda')
      continue;
    if (child.type === 'return_statement') return true;
    if (child.type === 'assignment' || child.type === 'augmented_assignment') {
      const target = child.childForFieldName('left')?.text ?? '';
      if (!/\.(data|weight|bias|running_mean|running_var)$/.test(target)) return true;
    }
    if (child.type === 'call') {
      const fn = child.childForFieldName('function');
      const name = fn?.type === 'attribute' ? fn.childForFieldName('attribute')?.text : fn?.text;
      if (name && ADDS.has(name)) return true;
    }
    if (mayBuild(child)) return true;
  }
  return false;
}

type Flow = undefined | { kind: 'return'; value: Value } | { kind: 'break' } | { kind: 'continue' };

export interface EvalOptions {
  /** [H, W] given to a model's input where the code does not say. */
  defaultInputSize: [number, number];
  /** [N, C, H, W] from a `# sepconv: input N,C,H,W` comment. */
  declaredInput?: number[];
  limits?: EvalLimits;
  cost: Required<CostOptions>;
  /** Checked with the time bound: true once the result is no longer wanted (a newer version of the file supersedes it). */
  cancelled?: () => boolean;
}

/** The evaluation of one file. */
export class Interpreter {
  readonly lib: Library;
  readonly costOptions: Required<CostOptions>;
  /** Ids of module objects that have been called. */
  readonly appliedIds = new Set<number>();
  private steps = 0;
  private depth = 0;
  private readonly deadline: number;
  private readonly limits: EvalLimits;
  private readonly modules = new Map<string, Scope>();
  private readonly builtins = new Scope(undefined, undefined, 'module');
  /** Calls being evaluated (file, node), innermost last: the site of a layer is the innermost in the root file. */
  private readonly callStack: { file: string; node: Node }[] = [];
  private nextId = 1;
  /** Layers built and instances recorded by the current run. */
  instances: LayerInstance[] = [];
  built: Layer[] = [];
  /** Module-like values built in the current run (user nn.Module objects and library layers). */
  modulesBuilt: Value[] = [];
  /** Ids of module values that became a child of another module. */
  childIds = new Set<number>();
  /** Functions and classes of the root file invoked in the current run. */
  invoked = new Set<Node['id']>();
  /** Sites seen with their callee text. */
  private readonly sourceText = new Map<string, string>();

  constructor(
    readonly root: SourceFile,
    private readonly resolve: ImportResolver,
    readonly options: EvalOptions,
  ) {
    this.limits = options.limits ?? DEFAULT_LIMITS;
    this.costOptions = options.cost;
    this.deadline = Date.now() + this.limits.maxMillis;
    this.lib = new Library(this);
    this.lib.installBuiltins(this.builtins);
  }

  newId(): number {
    return this.nextId++;
  }

  // -------------------------------------------------------------------------------------------
  // Bounds

  tick(): void {
    this.steps++;
    if (this.steps > this.limits.maxSteps) throw new LimitError('evaluation limit (steps)');
    if ((this.steps & 1023) === 0) {
      if (Date.now() > this.deadline) throw new LimitError('evaluation limit (time)');
      if (this.options.cancelled?.()) throw new LimitError('superseded by a newer version');
    }
  }

  // -------------------------------------------------------------------------------------------
  // Modules

  /** Runs a file's top level once; later imports share its scope. */
  execModule(file: SourceFile): Scope {
    let scope = this.modules.get(file.path);
    if (scope) return scope;
    scope = new Scope(this.builtins, undefined, 'module');
    (scope as { module: Scope | undefined }).module = scope;
    scope.vars.set('__name__', str(file === this.root ? '__sepconv__' : file.path));
    this.modules.set(file.path, scope);
    this.execBlock(file.tree.rootNode, scope, file.path);
    return scope;
  }

  moduleScope(path: string): Scope | undefined {
    return this.modules.get(path);
  }

  /** The site of a layer built now: the innermost call of the root file being evaluated. */
  currentSite(): SiteRef | undefined {
    for (let i = this.callStack.length - 1; i >= 0; i--) {
      const entry = this.callStack[i]!;
      if (entry.file !== this.root.path) continue;
      const node = entry.node;
      return {
        start: node.startIndex,
        end: node.endIndex,
        line: node.startPosition.row,
        column: node.startPosition.column,
        callee: snippet(node.childForFieldName('function')),
      };
    }
    return undefined;
  }

  // -------------------------------------------------------------------------------------------
  // Statements

  execBlock(block: Node, scope: Scope, file: string): Flow {
    for (const statement of block.namedChildren) {
      if (!statement) continue;
      const flow = this.exec(statement, scope, file);
      if (flow) return flow;
    }
    return undefined;
  }

  private exec(node: Node, scope: Scope, file: string): Flow {
    this.tick();
    switch (node.type) {
      case 'expression_statement': {
        for (const child of node.namedChildren) if (child) this.evalStatementExpr(child, scope, file);
        return undefined;
      }
      case 'return_statement': {
        const value = node.namedChildren.find((c) => c && !isExtraNode(c));
        return { kind: 'return', value: value ? this.eval(value, scope, file) : NONE };
      }
      case 'assert_statement': {
        // A condition known to be false raises, as Python does; one not known is passed over.
        const condition = node.namedChildren.find((c) => c && !isExtraNode(c));
        if (condition && truthy(this.eval(condition, scope, file)) === false) throw new RaiseError(`the code raises: ${snippet(node)} fails`);
        return undefined;
      }
      case 'pass_statement':
      case 'comment':
      case 'nonlocal_statement':
      case 'print_statement':
      case 'type_alias_statement':
        return undefined;
      case 'break_statement':
        return { kind: 'break' };
      case 'continue_statement':
        return { kind: 'continue' };
      case 'global_statement': {
        scope.globals ??= new Set();
        for (const id of node.namedChildren) if (id) scope.globals.add(id.text);
        return undefined;
      }
      case 'delete_statement': {
        // `del model._fc`: the module no longer holds it (it is no part of the model the
        // measurement sees); `del layers[-1]`, `del cfg['k']`: the container loses the item.
        const targets = node.namedChildren.flatMap((c) => (c?.type === 'expression_list' ? c.namedChildren : [c]));
        for (const target of targets) if (target && !isExtraNode(target)) this.deleteTarget(target, scope, file);
        return undefined;
      }
      case 'raise_statement':
        throw new RaiseError(`the code raises: ${snippet(node)}`);
      case 'import_statement':
      case 'import_from_statement':
      case 'future_import_statement':
        this.execImport(node, scope, file);
        return undefined;
      case 'function_definition': {
        const fn = this.defineFunction(node, scope, file);
        scope.set(fn.fn.name, fn);
        return undefined;
      }
      case 'class_definition': {
        const cls = this.defineClass(node, scope, file);
        scope.set(cls.cls.name, cls);
        return undefined;
      }
      case 'decorated_definition': {
        const def = node.childForFieldName('definition');
        if (!def) return undefined;
        this.exec(def, scope, file);
        const name = def.childForFieldName('name')?.text;
        // Decorators are taken to keep what the definition builds (registries, legacy-argument
        // wrappers, functools.wraps); property turns a method into an attribute.
        const decorators = node.namedChildren.filter((c) => c?.type === 'decorator').map((d) => d!.text.replace(/^@/, '').trim());
        if (name && def.type === 'class_definition' && decorators.some((d) => /^(dataclasses\.)?dataclass\b/.test(d))) {
          const cls = scope.lookup(name);
          if (cls?.k === 'class') {
            const c = cls.cls;
            c.dataclass = true;
            if (!c.attrs.has('__init__')) {
              c.attrs.set('__init__', {
                k: 'native',
                name: 'dataclass.__init__',
                call: (a, kw, n) => {
                  const self = a[0];
                  if (self?.k !== 'obj') return NONE;
                  let i = 1;
                  for (const f of this.dataclassFields(c) ?? []) {
                    const v = i < a.length ? a[i++] : (kw.get(f.name) ?? f.dflt);
                    self.attrs.set(f.name, v ?? unknown(`${c.name}: ${f.name} is not given`));
                  }
                  const post = this.classAttr(self.cls, '__post_init__');
                  if (post?.value.k === 'func') this.callValue({ k: 'bound', fn: post.value, self }, [], new Map(), n);
                  return NONE;
                },
              });
            }
          }
        }
        if (name && decorators.includes('property')) {
          const fn = scope.lookup(name);
          if (fn?.k === 'func') scope.set(name, { k: 'native', name: 'property', call: () => fn });
        }
        return undefined;
      }
      case 'if_statement':
        return this.execIf(node, scope, file);
      case 'for_statement':
        return this.execFor(node, scope, file);
      case 'while_statement':
        return this.execWhile(node, scope, file);
      case 'with_statement': {
        for (const item of node.descendantsOfType('with_item')) {
          const value = item?.childForFieldName('value');
          if (value?.type === 'as_pattern') {
            const target = value.childForFieldName('alias') ?? value.namedChildren[value.namedChildren.length - 1];
            const inner = this.eval(value.namedChildren[0]!, scope, file);
            if (target) this.assign(target.type === 'as_pattern_target' ? target.namedChildren[0]! : target, inner, scope, file);
          } else if (value) this.eval(value, scope, file);
        }
        const body = node.childForFieldName('body');
        return body ? this.execBlock(body, scope, file) : undefined;
      }
      case 'try_statement': {
        const body = node.childForFieldName('body');
        // An exception raised in the try block would be caught: what follows is not followed.
        try {
          const flow = body ? this.execBlock(body, scope, file) : undefined;
          if (flow) return flow;
        } catch (error) {
          if (error instanceof RaiseError) {
            this.forgetAssigned(node, scope, file, 'a try/except whose outcome is not known');
            return undefined;
          }
          throw error;
        }
        for (const child of node.namedChildren) {
          if (child?.type === 'else_clause' || child?.type === 'finally_clause') {
            const b = child.namedChildren.find((c) => c?.type === 'block');
            const flow = b ? this.execBlock(b, scope, file) : undefined;
            if (flow) return flow;
          }
        }
        return undefined;
      }
      case 'match_statement':
        this.forgetAssigned(node, scope, file, 'a match statement is not followed');
        return undefined;
      default:
        this.forgetAssigned(node, scope, file, `\`${snippet(node)}\` is not followed`);
        return undefined;
    }
  }

  private evalStatementExpr(node: Node, scope: Scope, file: string): void {
    if (node.type === 'assignment') {
      const left = node.childForFieldName('left');
      const right = node.childForFieldName('right');
      if (!left || !right) return;
      // a = b = value
      const targets: Node[] = [left];
      let value: Node = right;
      while (value.type === 'assignment') {
        targets.push(value.childForFieldName('left')!);
        value = value.childForFieldName('right')!;
      }
      const v = this.eval(value, scope, file);
      for (const t of targets) if (t) this.assign(t, v, scope, file);
      return;
    }
    if (node.type === 'augmented_assignment') {
      const left = node.childForFieldName('left');
      const right = node.childForFieldName('right');
      const op = node.childForFieldName('operator')?.text.replace('=', '') ?? '';
      if (!left || !right) return;
      const current = this.eval(left, scope, file);
      const add = this.eval(right, scope, file);
      // list += iterable extends in place
      if (op === '+' && current.k === 'list') {
        const items = this.iterate(add, right);
        if (isUnknown(items)) current.taint = items.reason;
        else current.items.push(...items);
        return;
      }
      // nn.ModuleList += modules extends it in place, as extend() does.
      if (op === '+' && current.k === 'layer' && current.layer.cls === 'torch.nn.ModuleList') {
        const extend = this.lib.valueAttr(current, 'extend', node);
        if (extend.k === 'native') {
          extend.call([add], new Map(), node);
          return;
        }
      }
      this.assign(left, this.binary(op, current, add, node), scope, file);
      return;
    }
    this.eval(node, scope, file);
  }

  /** Names a block assigns (and containers it mutates) become unknown: the block was not followed. */
  forgetAssigned(block: Node, scope: Scope, file: string, reason: string): void {
    if (mayBuild(block) && !onlyScalarLocals(block, scope)) {
      this.notFollowed++;
      this.noteUnfollowedCalls(block, file, reason);
    }
    const forget = (target: Node | null) => {
      if (!target) return;
      if (target.type === 'identifier') scope.set(target.text, unknown(`${target.text} depends on ${reason}`));
      else if (target.type === 'attribute') {
        const obj = this.evalQuiet(target.childForFieldName('object'), scope, file);
        const name = target.childForFieldName('attribute')?.text;
        if (obj && name && obj.k === 'obj') obj.attrs.set(name, unknown(`${name} depends on ${reason}`));
      } else if (['pattern_list', 'tuple_pattern', 'list_pattern', 'tuple', 'list', 'parenthesized_expression'].includes(target.type)) {
        for (const c of target.namedChildren) forget(c);
      } else if (target.type === 'subscript') {
        const obj = this.evalQuiet(target.childForFieldName('value'), scope, file);
        if (obj?.k === 'list' || obj?.k === 'dict') obj.taint = reason;
      }
    };
    const walk = (node: Node) => {
      switch (node.type) {
        case 'assignment':
        case 'augmented_assignment':
          forget(node.childForFieldName('left'));
          break;
        case 'for_statement':
          forget(node.childForFieldName('left'));
          break;
        case 'function_definition':
        case 'class_definition': {
          const name = node.childForFieldName('name');
          if (name) scope.set(name.text, unknown(`${name.text} depends on ${reason}`));
          return;
        }
        case 'call': {
          const fn = node.childForFieldName('function');
          if (fn?.type === 'attribute') {
            const method = fn.childForFieldName('attribute')?.text ?? '';
            if (['append', 'extend', 'insert', 'add_module', 'update', 'add', 'pop', 'register_module', 'setdefault'].includes(method)) {
              const obj = this.evalQuiet(fn.childForFieldName('object'), scope, file);
              if (obj?.k === 'list' || obj?.k === 'dict') obj.taint = reason;
              else if (obj?.k === 'layer') obj.layer.args.__tainted__ = unknown(reason);
              else if (obj?.k === 'obj' && obj.base) obj.base.args.__tainted__ = unknown(reason);
              forget(fn.childForFieldName('object'));
            }
          }
          break;
        }
        case 'import_from_statement':
        case 'import_statement':
          for (const name of node.descendantsOfType(['identifier'])) if (name && name.parent?.type !== 'dotted_name') scope.set(name.text, unknown(reason));
          return;
        default:
          break;
      }
      for (const child of node.namedChildren) if (child) walk(child);
    };
    walk(block);
  }

  /**
   * Records the calls of the root file that `block` (not followed) may reach: its own, and those
   * of the root file's functions and classes it calls by name, transitively (by name alone: a
   * name that several definitions share takes them all). A layer site among them may be built
   * more often than the followed code builds it: its count is a lower bound.
   */
  private noteUnfollowedCalls(block: Node, file: string, reason: string): void {
    // Once per block: a block in a loop is met again, and what it reaches does not change (the first reason is kept).
    if (file !== this.root.path || this.notedBlocks.has(block.startIndex)) return;
    this.notedBlocks.add(block.startIndex);
    if (!this.rootDefinitions) {
      this.rootDefinitions = new Map();
      for (const def of this.root.tree.rootNode.descendantsOfType(['function_definition', 'class_definition'])) {
        const name = def?.childForFieldName('name')?.text;
        if (def && name) this.rootDefinitions.set(name, [...(this.rootDefinitions.get(name) ?? []), def]);
      }
    }
    const walked = new Set<number>();
    const pending = [block];
    while (pending.length > 0) {
      const node = pending.pop()!;
      if (walked.has(node.startIndex)) continue;
      walked.add(node.startIndex);
      for (const call of node.descendantsOfType('call')) {
        if (!call) continue;
        if (!this.unfollowedCalls.has(call.startIndex)) this.unfollowedCalls.set(call.startIndex, reason);
        const callee = call.childForFieldName('function');
        const name = callee?.type === 'identifier' ? callee.text : callee?.type === 'attribute' ? callee.childForFieldName('attribute')?.text : undefined;
        for (const def of (name && this.rootDefinitions.get(name)) || []) pending.push(def);
      }
    }
  }

  /** Root-file calls that code not followed may reach, with why it was not followed (see noteUnfollowedCalls). */
  readonly unfollowedCalls = new Map<number, string>();
  private rootDefinitions: Map<string, Node[]> | undefined;
  private readonly notedBlocks = new Set<number>();

  /** Evaluates without effects on failure (used to find what an unknown block mutates). */
  private evalQuiet(node: Node | null, scope: Scope, file: string): Value | undefined {
    if (!node) return undefined;
    if (node.type === 'identifier') return scope.lookup(node.text);
    if (node.type === 'attribute') {
      const obj = this.evalQuiet(node.childForFieldName('object'), scope, file);
      const name = node.childForFieldName('attribute')?.text;
      return obj?.k === 'obj' && name ? obj.attrs.get(name) : undefined;
    }
    return undefined;
  }

  private execIf(node: Node, scope: Scope, file: string): Flow {
    const clauses: { cond?: Node; body: Node }[] = [];
    clauses.push({ cond: node.childForFieldName('condition')!, body: node.childForFieldName('consequence')! });
    for (const child of node.namedChildren) {
      if (child?.type === 'elif_clause') clauses.push({ cond: child.childForFieldName('condition')!, body: child.childForFieldName('consequence')! });
      else if (child?.type === 'else_clause') clauses.push({ body: child.childForFieldName('body') ?? child.namedChildren.find((c) => c?.type === 'block')! });
    }
    for (let i = 0; i < clauses.length; i++) {
      const clause = clauses[i]!;
      if (!clause.cond) return clause.body ? this.execBlock(clause.body, scope, file) : undefined;
      const value = this.eval(clause.cond, scope, file);
      const t = truthy(value);
      if (t === true) return clause.body ? this.execBlock(clause.body, scope, file) : undefined;
      if (t === false) continue;
      // Not known: nothing from here on is followed; what the branches assign becomes unknown.
      const reason = `\`if ${snippet(clause.cond)}\`, which is not known${isUnknown(value) ? ` (${value.reason})` : ''}`;
      let returns = false;
      for (const c of clauses.slice(i)) {
        if (!c.body) continue;
        this.forgetAssigned(c.body, scope, file, reason);
        if (returnsFrom(c.body)) returns = true;
      }
      if (returns) return { kind: 'return', value: unknown(`the result depends on ${reason}`) };
      return undefined;
    }
    return undefined;
  }

  private execFor(node: Node, scope: Scope, file: string): Flow {
    const left = node.childForFieldName('left')!;
    const right = node.childForFieldName('right')!;
    const body = node.childForFieldName('body')!;
    const iterable = this.eval(right, scope, file);
    const items = this.iterate(iterable, right);
    if (isUnknown(items)) {
      const reason = `a loop over \`${snippet(right)}\`, which is not known (${items.reason})`;
      this.forgetAssigned(node, scope, file, reason);
      if (returnsFrom(body)) return { kind: 'return', value: unknown(`the result depends on ${reason}`) };
      return undefined;
    }
    if (items.length > this.limits.maxIterations) throw new LimitError('evaluation limit (loop iterations)');
    let broke = false;
    for (const item of items) {
      this.assign(left, item, scope, file);
      const flow = this.execBlock(body, scope, file);
      if (flow?.kind === 'break') {
        broke = true;
        break;
      }
      if (flow?.kind === 'return') return flow;
    }
    const alternative = node.childForFieldName('alternative');
    if (!broke && alternative) {
      const b = alternative.namedChildren.find((c) => c?.type === 'block');
      if (b) return this.execBlock(b, scope, file);
    }
    return undefined;
  }

  private execWhile(node: Node, scope: Scope, file: string): Flow {
    const cond = node.childForFieldName('condition')!;
    const body = node.childForFieldName('body')!;
    for (let i = 0; ; i++) {
      if (i > this.limits.maxIterations) throw new LimitError('evaluation limit (loop iterations)');
      const value = this.eval(cond, scope, file);
      const t = truthy(value);
      if (t === undefined) {
        const reason = `a while loop on \`${snippet(cond)}\`, which is not known`;
        this.forgetAssigned(node, scope, file, reason);
        if (returnsFrom(body)) return { kind: 'return', value: unknown(`the result depends on ${reason}`) };
        return undefined;
      }
      if (!t) return undefined;
      const flow = this.execBlock(body, scope, file);
      if (flow?.kind === 'break') return undefined;
      if (flow?.kind === 'return') return flow;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Imports

  private execImport(node: Node, scope: Scope, file: string): void {
    if (node.type === 'future_import_statement') return;
    if (node.type === 'import_statement') {
      for (const child of node.namedChildren) {
        if (!child) continue;
        if (child.type === 'dotted_name') {
          const first = child.namedChildren[0]!.text;
          scope.set(first, this.importModule(first, 0, file) ?? { k: 'lib', path: first });
        } else if (child.type === 'aliased_import') {
          const name = child.childForFieldName('name')!.text;
          const alias = child.childForFieldName('alias')!.text;
          scope.set(alias, this.importModule(name, 0, file) ?? { k: 'lib', path: name });
        }
      }
      return;
    }
    const moduleNode = node.childForFieldName('module_name');
    if (!moduleNode) return;
    let level = 0;
    let moduleName = moduleNode.text;
    if (moduleNode.type === 'relative_import') {
      const prefix = moduleNode.namedChildren.find((c) => c?.type === 'import_prefix');
      level = prefix ? prefix.text.length : 0;
      moduleName = moduleNode.namedChildren.find((c) => c?.type === 'dotted_name')?.text ?? '';
    }
    const names: { name: string; alias: string }[] = [];
    let star = false;
    node.namedChildren.forEach((child, i) => {
      if (!child || node.fieldNameForNamedChild(i) === 'module_name') return;
      if (child.type === 'wildcard_import') star = true;
      else if (child.type === 'dotted_name') names.push({ name: child.text, alias: child.text });
      else if (child.type === 'aliased_import') names.push({ name: child.childForFieldName('name')!.text, alias: child.childForFieldName('alias')!.text });
    });
    if (node.text.includes('import *')) star = true;
    const mod = this.importModule(moduleName, level, file);
    if (mod?.k === 'module') {
      if (star) for (const [k, v] of mod.scope.vars) if (!k.startsWith('_')) scope.set(k, v);
      for (const { name, alias } of names) {
        const v = mod.scope.vars.get(name) ?? this.importModule(moduleName ? `${moduleName}.${name}` : name, level, file);
        scope.set(alias, v ?? unknown(`${name} is not defined in ${moduleName || '.'}`));
      }
      return;
    }
    if (level > 0) {
      // Not in the workspace: a file of a library package names the package by its folders
      // (torchvision/models/x.py: `from ..ops.misc import Y` is torchvision.ops.misc.Y).
      const absolute = this.packageName(file, level, moduleName);
      if (absolute && this.lib.isLibraryModule(absolute)) {
        for (const { name, alias } of names) scope.set(alias, { k: 'lib', path: `${absolute}.${name}` });
        return;
      }
      for (const { alias } of names) scope.set(alias, unknown(`\`${snippet(node)}\`: the file was not found in the workspace`));
      return;
    }
    for (const { name, alias } of names) scope.set(alias, { k: 'lib', path: `${moduleName}.${name}` });
    if (star) {
      // `from torch.nn import *`: names of the library resolve through the module.
      for (const name of this.lib.starNames(moduleName)) scope.set(name, { k: 'lib', path: `${moduleName}.${name}` });
    }
  }

  /** The absolute module a relative import names, from the folders of `file`. */
  private packageName(file: string, level: number, moduleName: string): string | undefined {
    const folders = file.split(/[\\/]/).slice(0, -1);
    if (folders.length < level) return undefined;
    const pkg = folders.slice(0, folders.length - level + 1);
    // The package's own name: the folders from the last one that is a library root.
    let at = -1;
    pkg.forEach((f, i) => {
      if (this.lib.isLibraryModule(f)) at = i;
    });
    if (at < 0) return undefined;
    const parts = [...pkg.slice(at), ...(moduleName ? moduleName.split('.') : [])];
    return parts.join('.');
  }

  private importModule(name: string, level: number, file: string): Value | undefined {
    if (level === 0 && this.lib.isLibraryModule(name)) return undefined;
    const found = this.resolve(file, name, level);
    if (!found) return undefined;
    if (this.modules.has(found.path)) return { k: 'module', file: found.path, scope: this.modules.get(found.path)! };
    try {
      const scope = this.execModule(found);
      return { k: 'module', file: found.path, scope };
    } catch (error) {
      if (error instanceof LimitError) throw error;
      return unknown(`importing ${name}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Definitions

  private defineFunction(node: Node, scope: Scope, file: string, owner?: ClassDef): Value & { k: 'func' } {
    const defaults = new Map<string, Value>();
    for (const p of node.childForFieldName('parameters')?.namedChildren ?? []) {
      if (p?.type === 'default_parameter' || p?.type === 'typed_default_parameter') {
        defaults.set(p.childForFieldName('name')!.text, this.eval(p.childForFieldName('value')!, scope, file));
      }
    }
    const closure = scope.kind === 'class' ? (scope.parent ?? scope) : scope;
    return { k: 'func', fn: { name: node.childForFieldName('name')?.text ?? '<lambda>', node, file, defaults, closure, owner } };
  }

  private defineClass(node: Node, scope: Scope, file: string): Value & { k: 'class' } {
    const bases: Value[] = [];
    for (const b of node.childForFieldName('superclasses')?.namedChildren ?? []) {
      if (!b || b.type === 'keyword_argument' || isExtraNode(b)) continue;
      bases.push(this.eval(b, scope, file));
    }
    const cls: ClassDef = { name: node.childForFieldName('name')!.text, node, file, bases, attrs: new Map() };
    const body = new Scope(scope, scope.module, 'class');
    const block = node.childForFieldName('body');
    for (const statement of block?.namedChildren ?? []) {
      if (!statement) continue;
      if (statement.type === 'function_definition') {
        body.vars.set(statement.childForFieldName('name')!.text, this.defineFunction(statement, body, file, cls));
        continue;
      }
      if (statement.type === 'decorated_definition') {
        const def = statement.childForFieldName('definition');
        if (def?.type === 'function_definition') {
          const fn = this.defineFunction(def, body, file, cls);
          const decorators = statement.namedChildren.filter((c) => c?.type === 'decorator').map((d) => d!.text.replace(/^@/, '').trim());
          const name = def.childForFieldName('name')!.text;
          if (decorators.includes('staticmethod'))
            body.vars.set(name, { k: 'native', name: `static:${name}`, call: (a, kw, n) => this.callValue(fn, a, kw, n) });
          else if (decorators.includes('property')) body.vars.set(name, { k: 'native', name: 'property', call: () => fn });
          else if (decorators.includes('classmethod'))
            body.vars.set(name, { k: 'native', name: `classmethod:${name}`, call: (a, kw, n) => this.callValue(fn, [{ k: 'class', cls }, ...a], kw, n) });
          else body.vars.set(name, fn);
          continue;
        }
      }
      const inner = statement.type === 'expression_statement' ? statement.namedChildren[0] : undefined;
      if (inner?.type === 'assignment' && inner.childForFieldName('type') && inner.childForFieldName('left')?.type === 'identifier') {
        const right = inner.childForFieldName('right');
        (cls.annotations ??= []).push({ name: inner.childForFieldName('left')!.text, dflt: right ? this.eval(right, body, file) : undefined });
        if (!right) continue;
      }
      try {
        this.exec(statement, body, file);
      } catch (error) {
        if (error instanceof RaiseError) continue;
        throw error;
      }
    }
    for (const [k, v] of body.vars) cls.attrs.set(k, v);
    // A subclass of a namedtuple class that makes its instances no other way (InsightFace's
    // `class Bottleneck(namedtuple('Block', [...]))`, with a docstring or methods): a namedtuple too.
    const tupleBase = bases.find((b): b is Value & { k: 'class' } => b.k === 'class' && b.cls.fields !== undefined);
    if (tupleBase && !cls.attrs.has('__new__') && !cls.attrs.has('__init__')) {
      cls.fields = tupleBase.cls.fields;
      cls.fieldDefaults = tupleBase.cls.fieldDefaults;
    }
    return { k: 'class', cls };
  }

  /** One target of a `del` statement: an attribute of a module, or an item of a list, a dict or a container of layers. */
  private deleteTarget(target: Node, scope: Scope, file: string): void {
    if (target.type === 'attribute') {
      const obj = this.evalQuiet(target.childForFieldName('object'), scope, file);
      const name = target.childForFieldName('attribute')?.text;
      if (obj?.k === 'obj' && name) {
        const removed = obj.attrs.get(name);
        obj.attrs.delete(name);
        if (removed) detach(removed);
      }
      return;
    }
    if (target.type !== 'subscript') return;
    const obj = this.evalQuiet(target.childForFieldName('value'), scope, file);
    const keyNode = target.childForFieldName('subscript');
    if (!obj || !keyNode) return;
    const key = this.eval(keyNode, scope, file);
    if (obj.k === 'list') {
      const i = key.k === 'int' ? key.v : undefined;
      if (i === undefined || i < -obj.items.length || i >= obj.items.length) obj.taint ??= `del ${snippet(target)} is not followed`;
      else obj.items.splice(i < 0 ? obj.items.length + i : i, 1);
    } else if (obj.k === 'dict') {
      const h = hashKey(key);
      if (h === undefined) obj.taint ??= `del ${snippet(target)} is not followed`;
      else obj.entries.delete(h);
    } else if (obj.k === 'layer' && obj.layer.children) {
      const names = (obj.layer.childNames ??= obj.layer.children.map((_, i) => String(i)));
      const at = key.k === 'str' ? names.indexOf(key.v) : key.k === 'int' ? (key.v < 0 ? obj.layer.children.length + key.v : key.v) : -1;
      if (at < 0 || at >= obj.layer.children.length) obj.layer.args.__tainted__ = unknown(`del ${snippet(target)} is not followed`);
      else {
        obj.layer.children.splice(at, 1);
        names.splice(at, 1);
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // Assignment

  assign(target: Node, value: Value, scope: Scope, file: string): void {
    switch (target.type) {
      case 'identifier':
        scope.set(target.text, value);
        return;
      case 'pattern_list':
      case 'tuple_pattern':
      case 'list_pattern':
      case 'tuple':
      case 'list':
      case 'expression_list': {
        const targets = target.namedChildren.filter((c): c is Node => !!c && !isExtraNode(c));
        const items = this.iterate(value, target);
        const starAt = targets.findIndex((t) => t.type === 'list_splat_pattern');
        if (isUnknown(items)) {
          for (const t of targets) this.assign(t.type === 'list_splat_pattern' ? t.namedChildren[0]! : t, unknown(items.reason), scope, file);
          return;
        }
        if (starAt >= 0) {
          const after = targets.length - starAt - 1;
          targets.forEach((t, i) => {
            if (i < starAt) this.assign(t, items[i] ?? unknown('too few values to unpack'), scope, file);
            else if (i === starAt) this.assign(t.namedChildren[0]!, { k: 'list', items: items.slice(starAt, items.length - after) }, scope, file);
            else this.assign(t, items[items.length - (targets.length - i)] ?? unknown('too few values to unpack'), scope, file);
          });
          return;
        }
        if (items.length !== targets.length) {
          for (const t of targets) this.assign(t, unknown(`${items.length} values do not unpack into ${targets.length} names`), scope, file);
          return;
        }
        targets.forEach((t, i) => this.assign(t, items[i]!, scope, file));
        return;
      }
      case 'parenthesized_expression': {
        const inner = target.namedChildren.find((c) => c && !isExtraNode(c));
        if (inner) this.assign(inner, value, scope, file);
        return;
      }
      case 'attribute': {
        const obj = this.eval(target.childForFieldName('object')!, scope, file);
        const name = target.childForFieldName('attribute')!.text;
        this.setAttr(obj, name, value);
        return;
      }
      case 'subscript': {
        const obj = this.eval(target.childForFieldName('value')!, scope, file);
        const key = this.eval(target.childForFieldName('subscript')!, scope, file);
        this.setItem(obj, key, value);
        return;
      }
      default:
        return;
    }
  }

  setAttr(obj: Value, name: string, value: Value): void {
    if (obj.k === 'obj') {
      obj.attrs.set(name, value);
      this.adopt(obj, value);
      // A module set on a subclass of nn.Sequential (or ModuleList/Dict) joins its children, as
      // Module.__setattr__ registers it: `self.add_module('conv', ...)` in the subclass's __init__.
      if (
        obj.base?.children &&
        obj.base.cls.startsWith('torch.nn.') &&
        (value.k === 'layer' || (value.k === 'obj' && this.libraryBases(value.cls).some((b) => this.lib.isModuleBase(b))))
      )
        this.lib.containerSet(obj.base, name, value);
      // A subclass of a library layer that replaces its weight or bias, or adds an nn.Parameter:
      // the layer's figures are no longer the module's.
      if (obj.base && (name === 'weight' || name === 'bias' || (value.k === 'tensor' && this.lib.parameters.has(value.t)))) {
        obj.base.ownParameters = `${obj.cls.name} sets parameters of its own (${name})`;
      }
    } else if (obj.k === 'class') obj.cls.attrs.set(name, value);
    else if (obj.k === 'layer') obj.layer.args[`.${name}`] = value;
    // setattr(sys.modules[__name__], name, ...): a module-level name bound at run time.
    else if (obj.k === 'module') obj.scope.vars.set(name, value);
  }

  /** sys.modules[name]: a module run here (the file itself under its __name__), else undefined. */
  moduleNamed(name: string): Value | undefined {
    for (const [path, scope] of this.modules) {
      const own = scope.vars.get('__name__');
      if (own?.k === 'str' && own.v === name) return { k: 'module', file: path, scope };
    }
    return undefined;
  }

  /** A module value stored in another becomes its child (not a model of its own). */
  adopt(parent: Value, child: Value): void {
    if (child.k === 'layer') this.childIds.add(child.layer.id);
    else if (child.k === 'obj') this.childIds.add(child.id);
    else if ((child.k === 'list' || child.k === 'tuple') && parent.k === 'obj') for (const item of child.items) this.adopt(parent, item);
  }

  private setItem(obj: Value, key: Value, value: Value): void {
    if (obj.k === 'list') {
      const i = num(key);
      if (i === undefined || key.k === 'float') {
        obj.taint = 'an item set at an index that is not known';
        return;
      }
      const at = i < 0 ? obj.items.length + i : i;
      if (at >= 0 && at < obj.items.length) obj.items[at] = value;
      return;
    }
    if (obj.k === 'dict') {
      const h = hashKey(key);
      if (h === undefined) obj.taint = 'a key that is not known';
      else obj.entries.set(h, [key, value]);
      return;
    }
    if (obj.k === 'layer' && obj.layer.cls === 'torch.nn.ModuleDict' && key.k === 'str') this.lib.containerSet(obj.layer, key.v, value);
  }

  // -------------------------------------------------------------------------------------------
  // Iteration

  /** The items of an iterable, or why they are not known. */
  iterate(value: Value, node: Node | undefined): Value[] | { k: 'unknown'; reason: string } {
    switch (value.k) {
      case 'tuple':
        return value.items;
      case 'list':
        return value.taint ? (unknown(value.taint) as { k: 'unknown'; reason: string }) : value.items;
      case 'dict':
        return value.taint ? (unknown(value.taint) as { k: 'unknown'; reason: string }) : [...value.entries.values()].map(([k]) => k);
      case 'str':
        return [...value.v].map(str);
      case 'unknown':
        return value;
      case 'layer': {
        const children = this.lib.childrenOf(value.layer);
        return children ?? (unknown(`iterating over ${value.layer.cls}`) as { k: 'unknown'; reason: string });
      }
      case 'obj': {
        if (value.base) {
          const children = this.lib.childrenOf(value.base);
          if (children) return children;
        }
        if (value.cls.fields) return [];
        return unknown(`iterating over a ${value.cls.name} object is not followed`) as { k: 'unknown'; reason: string };
      }
      case 'tensor':
        // A numpy array of known numbers gives its numbers; a 1-D torch tensor of them, 0-d tensors.
        if (value.t.numpy && value.t.items && value.t.shape?.length === 1) return value.t.items;
        if (value.t.items && value.t.shape?.length === 1)
          return value.t.items.map((item): Value => ({ k: 'tensor', t: { framework: value.t.framework, shape: [], items: [item] } }));
        return unknown(`iterating over a tensor (${snippet(node)})`) as { k: 'unknown'; reason: string };
      default:
        return unknown(`\`${snippet(node)}\` is not iterable here`) as { k: 'unknown'; reason: string };
    }
  }

  // -------------------------------------------------------------------------------------------
  // Expressions

  eval(node: Node, scope: Scope, file: string): Value {
    this.tick();
    switch (node.type) {
      case 'integer': {
        const clean = node.text.replace(/_/g, '').toLowerCase();
        if (/[jl]$/.test(clean)) return unknown(`complex literal ${node.text}`);
        const value = clean.startsWith('0o') ? parseInt(clean.slice(2), 8) : clean.startsWith('0b') ? parseInt(clean.slice(2), 2) : Number(clean);
        return Number.isSafeInteger(value) ? int(value) : unknown(`integer ${node.text} is too large`);
      }
      case 'float': {
        const v = Number(node.text.replace(/_/g, ''));
        return Number.isFinite(v) ? { k: 'float', v } : unknown(`float ${node.text}`);
      }
      case 'true':
        return bool(true);
      case 'false':
        return bool(false);
      case 'none':
        return NONE;
      case 'ellipsis':
        return unknown('...');
      case 'string':
        return this.evalString(node, scope, file);
      case 'concatenated_string': {
        let out = '';
        for (const part of node.namedChildren) {
          if (!part || isExtraNode(part)) continue;
          const v = this.evalString(part, scope, file);
          if (v.k !== 'str') return v;
          out += v.v;
        }
        return str(out);
      }
      case 'identifier': {
        const v = scope.lookup(node.text);
        if (v !== undefined) return v;
        // A name the file binds nowhere raises NameError when the code runs (the entry fails there).
        if (file !== '<call>' && isUnboundName(node)) throw new RaiseError(`the code raises NameError: name '${node.text}' is not defined`);
        return unknown(`\`${node.text}\` is not defined`);
      }
      case 'parenthesized_expression': {
        const inner = node.namedChildren.find((c) => c && !isExtraNode(c));
        return inner ? this.eval(inner, scope, file) : tuple([]);
      }
      case 'tuple':
      case 'expression_list':
        return this.evalSequence(node, scope, file, 'tuple');
      case 'list':
        return this.evalSequence(node, scope, file, 'list');
      case 'set':
        return this.evalSequence(node, scope, file, 'list');
      case 'dictionary': {
        const entries = new Map<string, [Value, Value]>();
        let taint: string | undefined;
        for (const child of node.namedChildren) {
          if (child?.type === 'pair') {
            const key = this.eval(child.childForFieldName('key')!, scope, file);
            const value = this.eval(child.childForFieldName('value')!, scope, file);
            const h = hashKey(key);
            if (h === undefined) taint = `a dict key that is not known (${snippet(child.childForFieldName('key'))})`;
            else entries.set(h, [key, value]);
          } else if (child?.type === 'dictionary_splat') {
            const other = this.eval(child.namedChildren[0]!, scope, file);
            if (other.k === 'dict' && !other.taint) for (const [h, e] of other.entries) entries.set(h, e);
            else taint = `**${snippet(child.namedChildren[0])} is not known`;
          }
        }
        return { k: 'dict', entries, taint };
      }
      case 'attribute': {
        const obj = this.eval(node.childForFieldName('object')!, scope, file);
        return this.getAttr(obj, node.childForFieldName('attribute')!.text, node);
      }
      case 'subscript': {
        const obj = this.eval(node.childForFieldName('value')!, scope, file);
        const subs = node.childrenForFieldName('subscript').filter((c): c is Node => !!c);
        const key = subs.length === 1 ? this.eval(subs[0]!, scope, file) : tuple(subs.map((s) => this.eval(s, scope, file)));
        return this.getItem(obj, key, node);
      }
      case 'slice': {
        const parts: (Node | undefined)[] = [undefined, undefined, undefined];
        let index = 0;
        for (let i = 0; i < node.childCount; i++) {
          const c = node.child(i)!;
          if (c.type === ':') index++;
          else if (c.isNamed && !isExtraNode(c)) parts[index] = c;
        }
        const ev = (n: Node | undefined) => (n ? this.eval(n, scope, file) : NONE);
        return { k: 'slice', start: ev(parts[0]), stop: ev(parts[1]), step: ev(parts[2]) };
      }
      case 'call':
        return this.evalCall(node, scope, file);
      case 'binary_operator': {
        const left = this.eval(node.childForFieldName('left')!, scope, file);
        const right = this.eval(node.childForFieldName('right')!, scope, file);
        return this.binary(node.childForFieldName('operator')!.text, left, right, node);
      }
      case 'unary_operator': {
        const v = this.eval(node.childForFieldName('argument')!, scope, file);
        const op = node.childForFieldName('operator')!.text;
        if (v.k === 'int' || v.k === 'float') return op === '-' ? { k: v.k, v: -v.v } : op === '~' && v.k === 'int' ? int(~v.v) : v;
        if (v.k === 'bool') return int(op === '-' ? -(v.v ? 1 : 0) : v.v ? 1 : 0);
        if (v.k === 'tensor') {
          if (!v.t.items || op === '+') return v;
          // Known values (TensorInfo.items) negated; other ops leave them unknown.
          const { items, ...t } = v.t;
          return op === '-'
            ? { k: 'tensor', t: { ...t, items: items.map((x): Value => (x.k === 'int' || x.k === 'float' ? { k: x.k, v: -x.v } : x)) } }
            : { k: 'tensor', t };
        }
        return isUnknown(v) ? v : unknown(`\`${snippet(node)}\``);
      }
      case 'not_operator': {
        const v = this.eval(node.childForFieldName('argument')!, scope, file);
        const t = truthy(v);
        return t === undefined ? unknown(`\`${snippet(node)}\` is not known${isUnknown(v) ? ` (${v.reason})` : ''}`) : bool(!t);
      }
      case 'boolean_operator': {
        const left = this.eval(node.childForFieldName('left')!, scope, file);
        const op = node.childForFieldName('operator')!.text;
        const t = truthy(left);
        if (t === undefined) return unknown(`\`${snippet(node)}\` is not known${isUnknown(left) ? ` (${left.reason})` : ''}`);
        if (op === 'and') return t ? this.eval(node.childForFieldName('right')!, scope, file) : left;
        return t ? left : this.eval(node.childForFieldName('right')!, scope, file);
      }
      case 'comparison_operator':
        return this.evalComparison(node, scope, file);
      case 'conditional_expression': {
        const [a, c, b] = node.namedChildren.filter((x): x is Node => !!x && !isExtraNode(x));
        const cond = this.eval(c!, scope, file);
        const t = truthy(cond);
        if (t === undefined)
          return unknown(`\`${snippet(node)}\` depends on \`${snippet(c)}\`, which is not known${isUnknown(cond) ? ` (${cond.reason})` : ''}`);
        return this.eval(t ? a! : b!, scope, file);
      }
      case 'lambda': {
        const fn: FunctionDef = { name: '<lambda>', node, file, defaults: new Map(), closure: scope };
        for (const p of node.childForFieldName('parameters')?.namedChildren ?? []) {
          if (p?.type === 'default_parameter') fn.defaults.set(p.childForFieldName('name')!.text, this.eval(p.childForFieldName('value')!, scope, file));
        }
        return { k: 'func', fn };
      }
      case 'list_comprehension':
      case 'set_comprehension':
      case 'generator_expression': {
        const out = this.comprehension(node, scope, file, (s) => [this.eval(node.childForFieldName('body')!, s, file)]);
        return isUnknown(out) ? out : { k: node.type === 'generator_expression' ? 'list' : 'list', items: out };
      }
      case 'dictionary_comprehension': {
        const body = node.childForFieldName('body')!;
        const out = this.comprehension(node, scope, file, (s) => [
          tuple([this.eval(body.childForFieldName('key')!, s, file), this.eval(body.childForFieldName('value')!, s, file)]),
        ]);
        if (isUnknown(out)) return out;
        const entries = new Map<string, [Value, Value]>();
        for (const pair of out) {
          const [k, v] = (pair as { items: Value[] }).items as [Value, Value];
          const h = hashKey(k);
          if (h === undefined) return unknown('a dict comprehension with keys that are not known');
          entries.set(h, [k, v]);
        }
        return { k: 'dict', entries };
      }
      case 'named_expression': {
        const v = this.eval(node.childForFieldName('value')!, scope, file);
        this.assign(node.childForFieldName('name')!, v, scope, file);
        return v;
      }
      case 'keyword_argument':
        return this.eval(node.childForFieldName('value')!, scope, file);
      case 'await':
        return unknown('await is not followed');
      default:
        return unknown(`\`${snippet(node)}\` is not followed`);
    }
  }

  private evalString(node: Node, scope: Scope, file: string): Value {
    const start = node.firstChild?.text ?? '';
    const parts = node.namedChildren.filter((c) => c && (c.type === 'string_content' || c.type === 'interpolation' || c.type === 'escape_sequence'));
    if (/[bB]/.test(start)) return unknown('a bytes literal');
    let out = '';
    for (const p of parts) {
      if (!p) continue;
      if (p.type === 'interpolation') {
        const expr = p.namedChildren.find((c) => c && c.type !== 'format_specifier' && c.type !== 'type_conversion');
        const v = expr ? this.eval(expr, scope, file) : unknown('?');
        if (v.k === 'str') out += v.v;
        else if (v.k === 'int' || v.k === 'float' || v.k === 'bool' || v.k === 'none') out += repr(v);
        else return unknown(`the f-string \`${snippet(node)}\` is not known`);
      } else if (p.type === 'escape_sequence') {
        const e = p.text;
        out += e === '\\n' ? '\n' : e === '\\t' ? '\t' : e.length === 2 ? e[1] : e;
      } else out += p.text;
    }
    return str(out);
  }

  private evalSequence(node: Node, scope: Scope, file: string, kind: 'tuple' | 'list'): Value {
    const items: Value[] = [];
    for (const child of node.namedChildren) {
      if (!child || isExtraNode(child)) continue;
      if (child.type === 'list_splat') {
        const v = this.eval(child.namedChildren[0]!, scope, file);
        const it = this.iterate(v, child);
        if (isUnknown(it)) return kind === 'list' ? { k: 'list', items, taint: it.reason } : unknown(it.reason);
        items.push(...it);
      } else items.push(this.eval(child, scope, file));
    }
    return kind === 'tuple' ? tuple(items) : { k: 'list', items };
  }

  /** Runs the for/if clauses of a comprehension in a scope of its own. */
  private comprehension(node: Node, scope: Scope, file: string, body: (s: Scope) => Value[]): Value[] | { k: 'unknown'; reason: string } {
    const clauses = node.namedChildren.filter((c): c is Node => !!c && (c.type === 'for_in_clause' || c.type === 'if_clause'));
    const inner = new Scope(scope, scope.module, 'function');
    const out: Value[] = [];
    const run = (i: number): string | undefined => {
      if (i === clauses.length) {
        out.push(...body(inner));
        return undefined;
      }
      const clause = clauses[i]!;
      if (clause.type === 'if_clause') {
        const v = this.eval(clause.namedChildren[0]!, inner, file);
        const t = truthy(v);
        if (t === undefined) return `the condition \`${snippet(clause)}\` is not known`;
        return t ? run(i + 1) : undefined;
      }
      const right = clause.childForFieldName('right')!;
      const items = this.iterate(this.eval(right, inner, file), right);
      if (isUnknown(items)) return items.reason;
      if (items.length > this.limits.maxIterations) throw new LimitError('evaluation limit (loop iterations)');
      for (const item of items) {
        this.assign(clause.childForFieldName('left')!, item, inner, file);
        const r = run(i + 1);
        if (r) return r;
      }
      return undefined;
    };
    const reason = run(0);
    return reason ? (unknown(reason) as { k: 'unknown'; reason: string }) : out;
  }

  private evalComparison(node: Node, scope: Scope, file: string): Value {
    const operands: Node[] = [];
    const ops: string[] = [];
    for (let i = 0; i < node.childCount; i++) {
      const c = node.child(i)!;
      if (node.fieldNameForChild(i) === 'operators') ops.push(c.text.replace(/\s+/g, ' '));
      else if (c.isNamed && !isExtraNode(c)) operands.push(c);
    }
    let left = this.eval(operands[0]!, scope, file);
    for (let i = 0; i < ops.length; i++) {
      const right = this.eval(operands[i + 1]!, scope, file);
      const r = this.compare(ops[i]!, left, right);
      if (r === undefined) return unknown(`\`${snippet(node)}\` is not known`);
      if (!r) return bool(false);
      left = right;
    }
    return bool(true);
  }

  private compare(op: string, a: Value, b: Value): boolean | undefined {
    if (op === 'is' || op === 'is not') {
      if (isUnknown(a) || isUnknown(b)) return undefined;
      const same = a.k === 'none' || b.k === 'none' ? a.k === b.k : a.k === 'bool' && b.k === 'bool' ? a.v === b.v : this.identical(a, b);
      if (same === undefined) return undefined;
      return op === 'is' ? same : !same;
    }
    if (op === 'in' || op === 'not in') {
      let found: boolean | undefined;
      if (b.k === 'str' && a.k === 'str') found = b.v.includes(a.v);
      else if (b.k === 'dict' && !b.taint) {
        const h = hashKey(a);
        found = h === undefined ? undefined : b.entries.has(h);
      } else if ((b.k === 'list' && !b.taint) || b.k === 'tuple') {
        found = false;
        for (const item of b.items) {
          const eq = this.equal(a, item);
          if (eq === undefined) return undefined;
          if (eq) {
            found = true;
            break;
          }
        }
      }
      if (found === undefined) return undefined;
      return op === 'in' ? found : !found;
    }
    if (op === '==' || op === '!=') {
      const eq = this.equal(a, b);
      return eq === undefined ? undefined : op === '==' ? eq : !eq;
    }
    const x = num(a);
    const y = num(b);
    if (x !== undefined && y !== undefined) {
      switch (op) {
        case '<':
          return x < y;
        case '<=':
          return x <= y;
        case '>':
          return x > y;
        case '>=':
          return x >= y;
        default:
          return undefined;
      }
    }
    if (a.k === 'str' && b.k === 'str') {
      switch (op) {
        case '<':
          return a.v < b.v;
        case '<=':
          return a.v <= b.v;
        case '>':
          return a.v > b.v;
        case '>=':
          return a.v >= b.v;
        default:
          return undefined;
      }
    }
    if ((a.k === 'tuple' || a.k === 'list') && (b.k === 'tuple' || b.k === 'list')) {
      for (let i = 0; i < Math.min(a.items.length, b.items.length); i++) {
        const eq = this.equal(a.items[i]!, b.items[i]!);
        if (eq === undefined) return undefined;
        if (!eq) return this.compare(op, a.items[i]!, b.items[i]!);
      }
      return this.compare(op, int(a.items.length), int(b.items.length));
    }
    return undefined;
  }

  private identical(a: Value, b: Value): boolean | undefined {
    if (a.k === 'layer' && b.k === 'layer') return a.layer === b.layer;
    if (a.k === 'obj' && b.k === 'obj') return a.id === b.id;
    if (a.k === 'class' && b.k === 'class') return a.cls === b.cls;
    if (a.k === 'lib' && b.k === 'lib') return this.lib.canonical(a.path) === this.lib.canonical(b.path);
    if (a.k === 'func' && b.k === 'func') return a.fn === b.fn;
    if (a.k === 'list' && b.k === 'list') return a === b;
    // Builtins (`type(x) is list`) are one object each.
    if (a.k === 'native' && b.k === 'native') return a === b;
    if (a.k !== b.k && a.k !== 'tensor' && b.k !== 'tensor' && a.k !== 'unknown' && b.k !== 'unknown') return false;
    return undefined;
  }

  equal(a: Value, b: Value): boolean | undefined {
    if (isUnknown(a) || isUnknown(b) || a.k === 'tensor' || b.k === 'tensor') return undefined;
    if (a.k === 'native' && b.k === 'native') return a === b;
    const x = num(a);
    const y = num(b);
    if (x !== undefined && y !== undefined) return x === y;
    if (a.k === 'str' && b.k === 'str') return a.v === b.v;
    if (a.k === 'none' || b.k === 'none') return a.k === b.k;
    if ((a.k === 'tuple' || a.k === 'list') && (b.k === 'tuple' || b.k === 'list')) {
      if (a.k !== b.k) return false;
      if (a.items.length !== b.items.length) return false;
      for (let i = 0; i < a.items.length; i++) {
        const eq = this.equal(a.items[i]!, b.items[i]!);
        if (eq !== true) return eq;
      }
      return true;
    }
    const same = this.identical(a, b);
    if (same !== undefined) return same;
    if (a.k !== b.k) return false;
    return undefined;
  }

  binary(op: string, a: Value, b: Value, node: Node): Value {
    if (a.k === 'tensor' || b.k === 'tensor') return this.lib.tensorBinary(op, a, b, node);
    if (isUnknown(a)) return a;
    if (isUnknown(b)) return b;
    const x = num(a);
    const y = num(b);
    if (x !== undefined && y !== undefined) {
      const bothInt = a.k !== 'float' && b.k !== 'float';
      const result = (v: number, integer: boolean): Value =>
        Number.isFinite(v)
          ? integer
            ? Number.isSafeInteger(v)
              ? int(v)
              : unknown('integer overflow')
            : { k: 'float', v }
          : unknown(`\`${snippet(node)}\` is not finite`);
      switch (op) {
        case '+':
          return result(x + y, bothInt);
        case '-':
          return result(x - y, bothInt);
        case '*':
          return result(x * y, bothInt);
        case '/':
          return y === 0 ? unknown('division by zero') : result(x / y, false);
        case '//':
          return y === 0 ? unknown('division by zero') : result(Math.floor(x / y), bothInt);
        case '%':
          return y === 0 ? unknown('division by zero') : result(x - y * Math.floor(x / y), bothInt);
        case '**':
          return result(x ** y, bothInt && y >= 0);
        case '<<':
          return bothInt ? result(x * 2 ** y, true) : unknown('<<');
        case '>>':
          return bothInt ? result(Math.floor(x / 2 ** y), true) : unknown('>>');
        case '&':
          return bothInt ? result(x & y, true) : unknown('&');
        case '|':
          return bothInt ? result(x | y, true) : unknown('|');
        default:
          return unknown(`operator ${op}`);
      }
    }
    if (op === '+' && a.k === 'str' && b.k === 'str') return str(a.v + b.v);
    if (op === '+' && a.k === 'tuple' && b.k === 'tuple') return tuple([...a.items, ...b.items]);
    if (op === '+' && a.k === 'list' && b.k === 'list') {
      const taint = a.taint ?? b.taint;
      return { k: 'list', items: [...a.items, ...b.items], taint };
    }
    if (op === '*' && (a.k === 'list' || a.k === 'tuple' || a.k === 'str') && b.k === 'int') return this.repeat(a, b.v);
    if (op === '*' && (b.k === 'list' || b.k === 'tuple' || b.k === 'str') && a.k === 'int') return this.repeat(b, a.v);
    if (op === '%' && a.k === 'str') return percentFormat(a.v, b) ?? unknown(`\`${snippet(node)}\`: a format not followed`);
    if (op === '|' && a.k === 'dict' && b.k === 'dict') return { k: 'dict', entries: new Map([...a.entries, ...b.entries]), taint: a.taint ?? b.taint };
    return unknown(`\`${snippet(node)}\` is not followed`);
  }

  private repeat(v: Value, n: number): Value {
    if (n > this.limits.maxIterations) throw new LimitError('evaluation limit (sequence size)');
    if (v.k === 'str') return str(v.v.repeat(Math.max(0, n)));
    const items: Value[] = [];
    const from = (v as { items: Value[] }).items;
    for (let i = 0; i < n; i++) items.push(...from);
    return v.k === 'tuple' ? tuple(items) : { k: 'list', items, taint: (v as { taint?: string }).taint };
  }

  // -------------------------------------------------------------------------------------------
  // Attributes and items

  /** Looks a name up a class and its bases (Python's MRO, depth-first, is close enough here). */
  classAttr(cls: ClassDef, name: string, seen = new Set<ClassDef>()): { value: Value; owner: ClassDef } | undefined {
    if (seen.has(cls)) return undefined;
    seen.add(cls);
    const own = cls.attrs.get(name);
    if (own !== undefined) return { value: own, owner: cls };
    for (const base of cls.bases) {
      if (base.k === 'class') {
        const found = this.classAttr(base.cls, name, seen);
        if (found) return found;
      }
    }
    return undefined;
  }

  /** The library classes a user class derives from (canonical names). */
  libraryBases(cls: ClassDef, seen = new Set<ClassDef>()): string[] {
    if (seen.has(cls)) return [];
    seen.add(cls);
    const out: string[] = [];
    for (const base of cls.bases) {
      if (base.k === 'lib') out.push(this.lib.canonical(base.path));
      else if (base.k === 'class') out.push(...this.libraryBases(base.cls, seen));
      else if (base.k === 'unknown') out.push('?');
    }
    return out;
  }

  getAttr(obj: Value, name: string, node: Node | undefined): Value {
    switch (obj.k) {
      case 'unknown':
        return obj;
      case 'obj': {
        const own = obj.attrs.get(name);
        if (own !== undefined) return own;
        const found = this.classAttr(obj.cls, name);
        if (found) {
          const v = found.value;
          if (v.k === 'func') return { k: 'bound', fn: v, self: obj };
          if (v.k === 'native' && v.name === 'property') return this.callValue({ k: 'bound', fn: v.call([], new Map(), node), self: obj }, [], new Map(), node);
          if (v.k === 'native' && v.name.startsWith('classmethod:')) return v;
          return v;
        }
        if (obj.cls.fields) {
          const i = obj.cls.fields.indexOf(name);
          if (i >= 0) return unknown('namedtuple field');
        }
        return this.lib.objectAttr(obj, name, node);
      }
      case 'tuple': {
        if (obj.cls?.fields) {
          const i = obj.cls.fields.indexOf(name);
          if (i >= 0) return obj.items[i] ?? unknown(`field ${name}`);
          const found = this.classAttr(obj.cls, name);
          if (found?.value.k === 'func') return { k: 'bound', fn: found.value, self: obj };
          if (found) return found.value;
        }
        return this.lib.valueAttr(obj, name, node);
      }
      case 'class': {
        const found = this.classAttr(obj.cls, name);
        if (found) return found.value;
        if (name === '__name__') return str(obj.cls.name);
        if (name === 'apply' && this.libraryBases(obj.cls).includes('torch.autograd.Function')) {
          // A custom autograd function: its forward(ctx, *args), the context not followed.
          const forward = this.classAttr(obj.cls, 'forward');
          if (forward)
            return {
              k: 'native',
              name: 'apply',
              call: (a, kw, n) => this.callValue(forward.value, [unknown('the autograd context is not followed'), ...a], kw, n),
            };
        }
        return unknown(`${obj.cls.name}.${name} is not known`);
      }
      case 'module': {
        const v = obj.scope.vars.get(name);
        return v ?? unknown(`${name} is not defined in ${obj.file}`);
      }
      case 'lib':
        return this.lib.libAttr(obj.path, name);
      case 'super': {
        // The next class after `cls` in self's bases.
        const found = this.superAttr(obj.cls, name);
        if (found?.k === 'func') return { k: 'bound', fn: found, self: obj.self };
        if (found?.k === 'native' && found.name === 'dataclass.__init__') return { k: 'bound', fn: found, self: obj.self };
        if (found) return found;
        return this.lib.superAttr(obj, name, node);
      }
      default:
        return this.lib.valueAttr(obj, name, node);
    }
  }

  private superAttr(cls: ClassDef, name: string): Value | undefined {
    for (const base of cls.bases) {
      if (base.k === 'class') {
        const found = this.classAttr(base.cls, name);
        if (found) return found.value;
      }
    }
    return undefined;
  }

  getItem(obj: Value, key: Value, node: Node): Value {
    if (isUnknown(obj)) return obj;
    if (isUnknown(key) && obj.k !== 'tensor') return unknown(`the index of \`${snippet(node)}\` is not known (${key.reason})`);
    switch (obj.k) {
      case 'tuple':
      case 'list':
      case 'str': {
        if (obj.k === 'list' && obj.taint) return unknown(obj.taint);
        const items: Value[] = obj.k === 'str' ? [...obj.v].map(str) : obj.items;
        if (key.k === 'slice') {
          const sliced = this.slice(items, key);
          if (isUnknown(sliced)) return sliced;
          if (obj.k === 'str') return str(sliced.map((s) => (s as { v: string }).v).join(''));
          return obj.k === 'tuple' ? tuple(sliced) : { k: 'list', items: sliced };
        }
        const i = num(key);
        if (i === undefined || key.k === 'float') return unknown(`index \`${snippet(node)}\``);
        const at = i < 0 ? items.length + i : i;
        if (at < 0 || at >= items.length) throw new RaiseError(`index out of range: ${snippet(node)}`);
        return items[at]!;
      }
      case 'dict': {
        const h = hashKey(key);
        const found = h === undefined ? undefined : obj.entries.get(h);
        if (found) return found[1];
        if (obj.taint) return unknown(obj.taint);
        throw new RaiseError(`KeyError: ${repr(key)}`);
      }
      default:
        return this.lib.getItem(obj, key, node);
    }
  }

  slice(items: Value[], s: { k: 'slice'; start: Value; stop: Value; step: Value }): Value[] | { k: 'unknown'; reason: string } {
    const n = items.length;
    const read = (v: Value): number | null | undefined => (v.k === 'none' ? null : v.k === 'int' ? v.v : undefined);
    const start = read(s.start);
    const stop = read(s.stop);
    const step = read(s.step) ?? 1;
    if (start === undefined || stop === undefined || step === undefined || step === 0)
      return unknown('a slice that is not known') as { k: 'unknown'; reason: string };
    const norm = (v: number, dflt: number) => (v < 0 ? Math.max(v + n, step < 0 ? -1 : 0) : Math.min(v, step < 0 ? n - 1 : n)) ?? dflt;
    const out: Value[] = [];
    if (step > 0) {
      const a = start === null ? 0 : norm(start, 0);
      const b = stop === null ? n : norm(stop, n);
      for (let i = a; i < b; i += step) out.push(items[i]!);
    } else {
      const a = start === null ? n - 1 : norm(start, n - 1);
      const b = stop === null ? -1 : norm(stop, -1);
      for (let i = a; i > b; i += step) out.push(items[i]!);
    }
    return out;
  }

  // -------------------------------------------------------------------------------------------
  // Calls

  private evalCall(node: Node, scope: Scope, file: string): Value {
    const fnNode = node.childForFieldName('function')!;
    // super() with no arguments: the class of the method being run.
    if (fnNode.type === 'identifier' && fnNode.text === 'super' && scope.lookup('super')?.k === 'native') {
      const self = this.firstParamValue(scope);
      const owner = this.ownerOf(node, scope);
      if (self && owner) return { k: 'super', cls: owner, self };
    }
    const fn = this.eval(fnNode, scope, file);
    const argsNode = node.childForFieldName('arguments');
    const args: Value[] = [];
    const kwargs = new Map<string, Value>();
    let splatReason: string | undefined;
    if (argsNode?.type === 'generator_expression') args.push(this.eval(argsNode, scope, file));
    else {
      for (const a of argsNode?.namedChildren ?? []) {
        if (!a || isExtraNode(a)) continue;
        if (a.type === 'keyword_argument') kwargs.set(a.childForFieldName('name')!.text, this.eval(a.childForFieldName('value')!, scope, file));
        else if (a.type === 'list_splat') {
          const v = this.eval(a.namedChildren[0]!, scope, file);
          const items = this.iterate(v, a);
          if (isUnknown(items)) splatReason = `*${snippet(a.namedChildren[0])} is not known (${items.reason})`;
          else args.push(...items);
        } else if (a.type === 'dictionary_splat') {
          const v = this.eval(a.namedChildren[0]!, scope, file);
          if (v.k === 'dict' && !v.taint) {
            for (const [key, value] of v.entries.values()) if (key.k === 'str') kwargs.set(key.v, value);
          } else splatReason = `**${snippet(a.namedChildren[0])} is not known${isUnknown(v) ? ` (${v.reason})` : v.k === 'dict' ? ` (${v.taint})` : ''}`;
        } else args.push(this.eval(a, scope, file));
      }
    }
    if (splatReason) {
      this.taintArgs(args, kwargs, splatReason);
      return unknown(`\`${snippet(node)}\`: ${splatReason}`);
    }
    this.callStack.push({ file, node });
    try {
      return this.callValue(fn, args, kwargs, node);
    } finally {
      this.callStack.pop();
    }
  }

  /**
   * Mutable arguments handed to something not followed may have been changed by it; a module or
   * layer handed to it may have been changed or applied (so what forward() seems never to apply
   * is not known to be unapplied).
   */
  private taintArgs(args: Value[], kwargs: Map<string, Value>, reason: string): void {
    for (const a of [...args, ...kwargs.values()]) {
      if (a.k === 'list' || a.k === 'dict') {
        a.taint ??= `it was handed to something not followed (${reason})`;
        this.notFollowed++;
      } else if (isModuleValue(a)) this.notFollowed++;
    }
  }

  private firstParamValue(scope: Scope): Value | undefined {
    for (let s: Scope | undefined = scope; s; s = s.parent) {
      if (s.kind === 'function') {
        const self = s.vars.get('self') ?? s.vars.get('cls');
        if (self) return self;
      }
    }
    return undefined;
  }

  private ownerOf(node: Node, scope: Scope): ClassDef | undefined {
    for (let n: Node | null = node.parent; n; n = n.parent) {
      if (n.type === 'class_definition') {
        // The class value bound to that definition in the enclosing scopes.
        const name = n.childForFieldName('name')!.text;
        const v = scope.lookup(name);
        if (v?.k === 'class' && v.cls.node?.id === n.id) return v.cls;
        const self = this.firstParamValue(scope);
        if (self?.k === 'obj') {
          const found = this.findClassByNode(self.cls, n);
          if (found) return found;
        }
        return undefined;
      }
    }
    return undefined;
  }

  private findClassByNode(cls: ClassDef, node: Node, seen = new Set<ClassDef>()): ClassDef | undefined {
    if (seen.has(cls)) return undefined;
    seen.add(cls);
    if (cls.node?.id === node.id) return cls;
    for (const b of cls.bases)
      if (b.k === 'class') {
        const f = this.findClassByNode(b.cls, node, seen);
        if (f) return f;
      }
    return undefined;
  }

  callValue(fn: Value, args: Value[], kwargs: Map<string, Value>, node: Node | undefined): Value {
    this.tick();
    switch (fn.k) {
      case 'func':
        return this.callFunction(fn.fn, args, kwargs, node);
      case 'bound':
        return this.callValue(fn.fn, [fn.self, ...args], kwargs, node);
      case 'native':
        return fn.call(args, kwargs, node);
      case 'partial': {
        const merged = new Map(fn.kwargs);
        for (const [k, v] of kwargs) merged.set(k, v);
        return this.callValue(fn.fn, [...fn.args, ...args], merged, node);
      }
      case 'class':
        return this.instantiate(fn.cls, args, kwargs, node);
      case 'lib':
        return this.lib.callLib(fn.path, args, kwargs, node);
      case 'layer':
        return this.lib.applyLayer(fn.layer, args, kwargs, node);
      case 'obj':
        return this.callObject(fn, args, kwargs, node);
      case 'unknown': {
        this.taintArgs(args, kwargs, fn.reason);
        return unknown(node ? `\`${snippet(node)}\` is not followed (${fn.reason})` : fn.reason);
      }
      default:
        return unknown(`\`${snippet(node)}\` calls a ${fn.k} value`);
    }
  }

  private callObject(obj: Value & { k: 'obj' }, args: Value[], kwargs: Map<string, Value>, node: Node | undefined): Value {
    this.appliedIds.add(obj.id);
    const call = this.classAttr(obj.cls, '__call__');
    if (call?.value.k === 'func') return this.callValue({ k: 'bound', fn: call.value, self: obj }, args, kwargs, node);
    const bases = this.libraryBases(obj.cls);
    const keras = bases.some((b) => b.startsWith('keras.'));
    const forward = this.classAttr(obj.cls, keras ? 'call' : 'forward');
    if (forward?.value.k === 'func') {
      const before = this.applyDepth;
      this.applyDepth++;
      // A subclass of a library layer (a conv that pads first): the layer's input is the module's.
      const x = args[0];
      // The model's own input, its channels not said yet: the layer's own in_channels say them
      // (a hint from another layer need not be this one's).
      const own = obj.base?.args.in_channels ?? obj.base?.args.num_features;
      const pendingInput = x?.k === 'tensor' && x.t.pending ? (own?.k === 'int' ? [1, own.v, ...x.t.pending] : undefined) : undefined;
      const input = x?.k === 'tensor' ? (x.t.shape ?? pendingInput) : undefined;
      if (obj.base && input) this.moduleInputs.set(obj.base.id, input);
      const recorded = this.instances.length;
      try {
        return this.callValue({ k: 'bound', fn: forward.value, self: obj }, args, kwargs, node);
      } finally {
        this.applyDepth = before;
        if (obj.base) {
          this.moduleInputs.delete(obj.base.id);
          // A forward() of its own that never applied the layer itself (torchvision's LayerNorm2d
          // calls F.layer_norm): its parameters still count.
          let applied = false;
          for (let i = recorded; i < this.instances.length && !applied; i++) applied = this.instances[i]!.layerId === obj.base.id;
          if (!applied) this.lib.recordOwnForward(obj.base, input);
        }
      }
    }
    // A forward() that is a staticmethod (YOLOX's SiLU): called without the module.
    if (forward?.value.k === 'native' && forward.value.name.startsWith('static:')) return forward.value.call(args, kwargs, node);
    if (obj.base) return this.lib.applyLayer(obj.base, args, kwargs, node);
    return unknown(`${obj.cls.name} has no forward() here`);
  }

  /** Statements and calls not followed so far (a model built with some may hold layers not seen). */
  notFollowed = 0;

  /** The input of each library layer whose subclass's forward() is running, by layer id. */
  readonly moduleInputs = new Map<number, number[]>();

  /** How many module applications are in progress (0: a model's own input). */
  applyDepth = 0;

  private instantiate(cls: ClassDef, args: Value[], kwargs: Map<string, Value>, node: Node | undefined): Value {
    if (cls.node && cls.file === this.root.path) this.invoked.add(cls.node.id);
    if (cls.fields) {
      // namedtuple
      const items: Value[] = [];
      const defaults = cls.fieldDefaults ?? [];
      cls.fields.forEach((f, i) => {
        const fromEnd = cls.fields!.length - i;
        items.push(args[i] ?? kwargs.get(f) ?? (fromEnd <= defaults.length ? defaults[defaults.length - fromEnd]! : unknown(`field ${f} not given`)));
      });
      return { k: 'tuple', items, cls };
    }
    const bases = this.libraryBases(cls);
    if (bases.some((b) => this.lib.isEnumOrException(b))) return unknown(`${cls.name} objects are not followed`);
    const obj: Value & { k: 'obj' } = { k: 'obj', cls, attrs: new Map(), id: this.newId() };
    if (bases.some((b) => this.lib.isModuleBase(b))) this.modulesBuilt.push(obj);
    const init = this.classAttr(cls, '__init__');
    if (init?.value.k === 'func') this.callValue({ k: 'bound', fn: init.value, self: obj }, args, kwargs, node);
    else if (init?.value.k === 'native') init.value.call([obj, ...args], kwargs, node);
    else {
      // No __init__ in user classes: the library base's.
      const libBase = bases.find((b) => this.lib.isModuleBase(b));
      if (libBase) this.lib.initBase(obj, libBase, args, kwargs, node);
    }
    return obj;
  }

  /** The fields of a dataclass (bases' first), or undefined when the class is none. */
  private dataclassFields(cls: ClassDef): { name: string; dflt?: Value }[] | undefined {
    const chain: ClassDef[] = [];
    const walk = (c: ClassDef) => {
      for (const b of c.bases) if (b.k === 'class') walk(b.cls);
      if (!chain.includes(c)) chain.push(c);
    };
    walk(cls);
    if (!chain.some((c) => c.dataclass)) return undefined;
    const fields: { name: string; dflt?: Value }[] = [];
    for (const c of chain) {
      if (!c.dataclass) continue;
      for (const a of c.annotations ?? []) {
        const at = fields.findIndex((f) => f.name === a.name);
        if (at >= 0) fields[at] = a;
        else fields.push(a);
      }
    }
    return fields;
  }

  private callFunction(fn: FunctionDef, args: Value[], kwargs: Map<string, Value>, _node: Node | undefined): Value {
    if (this.depth >= this.limits.maxDepth) throw new LimitError('evaluation limit (call depth)');
    if (fn.file === this.root.path && fn.node.type === 'function_definition') this.invoked.add(fn.node.id);
    const scope = new Scope(fn.closure, fn.closure.module, 'function');
    const bound = this.bindParameters(fn, args, kwargs, scope);
    if (bound) return unknown(`${fn.name}(): ${bound}`);
    this.depth++;
    try {
      const body = fn.node.childForFieldName('body')!;
      if (fn.node.type === 'lambda') return this.eval(body, scope, fn.file);
      const flow = this.execBlock(body, scope, fn.file);
      return flow?.kind === 'return' ? flow.value : NONE;
    } finally {
      this.depth--;
    }
  }

  /** Binds a call's arguments to the function's parameters in `scope`; returns an error text if they do not fit. */
  private bindParameters(fn: FunctionDef, args: Value[], kwargs: Map<string, Value>, scope: Scope): string | undefined {
    const params = fn.node.childForFieldName('parameters')?.namedChildren.filter((p): p is Node => !!p && !isExtraNode(p)) ?? [];
    let positional = 0;
    let keywordOnly = false;
    const used = new Set<string>();
    let extraKw: string | undefined;
    for (const p of params) {
      switch (p.type) {
        case 'identifier':
        case 'typed_parameter':
        case 'default_parameter':
        case 'typed_default_parameter': {
          if (p.type === 'typed_parameter' && p.namedChildren[0]?.type !== 'identifier') {
            // typed *args / **kwargs
            const inner = p.namedChildren[0]!;
            if (inner.type === 'list_splat_pattern') {
              scope.vars.set(inner.namedChildren[0]!.text, tuple(args.slice(positional)));
              positional = args.length;
              keywordOnly = true;
            } else if (inner.type === 'dictionary_splat_pattern') extraKw = inner.namedChildren[0]!.text;
            continue;
          }
          const name = p.type === 'identifier' ? p.text : p.type === 'typed_parameter' ? p.namedChildren[0]!.text : p.childForFieldName('name')!.text;
          let value: Value | undefined;
          if (!keywordOnly && positional < args.length) value = args[positional++];
          if (kwargs.has(name)) {
            if (value !== undefined) return `got multiple values for ${name}`;
            value = kwargs.get(name);
            used.add(name);
          }
          value ??= fn.defaults.get(name);
          if (value === undefined) return `missing argument ${name}`;
          scope.vars.set(name, value);
          break;
        }
        case 'list_splat_pattern':
          scope.vars.set(p.namedChildren[0]!.text, tuple(args.slice(positional)));
          positional = args.length;
          keywordOnly = true;
          break;
        case 'keyword_separator':
          keywordOnly = true;
          break;
        case 'positional_separator':
          break;
        case 'dictionary_splat_pattern':
          extraKw = p.namedChildren[0]!.text;
          break;
        default:
          break;
      }
    }
    if (positional < args.length) return `too many positional arguments (${args.length})`;
    const rest = [...kwargs.keys()].filter((k) => !used.has(k));
    if (extraKw !== undefined) {
      const entries = new Map<string, [Value, Value]>();
      for (const k of rest) entries.set(`s:${k}`, [str(k), kwargs.get(k)!]);
      scope.vars.set(extraKw, { k: 'dict', entries });
    } else if (rest.length > 0) return `unexpected keyword argument ${rest[0]}`;
    return undefined;
  }

  /** Whether every parameter of a function (after self) has a default. */
  static allDefaults(fnNode: Node, skipFirst: boolean): boolean {
    const params = fnNode.childForFieldName('parameters')?.namedChildren.filter((p): p is Node => !!p && !isExtraNode(p)) ?? [];
    return params
      .slice(skipFirst ? 1 : 0)
      .every((p) => (p.type !== 'identifier' && p.type !== 'typed_parameter') || (p.type === 'typed_parameter' && p.namedChildren[0]?.type !== 'identifier'));
  }
}

/** Marks the layers of a module taken out of its model (`del model._fc`): no part of any model, applied or not. */
function detach(v: Value): void {
  const seen = new Set<Value>();
  const pending = [v];
  while (pending.length > 0) {
    const m = pending.pop()!;
    if (seen.has(m)) continue;
    seen.add(m);
    if (m.k === 'layer') m.layer.detached = true;
    pending.push(...heldValues(m));
  }
}
