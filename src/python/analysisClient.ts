/**
 * The host side of the Python analysis worker (dist/pythonWorker.js), without `vscode`: one
 * long-lived worker, started on the first document; each document's text goes over once, then its
 * changes with their versions; results come back per version and are kept here, so that a hover
 * reads them without waiting. Until the results of the current version arrive, a site that no
 * change has touched since the latest results is answered from them, its offsets mapped through
 * the changes. A worker that dies is restarted (and told every open document again); the host's
 * thread never runs the parser or the evaluator.
 */
import { Worker } from 'node:worker_threads';
import {
  CANCEL_SLOTS,
  cancelSlot,
  UnpackedList,
  type AnalysisWorkerData,
  type DocumentResults,
  type FromAnalysisWorker,
  type RewriteSite,
  type TextChange,
  type ToAnalysisWorker,
} from './analysisProtocol';
import type { EstimateSettings } from './layerEstimates';
import type { SiteRow } from './siteRows';

export interface AnalysisClientOptions {
  /** The bundled worker script (dist/pythonWorker.js). */
  workerPath: string;
  /** Where the worker finds tree-sitter.wasm and tree-sitter-python.wasm. */
  wasmDirs: string[];
  /** Reads a workspace file that a document imports (undefined: no such file). */
  readFile(path: string): Promise<string | undefined>;
  /** A document's current text, version and path (to send it again after a restart, or when the worker lost track). */
  currentText(key: string): { version: number; text: string; path: string } | undefined;
  /** Where the client reports restarts and the worker's own messages. */
  log(message: string): void;
  /** Called when a document's results arrive. */
  onResults?(results: Results): void;
}

/** A version's results on the host: sites and rewrites decoded only when asked for. */
export interface Results extends Omit<DocumentResults, 'sites' | 'rewrites'> {
  sites: UnpackedList<SiteRow>;
  rewrites: UnpackedList<RewriteSite>;
}

/** The innermost rewritable conv call around `offset` (its edits are for `results.version`). */
export function rewriteAt(results: Results, offset: number): RewriteSite | undefined {
  const i = results.rewrites.innermost(offset);
  return i < 0 ? undefined : results.rewrites.at(i);
}

/** The worker's heap (MB): a file that would take more stops the worker (then restarted), never the host. */
const WORKER_HEAP_MB = 1024;

/** Restarts allowed within {@link RESTART_WINDOW_MS}: a worker that keeps dying is left stopped. */
const MAX_RESTARTS = 5;
const RESTART_WINDOW_MS = 60_000;

interface TrackedDocument {
  version: number;
  path: string;
  results?: Results;
  /** The changes since `results.version`, in order, each with the version it led to. */
  trail: { version: number; changes: TextChange[] }[];
  waiters: { version: number; resolve(results: Results | undefined): void }[];
}

/** A site of the latest results that no change has touched since, with its offsets in the current version. */
export interface SiteAt {
  row: SiteRow;
  results: Results;
  /** The results are of an older version (the site itself is unchanged). */
  stale: boolean;
  /** The quick fix's rewrite of this site, when it has one (its edits are for `results.version`). */
  rewrite?: RewriteSite;
}

/** Edits kept for mapping older results: past this many, older results map no more. */
const MAX_TRAIL = 2000;

const replaceAll = (text: string): TextChange => ({ rangeOffset: 0, rangeLength: Number.MAX_SAFE_INTEGER, text });

/** Maps an offset of the text after `c` to the text before it; undefined inside the replaced text. */
function offsetBefore(c: TextChange, offset: number): number | undefined {
  if (offset < c.rangeOffset) return offset;
  if (offset >= c.rangeOffset + c.text.length) return offset - c.text.length + c.rangeLength;
  return undefined;
}

export class AnalysisClient {
  private worker: Worker | undefined;
  private ready = false;
  private readonly slots = new Int32Array(new SharedArrayBuffer(CANCEL_SLOTS * 4));
  private readonly documents = new Map<string, TrackedDocument>();
  private settings: EstimateSettings | undefined;
  /** Bumped on every settings change: results computed under older settings are dropped. */
  private generation = 0;
  private readonly restarts: number[] = [];
  private stopped = false;
  /** Restarts so far (for tests and the log). */
  restartCount = 0;

  constructor(private readonly options: AnalysisClientOptions) {}

  /** A document's whole text (opened, or sent again). */
  open(key: string, version: number, text: string, path: string): void {
    const known = this.documents.get(key);
    // The whole text replaced: no site of older results maps into it.
    this.documents.set(key, { version, path, results: known?.results, trail: [{ version, changes: [replaceAll(text)] }], waiters: known?.waiters ?? [] });
    this.bump(key);
    this.post({ type: 'open', key, version, text, path });
  }

