/**
 * Where Python looks for the module of an import, as files of the workspace: `from .blocks import X`
 * in models/net.py is models/blocks.py (or models/blocks/__init__.py); an absolute import is looked
 * up from the file's folder and the folders above it (package roots). Library modules are never
 * looked up. Shared by the CLI (node:fs) and the editor (VS Code's file system).
 */
import * as path from 'node:path';
import type { Node, Tree } from 'web-tree-sitter';

const LIBRARY_ROOTS =
  /^(torch|torchvision|keras|tensorflow|tf_keras|numpy|math|functools|collections|typing|typing_extensions|os|sys|re|copy|itertools|warnings|logging|dataclasses|abc|enum|timm|einops|json|argparse|pathlib|time|random|__future__|operator|inspect|types|builtins)(\.|$)/;

/** The files that may hold `module` imported from `from` with `level` leading dots, most likely first. */
export function candidatePaths(from: string, module: string, level: number): string[] {
  if (level === 0 && LIBRARY_ROOTS.test(module)) return [];
  const parts = module ? module.split('.') : [];
  const bases: string[] = [];
  if (level > 0) {
    let base = path.dirname(from);
    for (let i = 1; i < level; i++) base = path.dirname(base);
    bases.push(base);
  } else {
    let base = path.dirname(from);
    for (let i = 0; i < 4; i++) {
      bases.push(base);
      const up = path.dirname(base);
      if (up === base) break;
      base = up;
    }
  }
  const out: string[] = [];
  for (const base of bases) {
    const file = parts.length ? path.join(base, ...parts) : base;
    out.push(`${file}.py`, path.join(file, '__init__.py'));
  }
  return out;
}

/** The imports of a tree as (module, level, names): what a resolver may be asked for. */
export function importsOf(tree: Tree): { module: string; level: number; names: string[] }[] {
  const out: { module: string; level: number; names: string[] }[] = [];
  for (const node of tree.rootNode.descendantsOfType(['import_statement', 'import_from_statement'])) {
    if (!node) continue;
    if (node.type === 'import_statement') {
      for (const child of node.namedChildren) {
        const name = child?.type === 'aliased_import' ? child.childForFieldName('name')?.text : child?.type === 'dotted_name' ? child.text : undefined;
        if (name) out.push({ module: name, level: 0, names: [] });
      }
      continue;
    }
    const moduleNode = node.childForFieldName('module_name');
    if (!moduleNode) continue;
    let level = 0;
    let module = moduleNode.text;
    if (moduleNode.type === 'relative_import') {
      level = moduleNode.namedChildren.find((c: Node | null) => c?.type === 'import_prefix')?.text.length ?? 0;
      module = moduleNode.namedChildren.find((c: Node | null) => c?.type === 'dotted_name')?.text ?? '';
    }
    const names: string[] = [];
    node.namedChildren.forEach((child, i) => {
      if (!child || node.fieldNameForNamedChild(i) === 'module_name') return;
      if (child.type === 'dotted_name') names.push(child.text);
      else if (child.type === 'aliased_import') names.push(child.childForFieldName('name')?.text ?? '');
    });
    out.push({ module, level, names });
  }
  return out;
}

/** Every path an import of `tree` (in file `from`) may be read from, submodules of `from . import x` included. */
export function importCandidates(tree: Tree, from: string): string[] {
  const out = new Set<string>();
  for (const { module, level, names } of importsOf(tree)) {
    for (const p of candidatePaths(from, module, level)) out.add(p);
    for (const name of names) for (const p of candidatePaths(from, module ? `${module}.${name}` : name, level)) out.add(p);
  }
  return [...out];
}
