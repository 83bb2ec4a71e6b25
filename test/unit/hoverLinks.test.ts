/**
 * The hover's Markdown is rendered by VS Code with `marked` and trusted for two commands: no text
 * from the document may turn into a link, an image or HTML, and the extension's own links carry
 * only ids into the extension's table, never document text.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import fc from 'fast-check';
import { marked, type Token } from 'marked';
import { parser } from './pythonHelpers';
import type { PythonParser } from '../../src/python/pythonParser';
import { DEFAULT_SETTINGS } from '../../src/python/layerEstimates';
import { fileSiteRows } from '../../src/python/siteRows';
import { DEFAULT_LIMITS } from '../../src/python/modelEvaluator';
import { CommandLinkTable, CONVERT_COMMAND, OPEN_PLAYGROUND_COMMAND } from '../../src/editor/commandLinks';
import { siteHoverMarkdown, codeSpan, escapeMarkdown } from '../../src/python/sitePresentation';
import { pythonCostRows } from '../../src/cli/pythonCost';
import { join } from 'node:path';

const ROOT = join(__dirname, '../..');

let p: PythonParser;
beforeAll(async () => {
  p = await parser();
});

const LINK_LABELS = new Set(['Open layer in Playground', 'Open nn.Sequential in Playground', 'Open Sequential in Playground', 'Convert to depthwise separable']);

/** Every link, image and HTML fragment that `marked` (VS Code's renderer) finds in the Markdown. */
function rendered(markdown: string): { links: { text: string; href: string }[]; images: string[]; html: string[] } {
  const found = { links: [] as { text: string; href: string }[], images: [] as string[], html: [] as string[] };
  marked.walkTokens(marked.lexer(markdown, { gfm: true }), (token: Token) => {
    if (token.type === 'link') found.links.push({ text: token.text, href: token.href });
    if (token.type === 'image') found.images.push(token.href);
    if (token.type === 'html') found.html.push(token.raw);
  });
  return found;
}

/** Asserts that the only links are the extension's, each pointing at an id the table issued. */
function expectOnlyOwnLinks(markdown: string, issued: Set<string>): void {
  const { links, images, html } = rendered(markdown);
  expect(images).toEqual([]);
  expect(html).toEqual([]);
  for (const link of links) {
    expect(LINK_LABELS.has(link.text), `a link the extension did not make: [${link.text}](${link.href})`).toBe(true);
    expect(issued.has(link.href), `a link target the extension did not issue: ${link.href}`).toBe(true);
  }
  // Raw HTML rendered as text, never as tags (the sanitizer would let <a> and <img> through).
  const html2 = marked.parse(markdown, { gfm: true, async: false });
  expect((html2.match(/<(a|img)\b/g) ?? []).length).toBe(links.length);
}

function recordingTable(): { table: CommandLinkTable; issued: Set<string> } {
  const table = new CommandLinkTable();
  const issued = new Set<string>();
  const target = table.target.bind(table);
  table.target = (command, args) => {
    const uri = target(command, args);
    issued.add(uri);
    return uri;
  };
  return { table, issued };
}

/** Text made of Markdown and HTML metacharacters and link-shaped fragments. */
const hostile = fc.array(
  fc.oneof(
    fc.constantFrom('`', '``', '```', '[', ']', '(', ')', '<', '>', '!', '*', '_', '#', '&', '\\', '|', '~', ':', '"', "'", ' ', '\n', '\n\n', '\r', '\t', '-', '+', '.', '@', '/', '=', '?', '%'),
    fc.constantFrom(
      '[Fix](command:sepconv.convertToSeparable?%5B%22file%3A%2F%2F%2Fetc%2Fx%22%5D)',
      '`) [Fix](command:sepconv.convertToSeparable?ARGS) (`',
      'https://evil.example/x',
      'www.evil.example',
      'mailto:a@b.example',
      'a@b.example',
      '<a href="command:sepconv.openPlayground">x</a>',
      '<img src=x onerror=alert(1)>',
      '![i](https://evil.example/i.png)',
      '[r]: https://evil.example',
      '[r]',
      '&#x5b;x&#x5d;(command:x)',
      '<https://evil.example>',
      'command:sepconv.openPlayground',
    ),
    fc.string({ maxLength: 4 }),
  ),
  { maxLength: 8 },
).map((parts) => parts.join(''));

/** A Python string literal holding `text`. */
const pyString = (text: string) => `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n').replace(/\r/g, '\\r')}'`;
/** An argument: the text raw (whatever it parses to), inside a string, or inside a call expression. */
const argument = fc.oneof(
  fc.integer({ min: 1, max: 64 }).map(String),
  hostile.map(pyString),
  hostile,
  hostile.map((t) => `f(${pyString(t)})`),
  hostile.map((t) => `cfg[${pyString(t)}]`),
);
const ARG_NAMES = ['in_channels', 'out_channels', 'kernel_size', 'stride', 'padding', 'dilation', 'groups', 'bias', 'padding_mode'];
const KERAS_ARG_NAMES = ['filters', 'kernel_size', 'strides', 'padding', 'data_format', 'dilation_rate', 'groups', 'activation', 'use_bias'];

