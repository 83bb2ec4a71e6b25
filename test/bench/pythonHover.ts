/**
 * The hover's latency on a 5,000-line model file, driven through the editor's own per-document
 * reader (src/python/documentReader.ts, which src/editor/pythonDocuments.ts wraps):
 * - the first request (grammar load, full parse, import table, the hover's own reading);
 * - one-character edits at places spread over the file and inside the Sequential being hovered,
 *   each measured two ways: (a) the editor re-parses on the change event (30 ms after the last
 *   keystroke) and the hover comes later, when the pointer rests: what a user sees; the parse on
 *   the change event is timed too, since it runs on the extension host's thread; (b) the worst
 *   case: the hover arrives before that re-parse and parses on its own path;
 * - requests on an unchanged version (what the per-version cache serves);
 * - the same edits with other parser read sizes (PythonParser.chunkChars);
 * - the whole-file analysis that CodeLens and diagnostics run once typing pauses.
 * Run with `node test/bench/hover.bench.mjs`.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { findWasmLocations, loadPythonParser, PARSE_CHUNK_CHARS, type PythonParser } from '../../src/python/pythonParser';
import { DocumentReader, type DocumentVersion } from '../../src/python/documentReader';
import { readModelCode } from '../../src/python/modelCode';
import { analyzeCode, convCallAt, type PythonAnalysis } from '../../src/python/pythonAnalysis';
import { DEFAULT_SETTINGS } from '../../src/python/layerEstimates';
import { hoverInput, hoverMarkdown } from '../../src/python/costPresentation';
/** As in src/editor/pythonDocuments.ts (which imports vscode, so it is not imported here). */
const SETTLE_DELAY_MS = 300;

const quantile = (values: number[], q: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * q))]!;
const ms = (n: number) => `${n.toFixed(n < 1 ? 3 : 2)} ms`;
const spread = (values: number[]) => `median ${ms(quantile(values, 0.5))}, p95 ${ms(quantile(values, 0.95))}, max ${ms(Math.max(...values))}`;

const markdown = (analysis: PythonAnalysis, index: number) => hoverMarkdown(hoverInput(analysis, index, DEFAULT_SETTINGS));

const timed = <T>(fn: () => T): [T, number] => {
  const start = performance.now();
  const value = fn();
  return [value, performance.now() - start];
};

