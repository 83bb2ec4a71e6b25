/**
 * `sepconv cost model.py [--json]`: the figures the hover shows, for every recognised layer call
 * of a Python file, so they can be checked and scripted.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Convention, Dtype } from './shared/cost';
import { formatCount, formatInteger } from './shared/format';
import { findWasmLocations, loadPythonParser } from './python/pythonParser';
import { skipReason } from './python/parseCache';
import { analyzeTree } from './python/pythonAnalysis';
import { CONV_TYPES } from './python/modelCode';
import { DEFAULT_SETTINGS, type EstimateSettings } from './python/layerEstimates';
import { showValue } from './python/pythonValues';
import { terminalSafe } from './cliText';

export interface PythonCostOptions {
  json: boolean;
  convention?: Convention;
  dtype?: Dtype;
  /** [H, W] or [N, C, H, W] (only H and W are used): the size where the code does not say. */
  inputSize?: number[];
}

export interface PythonCostRow {
  line: number;
  column: number;
  framework: 'torch' | 'keras';
  layer: string;
  code: string;
  kind: string | null;
  params: number | null;
  macs: number | null;
  flops: number | null;
  /** How the shapes are written: NCHW for PyTorch, NHWC for Keras. */
  layout: 'NCHW' | 'NHWC';
  input_shape: number[] | null;
  input_source: string | null;
  output_shape: number[] | null;
  weight_shape: number[] | null;
  separable: { params: number; macs: number; saving: number } | null;
  unresolved: string[];
  error: string | null;
}

/** Every recognised layer of `source` with its figures (1-based line and column where the call starts). */
export async function pythonCostRows(source: string, settings: EstimateSettings, wasmDirs: string[]): Promise<{ rows: PythonCostRow[]; diagnostics: string[] }> {
  const reason = skipReason(source);
  if (reason) throw new Error(`not read: ${reason}`);
  const parser = await loadPythonParser(findWasmLocations(wasmDirs));
  const tree = parser.parse(source);
  if (!tree) throw new Error('the Python parser returned no tree');
  try {
    const analysis = analyzeTree(tree, settings);
    const rows = analysis.code.calls.map((call, index): PythonCostRow => {
      const e = analysis.estimates.layers[index]!;
      const isConv = CONV_TYPES.has(call.type);
      // Keras code reads shapes channels last, as its own summaries print them.
      const inLayout = (s: number[]) => (call.framework === 'keras' && s.length === 4 ? [s[0]!, s[2]!, s[3]!, s[1]!] : s);
      return {
        line: call.span.startLine + 1,
        column: call.span.startColumn + 1,
        framework: call.framework,
        layer: call.type,
        code: `${call.callee.text}(${call.argList.map((a) => (a.keyword ? `${a.name}=${showValue(a.value)}` : showValue(a.value))).join(', ')})`,
        kind: e.conv?.kind ?? (call.type === 'SeparableConv2D' && e.cost ? 'depthwise separable' : isConv ? null : call.type),
        params: e.cost?.params ?? null,
        macs: e.cost?.macs ?? null,
        flops: e.cost?.flops ?? null,
        layout: call.framework === 'keras' ? 'NHWC' : 'NCHW',
        input_shape: e.inShape ? inLayout(e.inShape) : null,
        input_source: e.inputSource ?? null,
        output_shape: e.outShape ? inLayout(e.outShape) : null,
        weight_shape: e.conv?.weightShape ?? null,
        separable: e.conv?.separable ? { params: e.conv.separable.total.params, macs: e.conv.separable.total.macs, saving: e.conv.separable.saving } : null,
        unresolved: e.unresolved,
        error: e.error ?? null,
      };
    });
    const diagnostics = analysis.diagnostics.map((d) => `${d.span.startLine + 1}:${d.span.startColumn + 1} ${d.severity}: ${d.message}`);
    return { rows, diagnostics };
  } finally {
    tree.delete();
  }
}

function table(rows: PythonCostRow[]): string {
  const header = ['line:col', 'layer', 'kind', 'params', 'MACs', 'FLOPs', 'output', 'note'];
  const body = rows.map((r) => [
    `${r.line}:${r.column}`,
    r.code.length > 48 ? `${r.code.slice(0, 45)}...` : r.code,
    r.kind ?? '?',
    r.params === null ? '?' : formatInteger(r.params),
    r.macs === null ? '?' : formatCount(r.macs),
    r.flops === null ? '?' : formatCount(r.flops),
    r.output_shape ? r.output_shape.join('x') : '?',
    r.error ?? (r.unresolved.length ? `unresolved: ${r.unresolved.join('; ')}` : r.separable ? `separable: ${formatCount(r.separable.macs)} MACs (-${(r.separable.saving * 100).toFixed(1)}%)` : r.input_source === 'default' ? 'default input size' : ''),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  return [header, ...body].map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

/** Runs the command; returns the exit code (errors go to stderr). */
export async function runPythonCostCommand(file: string, options: PythonCostOptions): Promise<number> {
  let source: string;
  try {
    source = fs.readFileSync(file, 'utf8');
  } catch (error) {
    process.stderr.write(terminalSafe(`sepconv cost: cannot read ${file}: ${(error as Error).message}\n`));
    return 1;
  }
  const size = options.inputSize;
  if (size && (!(size.length === 2 || size.length === 4) || !size.every((n) => Number.isInteger(n) && n >= 1))) {
    process.stderr.write(terminalSafe(`sepconv cost: --input-shape for a .py file is H,W or N,C,H,W; got ${size.join(',')}\n`));
    return 1;
  }
  const settings: EstimateSettings = {
    convention: options.convention ?? DEFAULT_SETTINGS.convention,
    dtype: options.dtype ?? DEFAULT_SETTINGS.dtype,
    defaultInputSize: size ? [size[size.length - 2]!, size[size.length - 1]!] : DEFAULT_SETTINGS.defaultInputSize,
  };
  try {
    const here = typeof __dirname === 'string' ? __dirname : process.cwd();
    const { rows, diagnostics } = await pythonCostRows(source, settings, [here, path.resolve(here, '..'), process.cwd()]);
    if (options.json) process.stdout.write(terminalSafe(`${JSON.stringify(rows, null, 2)}\n`));
    else {
      process.stdout.write(terminalSafe(rows.length ? `${table(rows)}\n` : `no PyTorch or Keras layers recognised in ${file}\n`));
      process.stdout.write(terminalSafe(`(${settings.convention}, ${settings.dtype}; input ${settings.defaultInputSize.join('x')} where the code does not give one)\n`));
    }
    for (const d of diagnostics) process.stderr.write(terminalSafe(`${file}:${d}\n`));
    return 0;
  } catch (error) {
    process.stderr.write(terminalSafe(`sepconv cost: ${file}: ${(error as Error).message}\n`));
    return 1;
  }
}
