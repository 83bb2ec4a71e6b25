/**
 * The hover's latency on a 5,000-line model file, as the editor computes it (src/editor/pythonDocuments.ts):
 * the first request (grammar load, full parse, import table, the hover's own reading), requests
 * after one-character edits at places spread over the file and inside the Sequential being
 * hovered (incremental parse, import table carried over, the Sequential read and costed), and
 * requests on an unchanged version (what the per-version cache serves). Also the whole-file
 * analysis that CodeLens and diagnostics run once typing pauses. Run with `node test/bench/hover.bench.mjs`.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { findWasmLocations, loadPythonParser } from '../../src/python/pythonParser';
import { ParseCache, type TextChange } from '../../src/python/parseCache';
import { ImportTable, readModelCode } from '../../src/python/modelCode';
import { analyzeAt, analyzeCode, convCallAt, type FocusedAnalysis, type PythonAnalysis } from '../../src/python/pythonAnalysis';
import { DEFAULT_SETTINGS } from '../../src/python/layerEstimates';
import { hoverMarkdown } from '../../src/python/costPresentation';

const quantile = (values: number[], q: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * q))]!;
const ms = (n: number) => `${n.toFixed(n < 1 ? 3 : 2)} ms`;

function markdown(analysis: PythonAnalysis, index: number): string | undefined {
  const call = analysis.code.calls[index]!;
  const c = call.container === undefined ? undefined : analysis.code.containers[call.container];
  const container = c && (c.kind === 'torch-sequential' || c.kind === 'keras-sequential') ? { info: c, estimate: analysis.estimates.containers[call.container!]! } : undefined;
  return hoverMarkdown({ call, estimate: analysis.estimates.layers[index]!, container, settings: DEFAULT_SETTINGS });
}

export async function runHoverBench(root: string): Promise<void> {
  const fixtures = path.join(root, 'test/fixtures/python');
  const corpus = fs.readdirSync(fixtures).filter((f) => f.endsWith('.py') && f !== 'half_typed.py').sort().map((f) => fs.readFileSync(path.join(fixtures, f), 'utf8'));
  let text = '';
  for (let i = 0; text.split('\n').length < 5000; i++) text += `\n# copy ${i}\n${corpus[i % corpus.length]}`;
  const lines = text.split('\n').length;

  // The editor's state for one document: parse cache, import table, hover analyses of this version.
  let version = 0;
  let cache: ParseCache | undefined;
  let imports: { version: number; table: ImportTable } | undefined;
  let focused: { version: number; list: FocusedAnalysis[] } | undefined;
  const hover = (offset: number, changes?: TextChange[]): string | undefined => {
    if (focused?.version !== version) focused = { version, list: [] };
    for (const f of focused.list) {
      const index = convCallAt(f.analysis.code, offset);
      if (index !== undefined) return markdown(f.analysis, index);
    }
    const before = cache!.peek('doc')?.version;
    const tree = cache!.get('doc', version, text, changes)!;
    if (imports?.version !== version) {
      const delta = imports?.version === before ? cache!.peek('doc')?.delta : undefined;
      imports = { version, table: imports && delta ? imports.table.update(tree, delta) : ImportTable.read(tree) };
    }
    const found = analyzeAt(tree, text, offset, DEFAULT_SETTINGS, imports.table);
    if (!found) return undefined;
    focused.list.push(found);
    return markdown(found.analysis, found.call);
  };
  const timed = <T>(fn: () => T): [T, number] => {
    const start = performance.now();
    const value = fn();
    return [value, performance.now() - start];
  };

  // The first request, in its parts.
  const sequentialStart = text.lastIndexOf('self.stem = nn.Sequential(');
  let target = text.indexOf('nn.Conv2d(32, 64, 1', sequentialStart) + 4;
  const firstStart = performance.now();
  const [parser, loadMs] = await (async () => {
    const start = performance.now();
    const p = await loadPythonParser(findWasmLocations([root]));
    return [p, performance.now() - start] as const;
  })();
  cache = new ParseCache(parser);
  const [, parseMs] = timed(() => cache!.get('doc', version, text));
  const [, importsMs] = timed(() => (imports = { version, table: ImportTable.read(cache!.peek('doc')!.tree!) }));
  const [firstHover, readMs] = timed(() => hover(target));
  const firstMs = performance.now() - firstStart;
  if (!firstHover) throw new Error('no hover on the target conv');

  // One-character edits: in comments spread over the file, at module-level code, and inside the hovered Sequential.
  const copies = [...text.matchAll(/^# copy \d+$/gm)].map((m) => m.index!);
  const edits: { at: number; text: string; where: string }[] = [];
  for (let i = 0; i < 20; i++) edits.push({ at: copies[Math.floor((i * copies.length) / 20)]! + 2, text: 'x', where: 'comment' });
  for (let i = 0; i < 10; i++) {
    const commas = [...text.slice(sequentialStart, text.indexOf('def forward', sequentialStart)).matchAll(/, /g)].map((m) => sequentialStart + m.index!);
    edits.push({ at: commas[(i * 7) % commas.length]! + 1, text: ' ', where: 'sequential' });
  }
  for (let i = 0; i < 10; i++) {
    const at = text.indexOf('\n', Math.floor(((i + 0.5) * text.length) / 10));
    edits.push({ at, text: '\n', where: 'blank line' });
  }
  const afterEdit: Record<string, number[]> = {};
  const all: number[] = [];
  const warm: number[] = [];
  // Interleave the places, as someone moving through a file would.
  const order = edits.map((_, i) => i).sort((a, b) => (a % 10) - (b % 10) || a - b);
  for (const edit of order.map((i) => edits[i]!)) {
    text = `${text.slice(0, edit.at)}${edit.text}${text.slice(edit.at)}`;
    if (edit.at < target) target += edit.text.length;
    version++;
    const [md, t] = timed(() => hover(target, [{ rangeOffset: edit.at, rangeLength: 0, text: edit.text }]));
    if (!md) throw new Error(`no hover after an edit (${edit.where})`);
    (afterEdit[edit.where] ??= []).push(t);
    all.push(t);
    for (let j = 0; j < 10; j++) warm.push(timed(() => hover(target))[1]);
  }

  // The same figures as the whole-file analysis, which CodeLens and diagnostics run after a pause.
  const tree = cache.get('doc', version, text)!;
  const [code, wholeReadMs] = timed(() => readModelCode(tree));
  const [whole, wholeCostMs] = timed(() => analyzeCode(code, DEFAULT_SETTINGS));
  const index = convCallAt(whole.code, target)!;
  if (markdown(whole, index) !== hover(target)) throw new Error('the hover differs from the whole-file analysis');

  console.log(`hover on a ${lines}-line Python file (${whole.code.calls.length} layer calls), node ${process.version}, ${os.cpus()[0]?.model ?? 'cpu'} (${os.cpus().length} cores), load ${os.loadavg()[0]!.toFixed(1)}:`);
  console.log(`  first request: ${ms(firstMs)} (grammar load ${ms(loadMs)}, full parse ${ms(parseMs)}, import table ${ms(importsMs)}, reading and costing the Sequential ${ms(readMs)})`);
  console.log(`  after a one-character edit, ${all.length} edits: median ${ms(quantile(all, 0.5))}, p95 ${ms(quantile(all, 0.95))}, max ${ms(Math.max(...all))}`);
  for (const [where, times] of Object.entries(afterEdit)) console.log(`    edits in a ${where} (${times.length}): median ${ms(quantile(times, 0.5))}, max ${ms(Math.max(...times))}`);
  console.log(`  same version (cached), ${warm.length} requests: median ${ms(quantile(warm, 0.5))}, p95 ${ms(quantile(warm, 0.95))}`);
  console.log(`  parses: ${cache.stats.full} full, ${cache.stats.incremental} incremental`);
  console.log(`  whole-file analysis (CodeLens, diagnostics; ${300} ms after typing stops): reading ${ms(wholeReadMs)}, costing ${ms(wholeCostMs)}`);
}