/** A 5,000-line file made of the corpus, the offset of the hovered conv, and the one-character edits. */
function makeFile(root: string) {
  const fixtures = path.join(root, 'test/fixtures/python');
  const corpus = fs.readdirSync(fixtures).filter((f) => f.endsWith('.py') && f !== 'half_typed.py').sort().map((f) => fs.readFileSync(path.join(fixtures, f), 'utf8'));
  let text = '';
  for (let i = 0; text.split('\n').length < 5000; i++) text += `\n# copy ${i}\n${corpus[i % corpus.length]}`;
  const sequentialStart = text.lastIndexOf('self.stem = nn.Sequential(');
  const target = text.indexOf('nn.Conv2d(32, 64, 1', sequentialStart) + 4;
  // In comments spread over the file, inside the hovered Sequential, and new lines between statements.
  const copies = [...text.matchAll(/^# copy \d+$/gm)].map((m) => m.index);
  const edits: { at: number; text: string; where: string }[] = [];
  for (let i = 0; i < 20; i++) edits.push({ at: copies[Math.floor((i * copies.length) / 20)]! + 2, text: 'x', where: 'comment' });
  const commas = [...text.slice(sequentialStart, text.indexOf('def forward', sequentialStart)).matchAll(/, /g)].map((m) => sequentialStart + m.index);
  for (let i = 0; i < 10; i++) edits.push({ at: commas[(i * 7) % commas.length]! + 1, text: ' ', where: 'sequential' });
  for (let i = 0; i < 10; i++) edits.push({ at: text.indexOf('\n', Math.floor(((i + 0.5) * text.length) / 10)), text: '\n', where: 'blank line' });
  // Interleave the places, as someone moving through a file would.
  const order = edits.map((_, i) => i).sort((a, b) => (a % 10) - (b % 10) || a - b).map((i) => edits[i]!);
  return { text, target, edits: order };
}

interface EditRun {
  /** (a): the parse (and import table) on the change event, per keystroke. */
  parseOnChange: number[];
  /** (a): the hover once that parse is done. */
  rested: number[];
  /** (b): the hover right after the edit, parsing on its own path. */
  immediate: number[];
  /** (b) by place. */
  immediateByPlace: Record<string, number[]>;
  cached: number[];
  reader: DocumentReader;
  doc: DocumentVersion;
  target: number;
}

/** Each edit twice at its place: once followed by the change-event parse then the hover (a), once by the hover alone (b). */
function runEdits(parser: PythonParser, file: ReturnType<typeof makeFile>): EditRun {
  let text = file.text;
  let version = 0;
  let target = file.target;
  // Where each edit goes, kept in step with the text as insertions move it.
  const places = file.edits.map((e) => e.at);
  const reader = new DocumentReader(parser);
  const doc: DocumentVersion = { key: 'doc', get version() { return version; }, getText: () => text };
  reader.read(doc);
  const hover = () => {
    const found = reader.analysisAt(doc, target, DEFAULT_SETTINGS);
    return found && markdown(found.analysis, found.call);
  };
  const run: EditRun = { parseOnChange: [], rested: [], immediate: [], immediateByPlace: {}, cached: [], reader, doc, target };
  file.edits.forEach((edit, i) => {
    for (const parseOnChange of [true, false]) {
      const at = places[i]!;
      text = `${text.slice(0, at)}${edit.text}${text.slice(at)}`;
      for (let j = 0; j < places.length; j++) if (places[j]! > at) places[j]! += edit.text.length;
      if (at < target) target += edit.text.length;
      version++;
      reader.noteChanges('doc', [{ rangeOffset: at, rangeLength: 0, text: edit.text }]);
      if (parseOnChange) {
        run.parseOnChange.push(timed(() => reader.read(doc))[1]);
        if (!reader.isRead(doc)) throw new Error('the change-event parse left the version unread');
      }
      const [md, t] = timed(hover);
      if (!md) throw new Error(`no hover after an edit (${edit.where})`);
      if (parseOnChange) {
        run.rested.push(t);
      } else {
        (run.immediateByPlace[edit.where] ??= []).push(t);
        run.immediate.push(t);
      }
      for (let j = 0; j < 5; j++) run.cached.push(timed(hover)[1]);
    }
  });
  run.target = target;
  return run;
}

export async function runHoverBench(root: string): Promise<void> {
  const file = makeFile(root);
  const lines = file.text.split('\n').length;

  // The first request, in its parts.
  const firstStart = performance.now();
  const [parser, loadMs] = await (async () => {
    const start = performance.now();
    const p = await loadPythonParser(findWasmLocations([root]));
    return [p, performance.now() - start] as const;
  })();
  const first = new DocumentReader(parser);
  const firstDoc: DocumentVersion = { key: 'doc', version: 0, getText: () => file.text };
  const [, readMs] = timed(() => first.read(firstDoc));
  const [firstHover, focusMs] = timed(() => first.analysisAt(firstDoc, file.target, DEFAULT_SETTINGS));
  const firstMs = performance.now() - firstStart;
  if (!firstHover) throw new Error('no hover on the target conv');
  first.clear();

  // The editor's read size first, then the others (each run on a fresh copy of the file).
  const sizes = [PARSE_CHUNK_CHARS, ...[64, 1024].filter((n) => n !== PARSE_CHUNK_CHARS)];
  const runs = new Map<number, EditRun>();
  for (const size of sizes) {
    parser.chunkChars = size;
    runs.set(size, runEdits(parser, file));
  }
  parser.chunkChars = PARSE_CHUNK_CHARS;
  const main = runs.get(PARSE_CHUNK_CHARS)!;

  // The hover's figures equal the whole-file analysis's (CodeLens, diagnostics), which runs once typing pauses.
  const tree = main.reader.read(main.doc)!.tree;
  const [code, wholeReadMs] = timed(() => readModelCode(tree));
  const [whole, wholeCostMs] = timed(() => analyzeCode(code, DEFAULT_SETTINGS));
  const found = main.reader.analysisAt(main.doc, main.target, DEFAULT_SETTINGS)!;
  if (markdown(whole, convCallAt(whole.code, main.target)!) !== markdown(found.analysis, found.call)) throw new Error('the hover differs from the whole-file analysis');

  const edits = file.edits.length;
  console.log(`hover on a ${lines}-line Python file (${whole.code.calls.length} layer calls), node ${process.version}, ${os.cpus()[0]?.model ?? 'cpu'} (${os.cpus().length} cores), load ${os.loadavg()[0]!.toFixed(1)}:`);
  console.log(`  first request: ${ms(firstMs)} (grammar load ${ms(loadMs)}, full parse and import table ${ms(readMs)}, reading and costing the Sequential ${ms(focusMs)}); in the editor the parse happens when the file opens`);
  console.log(`  after a one-character edit (${edits} edits over the file and inside the hovered Sequential, parser reads ${PARSE_CHUNK_CHARS} chars):`);
  console.log(`    (a) hover once the change event's re-parse is done (the pointer rests after typing): ${spread(main.rested)}`);
  console.log(`        that re-parse, per keystroke burst, on the extension host thread (incremental parse + import table): ${spread(main.parseOnChange)}`);
  console.log(`    (b) worst case, hover right after the edit, re-parse on the hover's path: ${spread(main.immediate)}`);
  for (const [where, times] of Object.entries(main.immediateByPlace)) console.log(`        edits in a ${where} (${times.length}): median ${ms(quantile(times, 0.5))}, max ${ms(Math.max(...times))}`);
  console.log(`  same version (cached), ${main.cached.length} requests: median ${ms(quantile(main.cached, 0.5))}, p95 ${ms(quantile(main.cached, 0.95))}`);
  console.log(`  parser read size (chars): change-event re-parse / (a) / (b), median and p95 of ${edits} edits each:`);
  for (const [size, run] of runs) {
    const pair = (v: number[]) => `${quantile(v, 0.5).toFixed(2)}/${quantile(v, 0.95).toFixed(2)}`;
    console.log(`    ${String(size).padStart(5)}: ${pair(run.parseOnChange)} ms, ${pair(run.rested)} ms, ${pair(run.immediate)} ms (${run.reader.stats.full} full, ${run.reader.stats.incremental} incremental parses)`);
  }
  console.log(`  whole-file analysis (CodeLens, diagnostics; ${SETTLE_DELAY_MS} ms after typing stops): reading ${ms(wholeReadMs)}, costing ${ms(wholeCostMs)}`);
}
