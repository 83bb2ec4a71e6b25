/**
 * The per-site figures of a file's evaluation as plain rows, one per conv call site: what
 * `sepconv cost FILE.py --json` prints and what the hover and CodeLens read. Sites the syntax
 * shows but no evaluated model reached are listed as unknown, with the reason.
 */
import type { Tree } from 'web-tree-sitter';
import { readModelCode, CONV_TYPES, type LayerCall, type ModelCode } from './modelCode';
import { commentCalls, evaluateFile, type EvaluationSettings, type FileEvaluation, type InstanceGroup, type SiteEvaluation } from './codeEvaluation';
import type { ImportResolver, SourceFile } from './modelEvaluator';

export interface InstanceRow {
  /** null when the site's instances may not all be known (see SiteRow.incomplete). */
  count: number | null;
  kind: string | null;
  params: number | null;
  macs: number | null;
  input_shape: number[] | null;
  output_shape: number[] | null;
  weight_shape: number[] | null;
  /** A standard conv larger than 1x1: params and MACs of its depthwise-separable replacement, and the MAC saving (0..1). */
  separable?: { params: number; macs: number; saving: number };
  reason?: string;
}

export interface SiteRow {
  /** 1-based. */
  line: number;
  column: number;
  /** 0-based UTF-16 offsets of the call. */
  start: number;
  end: number;
  framework: 'torch' | 'keras';
  /** The layer class: Conv2d, Conv2D, DepthwiseConv2D, SeparableConv2D. */
  layer: string;
  /** The callee as written. */
  code: string;
  /** standard, depthwise, pointwise, grouped, depthwise separable (when every instance agrees). */
  kind: string | null;
  /** Instances in all. */
  count: number;
  params?: number;
  macs?: number;
  input_shape?: number[];
  output_shape?: number[];
  weight_shape?: number[];
  /** Shapes are NCHW for PyTorch, NHWC for Keras. */
  layout: 'NCHW' | 'NHWC';
  instances: InstanceRow[];
  /** Some figure is not known: `reason` says why. */
  unknown?: true;
  /** The instances listed may not be all: the site's figures are at least these. */
  incomplete?: true;
  reason?: string;
}

export interface FileRows {
  sites: SiteRow[];
  evaluation: FileEvaluation;
}

const FIGURES = ['params', 'macs', 'input', 'output'] as const;

function instanceRow(g: InstanceGroup): InstanceRow {
  const row: InstanceRow = {
    count: g.count,
    kind: g.kind ?? null,
    params: g.params ?? null,
    macs: g.macs ?? null,
    input_shape: g.input ?? null,
    output_shape: g.output ?? null,
    weight_shape: g.weight ?? null,
  };
  if (g.separable) row.separable = g.separable;
  if (g.reason) row.reason = g.reason;
  return row;
}

/** The fields every site row opens with: where the site is, what it is, and how many instances. */
function siteHead(site: SiteEvaluation): Omit<SiteRow, 'instances'> {
  return {
    line: site.site.line + 1,
    column: site.site.column + 1,
    start: site.site.start,
    end: site.site.end,
    framework: site.framework,
    layer: site.type,
    code: site.site.callee,
    kind: null,
    count: site.count,
    layout: site.framework === 'keras' ? 'NHWC' : 'NCHW',
  };
}

