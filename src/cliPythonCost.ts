/**
 * `sepconv cost model.py [--json]`: the figures the hover shows, for every conv call site of a
 * Python file (every instance a site builds), so they can be checked and scripted.
 */
import * as fs from 'node:fs';
import { READ_LIMITS, readRegularFile } from './io/localFiles';
import { terminalSafe } from './cliText';
import * as path from 'node:path';
import type { Convention, Dtype } from './shared/cost';
import { formatCount, formatInteger } from './shared/format';
import { findWasmLocations, loadPythonParser, type PythonParser } from './python/pythonParser';
import { skipReason } from './python/parseCache';
import { DEFAULT_SETTINGS } from './python/layerEstimates';
import { fileSiteRows, type FileRows, type SiteRow } from './python/siteRows';
import type { ImportResolver, SourceFile } from './python/modelEvaluator';
import { candidatePaths } from './python/importPaths';

export interface PythonCostOptions {
  json: boolean;
  convention?: Convention;
  dtype?: Dtype;
  /** [H, W] or [N, C, H, W] (only H and W are used): the size where the code does not say. */
  inputSize?: number[];
  /** Expressions that build the models (`Net(10)`), evaluated in the file instead of its entries (as --measure --call). */
  calls?: string[];
}

/** Python files of the workspace found from the file system: `from .blocks import X`. */
export function fsImportResolver(parser: PythonParser, trees: SourceFile[]): ImportResolver {
  const cache = new Map<string, SourceFile | undefined>();
  const load = (file: string): SourceFile | undefined => {
    if (cache.has(file)) return cache.get(file);
    let found: SourceFile | undefined;
    try {
      if (fs.statSync(file).isFile()) {
        const text = readRegularFile(file, READ_LIMITS.python).toString('utf8');
        const tree = skipReason(text) ? undefined : parser.parse(text);
        if (tree) {
          found = { path: file, tree };
          trees.push(found);
        }
      }
    } catch {
      found = undefined;
    }
    cache.set(file, found);
    return found;
  };
  return (from, module, level) => {
    for (const file of candidatePaths(from, module, level)) {
      const hit = load(file);
      if (hit) return hit;
    }
    return undefined;
  };
}

/** Every conv call site of `source` (at `file`) with its figures. */
export async function pythonCostRows(file: string, source: string, settings: typeof DEFAULT_SETTINGS, wasmDirs: string[], calls: string[] = []): Promise<FileRows> {
  const reason = skipReason(source);
  if (reason) throw new Error(`not read: ${reason}`);
  const parser = await loadPythonParser(findWasmLocations(wasmDirs));
  const tree = parser.parse(source);
  if (!tree) throw new Error('the Python parser returned no tree');
  const others: SourceFile[] = [];
  try {
    const parsed = calls.map((text): SourceFile => {
      const callTree = parser.parse(text);
      if (!callTree) throw new Error(`--call ${JSON.stringify(text)} could not be parsed`);
      others.push({ path: text, tree: callTree });
      return { path: text, tree: callTree };
    });
    return fileSiteRows(tree, source, path.resolve(file), fsImportResolver(parser, others), { ...settings, ...(parsed.length ? { calls: parsed } : {}) });
  } finally {
    tree.delete();
    for (const other of others) other.tree.delete();
  }
}

const shapeText = (s: number[] | undefined | null) => (s ? s.join('x') : '?');

function table(rows: SiteRow[]): string {
  const header = ['line:col', 'layer', 'kind', 'count', 'params', 'MACs', 'output', 'note'];
  const body = rows.map((r) => [
    `${r.line}:${r.column}`,
    r.code.length > 32 ? `${r.code.slice(0, 29)}...` : r.code,
    r.kind ?? (r.instances.length > 1 ? 'several' : '?'),
    String(r.count),
    r.params === undefined ? (r.instances.length > 1 ? 'several' : '?') : formatInteger(r.params),
    r.macs === undefined ? (r.instances.length > 1 ? 'several' : '?') : formatCount(r.macs),
    r.output_shape ? shapeText(r.output_shape) : r.instances.length > 1 ? 'several' : '?',
    r.unknown ? `unknown: ${r.reason}` : r.instances.length > 1 ? `${r.instances.length} configurations` : '',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  return [header, ...body].map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

/** Runs the command; returns the exit code (errors go to stderr). */
export async function runPythonCostCommand(file: string, options: PythonCostOptions): Promise<number> {
  let source: string;
  try {
    source = readRegularFile(file, READ_LIMITS.python).toString('utf8');
  } catch (error) {
    process.stderr.write(terminalSafe(`sepconv cost: cannot read ${file}: ${(error as Error).message}\n`));
    return 1;
  }
  const size = options.inputSize;
  if (size && (!(size.length === 2 || size.length === 4) || !size.every((n) => Number.isInteger(n) && n >= 1))) {
    process.stderr.write(terminalSafe(`sepconv cost: --input-size for a .py file is H,W or N,C,H,W; got ${size.join(',')}\n`));
    return 1;
  }
  const settings = {
    convention: options.convention ?? DEFAULT_SETTINGS.convention,
    dtype: options.dtype ?? DEFAULT_SETTINGS.dtype,
    defaultInputSize: size ? ([size[size.length - 2]!, size[size.length - 1]!] as [number, number]) : DEFAULT_SETTINGS.defaultInputSize,
  };
  try {
    const here = typeof __dirname === 'string' ? __dirname : process.cwd();
    const { sites: rows, evaluation } = await pythonCostRows(file, source, settings, [here, path.resolve(here, '..'), process.cwd()], options.calls);
    if (options.json) process.stdout.write(terminalSafe(`${JSON.stringify(rows.map(({ start: _s, end: _e, ...row }) => row), null, 2)}\n`));
    else {
      process.stdout.write(terminalSafe(rows.length ? `${table(rows)}\n` : `no PyTorch or Keras conv layers found in ${file}\n`));
      process.stdout.write(terminalSafe(`(${settings.convention}, ${settings.dtype}; a model's input at ${settings.defaultInputSize.join('x')} where the code does not give one)\n`));
      const entries = evaluation.entries.map((e) => `${e.name}${e.kept ? '' : ' (not counted)'}${e.note ? `: ${e.note}` : ''}`);
      if (entries.length) process.stdout.write(terminalSafe(`${options.calls?.length ? 'models built' : 'models built with their default arguments (or by the file\'s script steps)'}:\n  ${entries.join('\n  ')}\n`));
      if (evaluation.error) process.stdout.write(terminalSafe(`the top level of the file stopped: ${evaluation.error}\n`));
    }
    return 0;
  } catch (error) {
    process.stderr.write(terminalSafe(`sepconv cost: ${file}: ${(error as Error).message}\n`));
    return 1;
  }
}
