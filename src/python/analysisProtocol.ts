/**
 * The messages between the extension host and the Python analysis worker (pythonWorker.ts /
 * analysisClient.ts). The host sends each document's text once, then its changes with the version
 * they lead to; the worker parses, evaluates and costs the latest version of each document and
 * sends back plain rows (no syntax tree crosses the boundary). Imported workspace files are read
 * by the host on the worker's request.
 */
import type { TextChange } from './parseCache';
import type { ModelEvaluation } from './codeEvaluation';
import type { PythonDiagnostic } from './pythonDiagnostics';
import type { TextEdit } from './separableRewrite';
import type { EstimateSettings } from './layerEstimates';
import type { ModelSpec } from '../shared/spec';

export type { TextChange };

/** What the worker is handed when it starts. */
export interface AnalysisWorkerData {
  /** Folders that hold tree-sitter.wasm and tree-sitter-python.wasm (dist/ first). */
  wasmDirs: string[];
  /**
   * Per document slot, a counter the host bumps on every change: an evaluation whose slot moved
   * stops at its next bound check (a newer version supersedes it). Int32 over a SharedArrayBuffer.
   */
  cancelSlots: SharedArrayBuffer;
}

/** Slots in {@link AnalysisWorkerData.cancelSlots}: documents share a slot only by hash collision (an extra, harmless re-run). */
export const CANCEL_SLOTS = 1024;

/** The slot of a document key. */
export function cancelSlot(key: string): number {
  let h = 0;
  for (let i = 0; i < key.length; i++) h = (Math.imul(h, 31) + key.charCodeAt(i)) | 0;
  return (h >>> 0) % CANCEL_SLOTS;
}

export type ToAnalysisWorker =
  /** A document's whole text at `version` (on open, or when the worker lost track of it). `path`: its file path, for relative imports. */
  | { type: 'open'; key: string; version: number; text: string; path: string }
  /** The changes, in order, from version `from` to `version`. */
  | { type: 'change'; key: string; from: number; version: number; changes: TextChange[] }
  | { type: 'close'; key: string }
  /** `generation` comes back with every result computed under these settings. */
  | { type: 'settings'; settings: EstimateSettings; generation: number }
  /** A workspace file changed: evaluations that imported it are stale. */
  | { type: 'fileChanged'; path: string }
  /** The answer to a `readFile` request: the text, or null when there is no such file. */
  | { type: 'file'; requestId: number; text: string | null };

/** A model or Sequential the playground can open, with where its CodeLens goes (0-based). */
export interface PlaygroundSite {
  line: number;
  column: number;
  /** What the CodeLens calls it (`nn.Sequential`, the class name). */
  name: string;
  model: ModelSpec;
}

/** A standard conv the quick fix can turn into its depthwise-separable pair. */
export interface RewriteSite {
  /** 0-based UTF-16 offsets of the call. */
  start: number;
  end: number;
  title: string;
  edits: TextEdit[];
}

/**
 * A list of items with a span each (sites, rewrites), as it crosses the thread boundary: the spans
 * as typed arrays and each item as JSON in one byte buffer, all transferred (not copied). The host
 * decodes only the items it shows (the site under the pointer), so that results of thousands of
 * sites cost its thread nothing when they arrive.
 */
export interface PackedList {
  /** 0-based UTF-16 offsets of each item's span, in source order. */
  starts: Int32Array;
  ends: Int32Array;
  /** Item i is bytes[offsets[i], offsets[i + 1]) (UTF-8 JSON). */
  offsets: Uint32Array;
  bytes: Uint8Array;
}

export function packList<T extends { start: number; end: number }>(items: readonly T[]): PackedList {
  const encoder = new TextEncoder();
  const encoded = items.map((item) => encoder.encode(JSON.stringify(item)));
  const offsets = new Uint32Array(items.length + 1);
  for (let i = 0; i < encoded.length; i++) offsets[i + 1] = offsets[i]! + encoded[i]!.length;
  const bytes = new Uint8Array(offsets[items.length]!);
  encoded.forEach((e, i) => bytes.set(e, offsets[i]!));
  return { starts: Int32Array.from(items, (i) => i.start), ends: Int32Array.from(items, (i) => i.end), offsets, bytes };
}

/** The buffers of packed lists, to transfer. */
export function packedBuffers(lists: readonly PackedList[]): ArrayBuffer[] {
  return lists.flatMap((l) => [l.starts.buffer, l.ends.buffer, l.offsets.buffer, l.bytes.buffer] as ArrayBuffer[]);
}

/** A {@link PackedList} read on demand: spans at once, each item decoded when first asked for. */
export class UnpackedList<T> {
  private readonly decoded = new Map<number, T>();

  constructor(private readonly packed: PackedList) {}

  get length(): number {
    return this.packed.starts.length;
  }

  start(i: number): number {
    return this.packed.starts[i]!;
  }

  end(i: number): number {
    return this.packed.ends[i]!;
  }

  at(i: number): T {
    let item = this.decoded.get(i);
    if (item === undefined) {
      const { bytes, offsets } = this.packed;
      item = JSON.parse(new TextDecoder().decode(bytes.subarray(offsets[i]!, offsets[i + 1]!))) as T;
      this.decoded.set(i, item);
    }
    return item;
  }

  /** The innermost item whose span holds `offset` (an offset right after the span counts), or -1. */
  innermost(offset: number): number {
    let best = -1;
    for (let i = 0; i < this.length; i++) if (this.start(i) <= offset && offset <= this.end(i) && (best < 0 || this.start(i) >= this.start(best))) best = i;
    return best;
  }

  /** Every item (decodes them all: for tests and small lists). */
  all(): T[] {
    return Array.from({ length: this.length }, (_, i) => this.at(i));
  }
}

/** Everything the host shows for one version of a document, as the worker sends it. */
export interface DocumentResults {
  key: string;
  version: number;
  /** The settings' generation they were computed under (see the `settings` message). */
  generation: number;
  /** Every conv call site, in source order: SiteRow items (see siteRows.ts). */
  sites: PackedList;
  /** Model totals for the CodeLens. */
  models: ModelEvaluation[];
  diagnostics: PythonDiagnostic[];
  /** RewriteSite items. */
  rewrites: PackedList;
  /** Filled in by a later `playground` message of the same version (it takes another pass over the file). */
  playground: PlaygroundSite[];
  /** Why the document has no results (too large, binary, a parser failure). */
  skipped?: string;
  /** Time spent in the worker (ms): parse, evaluation and the rest. */
  timings: { parseMs: number; evaluateMs: number; totalMs: number };
}

export type FromAnalysisWorker =
  | { type: 'ready' }
  | { type: 'results'; results: DocumentResults }
  /** The playground models of a version whose results were sent (see DocumentResults.playground). */
  | { type: 'playground'; key: string; version: number; generation: number; playground: PlaygroundSite[] }
  /** The worker needs a document's whole text (it missed a version, or could not apply a change). */
  | { type: 'needText'; key: string }
  | { type: 'readFile'; requestId: number; path: string }
  | { type: 'log'; message: string };
