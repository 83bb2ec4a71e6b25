/**
 * The models of a file that the playground can open: placeholder, filled in below.
 */
import type { Tree } from 'web-tree-sitter';
import type { ModelCode } from './modelCode';
import type { FileEvaluation } from './codeEvaluation';
import type { EstimateSettings } from './layerEstimates';
import type { PlaygroundSite } from './analysisProtocol';

export function playgroundSites(_code: ModelCode, _tree: Tree, _text: string, _evaluation: FileEvaluation, _settings: EstimateSettings): PlaygroundSite[] {
  return [];
}