  /** The changes of one edit, in order, from the version before to `version`. Cheap: sends them, parses nothing. */
  change(key: string, version: number, changes: readonly TextChange[]): void {
    const doc = this.documents.get(key);
    if (!doc) return;
    const list = changes.map((c) => ({ rangeOffset: c.rangeOffset, rangeLength: c.rangeLength, text: c.text }));
    const from = doc.version;
    doc.version = version;
    doc.trail.push({ version, changes: list });
    if (doc.trail.length > MAX_TRAIL) doc.trail = [{ version, changes: [replaceAll('')] }];
    this.bump(key);
    this.post({ type: 'change', key, from, version, changes: list });
  }

  close(key: string): void {
    const doc = this.documents.get(key);
    if (!doc) return;
    this.documents.delete(key);
    for (const w of doc.waiters) w.resolve(undefined);
    this.bump(key);
    this.post({ type: 'close', key });
  }

  /** New settings: every document is analysed again; until then hovers wait for the new figures. */
  setSettings(settings: EstimateSettings): void {
    this.settings = settings;
    this.generation++;
    for (const doc of this.documents.values()) {
      doc.results = undefined;
      doc.trail = [];
    }
    if (this.worker) this.post({ type: 'settings', settings, generation: this.generation });
  }

  /** A workspace file changed on disk or in an editor: the worker drops what it read of it. */
  fileChanged(path: string): void {
    if (this.worker) this.post({ type: 'fileChanged', path });
  }

  /** The latest results of a document, whatever their version. */
  latest(key: string): Results | undefined {
    return this.documents.get(key)?.results;
  }

