/**
 * Evaluates the small part of Python that layer arguments are written in: integer literals,
 * names bound to constants in the same scope or the module, + - * // %, unary minus, tuples,
 * strings, booleans and None. Anything else stays a symbol, shown as written, never guessed.
 */
import type { Node } from 'web-tree-sitter';
import { isExtraNode } from './pythonParser';

export type PyValue =
  | { kind: 'int'; value: number }
  | { kind: 'float'; value: number }
  | { kind: 'str'; value: string }
  | { kind: 'bool'; value: boolean }
  | { kind: 'none' }
  | { kind: 'tuple'; items: PyValue[] }
  /** Not resolvable: `text` is the expression as written (shortened). */
  | { kind: 'symbol'; text: string };

const symbol = (text: string): PyValue => ({ kind: 'symbol', text: text.length > 40 ? `${text.slice(0, 37)}...` : text.replace(/\s+/g, ' ') });

/** A Python value for people: `32`, `(3, 3)`, `'same'`, or the symbol's text. */
export function showValue(value: PyValue): string {
  switch (value.kind) {
    case 'int':
      return String(value.value);
    // As Python writes a float: 3.0 (not 3, which would read as an int), inf, nan.
    case 'float':
      return Number.isNaN(value.value)
        ? 'nan'
        : !Number.isFinite(value.value)
          ? value.value > 0
            ? 'inf'
            : '-inf'
          : Number.isInteger(value.value) && Math.abs(value.value) < 1e16
            ? `${value.value}.0`
            : String(value.value);
    case 'str':
      return `'${value.value}'`;
    case 'bool':
      return value.value ? 'True' : 'False';
    case 'none':
      return 'None';
    case 'tuple':
      return `(${value.items.map(showValue).join(', ')}${value.items.length === 1 ? ',' : ''})`;
    case 'symbol':
      return value.text;
  }
}

function sameValue(a: PyValue, b: PyValue): boolean {
  return showValue(a) === showValue(b) && a.kind === b.kind;
}

/** Python's floor division and modulo on integers. */
function arithmetic(op: string, a: number, b: number): number | undefined {
  switch (op) {
    case '+':
      return a + b;
    case '-':
      return a - b;
    case '*':
      return a * b;
    case '//':
      return b === 0 ? undefined : Math.floor(a / b);
    case '%':
      return b === 0 ? undefined : a - b * Math.floor(a / b);
    case '**':
      return b >= 0 && b < 64 ? a ** b : undefined;
    default:
      return undefined;
  }
}

function parseInteger(text: string): number | undefined {
  const clean = text.replace(/_/g, '').toLowerCase();
  if (/^(0x[0-9a-f]+|0o[0-7]+|0b[01]+|[0-9]+)$/.test(clean)) {
    const value = clean.startsWith('0o') ? parseInt(clean.slice(2), 8) : Number(clean);
    return Number.isSafeInteger(value) ? value : undefined;
  }
  return undefined;
}

/** Scopes that bind names: the module, functions and classes (lambdas and comprehensions are not followed). */
const SCOPE_TYPES = new Set(['module', 'function_definition', 'class_definition']);

type Binding = { kind: 'value'; node: Node; scope: Node } | { kind: 'opaque' };
type AddBinding = (name: string, binding: Binding) => void;

/** Characters that continue a Python identifier: a name found in the text must not touch one. */
const IDENTIFIER_CHAR = /[\p{ID_Continue}]/u;

/**
 * Name lookup with Python's rules, cut down: a name assigned in a function is local to it; class
 * bodies are not visible from their methods; several different assignments make a name unknown.
 *
 * With `source` (the text the tree was parsed from), the module's bindings are found per name: the
 * top-level statements whose text holds the name are read, not every statement of the file, so a
 * lookup in a large file costs what the name's occurrences cost. Without it, the module's
 * statements are read once, all of them (the right choice when every call of the file is read).
 */
