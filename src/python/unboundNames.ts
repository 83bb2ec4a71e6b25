/**
 * Names a Python file uses but binds nowhere: evaluating one raises NameError, as it does when the
 * file runs (`layers.append(BlockTransition(...))` where nothing defines BlockTransition).
 */
import type { Node, Tree } from 'web-tree-sitter';

/** Python 3's builtins (`dir(builtins)`) and the module attributes every module has. */
const BUILTINS = new Set(
  `ArithmeticError AssertionError AttributeError BaseException BaseExceptionGroup BlockingIOError
BrokenPipeError BufferError BytesWarning ChildProcessError ConnectionAbortedError ConnectionError
ConnectionRefusedError ConnectionResetError DeprecationWarning EOFError Ellipsis EncodingWarning
EnvironmentError Exception ExceptionGroup False FileExistsError FileNotFoundError FloatingPointError
FutureWarning GeneratorExit IOError ImportError ImportWarning IndentationError IndexError InterruptedError
IsADirectoryError KeyError KeyboardInterrupt LookupError MemoryError ModuleNotFoundError NameError None
NotADirectoryError NotImplemented NotImplementedError OSError OverflowError PendingDeprecationWarning
PermissionError ProcessLookupError RecursionError ReferenceError ResourceWarning RuntimeError RuntimeWarning
StopAsyncIteration StopIteration SyntaxError SyntaxWarning SystemError SystemExit TabError TimeoutError True
TypeError UnboundLocalError UnicodeDecodeError UnicodeEncodeError UnicodeError UnicodeTranslateError
UnicodeWarning UserWarning ValueError Warning ZeroDivisionError abs aiter all anext any ascii bin bool
breakpoint bytearray bytes callable chr classmethod compile complex copyright credits delattr dict dir divmod
enumerate eval exec exit filter float format frozenset getattr globals hasattr hash help hex id input int
isinstance issubclass iter len license list locals map max memoryview min next object oct open ord pow print
property quit range repr reversed round set setattr slice sorted staticmethod str sum super tuple type vars
zip __name__ __file__ __doc__ __package__ __spec__ __loader__ __builtins__ __debug__ __dict__ __annotations__
__path__ __cached__ __class__ __import__ __build_class__`.split(/\s+/),
);

/** Node types whose every identifier binds a name (imports, parameters, global declarations). */
const BINDS_ALL = new Set([
  'import_statement',
  'import_from_statement',
  'future_import_statement',
  'aliased_import',
  'global_statement',
  'nonlocal_statement',
  'parameters',
  'lambda_parameters',
  'except_clause',
  'except_group_clause',
  'as_pattern_target',
  'case_pattern',
  'type_parameter',
]);

/** The names a file binds anywhere, or undefined where it may bind names it does not spell (`from x import *`, `globals()`, `exec`). */
function boundNames(root: Node): Set<string> | undefined {
  const names = new Set<string>();
  let open = false;
  const targets = (node: Node | null) => {
    if (!node) return;
    if (node.type === 'identifier') names.add(node.text);
    else if (node.type !== 'attribute' && node.type !== 'subscript') for (const c of node.namedChildren) targets(c);
  };
  const visit = (node: Node) => {
    switch (node.type) {
      case 'wildcard_import':
        open = true;
        return;
      case 'assignment':
      case 'augmented_assignment':
      case 'for_statement':
      case 'for_in_clause':
        targets(node.childForFieldName('left'));
        break;
      case 'named_expression':
        targets(node.childForFieldName('name'));
        break;
      case 'function_definition':
      case 'class_definition':
        targets(node.childForFieldName('name'));
        break;
      case 'as_pattern':
        targets(node.childForFieldName('alias'));
        break;
      case 'identifier':
        if (node.text === 'globals' || node.text === 'exec' || node.text === 'vars' || node.text === 'locals' || node.text === '__builtins__') open = true;
        return;
      default:
        if (BINDS_ALL.has(node.type)) {
          for (const id of node.descendantsOfType('identifier')) if (id) names.add(id.text);
        }
    }
    for (const child of node.namedChildren) if (child) visit(child);
  };
  visit(root);
  return open ? undefined : names;
}

const cache = new WeakMap<Tree, Set<string> | null>();

/** True when evaluating the identifier `node` surely raises NameError: its file binds the name nowhere and it is no builtin. */
export function isUnboundName(node: Node): boolean {
  if (BUILTINS.has(node.text)) return false;
  let names = cache.get(node.tree);
  if (names === undefined) {
    names = boundNames(node.tree.rootNode) ?? null;
    cache.set(node.tree, names);
  }
  return names !== null && !names.has(node.text);
}
