/**
 * The Python analysis worker's state, without the thread: the open documents (text and version,
 * re-parsed incrementally from their changes), the workspace files they import (read through the
 * host, kept until they change), and one analysis at a time of the latest version of a document
 * that changed: parse, evaluate, cost, diagnostics, quick-fix edits and playground models. A newer
 * version of a document supersedes a run in progress (the evaluator stops at its next bound check).
 */
import type { PythonParser } from './pythonParser';
import { ParseCache, skipReason, type TextChange } from './parseCache';
import { readModelCode, CONV_TYPES, type ModelCode } from './modelCode';
import { fileSiteRows, parseCommentCalls, type SiteRow } from './siteRows';
import { DEFAULT_LIMITS, type EvalLimits, type ImportResolver, type SourceFile } from './modelEvaluator';
import { candidatePaths, importCandidates } from './importPaths';
import { findDiagnostics } from './pythonDiagnostics';
import { canRewrite, separableRewrite } from './separableRewrite';
import { DEFAULT_SETTINGS, type EstimateSettings } from './layerEstimates';
import { playgroundSites } from './playgroundSites';
import { packList, type DocumentResults, type PlaygroundSite, type RewriteSite } from './analysisProtocol';

/** Bounds on one evaluation in the worker: it blocks no one, but results should come within a second or two. */
export const WORKER_LIMITS: EvalLimits = { ...DEFAULT_LIMITS, maxSteps: 2_000_000, maxMillis: 5000 };

/**
 * How long a document must be quiet before its analysis starts (ms): key repeat is ~30 ms apart, so
 * a burst costs one run; the run itself is superseded by any later change anyway.
 */
export const ANALYSIS_DELAY_MS = 40;

/** Files followed from one document, at most: imports of imports are followed this deep. */
const MAX_IMPORTED_FILES = 64;
const MAX_IMPORT_DEPTH = 3;

export interface AnalyzerHost {
  /** Reads a workspace file for an import (undefined: no such file). */
  readFile(path: string): Promise<string | undefined>;
  /** The results of a version. */
  publish(results: DocumentResults): void;
  /** The playground models of a version already published. */
  publishPlayground(key: string, version: number, generation: number, playground: PlaygroundSite[]): void;
  /** The worker lost track of a document (a version skipped): the host should send its whole text. */
  needText(key: string): void;
  /** Whether a change to `key` arrived since `since` was read (see {@link AnalyzerHost.changeCount}). */
  changeCount(key: string): number;
  log(message: string): void;
}

interface OpenDocument {
  key: string;
  path: string;
  version: number;
  text: string;
  /** Changes since the tree was last parsed, in order. */
  pending: TextChange[];
  /** Its latest version has not been analysed (or was superseded). */
  dirty: boolean;
  /** Workspace files its last evaluation imported. */
  imports: Set<string>;
}

export class DocumentAnalyzer {
  private readonly documents = new Map<string, OpenDocument>();
  private readonly cache: ParseCache;
  /** Imported workspace files by path (undefined: there is no such file). */
  private readonly files = new Map<string, SourceFile | undefined>();
  private settings: EstimateSettings = DEFAULT_SETTINGS;
  private generation = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private running = false;

  constructor(
    private readonly parser: PythonParser,
    private readonly host: AnalyzerHost,
    private readonly limits: EvalLimits = WORKER_LIMITS,
  ) {
    this.cache = new ParseCache(parser);
  }

  open(key: string, version: number, text: string, path: string): void {
    this.cache.drop(key);
    this.documents.set(key, { key, path, version, text, pending: [], dirty: true, imports: new Set() });
    this.schedule();
  }

  change(key: string, from: number, version: number, changes: readonly TextChange[]): void {
    const doc = this.documents.get(key);
    if (!doc || doc.version !== from) {
      // A version was missed (or the document was never opened here): start again from its text.
      if (doc) doc.version = -1;
      this.host.needText(key);
      return;
    }
    let text = doc.text;
    for (const c of changes) {
      if (
        !Number.isInteger(c.rangeOffset) ||
        !Number.isInteger(c.rangeLength) ||
        c.rangeOffset < 0 ||
        c.rangeLength < 0 ||
        c.rangeOffset + c.rangeLength > text.length ||
        typeof c.text !== 'string'
      ) {
        doc.version = -1;
        this.host.needText(key);
        return;
      }
      text = text.slice(0, c.rangeOffset) + c.text + text.slice(c.rangeOffset + c.rangeLength);
    }
    doc.text = text;
    doc.version = version;
    doc.pending.push(...changes);
    doc.dirty = true;
    this.schedule();
  }

  close(key: string): void {
    this.documents.delete(key);
    this.cache.drop(key);
  }

  setSettings(settings: EstimateSettings, generation: number): void {
    this.settings = settings;
    this.generation = generation;
    for (const doc of this.documents.values()) doc.dirty = true;
    this.schedule();
  }

  /** A workspace file changed: forget it and re-analyse the documents that imported it. */
  fileChanged(path: string): void {
    if (!this.files.has(path)) return;
    this.files.get(path)?.tree.delete();
    this.files.delete(path);
    for (const doc of this.documents.values()) {
      if (doc.imports.has(path)) doc.dirty = true;
    }
    this.schedule();
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.cache.clear();
    for (const f of this.files.values()) f?.tree.delete();
    this.files.clear();
    this.documents.clear();
  }