export class Scopes {
  private readonly bindings = new Map<number, Map<string, Binding[]>>();
  private readonly moduleNames = new Map<string, Binding[]>();
  /** Node id -> the scope holding it (every node walked through on the way up is remembered). */
  private readonly scopes = new Map<number, Node>();
  /** Value node id -> its value: a name bound many times is evaluated once per binding, not once per use. */
  private readonly values = new Map<number, PyValue>();
  private depth = 0;

  constructor(private readonly source?: string) {}

  /** The innermost scope (module, function or class node) holding `node`. */
  scopeOf(node: Node): Node {
    const walked: number[] = [];
    let current = node.parent;
    let found: Node | undefined;
    while (current) {
      found = this.scopes.get(current.id);
      if (found) break;
      if (SCOPE_TYPES.has(current.type)) {
        found = current;
        break;
      }
      walked.push(current.id);
      current = current.parent;
    }
    const scope = found ?? node.tree.rootNode;
    for (const id of walked) this.scopes.set(id, scope);
    return scope;
  }

  /** Whether `name` is bound (assigned, imported, a parameter, ...) anywhere on the scope chain of `node`. */
  isBound(name: string, node: Node): boolean {
    for (let scope: Node | undefined = this.scopeOf(node); scope; scope = this.parentScope(scope)) {
      if (this.bindingsIn(scope, name)) return true;
    }
    return false;
  }

  evaluate(node: Node | null | undefined): PyValue {
    if (!node) return symbol('?');
    if (this.depth > 32) return symbol(node.text);
    this.depth++;
    try {
      return this.evaluateInner(node);
    } finally {
      this.depth--;
    }
  }

  private evaluateInner(node: Node): PyValue {
    switch (node.type) {
      case 'integer': {
        const value = parseInteger(node.text);
        return value === undefined ? symbol(node.text) : { kind: 'int', value };
      }
      case 'float': {
        const value = Number(node.text.replace(/_/g, ''));
        return Number.isFinite(value) ? { kind: 'float', value } : symbol(node.text);
      }
      case 'true':
        return { kind: 'bool', value: true };
      case 'false':
        return { kind: 'bool', value: false };
      case 'none':
        return { kind: 'none' };
      case 'string': {
        const start = node.firstChild;
        if (!start || /[fFbB]/.test(start.text) || node.namedChildren.some((c) => c?.type === 'interpolation')) return symbol(node.text);
        return {
          kind: 'str',
          value: node.namedChildren
            .filter((c) => c?.type === 'string_content')
            .map((c) => c!.text)
            .join(''),
        };
      }
      case 'parenthesized_expression':
        return this.evaluate(node.namedChildren.find((c) => !isExtraNode(c)));
      case 'tuple':
      case 'list':
      case 'expression_list': {
        const items = node.namedChildren.filter((c): c is Node => !!c && !isExtraNode(c));
        if (items.some((c) => c.type === 'list_splat')) return symbol(node.text);
        return { kind: 'tuple', items: items.map((c) => this.evaluate(c)) };
      }
      case 'unary_operator': {
        const operand = this.evaluate(node.childForFieldName('argument'));
        const op = node.childForFieldName('operator')?.text;
        if ((operand.kind === 'int' || operand.kind === 'float') && (op === '-' || op === '+')) {
          return { kind: operand.kind, value: op === '-' ? -operand.value : operand.value };
        }
        return symbol(node.text);
      }
      case 'binary_operator': {
        const left = this.evaluate(node.childForFieldName('left'));
        const right = this.evaluate(node.childForFieldName('right'));
        const op = node.childForFieldName('operator')?.text ?? '';
        if (left.kind === 'int' && right.kind === 'int') {
          const value = arithmetic(op, left.value, right.value);
          if (value !== undefined && Number.isSafeInteger(value)) return { kind: 'int', value };
        }
        return symbol(node.text);
      }
      case 'identifier':
        return this.lookup(node.text, node);
      default:
        return symbol(node.text);
    }
  }

