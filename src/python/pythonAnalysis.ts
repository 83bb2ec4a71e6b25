/**
 * One entry point for the editor and the CLI: a tree in, the layers, their costs, the containers'
 * totals and the diagnostics out. Settings-independent reading is kept apart from costing, so a
 * settings change re-costs without re-reading.
 */
import type { Tree } from 'web-tree-sitter';
import { CONV_TYPES, readModelCode, readModelCodeAt, type ImportTable, type LayerCall, type ModelCode } from './modelCode';
import { estimateModelCode, type CodeEstimates, type EstimateSettings } from './layerEstimates';
import type { PythonDiagnostic } from './pythonDiagnostics';

export interface PythonAnalysis {
  code: ModelCode;
  estimates: CodeEstimates;
  diagnostics: PythonDiagnostic[];
}

export function analyzeTree(tree: Tree, settings: EstimateSettings): PythonAnalysis {
  const code = readModelCode(tree);
  return analyzeCode(code, settings);
}

export function analyzeCode(code: ModelCode, settings: EstimateSettings): PythonAnalysis {
  const estimates = estimateModelCode(code, settings);
  return { code, estimates, diagnostics: [] };
}

/** The analysis of the conv call at `offset` and of only the code that decides its figures (see readModelCodeAt). */
export interface FocusedAnalysis {
  analysis: PythonAnalysis;
  /** Index of the conv call in `analysis.code.calls`. */
  call: number;
}

/**
 * What the hover needs at `offset`: the same figures {@link analyzeTree} gives that call, for the
 * cost of reading its Sequential (or the call alone), however large the file. Undefined when no
 * conv call holds the offset. Diagnostics are left out (they belong to the whole file). `imports`:
 * the file's {@link ImportTable}, kept across versions by the caller (read from the tree without it).
 */
export function analyzeAt(tree: Tree, source: string, offset: number, settings: EstimateSettings, imports?: ImportTable): FocusedAnalysis | undefined {
  const focused = readModelCodeAt(tree, source, offset, imports);
  if (!focused) return undefined;
  return { analysis: { code: focused.code, estimates: estimateModelCode(focused.code, settings), diagnostics: [] }, call: focused.call };
}

/** The innermost conv call whose callee or argument list holds `offset` (UTF-16). */
export function convCallAt(code: ModelCode, offset: number): number | undefined {
  let best: number | undefined;
  code.calls.forEach((call: LayerCall, index) => {
    if (!CONV_TYPES.has(call.type) || offset < call.span.start || offset > call.span.end) return;
    if (best === undefined || call.span.start >= code.calls[best]!.span.start) best = index;
  });
  return best;
}
