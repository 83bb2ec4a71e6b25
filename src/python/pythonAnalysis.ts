/**
 * One entry point for the editor and the CLI: a tree in, the layers, their costs, the containers'
 * totals and the diagnostics out. Settings-independent reading is kept apart from costing, so a
 * settings change re-costs without re-reading.
 */
import type { Tree } from 'web-tree-sitter';
import { readModelCode, type LayerCall, type ModelCode } from './modelCode';
import { estimateModelCode, type CodeEstimates, type EstimateSettings } from './layerEstimates';
import { findDiagnostics, type PythonDiagnostic } from './pythonDiagnostics';

export interface PythonAnalysis {
  code: ModelCode;
  estimates: CodeEstimates;
  diagnostics: PythonDiagnostic[];
}

export const CONV_TYPES = new Set(['Conv2d', 'Conv2D', 'DepthwiseConv2D', 'SeparableConv2D']);

export function analyzeTree(tree: Tree, settings: EstimateSettings): PythonAnalysis {
  const code = readModelCode(tree);
  return analyzeCode(code, settings);
}

export function analyzeCode(code: ModelCode, settings: EstimateSettings): PythonAnalysis {
  const estimates = estimateModelCode(code, settings);
  return { code, estimates, diagnostics: findDiagnostics(code, estimates) };
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
