// Types of corpusCoverage.mjs, for the tests that import it.
export interface CorpusEntry {
  file: string;
  framework: 'torch' | 'keras';
  input?: number[];
  call?: string[];
  truthFile: string;
  truth: {
    entries: { name: string; status: string; reason?: string; params?: number; macs?: number }[];
    sites: TruthSite[];
    error?: { message: string };
  } | null;
}
export interface TruthInstance {
  count: number;
  params: number;
  macs: number | null;
  input_shape: number[] | null;
  output_shape: number[] | null;
}
export interface TruthSite {
  file: string;
  line: number;
  column: number;
  layer: string;
  family: string;
  via?: string;
  via_file?: string;
  instances: TruthInstance[];
}
export interface SiteCoverage {
  key: string;
  single: boolean;
  given: boolean;
  params: boolean;
  shape: boolean;
  macs: boolean;
  right: boolean;
}
export interface FileCheck {
  file: string;
  wrong?: string[];
  unchecked?: number;
  sites?: SiteCoverage[];
  error?: string;
}
export const root: string;
export const corpusDir: string;
export function loadCorpus(): CorpusEntry[];
export function staticCost(entry: CorpusEntry): Record<string, unknown>[];
export function staticCostArgs(entry: CorpusEntry): string[];
export function staticCostSites(
  entry: CorpusEntry,
  run: { status: number | null; signal: string | null; stdout: string; stderr: string },
): Record<string, unknown>[];
export interface StaticModel {
  name: string;
  params: number;
  macs: number;
  conv_instances: number;
  unknown_instances: number;
  stopped?: string;
  incomplete?: boolean;
}
export function staticCostModels(entry: CorpusEntry, run: { stdout: string }): StaticModel[];
export function checkModels(entry: CorpusEntry, models: StaticModel[]): { wrong: string[]; checked: number; unknown: number };
export function familyOf(name: unknown): 'conv' | 'linear' | 'batchnorm' | 'pool' | null;
export function checkFile(entry: CorpusEntry, staticSites: Record<string, unknown>[]): { wrong: string[]; unchecked: number; sites: SiteCoverage[] };
export function checkCorpus(options?: { only?: string }): FileCheck[];
export function coverageTable(files: FileCheck[]): string;