describe('hover Markdown: document text never becomes a link', () => {
  /** Every conv site of `source` as the evaluator gives it, each hovered with a convert link from the table. */
  const hovers = (source: string) => {
    const tree = p.parse(source)!;
    try {
      const { sites } = fileSiteRows(tree, source, '/ws/x.py', () => undefined, { ...DEFAULT_SETTINGS, limits: { ...DEFAULT_LIMITS, maxMillis: 2000 } });
      return sites.map((row) => {
        const { table, issued } = recordingTable();
        const link = `[Convert to depthwise separable](${table.target(CONVERT_COMMAND, ['file:///x.py', { line: 0, character: 0 }, 1])})`;
        return { row, markdown: siteHoverMarkdown(row, DEFAULT_SETTINGS, link), issued };
      });
    } finally {
      tree.delete();
    }
  };

  it('the injection from the report renders as text', () => {
    const source = 'import torch.nn as nn\nnet = nn.Sequential(nn.Conv2d(3, 16, 3, padding="`) [Fix](command:sepconv.convertToSeparable?ARGS) (`"))\n';
    const found = hovers(source);
    expect(found).toHaveLength(1);
    expect(found[0]!.markdown).toContain('Fix');
    expect(rendered(found[0]!.markdown).links.map((l) => l.text)).not.toContain('Fix');
    expectOnlyOwnLinks(found[0]!.markdown, found[0]!.issued);
  });

  it('fuzz: metacharacters in every argument of nn.Conv2d and Keras Conv2D, positional and keyword, in and out of a Sequential', () => {
    let quoting = 0;
    let kerasHovers = 0;
    fc.assert(
      fc.property(fc.array(argument, { minLength: 1, maxLength: 9 }), fc.boolean(), fc.boolean(), fc.boolean(), (args, keywords, sequential, keras) => {
        const names = keras ? KERAS_ARG_NAMES : ARG_NAMES;
        const list = args.map((a, i) => (keywords ? `${names[i]}=${a}` : a)).join(', ');
        const source = keras
          ? `from tensorflow.keras import layers, Sequential\n${sequential ? `m = Sequential([layers.Input(shape=(32, 32, 3)), layers.Conv2D(${list}), layers.ReLU()])` : `c = layers.Conv2D(${list})`}\n`
          : `import torch.nn as nn\n${sequential ? `net = nn.Sequential(nn.Conv2d(${list}), nn.ReLU())` : `conv = nn.Conv2d(${list})`}\n`;
        for (const { row, markdown, issued } of hovers(source)) {
          expectOnlyOwnLinks(markdown, issued);
          if (row.reason && /unknown/.test(markdown)) quoting++;
          if (keras) kerasHovers++;
        }
      }),
      { numRuns: 150 },
    );
    // The runs reach the hover that quotes the document (a reason), not only hovers without any text from it.
    expect(quoting).toBeGreaterThan(30);
    expect(kerasHovers).toBeGreaterThan(20);
  });

  it('the extension\'s own links carry only an id, and the table gives back what was registered', () => {
    const table = new CommandLinkTable();
    const args = ['file:///x.py', { line: 1, character: 20 }, 3];
    const target = table.target(CONVERT_COMMAND, args);
    const row = hovers('import torch.nn as nn\nnet = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU())\n')[0]!.row;
    const { links } = rendered(siteHoverMarkdown(row, DEFAULT_SETTINGS, `[Convert to depthwise separable](${target})`));
    expect(links.map((l) => l.text)).toEqual(['Convert to depthwise separable']);
    const [, command, encoded] = /^command:([\w.]+)\?(.*)$/.exec(links[0]!.href)!;
    const ids = JSON.parse(decodeURIComponent(encoded!)) as unknown[];
    expect(ids).toHaveLength(1);
    expect(ids[0]).toMatch(/^[0-9a-f]{32}$/);
    expect(command).toBe(CONVERT_COMMAND);
    expect(table.resolve(CONVERT_COMMAND, ids[0])).toEqual(args);
    expect(table.resolve(OPEN_PLAYGROUND_COMMAND, ids[0])).toBeUndefined();
    // A CodeLens's argument is an id of the same table.
    const id = table.id(OPEN_PLAYGROUND_COMMAND, [{ model: { layers: [] } }]);
    expect(table.resolve(OPEN_PLAYGROUND_COMMAND, id)).toEqual([{ model: { layers: [] } }]);
  });
});

