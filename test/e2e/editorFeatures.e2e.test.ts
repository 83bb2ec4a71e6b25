/**
 * The editor features as a person sees them, in VS Code itself: code-server with the extension
 * under development (dist/ as `npm test` built it) in headless Chromium, on a real model file of
 * the corpus (test/corpus/pytorch-mobilenet-v2/MobileNetV2.py, copied into a scratch workspace).
 * The CodeLens over the model class shows its totals, hovering a conv call shows its figures, and
 * Ctrl+. on a standard conv offers the depthwise-separable rewrite. The expected figures are the
 * ones PyTorch measured on the same file (test/corpus/truth). Screenshots for the README go to
 * media/screenshots/ (codelens.png, hover.png, quickfix.png), every step's to test-results/.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatCount, formatInteger } from '../../src/shared/format';
// @ts-expect-error: plain JavaScript modules shared with the integration runner
import { launchChromium, SWIFTSHADER_ICD, workbenchUrl } from '../../scripts/codeServerBrowser.mjs';
// @ts-expect-error: plain JavaScript modules shared with the integration runner
import { startCodeServer } from '../../scripts/installCodeServer.mjs';

const ROOT = join(__dirname, '../..');
const RESULTS = join(ROOT, 'test-results');
const SCREENSHOTS = join(ROOT, 'media/screenshots');
const MODEL_FILE = 'pytorch-mobilenet-v2/MobileNetV2.py';
const TRUTH_FILE = 'pytorch-mobilenet-v2__MobileNetV2.json';

interface TruthInstance {
  count: number;
  params: number;
  macs: number;
}
interface Truth {
  entries: { name: string; status: string; params?: number; macs?: number }[];
  sites: { line: number; column: number; layer: string; instances: TruthInstance[] }[];
}

const truth = JSON.parse(readFileSync(join(ROOT, 'test/corpus/truth', TRUTH_FILE), 'utf8')) as Truth;
const source = readFileSync(join(ROOT, 'test/corpus', MODEL_FILE), 'utf8');

/** The model class PyTorch built and measured, and the line (1-based) of its `class` header. */
const model = truth.entries.find((e) => e.status === 'measured')!;
const modelLine = source.split('\n').findIndex((line) => line.startsWith(`class ${model.name}(`)) + 1;
/** The first conv site built once with a 3x3 kernel and groups 1: `conv_bn`'s nn.Conv2d(inp, oup, 3, stride, 1, bias=False). */
const convSite = truth.sites.find((s) => s.layer === 'Conv2d' && s.instances.length === 1 && /nn\.Conv2d\(inp, oup, 3,/.test(source.split('\n')[s.line - 1]!))!;

let scratch: string;
let server: { url: string; port: number; stop(): Promise<void> } | undefined;
let context: BrowserContext | undefined;
let page: Page;

async function shot(name: string, readme = false): Promise<void> {
  await page.screenshot({ path: join(RESULTS, `editor-${name}`) });
  // The README's copy: the editor area only (no explorer, no status bar).
  if (readme) await page.locator('.part.editor').screenshot({ path: join(SCREENSHOTS, name) });
}

/** Text as rendered, with Monaco's non-breaking spaces as spaces. */
function plain(text: string | null): string {
  return (text ?? '').replace(/\u00a0/g, ' ');
}

/** Moves the cursor to a 1-based line and column with "Go to Line" (Ctrl+G), which also scrolls it into view. */
async function goTo(line: number, column: number): Promise<void> {
  await page.keyboard.press('Escape');
  await page.keyboard.press('Control+G');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible' });
  await input.fill(`:${line}:${column}`);
  await input.press('Enter');
  await input.waitFor({ state: 'hidden' });
}

/**
 * The first rendered editor line whose text matches (Monaco renders only the lines in view, and
 * renders spaces as non-breaking spaces: write them as \s in `text`).
 */
function viewLine(text: RegExp): Locator {
  return page.locator('.part.editor .view-lines .view-line').filter({ hasText: text }).first();
}

beforeAll(async () => {
  if (!existsSync(join(ROOT, 'dist', 'extension.js'))) throw new Error('dist/ is not built: run `npm run build` first');
  expect(model, 'the truth file has a measured model').toBeDefined();
  expect(modelLine, `class ${model.name} in ${MODEL_FILE}`).toBeGreaterThan(0);
  expect(convSite, 'the truth file has conv_bn\'s 3x3 conv').toBeDefined();
  mkdirSync(RESULTS, { recursive: true });
  mkdirSync(SCREENSHOTS, { recursive: true });
  scratch = mkdtempSync(join(tmpdir(), 'sepconv-editor-ui-'));
  const workspace = join(scratch, 'workspace');
  mkdirSync(workspace);
  cpSync(join(ROOT, 'test/corpus', MODEL_FILE), join(workspace, 'MobileNetV2.py'));
  // A plain editor for the screenshots: no minimap, no sticky scroll, no start page, a quick hover.
  const userSettings = join(scratch, 'user-data', 'User');
  mkdirSync(userSettings, { recursive: true });
  writeFileSync(
    join(userSettings, 'settings.json'),
    JSON.stringify({ 'workbench.startupEditor': 'none', 'editor.minimap.enabled': false, 'editor.stickyScroll.enabled': false, 'workbench.tips.enabled': false, 'editor.hover.delay': 300, 'editor.fontSize': 14 }),
  );
  server = await startCodeServer({
    userDataDir: join(scratch, 'user-data'),
    extensionsDir: join(scratch, 'extensions'),
    env: { VK_ICD_FILENAMES: process.env.VK_ICD_FILENAMES || SWIFTSHADER_ICD },
  });
  const browser: BrowserContext = await launchChromium(join(scratch, 'chromium'), { viewport: { width: 1280, height: 800 } });
  context = browser;
  page = browser.pages()[0] ?? (await browser.newPage());
  await page.goto(workbenchUrl(server, workspace, [['extensionDevelopmentPath', ROOT], ['openFile', join(workspace, 'MobileNetV2.py')]]));
  try {
    await viewLine(/def\s+conv_bn\(/).waitFor({ timeout: 150_000 });
  } catch (error) {
    await shot('opened.png');
    throw new Error(`${(error as Error).message} (see test-results/editor-opened.png)`);
  }
  // Focus the editor text (the workbench may start with the focus elsewhere).
  await viewLine(/def\s+conv_bn\(/).click();
}, 240_000);

afterAll(async () => {
  await context?.close().catch(() => {});
  await server?.stop();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe('editor features on a real model file', () => {
  it('the CodeLens over the model class shows its params and MACs, as PyTorch measured them', async () => {
    await goTo(modelLine, 1);
    const totals = `${formatCount(model.params!)} params · ${formatCount(model.macs!)} MACs`;
    const lens = page.locator('.part.editor .codelens-decoration').filter({ hasText: /params .* MACs/ }).first();
    try {
      await lens.waitFor({ timeout: 60_000 });
    } catch (error) {
      await shot('codelens-missing.png');
      throw new Error(`${(error as Error).message} (see test-results/editor-codelens-missing.png)`);
    }
    expect(plain(await lens.textContent())).toContain(totals);
    await shot('codelens.png', true);
  });

  it('hovering a conv call shows its params and MACs, as PyTorch measured them', async () => {
    await goTo(convSite.line, convSite.column);
    const { params, macs } = convSite.instances[0]!;
    const call = viewLine(/nn\.Conv2d\(inp,\s*oup,\s*3,\s*stride/);
    const token = call.locator('span > span', { hasText: /Conv2d/ }).first();
    const hover = page.locator('.monaco-hover:visible').filter({ hasText: /params/ }).first();
    // The first hover waits for the parser and the evaluation; move away and back until it shows.
    const deadline = Date.now() + 60_000;
    for (;;) {
      await token.hover();
      if (await hover.waitFor({ timeout: 10_000 }).then(() => true, () => false)) break;
      if (Date.now() > deadline) {
        await shot('hover-missing.png');
        throw new Error('no hover with figures over the conv call (see test-results/editor-hover-missing.png)');
      }
      await page.mouse.move(5, 5);
    }
    const text = plain(await hover.textContent());
    expect(text).toContain('nn.Conv2d');
    // Table rows: "params | 864", "MACs | 10,838,016 (10.84M)".
    expect(text).toMatch(new RegExp(`params\\s*${formatInteger(params)}(?![\\d,])`));
    expect(text).toMatch(new RegExp(`MACs\\s*${formatInteger(macs)} \\(${formatCount(macs).replace('.', '\\.')}\\)`));
    expect(text).toMatch(/Depthwise-separable replacement/);
    await shot('hover.png', true);
    await page.mouse.move(5, 5);
  });

  it('Ctrl+. on a standard conv offers its depthwise-separable rewrite, which applies', async () => {
    await page.keyboard.press('Escape');
    await goTo(convSite.line, convSite.column + 4);
    await page.keyboard.press('Control+.');
    const action = page.locator('.action-widget .monaco-list-row').filter({ hasText: /Convert\s+to\s+depthwise\s+separable:\s+nn\.Conv2d\s/ }).first();
    try {
      await action.waitFor({ timeout: 30_000 });
    } catch (error) {
      await shot('quickfix-missing.png');
      throw new Error(`${(error as Error).message} (see test-results/editor-quickfix-missing.png)`);
    }
    await shot('quickfix.png', true);
    // The menu takes the keyboard (a pointer block covers the page while it is open): focus the row, apply with Enter.
    for (let i = 0; i < 5 && !/\bfocused\b/.test((await action.getAttribute('class')) ?? ''); i++) await page.keyboard.press('ArrowDown');
    expect(await action.getAttribute('class')).toMatch(/\bfocused\b/);
    await page.keyboard.press('Enter');
    // The call becomes nn.Sequential(3x3 depthwise conv, 1x1 conv) in place.
    await viewLine(/nn\.Conv2d\(inp,\s*inp,\s*3,\s*stride,\s*1,.*groups\s*=\s*inp\)/).waitFor({ timeout: 15_000 });
    expect(await viewLine(/nn\.Conv2d\(inp,\s*oup,\s*1,\s*bias\s*=\s*False\)/).count()).toBe(1);
    await shot('quickfix-applied.png');
  });
});