  private schedule(): void {
    if (this.running) return; // the loop picks the change up when the current run ends
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.runAll(), ANALYSIS_DELAY_MS);
  }

  /** Analyses dirty documents one at a time, yielding between runs so that newer changes land first. */
  private async runAll(): Promise<void> {
    this.running = true;
    try {
      for (;;) {
        const doc = [...this.documents.values()].find((d) => d.dirty && d.version >= 0);
        if (!doc) return;
        await this.analyze(doc);
        // Let queued messages (changes that arrived during the run) in before the next run.
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
    } finally {
      this.running = false;
    }
  }

  private async analyze(doc: OpenDocument): Promise<void> {
    const { key, version } = doc;
    const generation = this.generation;
    const started = this.host.changeCount(key);
    const t0 = performance.now();
    doc.dirty = false;
    const publish = (rest: Partial<DocumentResults>, parseMs = 0, evaluateMs = 0) =>
      this.host.publish({
        key,
        version,
        generation,
        sites: packList([]),
        models: [],
        diagnostics: [],
        rewrites: packList([]),
        playground: [],
        ...rest,
        timings: { parseMs, evaluateMs, totalMs: performance.now() - t0 },
      });
    const skipped = skipReason(doc.text);
    if (skipped) {
      this.cache.drop(key);
      doc.pending = [];
      publish({ skipped: `not read: ${skipped}` });
      return;
    }
    let tree;
    try {
      tree = this.cache.get(key, version, doc.text, doc.pending);
    } catch (error) {
      this.cache.drop(key);
      this.host.log(`could not parse ${key}: ${error instanceof Error ? error.message : String(error)}`);
    }
    doc.pending = [];
    if (!tree) {
      publish({ skipped: 'the parser gave no syntax tree' });
      return;
    }
    const parseMs = performance.now() - t0;
    const imports = await this.prepareImports(tree, doc.path);
    // A change (or a close) while the imports were read: the newer version runs instead.
    if (this.documents.get(key) !== doc || doc.version !== version) {
      doc.dirty = true;
      return;
    }
    const t1 = performance.now();
    const superseded = () => this.host.changeCount(key) !== started;
    const text = doc.text;
    let results: Omit<DocumentResults, 'timings'>;
    const settings = this.settings;
    let code: ModelCode;
    let siteRows: SiteRow[];
    try {
      code = readModelCode(tree);
      const calls = parseCommentCalls(this.parser, text);
      let rows: ReturnType<typeof fileSiteRows>;
      try {
        rows = fileSiteRows(tree, text, doc.path, this.resolver(), { ...settings, limits: this.limits, cancelled: superseded, commentCalls: calls }, code);
      } finally {
        for (const call of calls) call.tree.delete();
      }
      const { sites, evaluation } = rows;
      siteRows = sites;
      if (superseded()) {
        doc.dirty = true;
        return;
      }
      const rewrites: RewriteSite[] = [];
      for (const call of code.calls) {
        if (!CONV_TYPES.has(call.type) || !canRewrite(call)) continue;
        const rewrite = separableRewrite(call, code, text);
        if (rewrite) rewrites.push({ start: call.span.start, end: call.span.end, title: rewrite.title, edits: rewrite.edits });
      }
      results = {
        key,
        version,
        generation,
        sites: packList(sites),
        models: evaluation.models,
        diagnostics: findDiagnostics(code, sites),
        rewrites: packList(rewrites),
        playground: [],
      };
    } catch (error) {
      this.host.log(`could not evaluate ${key}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      publish({ skipped: `the evaluator failed (${error instanceof Error ? error.message : String(error)})` }, parseMs);
      return;
    }
    doc.imports = imports;
    publish(results, parseMs, performance.now() - t1);
    // Second pass, once the figures are out: the Sequentials the playground can open. Skipped when
    // a newer version is already waiting (its own run will do it).
    await new Promise((resolve) => setTimeout(resolve, 0));
    if (superseded() || this.documents.get(key) !== doc || doc.version !== version || generation !== this.generation) return;
    try {
      this.host.publishPlayground(key, version, generation, playgroundSites(code, siteRows, settings));
    } catch (error) {
      this.host.log(`could not read the playground models of ${key}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  /** Loads what `tree` imports (and what those import) through the host; returns the paths read. */
  private async prepareImports(tree: NonNullable<ReturnType<ParseCache['get']>>, path: string): Promise<Set<string>> {
    const used = new Set<string>();
    let frontier: { tree: typeof tree; path: string }[] = [{ tree, path }];
    let count = 0;
    for (let depth = 0; depth < MAX_IMPORT_DEPTH && frontier.length && count < MAX_IMPORTED_FILES; depth++) {
      const next: typeof frontier = [];
      for (const f of frontier) {
        for (const candidate of importCandidates(f.tree, f.path)) {
          if (count >= MAX_IMPORTED_FILES) break;
          used.add(candidate);
          const known = this.files.has(candidate);
          const loaded = await this.loadFile(candidate);
          if (loaded && !known) {
            count++;
            next.push(loaded);
          }
        }
      }
      frontier = next;
    }
    return used;
  }

  private async loadFile(path: string): Promise<SourceFile | undefined> {
    if (this.files.has(path)) return this.files.get(path);
    let text: string | undefined;
    try {
      text = await this.host.readFile(path);
    } catch {
      text = undefined;
    }
    // Another load of the same file may have finished meanwhile.
    if (this.files.has(path)) return this.files.get(path);
    const tree = text !== undefined && !skipReason(text) ? this.parser.parse(text) : undefined;
    const found = tree ? { path, tree } : undefined;
    this.files.set(path, found);
    return found;
  }

  private resolver(): ImportResolver {
    return (from, module, level) => {
      for (const file of candidatePaths(from, module, level)) {
        const hit = this.files.get(file);
        if (hit) return hit;
      }
      return undefined;
    };
  }
}
