/**
 * The editor's Python features on a 5,000-line model file, through the path the extension runs:
 * the host side (src/python/analysisClient.ts, which src/editor/pythonDocuments.ts drives with
 * VS Code's change events) and the analysis worker (dist/pythonWorker.js: parse, evaluation,
 * costing). Measured:
 * - the host thread's time per keystroke burst (each keystroke's change handed to the worker), and
 *   the longest the host's event loop was held while it ran (results arriving included);
 * - the hover's latency right after a burst, at the conv being hovered (the site-to-Markdown path
 *   of the hover provider), and separately after edits inside the hovered call itself;
 * - the time from the last keystroke of a burst to the results of its version (the CodeLens
 *   figures and diagnostics update then).
 * Run with `node test/bench/hover.bench.mjs` or `npm run bench -- --hover`.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { AnalysisClient } from '../../src/python/analysisClient';
import { siteHoverMarkdown } from '../../src/python/sitePresentation';
import { DEFAULT_SETTINGS } from '../../src/python/layerEstimates';
import type { Results } from '../../src/python/analysisClient';

/** As in src/editor/pythonDocuments.ts (which imports vscode, so it is not imported here). */
const HOVER_WAIT_MS = 2000;
/** Key repeat and fast typing: one keystroke every 30 ms, five per burst. */
const KEY_INTERVAL_MS = 30;
const BURST = 5;

const quantile = (values: number[], q: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * q))]!;
const ms = (n: number) => `${n.toFixed(n < 1 ? 3 : n < 100 ? 2 : 0)} ms`;
const spread = (values: number[]) => `median ${ms(quantile(values, 0.5))}, p95 ${ms(quantile(values, 0.95))}, max ${ms(Math.max(...values))}`;
const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis));