describe('the command link table', () => {
  it('answers undefined for an id it did not issue, an id of another command, or a non-string', () => {
    const table = new CommandLinkTable();
    const uri = table.target(CONVERT_COMMAND, ['file:///a.py', { line: 0, character: 0 }]);
    const id = JSON.parse(decodeURIComponent(uri.split('?')[1]!))[0] as string;
    expect(table.resolve(CONVERT_COMMAND, id)).toEqual(['file:///a.py', { line: 0, character: 0 }]);
    expect(table.resolve(OPEN_PLAYGROUND_COMMAND, id)).toBeUndefined();
    expect(table.resolve(CONVERT_COMMAND, 'f'.repeat(32))).toBeUndefined();
    expect(table.resolve(CONVERT_COMMAND, { id })).toBeUndefined();
    expect(table.resolve(CONVERT_COMMAND, 'toString')).toBeUndefined();
    expect(table.resolve(CONVERT_COMMAND, '__proto__')).toBeUndefined();
  });
  it('holds a bounded number of links, dropping the oldest', () => {
    const table = new CommandLinkTable(3);
    const ids = [1, 2, 3, 4].map((n) => JSON.parse(decodeURIComponent(table.target(CONVERT_COMMAND, [n]).split('?')[1]!))[0] as string);
    expect(table.resolve(CONVERT_COMMAND, ids[0])).toBeUndefined();
    expect(table.resolve(CONVERT_COMMAND, ids[3])).toEqual([4]);
    expect(table.size).toBe(3);
  });
});

describe('escaping helpers', () => {
  it('a code span holds any backtick run and renders its text literally', () => {
    fc.assert(
      fc.property(hostile, (text) => {
        const tokens = marked.lexer(`x ${codeSpan(text)} y`, { gfm: true });
        const codes: string[] = [];
        marked.walkTokens(tokens, (t) => {
          if (t.type === 'codespan') codes.push(t.text);
        });
        const { links, images, html } = rendered(`x ${codeSpan(text)} y`);
        expect([links, images, html]).toEqual([[], [], []]);
        // One code span, or plain escaped text when the text is blank.
        if (text.trim() !== '') expect(codes).toHaveLength(1);
      }),
      { numRuns: 500 },
    );
  });
  it('escaped text renders as itself, with line breaks as spaces', () => {
    fc.assert(
      fc.property(hostile, (text) => {
        const out = marked.parseInline(escapeMarkdown(text), { gfm: true, async: false }) as string;
        const decoded = out.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');
        expect(decoded).toBe(text.replace(/[\r\n\t]/g, ' '));
      }),
      { numRuns: 500 },
    );
  });
});

describe('the evaluator\'s hover: document text never becomes a link', () => {
  const text = fc.string({ unit: fc.constantFrom('[', ']', '(', ')', '`', '<', '>', '!', '*', '_', '\\', '&', '#', '|', '\n', ':', '/', 'a', 'command', 'https', ' ', '"', "'", '{', '}') as fc.Arbitrary<string>, maxLength: 40 });
  const shape = fc.option(fc.array(fc.integer({ min: 1, max: 512 }), { minLength: 4, maxLength: 4 }), { nil: null });
  const instance = fc.record({
    count: fc.option(fc.integer({ min: 1, max: 9 }), { nil: null }),
    kind: fc.option(text, { nil: null }),
    params: fc.option(fc.integer({ min: 0, max: 1e7 }), { nil: null }),
    macs: fc.option(fc.integer({ min: 0, max: 1e9 }), { nil: null }),
    input_shape: shape,
    output_shape: shape,
    weight_shape: fc.option(fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 4, maxLength: 4 }), { nil: null }),
    reason: fc.option(text, { nil: undefined }),
  });

  it('fuzz: metacharacters in the callee, the kinds and the reasons of a site', () => {
    const { table, issued } = recordingTable();
    fc.assert(
      fc.property(text, text, fc.array(instance, { minLength: 0, maxLength: 3 }), fc.option(text, { nil: undefined }), fc.boolean(), (code, layer, instances, reason, keras) => {
        const link = `[Convert to depthwise separable](${table.target(CONVERT_COMMAND, ['file:///x.py', { line: 0, character: 0 }, 1])})`;
        const row = { line: 1, column: 1, start: 0, end: 1, framework: keras ? ('keras' as const) : ('torch' as const), layer, code, kind: null, count: instances.length, layout: keras ? ('NHWC' as const) : ('NCHW' as const), instances, reason, ...(reason ? { unknown: true as const } : {}) };
        expectOnlyOwnLinks(siteHoverMarkdown(row, { convention: 'torchinfo', dtype: 'fp32', defaultInputSize: [224, 224] }, link), issued);
      }),
      { numRuns: 300 },
    );
  });

  it('the injection from the report, through the evaluator, renders as text', async () => {
    const source = 'import torch.nn as nn\nconv = nn.Conv2d(3, 16, 3, padding="`) [Fix](command:sepconv.convertToSeparable?%5B%5D) (`")\n';
    const { sites } = await pythonCostRows('inject.py', source, DEFAULT_SETTINGS, [ROOT]);
    expect(sites.length).toBeGreaterThan(0);
    for (const row of sites) expectOnlyOwnLinks(siteHoverMarkdown(row, { convention: 'torchinfo', dtype: 'fp32', defaultInputSize: [224, 224] }), new Set());
  });
});
