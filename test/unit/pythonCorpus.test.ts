// The static figures of `sepconv cost FILE.py --json` on the corpus of real model code, against
// the truth measured by running each file (test/corpus/truth, scripts/corpusTruth.mjs).
// Needs dist/cli.js (`node esbuild.mjs`, which `npm test` runs first).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkFile, checkModels, corpusDir, loadCorpus, staticCostArgs, staticCostModels, staticCostSites } from '../../scripts/corpusCoverage.mjs';
import { runProcess } from './runProcess';

const corpus = loadCorpus();

/** `a/{b,c}/{d,e}.py` -> the four paths it names. */
function expandBraces(pattern: string): string[] {
  const match = /\{([^}]*)\}/.exec(pattern);
  if (!match) return [pattern];
  return match[1]!.split(',').flatMap((part) => expandBraces(pattern.slice(0, match.index) + part + pattern.slice(match.index + match[0].length)));
}
const sources = readFileSync(join(corpusDir, 'SOURCES.md'), 'utf8');

describe('the corpus of real model code', () => {
  it('has at least 25 model files measured, each with its origin and licence recorded beside it', () => {
    for (const entry of corpus) {
      expect(existsSync(join(corpusDir, entry.file)), entry.file).toBe(true);
      // Each row of SOURCES.md names its files in its first cell (`a/{b,c}.py`) and points at a licence text.
      const named = (line: string) => [...(line.split('|')[1] ?? '').matchAll(/`([^`]+)`/g)].flatMap((m) => expandBraces(m[1]!));
      const row = sources.split('\n').find((line) => line.startsWith('| `') && named(line).includes(entry.file));
      expect(row, `${entry.file} has no row in SOURCES.md`).toBeDefined();
      const licence = /\(`(licenses\/[^`]+)`\)/.exec(row!)?.[1];
      expect(licence && existsSync(join(corpusDir, licence)), `${entry.file}: licence file ${licence}`).toBe(true);
      expect(entry.truth, `${entry.file} has no truth: node scripts/corpusTruth.mjs`).not.toBeNull();
    }
    const measured = corpus.filter((e) => e.truth?.entries.some((x) => x.status === 'measured'));
    expect(measured.length).toBeGreaterThanOrEqual(25);
  });

  it('the check counts static configurations the truth cannot tell apart (kernels 3x1 and 1x3) together, and still flags a wrong count', () => {
    const figures = { params: 96, macs: 2359296, input_shape: [1, 32, 64, 128], output_shape: [1, 32, 64, 128] };
    const entry = {
      file: 'm.py',
      framework: 'torch' as const,
      truthFile: 'm.json',
      truth: {
        entries: [{ name: 'M', status: 'measured' }],
        sites: [{ file: 'm.py', line: 5, column: 9, family: 'conv', layer: 'Conv2d', instances: [{ count: 12, ...figures }] }],
      },
    };
    const row = (counts: number[]) => [
      { line: 5, column: 9, layer: 'Conv2d', instances: counts.map((count, k) => ({ count, ...figures, weight_shape: k ? [32, 1, 1, 3] : [32, 1, 3, 1] })) },
    ];
    expect(checkFile(entry, row([6, 6])).wrong).toEqual([]);
    expect(checkFile(entry, row([6, 7])).wrong).toEqual(['m.py:5:9 Conv2d: 13 instances of 96 params at 1x32x64x128, measured 12']);
  });

  it.each(corpus.map((e) => [e.file, e] as const))(
    'sepconv cost %s --json --models gives no figure, and no model total, that disagrees with the measured truth',
    async (_file, entry) => {
      // Run without blocking the worker (see runProcess).
      const run = await runProcess(process.execPath, staticCostArgs(entry), { timeout: 120_000 });
      const { wrong } = checkFile(entry, staticCostSites(entry, run));
      expect(wrong).toEqual([]);
      // A model whose every layer instance has figures: its totals are the measured ones (not a part of them).
      expect(checkModels(entry, staticCostModels(entry, run)).wrong).toEqual([]);
    },
  );

  it('checks model totals where every instance has figures, and only there', () => {
    const entry = {
      file: 'm.py',
      framework: 'torch' as const,
      truthFile: 'm.json',
      truth: {
        entries: [
          { name: 'A', status: 'measured', params: 10, macs: 100 },
          { name: 'B', status: 'measured', params: 20, macs: 200 },
          { name: 'C', status: 'measured', params: 30, macs: 300 },
        ],
        sites: [],
      },
    };
    const model = (name: string, params: number, unknown = 0) => ({ name, params, macs: params * 10, conv_instances: 1, unknown_instances: unknown });
    const result = checkModels(entry, [model('A', 10), model('B', 19), model('C', 1, 2)]);
    expect(result.wrong).toEqual(['m.py B: 19 params, 190 MACs; measured 20 params, 200 MACs']);
    expect(result.checked).toBe(2);
    expect(result.unknown).toBe(1);
  });
});
