import { findWasmLocations, loadPythonParser, type PythonParser } from '../../src/python/pythonParser';
import type { ModelCode } from '../../src/python/modelCode';
import { estimateModelCode, type CodeEstimates, type EstimateSettings } from '../../src/python/layerEstimates';
import * as path from 'node:path';

export const ROOT = path.resolve(__dirname, '../..');
export const FIXTURES = path.join(ROOT, 'test/fixtures/python');
export function parser(): Promise<PythonParser> {
  return loadPythonParser(findWasmLocations([ROOT]));
}

/** The syntax reader's layers and their costs (what the playground's models are made from). */
export interface CodeAnalysis {
  code: ModelCode;
  estimates: CodeEstimates;
}

export function analyzeCode(code: ModelCode, settings?: EstimateSettings): CodeAnalysis {
  return { code, estimates: estimateModelCode(code, settings) };
}
