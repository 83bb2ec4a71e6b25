/**
 * The Python analysis worker through its host-side client: text in, results out; changes with
 * versions; a newer version supersedes an older one (also mid-evaluation); imported workspace
 * files read through the host and dropped when they change; older results answer hovers on sites
 * that no change touched; a worker that dies is restarted and told every document again.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as esbuild from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnalysisClient, type AnalysisClientOptions, type Results } from '../../src/python/analysisClient';
import { ROOT, parser } from './pythonHelpers';
import { DocumentAnalyzer } from '../../src/python/documentAnalyzer';
import type { DocumentResults } from '../../src/python/analysisProtocol';

let dir: string;
let workerPath: string;
const clients: AnalysisClient[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sepconv-pyworker-'));
  workerPath = join(dir, 'pythonWorker.js');
  // The options of esbuild.mjs's `pythonWorker` bundle (a CommonJS bundle gets a real import.meta.url).
  await esbuild.build({
    entryPoints: ['src/python/pythonWorker.ts'],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['webgpu'],
    outfile: workerPath,
    logLevel: 'error',
    define: { 'import.meta.url': '__sepconvImportMetaUrl' },
    banner: { js: "var __sepconvImportMetaUrl = require('url').pathToFileURL(__filename).href;" },
  });
});

afterAll(() => {
  for (const c of clients) c.dispose();
  rmSync(dir, { recursive: true, force: true });
});

interface Harness {
  client: AnalysisClient;
  texts: Map<string, { version: number; text: string; path: string }>;
  files: Map<string, string>;
  reads: string[];
  logs: string[];
  published: Results[];
}

function harness(overrides: Partial<AnalysisClientOptions> = {}): Harness {
  const h: Harness = { texts: new Map(), files: new Map(), reads: [], logs: [], published: [] } as unknown as Harness;
  h.client = new AnalysisClient({
    workerPath,
    wasmDirs: [join(ROOT, 'dist'), ROOT],
    readFile: async (path) => {
      h.reads.push(path);
      return h.files.get(path);
    },
    currentText: (key) => h.texts.get(key),
    log: (message) => h.logs.push(message),
    onResults: (results) => h.published.push(results),
    ...overrides,
  });
  clients.push(h.client);
  return h;
}

/** Opens a document (and remembers its text, as the editor would have it). */
function open(h: Harness, key: string, text: string, path = `/ws/${key}.py`, version = 1) {
  h.texts.set(key, { version, text, path });
  h.client.open(key, version, text, path);
}

/** Replaces `find` (first occurrence) with `replace`, as one edit of the next version. */
function edit(h: Harness, key: string, find: string, replace: string) {
  const doc = h.texts.get(key)!;
  const at = doc.text.indexOf(find);
  if (at < 0) throw new Error(`no ${find}`);
  const text = doc.text.slice(0, at) + replace + doc.text.slice(at + find.length);
  h.texts.set(key, { ...doc, version: doc.version + 1, text });
  h.client.change(key, doc.version + 1, [{ rangeOffset: at, rangeLength: find.length, text: replace }]);
  return doc.version + 1;
}

const MODEL = `import torch.nn as nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1)
        self.pw = nn.Conv2d(16, 32, 1)

    def forward(self, x):
        return self.pw(self.conv(x))
`;

const siteOn = (r: Results | undefined, line: number) => r?.sites.all().find((s) => s.line === line);