  /** The results of exactly `version`, waiting for them at most `timeoutMs`; undefined on timeout or when a newer version came first. */
  resultsFor(key: string, version: number, timeoutMs: number): Promise<Results | undefined> {
    const doc = this.documents.get(key);
    if (!doc) return Promise.resolve(undefined);
    if (doc.results?.version === version) return Promise.resolve(doc.results);
    if (doc.results && doc.results.version > version) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const waiter = {
        version,
        resolve: (r: Results | undefined) => {
          clearTimeout(timer);
          resolve(r);
        },
      };
      const timer = setTimeout(() => {
        doc.waiters = doc.waiters.filter((w) => w !== waiter);
        resolve(undefined);
      }, timeoutMs);
      doc.waiters.push(waiter);
    });
  }

  /**
   * The innermost conv site at `offset` of `version`: from that version's results when they are in,
   * else from the latest results if no change since touched the site; else waits for the version's
   * results at most `timeoutMs`.
   */
  async siteAt(key: string, version: number, offset: number, timeoutMs: number): Promise<SiteAt | undefined> {
    const doc = this.documents.get(key);
    if (!doc) return undefined;
    if (doc.results && doc.results.version === version) return this.innermost(doc.results, offset, false);
    if (doc.results && doc.version === version) {
      const mapped = this.mappedSite(doc, offset);
      if (mapped) return mapped;
    }
    const fresh = await this.resultsFor(key, version, timeoutMs);
    return fresh ? this.innermost(fresh, offset, false) : undefined;
  }

  private innermost(results: Results, offset: number, stale: boolean): SiteAt | undefined {
    const i = results.sites.innermost(offset);
    if (i < 0) return undefined;
    const row = results.sites.at(i);
    const r = results.rewrites.innermost(row.start);
    return { row, results, stale, ...(r >= 0 && results.rewrites.start(r) === row.start ? { rewrite: results.rewrites.at(r) } : {}) };
  }

  /** The site at `offset` (current version) in the latest results, if no change since touched it. */
  private mappedSite(doc: TrackedDocument, offset: number): SiteAt | undefined {
    let at: number | undefined = offset;
    for (let i = doc.trail.length - 1; i >= 0 && at !== undefined; i--) {
      const changes = doc.trail[i]!.changes;
      for (let j = changes.length - 1; j >= 0 && at !== undefined; j--) at = offsetBefore(changes[j]!, at);
    }
    if (at === undefined) return undefined;
    const found = this.innermost(doc.results!, at, true);
    if (!found) return undefined;
    // Forward through the changes: the site must be untouched, its offsets shift.
    let { start, end } = found.row;
    for (const step of doc.trail) {
      for (const c of step.changes) {
        const changeEnd = c.rangeOffset + c.rangeLength;
        // Text replaced inside the site, or inserted strictly inside it, changes it; next to it does not.
        if (c.rangeLength > 0 ? c.rangeOffset < end && changeEnd > start : c.rangeOffset > start && c.rangeOffset < end) return undefined;
        if (changeEnd <= start) {
          const delta = c.text.length - c.rangeLength;
          start += delta;
          end += delta;
        }
      }
    }
    return { ...found, row: { ...found.row, start, end } };
  }

  dispose(): void {
    this.stopped = true;
    const worker = this.worker;
    this.worker = undefined;
    void worker?.terminate();
    for (const doc of this.documents.values()) for (const w of doc.waiters) w.resolve(undefined);
    this.documents.clear();
  }

  /** The worker thread (tests stop it to check the restart). */
  get workerForTests(): Worker | undefined {
    return this.worker;
  }

  private bump(key: string): void {
    Atomics.add(this.slots, cancelSlot(key), 1);
  }

  private post(message: ToAnalysisWorker): void {
    const worker = this.ensureWorker();
    if (!worker) return;
    try {
      worker.postMessage(message);
    } catch (error) {
      this.options.log(`could not send a message to the Python analysis worker: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  private ensureWorker(): Worker | undefined {
    if (this.worker || this.stopped) return this.worker;
    const workerData: AnalysisWorkerData = { wasmDirs: this.options.wasmDirs, cancelSlots: this.slots.buffer };
    let worker: Worker;
    try {
      worker = new Worker(this.options.workerPath, { workerData, resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB } });
    } catch (error) {
      this.stopped = true;
      this.options.log(`the Python analysis worker could not start: ${error instanceof Error ? error.message : String(error)}`);
      return undefined;
    }
    worker.unref(); // it never keeps a process (a test, the bench) alive on its own
    this.ready = false;
    this.worker = worker;
    worker.on('message', (message: FromAnalysisWorker) => this.receive(worker, message));
    worker.on('error', (error) => this.crashed(worker, `${error.name}: ${error.message}`));
    worker.on('exit', (code) => this.crashed(worker, `exit code ${code}`));
    if (this.settings) worker.postMessage({ type: 'settings', settings: this.settings, generation: this.generation } satisfies ToAnalysisWorker);
    return worker;
  }

  private receive(worker: Worker, message: FromAnalysisWorker): void {
    if (worker !== this.worker) return;
    switch (message.type) {
      case 'ready':
        this.ready = true;
        return;
      case 'log':
        this.options.log(message.message);
        return;
      case 'needText': {
        const current = this.options.currentText(message.key);
        if (current && this.documents.has(message.key)) this.open(message.key, current.version, current.text, current.path);
        return;
      }
      case 'readFile':
        void this.options
          .readFile(message.path)
          .then(
            (text) => text,
            () => undefined,
          )
          .then((text) => {
            if (worker === this.worker) worker.postMessage({ type: 'file', requestId: message.requestId, text: text ?? null } satisfies ToAnalysisWorker);
          });
        return;
      case 'playground': {
        const doc = this.documents.get(message.key);
        if (!doc?.results || doc.results.version !== message.version || message.generation !== this.generation) return;
        doc.results = { ...doc.results, playground: message.playground };
        this.options.onResults?.(doc.results);
        return;
      }
      case 'results': {
        const results: Results = { ...message.results, sites: new UnpackedList(message.results.sites), rewrites: new UnpackedList(message.results.rewrites) };
        const doc = this.documents.get(results.key);
        if (!doc || results.generation !== this.generation || (doc.results && doc.results.version > results.version)) return;
        doc.results = results;
        doc.trail = doc.trail.filter((step) => step.version > results.version);
        const waiting = doc.waiters;
        doc.waiters = [];
        for (const w of waiting) {
          if (w.version === results.version) w.resolve(results);
          else if (w.version < results.version) w.resolve(undefined);
          else doc.waiters.push(w);
        }
        this.options.onResults?.(results);
        return;
      }
    }
  }

  private crashed(worker: Worker, detail: string): void {
    if (this.worker !== worker) return; // stopped on purpose
    this.worker = undefined;
    if (!this.ready) {
      // It never loaded the parser: a restart would fail the same way.
      this.stopped = true;
      this.options.log(
        `the Python analysis worker stopped before it was ready (${detail}); hovers and CodeLens on Python code are off until the window reloads`,
      );
      return;
    }
    const now = Date.now();
    while (this.restarts.length && now - this.restarts[0]! > RESTART_WINDOW_MS) this.restarts.shift();
    if (this.restarts.length >= MAX_RESTARTS) {
      this.stopped = true;
      this.options.log(
        `the Python analysis worker stopped (${detail}) ${MAX_RESTARTS + 1} times within a minute; it is not restarted again until the window reloads`,
      );
      return;
    }
    this.restarts.push(now);
    this.restartCount++;
    this.options.log(`the Python analysis worker stopped (${detail}); restarting it`);
    // The new worker is told every open document again, from its current text.
    for (const key of [...this.documents.keys()]) {
      const current = this.options.currentText(key);
      if (current) this.open(key, current.version, current.text, current.path);
      else this.close(key);
    }
    if (this.documents.size === 0) this.ensureWorker();
  }
}
