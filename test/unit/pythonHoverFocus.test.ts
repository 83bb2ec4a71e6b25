import { describe, it, expect, beforeAll } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parser, FIXTURES } from './pythonHelpers';
import type { PythonParser } from '../../src/python/pythonParser';
import { ParseCache } from '../../src/python/parseCache';
import { DocumentReader, type DocumentVersion } from '../../src/python/documentReader';
import { CONV_TYPES, ImportTable, readModelCode } from '../../src/python/modelCode';
import { analyzeAt, analyzeCode, type PythonAnalysis } from '../../src/python/pythonAnalysis';
import { DEFAULT_SETTINGS } from '../../src/python/layerEstimates';
import { hoverInput, hoverMarkdown } from '../../src/python/costPresentation';

let p: PythonParser;
beforeAll(async () => {
  p = await parser();
});

const markdown = (analysis: PythonAnalysis, index: number) => hoverMarkdown(hoverInput(analysis, index, DEFAULT_SETTINGS));

describe('the hover reads only the conv call and its Sequential', () => {
  it('gives every conv call of the corpus the figures of the whole-file analysis', () => {
    const corpus = fs.readdirSync(FIXTURES).filter((f) => f.endsWith('.py')).map((f) => fs.readFileSync(path.join(FIXTURES, f), 'utf8'));
    // Also all files at once: names bound in several places, Sequentials filled by .add in two scopes.
    let convs = 0;
    for (const text of [...corpus, corpus.join('\n')]) {
      const tree = p.parse(text)!;
      const whole = analyzeCode(readModelCode(tree), DEFAULT_SETTINGS);
      const imports = ImportTable.read(tree);
      whole.code.calls.forEach((call, index) => {
        if (!CONV_TYPES.has(call.type)) return;
        convs++;
        for (const offset of [call.span.start, call.callee.span.end, call.span.end]) {
          const focused = analyzeAt(tree, text, offset, DEFAULT_SETTINGS, imports);
          expect(focused, `no hover at ${offset} on line ${call.span.startLine + 1}`).toBeDefined();
          expect(markdown(focused!.analysis, focused!.call)).toBe(markdown(whole, index));
        }
      });
      tree.delete();
    }
    expect(convs).toBeGreaterThan(20);
  });

  it('follows an edit to a module-level constant the hovered call uses, and to the imports', () => {
    const cache = new ParseCache(p);
    let text = 'import torch.nn as nn\n\nWIDTH = 32\n\n# filler\n\nnet = nn.Sequential(nn.Conv2d(3, WIDTH, 3), nn.ReLU(), nn.Conv2d(WIDTH, 64, 3))\n';
    let version = 1;
    let tree = cache.get('doc', version, text)!;
    let imports = ImportTable.read(tree);
    const hoverAt = (needle: string) => {
      const f = analyzeAt(tree, text, text.indexOf(needle) + 4, DEFAULT_SETTINGS, imports);
      return f && markdown(f.analysis, f.call);
    };
    const edit = (at: number, length: number, inserted: string) => {
      text = text.slice(0, at) + inserted + text.slice(at + length);
      tree = cache.get('doc', ++version, text, [{ rangeOffset: at, rangeLength: length, text: inserted }])!;
      imports = imports.update(tree, cache.peek('doc')!.delta);
    };
    const before = hoverAt('nn.Conv2d(WIDTH, 64');
    expect(before).toContain('| weight | 64×32×3×3 |');
    // An edit elsewhere (a comment) leaves the figures as they were.
    edit(text.indexOf('filler'), 0, 'more ');
    expect(hoverAt('nn.Conv2d(WIDTH, 64')).toBe(before);
    // WIDTH = 32 -> WIDTH = 48: both convs of the Sequential change.
    edit(text.indexOf('32'), 2, '48');
    expect(hoverAt('nn.Conv2d(WIDTH, 64')).toContain('| weight | 64×48×3×3 |');
    expect(hoverAt('nn.Conv2d(3, WIDTH')).toContain('| weight | 48×3×3×3 |');
    // The import changed: `nn` no longer names torch.nn, so there is nothing sure to say.
    edit(text.indexOf('torch.nn') + 6, 2, 'xx');
    expect(cache.stats.incremental).toBe(3);
    expect(hoverAt('nn.Conv2d(WIDTH, 64')).toBeUndefined();
    cache.clear();
  });

  it('parses once per burst of changes, ahead of the hover, which then parses nothing (as the editor drives it)', () => {
    const reader = new DocumentReader(p);
    let text = 'import torch.nn as nn\n\nWIDTH = 32\n\nnet = nn.Sequential(nn.Conv2d(3, WIDTH, 3), nn.ReLU(), nn.Conv2d(WIDTH, 64, 3))\n';
    let version = 1;
    const doc: DocumentVersion = { key: 'doc', get version() { return version; }, getText: () => text };
    const type = (at: number, length: number, inserted: string) => {
      text = text.slice(0, at) + inserted + text.slice(at + length);
      version++;
      reader.noteChanges('doc', [{ rangeOffset: at, rangeLength: length, text: inserted }]);
    };
    const hover = () => {
      const f = reader.analysisAt(doc, text.indexOf('nn.Conv2d(WIDTH, 64') + 4, DEFAULT_SETTINGS);
      return f && markdown(f.analysis, f.call);
    };
    expect(hover()).toContain('| weight | 64×32×3×3 |');
    expect(reader.stats).toEqual({ full: 1, incremental: 0 });
    // Three keystrokes (32 -> 4 -> 48 -> 480) in one burst, then the change event's parse: one incremental parse.
    type(text.indexOf('32'), 2, '4');
    type(text.indexOf('WIDTH = 4') + 9, 0, '8');
    type(text.indexOf('WIDTH = 48') + 10, 0, '0');
    expect(reader.isRead(doc)).toBe(false);
    reader.read(doc);
    expect(reader.isRead(doc)).toBe(true);
    expect(reader.stats).toEqual({ full: 1, incremental: 1 });
    expect(hover()).toContain('| weight | 64×480×3×3 |');
    expect(reader.stats).toEqual({ full: 1, incremental: 1 });
    // A hover that comes before the change event's parse parses on its own path, incrementally.
    type(text.indexOf('480'), 3, '16');
    expect(hover()).toContain('| weight | 64×16×3×3 |');
    expect(reader.stats).toEqual({ full: 1, incremental: 2 });
    // The figures are those of a fresh full reading of the same text.
    const fresh = new DocumentReader(p);
    const f = fresh.analysisAt({ key: 'x', version: 1, getText: () => text }, text.indexOf('nn.Conv2d(WIDTH, 64') + 4, DEFAULT_SETTINGS)!;
    expect(markdown(f.analysis, f.call)).toBe(hover());
    fresh.clear();
    reader.clear();
  });
});