  private lookup(name: string, at: Node): PyValue {
    for (let scope: Node | undefined = this.scopeOf(at); scope; scope = this.parentScope(scope)) {
      const bindings = this.bindingsIn(scope, name);
      if (!bindings) continue;
      let result: PyValue | undefined;
      for (const binding of bindings) {
        if (binding.kind === 'opaque') return symbol(name);
        // A name bound to itself (x = x + 1) or through a cycle stays symbolic.
        if (binding.node.startIndex <= at.startIndex && binding.node.endIndex >= at.endIndex) return symbol(name);
        const value = this.bindingValue(binding.node);
        if (value.kind === 'symbol') return symbol(name);
        if (result && !sameValue(result, value)) return symbol(name);
        result = value;
      }
      return result ?? symbol(name);
    }
    return symbol(name);
  }

  private bindingValue(node: Node): PyValue {
    let value = this.values.get(node.id);
    if (!value) {
      value = this.evaluate(node);
      this.values.set(node.id, value);
    }
    return value;
  }

  /** The scope a lookup continues in: class bodies are skipped from inside their methods. */
  private parentScope(scope: Node): Node | undefined {
    // The root ends the chain whatever its type: half-typed code can leave an ERROR node there,
    // and scopeOf(root) is the root itself.
    if (scope.type === 'module' || !scope.parent) return undefined;
    let next = this.scopeOf(scope);
    while (next.type === 'class_definition') next = this.scopeOf(next);
    return next;
  }

  /** The bindings of `name` in `scope`, in source order, or undefined when it binds no such name. */
  private bindingsIn(scope: Node, name: string): Binding[] | undefined {
    if (scope.type === 'module' && this.source !== undefined) return this.moduleBindings(scope, name);
    return this.bindingsOf(scope).get(name);
  }

  private bindingsOf(scope: Node): Map<string, Binding[]> {
    let map = this.bindings.get(scope.id);
    if (!map) {
      const found = new Map<string, Binding[]>();
      this.bindings.set(scope.id, found);
      const add: AddBinding = (name, binding) => {
        const list = found.get(name);
        if (list) list.push(binding);
        else found.set(name, [binding]);
      };
      if (scope.type === 'function_definition') {
        for (const param of scope.childForFieldName('parameters')?.namedChildren ?? []) {
          const id = param?.type === 'identifier' ? param : param?.namedChildren.find((c) => c?.type === 'identifier');
          if (id) add(id.text, { kind: 'opaque' });
        }
      }
      const body = scope.type === 'module' ? scope : scope.childForFieldName('body');
      if (body) this.collect(body, scope, add);
      map = found;
    }
    return map;
  }

  /**
   * The module's bindings of one name: only a top-level statement whose text holds the name can
   * bind it, so those statements (found through the source text, read through the tree) are read.
   */
  private moduleBindings(module: Node, name: string): Binding[] | undefined {
    let list = this.moduleNames.get(name);
    if (!list) {
      list = [];
      const source = this.source!;
      const seen = new Set<number>();
      const end = Math.min(module.endIndex, source.length);
      for (let at = source.indexOf(name, module.startIndex); at !== -1 && at + name.length <= end; at = source.indexOf(name, at + name.length)) {
        if ((at > 0 && IDENTIFIER_CHAR.test(source[at - 1]!)) || IDENTIFIER_CHAR.test(source[at + name.length] ?? '')) continue;
        const statement = module.childWithDescendant(module.descendantForIndex(at, at + name.length) ?? module);
        if (!statement || seen.has(statement.startIndex)) continue;
        seen.add(statement.startIndex);
        const found = list;
        this.collectStatement(statement, module, (bound, binding) => {
          if (bound === name) found.push(binding);
        });
        // Statements are met in source order, and one statement's bindings are in source order.
      }
      this.moduleNames.set(name, list);
    }
    return list.length > 0 ? list : undefined;
  }