/** A 5,000-line file made of the Python fixtures, the offset of the hovered conv, and where the edits go. */
function makeFile(root: string) {
  const fixtures = path.join(root, 'test/fixtures/python');
  const corpus = fs.readdirSync(fixtures).filter((f) => f.endsWith('.py') && f !== 'half_typed.py').sort().map((f) => fs.readFileSync(path.join(fixtures, f), 'utf8'));
  let text = '';
  for (let i = 0; text.split('\n').length < 5000; i++) text += `\n# copy ${i}\n${corpus[i % corpus.length]}`;
  const sequentialStart = text.lastIndexOf('self.stem = nn.Sequential(');
  const target = text.indexOf('nn.Conv2d(32, 64, 1', sequentialStart) + 4;
  // In comments spread over the file, inside the hovered Sequential (not in the hovered call), and new lines between statements.
  const copies = [...text.matchAll(/^# copy \d+$/gm)].map((m) => m.index!);
  const edits: { at: number; text: string; where: string }[] = [];
  for (let i = 0; i < 20; i++) edits.push({ at: copies[Math.floor((i * copies.length) / 20)]! + 2, text: 'x', where: 'comment' });
  const callStart = target - 4;
  const callEnd = text.indexOf(')', target);
  const commas = [...text.slice(sequentialStart, text.indexOf('def forward', sequentialStart)).matchAll(/, /g)].map((m) => sequentialStart + m.index!).filter((at) => at < callStart || at > callEnd);
  for (let i = 0; i < 10; i++) edits.push({ at: commas[(i * 7) % commas.length]! + 1, text: ' ', where: 'sequential' });
  for (let i = 0; i < 10; i++) edits.push({ at: text.indexOf('\n', Math.floor(((i + 0.5) * text.length) / 10)), text: '\n', where: 'blank line' });
  // Interleave the places, as someone moving through a file would.
  const order = edits.map((_, i) => i).sort((a, b) => (a % 10) - (b % 10) || a - b).map((i) => edits[i]!);
  return { text, target, edits: order };
}

export async function runHoverBench(root: string, workerPath: string): Promise<void> {
  const file = makeFile(root);
  let text = file.text;
  let target = file.target;
  let version = 1;
  const key = 'file:///bench/model.py';
  const arrived = new Map<number, number>();
  const client = new AnalysisClient({
    workerPath,
    wasmDirs: [path.join(root, 'dist'), root],
    readFile: async () => undefined,
    currentText: () => ({ version, text, path: '/bench/model.py' }),
    log: (message) => console.error(`worker: ${message}`),
    onResults: (results: Results) => arrived.set(results.version, performance.now()),
  });
  client.setSettings(DEFAULT_SETTINGS);
  const hover = async () => {
    const found = await client.siteAt(key, version, target, HOVER_WAIT_MS);
    return found && siteHoverMarkdown(found.row, DEFAULT_SETTINGS);
  };

  // First results: the worker starts, loads the grammar, parses and evaluates the whole file.
  const openStart = performance.now();
  client.open(key, version, text, '/bench/model.py');
  const first = await client.resultsFor(key, version, 60_000);
  const firstMs = performance.now() - openStart;
  if (!first) throw new Error('no results for the file within 60 s');
  const lines = text.split('\n').length;
  const firstHover = await hover();
  if (!firstHover || !/MACs/.test(firstHover)) throw new Error(`no figures in the hover on the target conv:\n${firstHover}`);

  const places = file.edits.map((e) => e.at);
  const type = (at: number, insert: string) => {
    text = `${text.slice(0, at)}${insert}${text.slice(at)}`;
    for (let j = 0; j < places.length; j++) if (places[j]! > at) places[j]! += insert.length;
    if (at < target) target += insert.length;
    version++;
    const start = performance.now();
    client.change(key, version, [{ rangeOffset: at, rangeLength: 0, text: insert }]);
    return performance.now() - start;
  };

  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const burstHost: number[] = [];
  const keystrokeHost: number[] = [];
  const hoverAfter: number[] = [];
  const staleServed: boolean[] = [];
  const lensAfter: number[] = [];
  let hoverMisses = 0;
  const workerRun: { parseMs: number; evaluateMs: number; totalMs: number }[] = [];
  for (let i = 0; i < file.edits.length; i++) {
    const edit = file.edits[i]!;
    let host = 0;
    for (let k = 0; k < BURST; k++) {
      // Each keystroke types at the place, right after the one before.
      const t = type(places[i]! + k * edit.text.length, edit.text);
      keystrokeHost.push(t);
      host += t;
      if (k < BURST - 1) await sleep(KEY_INTERVAL_MS);
    }
    burstHost.push(host);
    const last = performance.now();
    const lastVersion = version;
    // The pointer on the conv right after the burst.
    const hoverStart = performance.now();
    const found = await client.siteAt(key, version, target, HOVER_WAIT_MS);
    const md = found && siteHoverMarkdown(found.row, DEFAULT_SETTINGS);
    hoverAfter.push(performance.now() - hoverStart);
    if (!md) hoverMisses++;
    staleServed.push(!!found?.stale);
    const results = await client.resultsFor(key, lastVersion, 30_000);
    if (!results) throw new Error(`no results for version ${lastVersion}`);
    lensAfter.push(arrived.get(lastVersion)! - last);
    workerRun.push(results.timings);
  }
  delay.disable();

  // Edits inside the hovered call itself: its older figures no longer hold, the hover waits for the new version's.
  const inCall: number[] = [];
  let inCallMisses = 0;
  for (let i = 0; i < 5; i++) {
    // Right after the call's opening parenthesis: inside it, wherever the earlier edits put it.
    const inside = text.indexOf('(', target) + 1;
    type(inside, ' ');
    const start = performance.now();
    const md = await hover();
    inCall.push(performance.now() - start);
    if (!md) inCallMisses++;
    await client.resultsFor(key, version, 30_000);
  }
  client.dispose();

  const cpu = os.cpus();
  console.log(`Python features on a ${lines}-line file (${first.sites.length} conv sites, ${first.models.length} models), node ${process.version}, ${cpu[0]?.model ?? 'cpu'} (${cpu.length} cores), load average ${os.loadavg().map((n) => n.toFixed(1)).join(' ')}:`);
  console.log(`  first results after the document opens (worker start, grammar load, full parse, evaluation): ${ms(firstMs)}`);
  console.log(`  ${file.edits.length} bursts of ${BURST} keystrokes ${KEY_INTERVAL_MS} ms apart, over the file and inside the hovered Sequential:`);
  console.log(`    host thread per keystroke burst (changes handed to the worker): ${spread(burstHost)}; per keystroke ${spread(keystrokeHost)}`);
  console.log(`    longest the host's event loop was held during the bursts (results arriving included): max ${ms(delay.max / 1e6)}, p99 ${ms(delay.percentile(99) / 1e6)}`);
  console.log(`    hover right after the burst: ${spread(hoverAfter)} (${staleServed.filter(Boolean).length} of ${staleServed.length} from the results of an older version, the hovered call untouched; ${hoverMisses} empty after waiting ${HOVER_WAIT_MS} ms)`);
  console.log(`    last keystroke to the results of its version (CodeLens figures, diagnostics): ${spread(lensAfter)}`);
  console.log(`    in the worker per run: parse ${spread(workerRun.map((r) => r.parseMs))}; evaluation and costing ${spread(workerRun.map((r) => r.evaluateMs))}`);
  console.log(`  hover after an edit inside the hovered call (waits for the new version's results): ${spread(inCall)}${inCallMisses ? `; ${inCallMisses} of ${inCall.length} empty after waiting ${HOVER_WAIT_MS} ms` : ''}`);
}