describe('Python analysis worker', () => {
  it("takes a document's text and gives its sites, model totals, quick-fix edits and diagnostics", async () => {
    const h = harness();
    open(h, 'a', MODEL);
    const r = await h.client.resultsFor('a', 1, 20_000);
    expect(r).toBeDefined();
    expect(siteOn(r, 6)).toMatchObject({ params: 3 * 16 * 9 + 16, output_shape: [1, 16, 224, 224] });
    expect(siteOn(r, 7)).toMatchObject({ params: 16 * 32 + 32, input_shape: [1, 16, 224, 224] });
    expect(r!.models).toEqual([expect.objectContaining({ name: 'Net', line: 2, convInstances: 2 })]);
    // The 3x3 conv can become depthwise + pointwise; the 1x1 cannot.
    expect(r!.rewrites.all().map((w) => MODEL.slice(w.start, w.end))).toEqual(['nn.Conv2d(3, 16, 3, padding=1)']);
    expect(r!.rewrites.at(0).edits.at(-1)!.newText).toMatch(/groups=3/);
    expect(r!.diagnostics).toEqual([]);
    expect(h.logs).toEqual([]);
  });

  it("builds the models of the document's `# sepconv: call` comments, its CodeLens on the comment", async () => {
    const h = harness();
    const text = MODEL.replace(
      'class Net(nn.Module):\n    def __init__(self):',
      '# sepconv: call Net(8)\n\nclass Net(nn.Module):\n    def __init__(self, width):',
    )
      .replace('nn.Conv2d(3, 16,', 'nn.Conv2d(3, width,')
      .replace('nn.Conv2d(16, 32, 1)', 'nn.Conv2d(width, 32, 1)');
    open(h, 'k', text);
    const r = await h.client.resultsFor('k', 1, 20_000);
    // 3 -> 8 channels, 3x3, with bias: 224 params; 8 -> 32, 1x1: 288.
    expect(r!.models).toEqual([expect.objectContaining({ name: 'Net(8)', line: 2, params: 224 + 288, convInstances: 2 })]);
    expect(siteOn(r, 8)).toMatchObject({ params: 224, output_shape: [1, 8, 224, 224] });
  });

  it('lists the Sequentials the playground can open, with the input the evaluation gave them', async () => {
    const h = harness();
    const source = `import torch.nn as nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU())
        self.body = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1, groups=16), nn.Conv2d(16, 32, 1))
        self.odd = nn.Sequential(nn.Conv2d(32, 8, 1), Custom())

    def forward(self, x):
        return self.odd(self.body(self.stem(x)))

class Custom(nn.Module):
    def forward(self, x):
        return x
`;
    open(h, 'p', source);
    await expect.poll(() => h.client.latest('p')?.playground.length ?? 0, { timeout: 20_000 }).toBe(2);
    const [stem, body] = h.client.latest('p')!.playground;
    expect(stem).toMatchObject({ line: 5, name: 'self.stem', model: { input_shape: [1, 3, 224, 224] } });
    expect(stem!.model.layers.map((l) => l.type)).toEqual(['Conv2d', 'BatchNorm2d', 'ReLU']);
    // The body gets the stem's output, as the evaluation propagated it.
    expect(body).toMatchObject({ line: 6, name: 'self.body', model: { input_shape: [1, 16, 112, 112] } });
  });

  it('applies changes by version, and answers for the latest only', async () => {
    const h = harness();
    open(h, 'b', MODEL);
    // Three edits in a burst: the worker analyses the last version (the others are superseded before they start).
    edit(h, 'b', 'nn.Conv2d(16, 32, 1)', 'nn.Conv2d(16, 48, 1)');
    edit(h, 'b', 'nn.Conv2d(16, 48, 1)', 'nn.Conv2d(16, 64, 1)');
    const last = edit(h, 'b', 'padding=1)', 'padding=1, groups=1)');
    const r = await h.client.resultsFor('b', last, 20_000);
    expect(siteOn(r, 7)).toMatchObject({ params: 16 * 64 + 64 });
    expect(h.published.map((p) => p.version)).toEqual([last]);
    // An older version is no longer served.
    expect(await h.client.resultsFor('b', 2, 10)).toBeUndefined();
  });

  it('stops an evaluation in progress when a newer version arrives', async () => {
    const h = harness();
    // 20,000 layer instances applied 12 times (each loop within the iteration bound): about 3 s
    // of evaluation on an idle machine, long enough to be caught in the middle.
    const slow = `import torch.nn as nn

class Slow(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([nn.Conv2d(8, 8, 1) for _ in range(20000)])
        self.out = nn.Conv2d(3, 8, 1)

    def forward(self, x):
        x = self.out(x)
        for _ in range(12):
            for layer in self.layers:
                x = layer(x)
        return x
`;
    open(h, 'c', slow);
    // Let the worker start the run (parser load, the debounce), then supersede it.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const started = performance.now();
    const last = edit(h, 'c', 'range(20000)', 'range(2)');
    const r = await h.client.resultsFor('c', last, 20_000);
    // 2 layers, each applied 12 times.
    expect(siteOn(r, 6)).toMatchObject({ count: 24 });
    // Version 1 never published: the run was superseded, not finished.
    expect(h.published.map((p) => p.version)).toEqual([last]);
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it('reads imported workspace files through the host, and forgets them when they change', async () => {
    const h = harness();
    h.files.set(
      '/ws/pkg/blocks.py',
      'import torch.nn as nn\nclass Block(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.conv = nn.Conv2d(3, 8, 3)\n    def forward(self, x):\n        return self.conv(x)\n',
    );
    const main =
      'import torch.nn as nn\nfrom .blocks import Block\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.block = Block()\n        self.head = nn.Conv2d(8, 4, 1)\n    def forward(self, x):\n        return self.head(self.block(x))\n';
    open(h, 'd', main, '/ws/pkg/net.py');
    const r = await h.client.resultsFor('d', 1, 20_000);
    expect(h.reads).toContain('/ws/pkg/blocks.py');
    expect(siteOn(r, 8)).toMatchObject({ input_shape: [1, 8, 222, 222] });
    // The imported file changes: the document is analysed again with the new text (same version).
    h.files.set('/ws/pkg/blocks.py', h.files.get('/ws/pkg/blocks.py')!.replace('nn.Conv2d(3, 8, 3)', 'nn.Conv2d(3, 8, 5)'));
    h.client.fileChanged('/ws/pkg/blocks.py');
    await expect.poll(() => siteOn(h.client.latest('d'), 8)?.input_shape, { timeout: 20_000 }).toEqual([1, 8, 220, 220]);
  });

  it('answers a hover from older results on a site no change touched, and waits for the new ones on a site that changed', async () => {
    const h = harness();
    open(h, 'e', MODEL);
    await h.client.resultsFor('e', 1, 20_000);
    // A comment above the class: every site moves, none is touched.
    const v2 = edit(h, 'e', 'class Net', '# a comment\nclass Net');
    const text = h.texts.get('e')!.text;
    const offset = text.indexOf('Conv2d(16, 32');
    const stale = await h.client.siteAt('e', v2, offset, 0);
    expect(stale).toMatchObject({ stale: true, row: { start: text.indexOf('nn.Conv2d(16, 32'), params: 16 * 32 + 32 } });
    // An edit inside a site: its older figures no longer hold, the hover waits for the new version's.
    const v3 = edit(h, 'e', 'nn.Conv2d(16, 32, 1)', 'nn.Conv2d(16, 40, 1)');
    expect(await h.client.siteAt('e', v3, offset, 0)).toBeUndefined();
    const fresh = await h.client.siteAt('e', v3, offset, 20_000);
    expect(fresh).toMatchObject({ stale: false, row: { params: 16 * 40 + 40 } });
  });

  it('asks for the whole text again when a change does not follow the version it has', async () => {
    const h = harness();
    open(h, 'f', MODEL);
    await h.client.resultsFor('f', 1, 20_000);
    // The editor's text moves to version 3 without the client hearing of version 2.
    const text = MODEL.replace('nn.Conv2d(16, 32, 1)', 'nn.Conv2d(16, 24, 1)');
    h.texts.set('f', { version: 3, text, path: '/ws/f.py' });
    (h.client as unknown as { documents: Map<string, { version: number }> }).documents.get('f')!.version = 2;
    h.client.change('f', 3, [{ rangeOffset: 0, rangeLength: 0, text: '' }]);
    // The worker had version 1, not 2: it asks for the text, and analyses the editor's version 3.
    const r = await h.client.resultsFor('f', 3, 20_000);
    expect(siteOn(r, 7)).toMatchObject({ params: 16 * 24 + 24 });
  });

  it('restarts a worker that dies, says so, and analyses the open documents again', async () => {
    const h = harness();
    open(h, 'g', MODEL);
    await h.client.resultsFor('g', 1, 20_000);
    await h.client.workerForTests!.terminate();
    expect(h.client.restartCount).toBe(1);
    expect(h.logs.join('\n')).toMatch(/Python analysis worker stopped \(exit code 1\); restarting it/);
    // The new worker has the document again (from its current text) and answers its next version.
    const v2 = edit(h, 'g', 'nn.Conv2d(16, 32, 1)', 'nn.Conv2d(16, 8, 1)');
    const r = await h.client.resultsFor('g', v2, 20_000);
    expect(siteOn(r, 7)).toMatchObject({ params: 16 * 8 + 8 });
  });

  it('does not restart a worker that could not load the parser, and says why', async () => {
    const h = harness({ wasmDirs: [join(dir, 'nowhere')] });
    open(h, 'h', MODEL);
    await expect.poll(() => h.logs.join('\n'), { timeout: 20_000 }).toMatch(/stopped before it was ready/);
    expect(h.logs.join('\n')).toMatch(/tree-sitter\.wasm and tree-sitter-python\.wasm were not found/);
    expect(h.client.restartCount).toBe(0);
    expect(await h.client.resultsFor('h', 1, 50)).toBeUndefined();
  });
});

describe("the worker's analyzer, in this thread", () => {
  it('checks for a newer version while it evaluates, drops the superseded run and runs the newer one', async () => {
    const p = await parser();
    const source =
      'import torch.nn as nn\n\nclass Slow(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.layers = nn.ModuleList([nn.Conv2d(8, 8, 1) for _ in range(5000)])\n    def forward(self, x):\n        for layer in self.layers:\n            x = layer(x)\n        return x\n';
    let changes = 0;
    let checks = 0;
    const published: DocumentResults[] = [];
    const analyzer: DocumentAnalyzer = new DocumentAnalyzer(p, {
      readFile: async () => undefined,
      publish: (r) => published.push(r),
      publishPlayground: () => {},
      needText: () => {},
      // Version 2 arrives while the first run is well under way (at its 20th check), as a message
      // would while the worker evaluates: the counter moves first, then the change is handled.
      changeCount: () => {
        checks++;
        if (checks === 20) {
          changes++;
          analyzer.change('s', 1, 2, [{ rangeOffset: source.indexOf('5000'), rangeLength: 4, text: '3' }]);
        }
        return changes;
      },
      log: () => {},
    });
    analyzer.open('s', 1, source, '/ws/s.py');
    await expect.poll(() => published.length, { timeout: 30_000 }).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 200));
    // Version 1 never published: its run stopped at the check after the change (run to its end, it
    // would have checked hundreds of times more), and version 2's run took a few checks.
    expect(checks).toBeGreaterThan(20);
    expect(checks).toBeLessThan(30);
    expect(published.map((r) => r.version)).toEqual([2]);
    expect(published[0]!.sites.starts.length).toBe(1);
    analyzer.dispose();
  });
});