  /** Walks the statements of a scope body (into if/for/with/try blocks, not into nested scopes). */
  private collect(block: Node, scope: Node, add: AddBinding): void {
    for (const statement of block.namedChildren) if (statement) this.collectStatement(statement, scope, add);
  }

  private collectStatement(statement: Node, scope: Node, add: AddBinding): void {
    switch (statement.type) {
      case 'expression_statement':
        for (const child of statement.namedChildren) {
          if (child?.type === 'assignment') this.collectAssignment(child, scope, add);
          else if (child?.type === 'augmented_assignment') this.targets(child.childForFieldName('left'), (n) => add(n, { kind: 'opaque' }));
        }
        break;
      case 'function_definition':
      case 'class_definition': {
        const name = statement.childForFieldName('name');
        if (name) add(name.text, { kind: 'opaque' });
        break;
      }
      case 'decorated_definition': {
        const name = statement.childForFieldName('definition')?.childForFieldName('name');
        if (name) add(name.text, { kind: 'opaque' });
        break;
      }
      case 'import_statement':
      case 'import_from_statement':
        statement.namedChildren.forEach((child, i) => {
          if (!child || statement.fieldNameForNamedChild(i) === 'module_name') return;
          if (child.type === 'aliased_import') add(child.childForFieldName('alias')?.text ?? '', { kind: 'opaque' });
          else if (child.type === 'dotted_name') add(child.namedChildren[0]?.text ?? '', { kind: 'opaque' });
        });
        break;
      case 'for_statement':
        this.targets(statement.childForFieldName('left'), (n) => add(n, { kind: 'opaque' }));
        this.collectChildren(statement, scope, add);
        break;
      case 'with_statement':
        for (const alias of statement.descendantsOfType('as_pattern_target')) this.targets(alias, (n) => add(n, { kind: 'opaque' }));
        this.collectChildren(statement, scope, add);
        break;
      case 'global_statement':
      case 'nonlocal_statement':
        for (const id of statement.namedChildren) if (id) add(id.text, { kind: 'opaque' });
        break;
      default:
        this.collectChildren(statement, scope, add);
    }
  }

  private collectChildren(statement: Node, scope: Node, add: AddBinding): void {
    for (const child of statement.namedChildren) {
      if (!child) continue;
      if (child.type === 'block') this.collect(child, scope, add);
      else if (['else_clause', 'elif_clause', 'except_clause', 'finally_clause', 'case_clause'].includes(child.type)) this.collectChildren(child, scope, add);
    }
  }

  private collectAssignment(node: Node, scope: Node, add: AddBinding): void {
    const left = node.childForFieldName('left');
    const right = node.childForFieldName('right');
    if (!left) return;
    if (left.type === 'identifier') {
      if (right?.type === 'assignment' || right?.type === 'yield' || !right) add(left.text, { kind: 'opaque' });
      else add(left.text, { kind: 'value', node: right, scope });
      if (right?.type === 'assignment') this.collectAssignment(right, scope, add);
      return;
    }
    // a, b = 1, 2: pair up when both sides are plain lists of the same length.
    const targets = left.type === 'pattern_list' || left.type === 'tuple_pattern' ? left.namedChildren : [];
    const values = right && (right.type === 'expression_list' || right.type === 'tuple') ? right.namedChildren : [];
    if (targets.length > 0 && targets.length === values.length && targets.every((t) => t?.type === 'identifier')) {
      targets.forEach((t, i) => add(t!.text, { kind: 'value', node: values[i]!, scope }));
      return;
    }
    this.targets(left, (n) => add(n, { kind: 'opaque' }));
  }

  private targets(node: Node | null, each: (name: string) => void): void {
    if (!node) return;
    if (node.type === 'identifier') each(node.text);
    else if (
      ['pattern_list', 'tuple_pattern', 'list_pattern', 'as_pattern_target', 'tuple', 'list', 'parenthesized_expression', 'list_splat_pattern'].includes(
        node.type,
      )
    ) {
      for (const child of node.namedChildren) this.targets(child, each);
    }
  }
}