/** The row of an evaluated site: top-level figures only where every instance has the same. */
export function siteRow(site: SiteEvaluation): SiteRow {
  const groups = site.groups;
  if (site.incomplete) {
    // Some instances may be missing: no count and no figure for the site as a whole.
    return {
      ...siteHead(site),
      instances: groups.map((g) => ({ ...instanceRow(g), count: null })),
      unknown: true,
      reason: `at least ${site.count} instance${site.count === 1 ? '' : 's'}; ${site.incomplete}`,
      incomplete: true,
    };
  }
  const row: SiteRow = {
    ...siteHead(site),
    instances: groups.map(instanceRow),
  };
  const agree = <T>(pick: (g: InstanceGroup) => T | undefined): T | undefined => {
    if (groups.length === 0) return undefined;
    const first = pick(groups[0]!);
    if (first === undefined) return undefined;
    const key = JSON.stringify(first);
    return groups.every((g) => JSON.stringify(pick(g)) === key) ? first : undefined;
  };
  const kind = agree((g) => g.kind);
  row.kind = kind ?? null;
  const params = agree((g) => g.params);
  const macs = agree((g) => g.macs);
  const input = agree((g) => g.input);
  const output = agree((g) => g.output);
  const weight = agree((g) => g.weight);
  if (params !== undefined) row.params = params;
  if (macs !== undefined) row.macs = macs;
  if (input) row.input_shape = input;
  if (output) row.output_shape = output;
  if (weight) row.weight_shape = weight;
  const missing = groups.find((g) => FIGURES.some((f) => g[f] === undefined));
  if (site.count === 0 || missing) {
    row.unknown = true;
    row.reason = site.reason ?? missing?.reason ?? 'not known';
  }
  // Instances known never to be applied (see LayerInstance.neverApplied) leave the others' counts exact.
  const anyConfiguration = groups.some((g) => !g.neverApplied && FIGURES.some((f) => g[f] === undefined));
  if (anyConfiguration && groups.some((g) => FIGURES.every((f) => g[f] !== undefined))) {
    // An instance whose figures are not known may have any configuration: the counts of the
    // others are only lower bounds.
    row.instances = row.instances.map((i) => ({ ...i, count: null }));
  }
  return row;
}

function syntaxRow(call: LayerCall, reason: string): SiteRow {
  return {
    line: call.span.startLine + 1,
    column: call.span.startColumn + 1,
    start: call.span.start,
    end: call.span.end,
    framework: call.framework,
    layer: call.type,
    code: call.callee.text,
    kind: null,
    count: 0,
    layout: call.framework === 'keras' ? 'NHWC' : 'NCHW',
    instances: [],
    unknown: true,
    reason,
  };
}

/** Evaluates a parsed file and lists its conv call sites. `code`: the file's syntax, when the caller has read it already. */
/** Why a site has no figures when no model reaches it, naming what needs arguments and how to build it. */
function notReached(needsArguments: readonly string[] | undefined): string {
  const reason = 'not reached: no model that the file builds with its default arguments builds this layer';
  if (!needsArguments?.length) return reason;
  const names = needsArguments.slice(0, 3).join(', ') + (needsArguments.length > 3 ? ', ...' : '');
  return `${reason} (${names} need${needsArguments.length === 1 ? 's' : ''} arguments: a line \`# sepconv: call ${needsArguments[0]}(...)\` in the file, with the arguments filled in, builds ${needsArguments.length === 1 ? 'it' : 'one'})`;
}

/** The file's `# sepconv: call` expressions (see commentCalls), each parsed; the caller deletes their trees. */
export function parseCommentCalls(parser: { parse(text: string): Tree | undefined }, source: string): SourceFile[] {
  const calls: SourceFile[] = [];
  for (const text of commentCalls(source)) {
    const tree = parser.parse(text);
    if (tree) calls.push({ path: text, tree });
  }
  return calls;
}

export function fileSiteRows(
  tree: Tree,
  source: string,
  path: string,
  resolve: ImportResolver,
  settings: EvaluationSettings,
  code: ModelCode = readModelCode(tree),
): FileRows {
  const evaluation = evaluateFile({ path, tree }, source, resolve, settings);
  const rows = evaluation.sites.map(siteRow);
  const seen = new Set(rows.map((r) => r.start));
  for (const call of code.calls) {
    if (!CONV_TYPES.has(call.type) || seen.has(call.span.start)) continue;
    seen.add(call.span.start);
    rows.push(syntaxRow(call, evaluation.error ? `unknown: ${evaluation.error}` : notReached(evaluation.needsArguments)));
  }
  rows.sort((a, b) => a.start - b.start);
  return { sites: rows, evaluation };
}
