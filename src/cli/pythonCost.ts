/**
 * `sepconv cost model.py [--json]`: the figures the hover shows, for every conv call site of a
 * Python file (every instance a site builds), so they can be checked and scripted.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { READ_LIMITS, readRegularFile } from '../io/localFiles';
import type { Convention, Dtype } from '../shared/cost';
import { formatCount, formatInteger, formatShape } from '../shared/format';
import { findWasmLocations, loadPythonParser, type PythonParser } from '../python/pythonParser';
import { skipReason } from '../python/parseCache';
import { DEFAULT_SETTINGS } from '../python/layerEstimates';
import { fileSiteRows, parseCommentCalls, type FileRows, type SiteRow } from '../python/siteRows';
import type { ModelEvaluation } from '../python/codeEvaluation';
import { modelLensTitle } from '../python/sitePresentation';
import type { ImportResolver, SourceFile } from '../python/modelEvaluator';
import { candidatePaths } from '../python/importPaths';
import { CliError } from './arguments';
import { errorMessage, fileProblem, installFolders } from './files';
import { tableColumns, type CliOutput } from './terminal';

export interface PythonCostOptions {
  json: boolean;
  /** With `json`: print {sites, models} (each model's totals, as its CodeLens says them) instead of the sites alone. */
  models?: boolean;
  convention?: Convention;
  dtype?: Dtype;
  /** [H, W]: the size of a model's input where the code does not say. */
  inputSize?: [number, number];
  /** The models' whole input (N,C,H,W; N,C,L or N,L for 1-D models; N,C,D,H,W), as a `# sepconv: input` comment would give it. */
  inputShape?: number[];
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

/** A model's totals as `--json --models` prints them. */
function modelJson(m: ModelEvaluation) {
  return {
    name: m.name,
    line: m.line + 1,
    column: m.column + 1,
    params: m.params,
    macs: m.macs,
    conv_instances: m.convInstances,
    /** Layer instances whose figures are not known: not in params and macs. */
    unknown_instances: m.unknownInstances,
    ...(m.stopped ? { stopped: m.stopped } : {}),
    /** Code that may build more layers was not followed: params and macs are lower bounds. */
    ...(m.incomplete ? { incomplete: true } : {}),
  };
}

/** Every conv call site of `source` (at `file`) with its figures. */
export async function pythonCostRows(
  file: string,
  source: string,
  settings: typeof DEFAULT_SETTINGS & { inputShape?: number[] },
  wasmDirs: string[],
  calls: string[] = [],
): Promise<FileRows> {
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
    // --call replaces the file's entries; without it, the file's `# sepconv: call` comments add models.
    const commented = parsed.length ? [] : parseCommentCalls(parser, source);
    others.push(...commented);
    return fileSiteRows(tree, source, path.resolve(file), fsImportResolver(parser, others), {
      ...settings,
      ...(parsed.length ? { calls: parsed } : {}),
      ...(commented.length ? { commentCalls: commented } : {}),
    });
  } finally {
    tree.delete();
    for (const other of others) other.tree.delete();
  }
}

function table(rows: SiteRow[]): string {
  const header = ['line:col', 'layer', 'kind', 'count', 'params', 'MACs', 'output', 'note'];
  const body = rows.map((r) => [
    `${r.line}:${r.column}`,
    r.code.length > 32 ? `${r.code.slice(0, 29)}...` : r.code,
    r.kind ?? (r.instances.length > 1 ? 'several' : '?'),
    String(r.count),
    r.params === undefined ? (r.instances.length > 1 ? 'several' : '?') : formatInteger(r.params),
    r.macs === undefined ? (r.instances.length > 1 ? 'several' : '?') : formatCount(r.macs),
    r.output_shape ? formatShape(r.output_shape) : r.instances.length > 1 ? 'several' : '?',
    r.unknown ? `unknown: ${r.reason}` : r.instances.length > 1 ? `${r.instances.length} configurations` : '',
  ]);
  const { line } = tableColumns([header, ...body]);
  return [header, ...body].map(line).join('\n');
}

/** Runs the command, printing through `io.out`; returns the exit code. A file that cannot be read or parsed throws a CliError. */
export async function runPythonCostCommand(file: string, options: PythonCostOptions, io: CliOutput): Promise<number> {
  let source: string;
  try {
    source = readRegularFile(file, READ_LIMITS.python).toString('utf8');
  } catch (error) {
    throw new CliError(`cannot read ${file}: ${fileProblem(error)}`);
  }
  const settings = {
    convention: options.convention ?? DEFAULT_SETTINGS.convention,
    dtype: options.dtype ?? DEFAULT_SETTINGS.dtype,
    defaultInputSize: options.inputSize ?? DEFAULT_SETTINGS.defaultInputSize,
    ...(options.inputShape ? { inputShape: options.inputShape } : {}),
  };
  let result: FileRows;
  try {
    result = await pythonCostRows(file, source, settings, [...installFolders(), process.cwd()], options.calls);
  } catch (error) {
    throw new CliError(`${file}: ${errorMessage(error)}`);
  }
  const { sites: rows, evaluation } = result;
  const sites = rows.map(({ start: _s, end: _e, ...row }) => row);
  if (options.json) {
    io.out(JSON.stringify(options.models ? { sites, models: evaluation.models.map(modelJson) } : sites, null, 2));
    return 0;
  }
  const lines = [rows.length ? table(rows) : `no PyTorch or Keras conv layers found in ${file}`];
  lines.push(`(${settings.convention}, ${settings.dtype}; a model's input at ${formatShape(settings.defaultInputSize)} where the code does not give one)`);
  const entries = evaluation.entries.map((e) => `${e.name}${e.kept ? '' : ' (not counted)'}${e.note ? `: ${e.note}` : ''}`);
  if (entries.length)
    lines.push(
      `${options.calls?.length ? 'models built' : "models built with their default arguments (or by the file's script steps)"}:\n  ${entries.join('\n  ')}`,
    );
  const totals = evaluation.models.flatMap((m) => {
    const title = modelLensTitle(m);
    return title ? [`  ${m.name}: ${title}`] : [];
  });
  if (totals.length) lines.push(`totals (as the CodeLens gives them: every layer instance the model builds, parameters once):\n${totals.join('\n')}`);
  if (evaluation.error) lines.push(`the top level of the file stopped: ${evaluation.error}`);
  io.out(lines.join('\n'));
  return 0;
}
