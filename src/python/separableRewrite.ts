/**
 * Rewrites a standard convolution call as its depthwise-separable equivalent, keeping the user's
 * arguments, spelling of the class (nn., torch.nn., an imported alias) and layout.
 */
import type { LayerArg, LayerCall, ModelCode } from './modelCode';

export interface TextEdit {
  start: number;
  end: number;
  newText: string;
}

export interface SeparableRewrite {
  title: string;
  edits: TextEdit[];
}

const LINE_LIMIT = 100;

/** Whether the call is a conv that a separable pair can replace: standard (groups 1), kernel larger than 1x1. */
export function canRewrite(call: LayerCall): boolean {
  if (call.hasSplat) return false;
  const groups = call.args.groups;
  if (groups && !(groups.value.kind === 'int' && groups.value.value === 1)) return false;
  const k = call.args.kernel_size?.value;
  const isOne = (v: typeof k) => v?.kind === 'int' && v.value === 1;
  if (!k || isOne(k) || (k.kind === 'tuple' && k.items.every(isOne))) return false;
  if (call.framework === 'torch') return call.type === 'Conv2d' && !!call.args.in_channels && !!call.args.out_channels;
  return call.type === 'Conv2D' && !!call.args.filters;
}

/** `nn.Conv2d` -> `nn.Sequential`; a bare alias needs a name for Sequential from the imports. */
function sibling(call: LayerCall, code: ModelCode, cls: string, module: string): { name: string; importLine?: string } {
  const callee = call.callee.text;
  const dot = callee.lastIndexOf('.');
  if (dot !== -1) return { name: `${callee.slice(0, dot)}.${cls}` };
  for (const [local, target] of Object.entries(code.imports)) if (target === `${module}.${cls}`) return { name: local };
  for (const [local, target] of Object.entries(code.imports)) if (target === module) return { name: `${local}.${cls}` };
  const imported = code.imports[callee];
  const from = imported ? imported.slice(0, imported.lastIndexOf('.')) : module;
  return { name: cls, importLine: `from ${from} import ${cls}\n` };
}

function lineIndent(text: string, offset: number): string {
  const lineStart = text.lastIndexOf('\n', offset - 1) + 1;
  return /^[ \t]*/.exec(text.slice(lineStart))![0];
}

function layout(head: string, parts: string[], indent: string, oneLineStart: number, multiLine: boolean): string {
  const one = `${head}(${parts.join(', ')})`;
  if (!multiLine && oneLineStart + one.length <= LINE_LIMIT) return one;
  return `${head}(\n${parts.map((p) => `${indent}    ${p},`).join('\n')}\n${indent})`;
}

function asKeyword(arg: LayerArg): string {
  return `${arg.name}=${arg.valueText}`;
}

/** Where to put a new import line: after the last top-level import, else at the top. */
function importOffset(text: string): number {
  const re = /^(?:import|from)\s.*$/gm;
  let end = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) end = m.index + m[0].length + 1;
  return Math.min(end, text.length);
}

/** The edits turning the call into its separable form, or undefined if it is not a candidate. */
export function separableRewrite(call: LayerCall, code: ModelCode, text: string): SeparableRewrite | undefined {
  if (!canRewrite(call)) return undefined;
  const indent = lineIndent(text, call.span.start);
  const column = call.span.start - (text.lastIndexOf('\n', call.span.start - 1) + 1);
  const multiLine = text.slice(call.span.start, call.span.end).includes('\n');
  const edits: TextEdit[] = [];
  let replacement: string;
  if (call.framework === 'torch') {
    const seq = sibling(call, code, 'Sequential', 'torch.nn');
    if (seq.importLine) edits.push({ start: importOffset(text), end: importOffset(text), newText: seq.importLine });
    const { in_channels: cin, out_channels: cout, kernel_size: k } = call.args;
    const style = (arg: LayerArg, value: string) => (arg.keyword ? `${arg.name}=${value}` : value);
    const dw = [style(cin!, cin!.valueText), style(cout!, cin!.valueText), style(k!, k!.valueText)];
    const pw = [style(cin!, cin!.valueText), style(cout!, cout!.valueText), style(k!, '1')];
    for (const arg of call.argList) {
      if (arg === cin || arg === cout || arg === k || arg.name === 'groups') continue;
      const positionalOk = !arg.keyword && ['stride', 'padding', 'dilation'].includes(arg.name) && !dw.some((p) => p.includes('='));
      dw.push(positionalOk ? arg.text : asKeyword(arg));
      if (['bias', 'device', 'dtype'].includes(arg.name)) pw.push(asKeyword(arg));
    }
    dw.push(`groups=${cin!.valueText}`);
    const inner = `${indent}    `;
    const dwText = `${call.callee.text}(${dw.join(', ')})`;
    const pwText = `${call.callee.text}(${pw.join(', ')})`;
    const one = `${seq.name}(${dwText}, ${pwText})`;
    replacement = !multiLine && column + one.length <= LINE_LIMIT ? one : `${seq.name}(\n${inner}${dwText},\n${inner}${pwText},\n${indent})`;
    edits.push({ start: call.span.start, end: call.span.end, newText: replacement });
    return { title: `Convert to depthwise separable: ${call.callee.text} ${shortArgs(dw)} + 1x1`, edits };
  }
  const sep = sibling(call, code, 'SeparableConv2D', 'keras.layers');
  if (sep.importLine) edits.push({ start: importOffset(text), end: importOffset(text), newText: sep.importLine });
  const parts: string[] = [];
  for (const arg of call.argList) {
    if (arg.name === 'groups') continue;
    const kernelWord = /^kernel_(initializer|regularizer|constraint)$/.exec(arg.name);
    if (kernelWord) {
      parts.push(`depthwise_${kernelWord[1]}=${arg.valueText}`, `pointwise_${kernelWord[1]}=${arg.valueText}`);
      continue;
    }
    // Positions 0-5 are the same in Conv2D and SeparableConv2D; later ones differ.
    const index = ['filters', 'kernel_size', 'strides', 'padding', 'data_format', 'dilation_rate'].indexOf(arg.name);
    parts.push(!arg.keyword && index !== -1 ? arg.text : asKeyword(arg));
  }
  replacement = layout(sep.name, parts, indent, column, multiLine);
  edits.push({ start: call.span.start, end: call.span.end, newText: replacement });
  return { title: `Convert to depthwise separable: ${sep.name}`, edits };
}

function shortArgs(parts: string[]): string {
  const joined = parts.join(', ');
  return `(${joined.length > 50 ? `${joined.slice(0, 47)}...` : joined})`;
}

/** Applies edits (non-overlapping) to a text: for tests and the CLI. */
export function applyEdits(text: string, edits: readonly TextEdit[]): string {
  return [...edits].sort((a, b) => b.start - a.start).reduce((t, e) => t.slice(0, e.start) + e.newText + t.slice(e.end), text);
}
