/**
 * The hover's latency on a 5,000-line model file: the first request (full parse and analysis),
 * a request after a one-character edit (incremental parse and re-analysis), and a request on an
 * unchanged version (what the cache serves). Run with `node test/bench/hover.bench.mjs`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { findWasmLocations, loadPythonParser } from '../../src/python/pythonParser';
import { ParseCache } from '../../src/python/parseCache';
import { readModelCode } from '../../src/python/modelCode';
import { analyzeCode, convCallAt, type PythonAnalysis } from '../../src/python/pythonAnalysis';
import { DEFAULT_SETTINGS } from '../../src/python/layerEstimates';
import { hoverMarkdown } from '../../src/python/costPresentation';

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

export async function runHoverBench(root: string): Promise<void> {
  const fixtures = path.join(root, 'test/fixtures/python');
  const corpus = fs.readdirSync(fixtures).filter((f) => f.endsWith('.py') && f !== 'half_typed.py').map((f) => fs.readFileSync(path.join(fixtures, f), 'utf8'));
  let text = '';
  for (let i = 0; text.split('\n').length < 5000; i++) text += `\n# copy ${i}\n${corpus[i % corpus.length]}`;
  const lines = text.split('\n').length;
  const parser = await loadPythonParser(findWasmLocations([root]));
  const cache = new ParseCache(parser);
  let target = text.lastIndexOf('nn.Conv2d(3, 32, 3, 2, 1');
  let version = 0;
  let analysis: PythonAnalysis | undefined;
  const hover = (changes?: { rangeOffset: number; rangeLength: number; text: string }[]) => {
    const cached = analysis && cache.peek('doc')?.version === version;
    if (!cached) analysis = analyzeCode(readModelCode(cache.get('doc', version, text, changes)!), DEFAULT_SETTINGS);
    const index = convCallAt(analysis!.code, target + 4)!;
    const call = analysis!.code.calls[index]!;
    return hoverMarkdown({ call, estimate: analysis!.estimates.layers[index]!, settings: DEFAULT_SETTINGS });
  };
  const time = (fn: () => unknown) => {
    const start = performance.now();
    if (!fn()) throw new Error('no hover');
    return performance.now() - start;
  };
  const cold = time(() => hover());
  const afterEdit: number[] = [];
  const warm: number[] = [];
  for (let i = 0; i < 30; i++) {
    // Type a character in a comment near the top, as someone editing would.
    const at = text.indexOf('# copy 1\n') + 6;
    text = `${text.slice(0, at)}x${text.slice(at)}`;
    target++;
    version++;
    afterEdit.push(time(() => hover([{ rangeOffset: at, rangeLength: 0, text: 'x' }])));
    for (let j = 0; j < 10; j++) warm.push(time(() => hover()));
  }
  console.log(`hover on a ${lines}-line Python file (${analysis!.code.calls.length} layer calls), node ${process.version}:`);
  console.log(`  first request (full parse + analysis): ${cold.toFixed(1)} ms`);
  console.log(`  after a one-character edit (incremental parse + analysis), median of 30: ${median(afterEdit).toFixed(2)} ms`);
  console.log(`  same version (cached analysis), median of 300: ${median(warm).toFixed(3)} ms`);
  console.log(`  parses: ${cache.stats.full} full, ${cache.stats.incremental} incremental`);
  const tree = cache.get('doc', version, text)!;
  let start = performance.now();
  const code = readModelCode(tree);
  const readMs = performance.now() - start;
  start = performance.now();
  analyzeCode(code, DEFAULT_SETTINGS);
  console.log(`  of which: reading the calls ${readMs.toFixed(1)} ms, costing them ${(performance.now() - start).toFixed(1)} ms`);
}
