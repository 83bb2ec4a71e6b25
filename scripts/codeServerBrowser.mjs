// The browser side of a code-server run, shared by the integration runner
// (scripts/runIntegration.mjs) and the UI tests (test/e2e/vscodeUi.mjs): headless Chromium
// with WebGPU through SwiftShader, and the workbench URL that opens a folder with a payload.

import path from 'node:path';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
/** Dawn (in the extension host) and Chromium find SwiftShader's Vulkan driver through this. */
export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

/**
 * Starts headless Chromium with a fresh profile in `profileDir`.
 * Playwright's own signal handlers would close the browser and exit at once, before
 * code-server is stopped: the callers handle the signals themselves.
 * @returns {Promise<import('playwright-core').BrowserContext>}
 */
export function launchChromium(profileDir, { viewport = { width: 1600, height: 1000 } } = {}) {
  return chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    handleSIGINT: false,
    handleSIGTERM: false,
    handleSIGHUP: false,
    viewport,
    args: [
      '--no-sandbox',
      '--headless',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--enable-unsafe-webgpu',
      '--use-webgpu-adapter=swiftshader',
    ],
  });
}

/**
 * The URL that opens `workspace` in the code-server at `server` with the payload entries
 * (`extensionDevelopmentPath`, `extensionTestsPath`, `openFile`, ...). Paths in `remotePaths`
 * entries are absolute paths on the server and become vscode-remote:// URIs.
 * @param {{ url: string, port: number }} server
 * @param {string} workspace
 * @param {[string, string][]} remotePaths  payload entries whose value is an absolute path
 * @param {[string, string][]} [plain]      payload entries passed as they are
 */
export function workbenchUrl(server, workspace, remotePaths, plain = [['skipWelcome', 'true']]) {
  const remote = (absolutePath) => `vscode-remote://127.0.0.1:${server.port}${path.resolve(absolutePath)}`;
  const payload = [...remotePaths.map(([key, value]) => [key, remote(value)]), ...plain];
  return `${server.url}/?folder=${encodeURIComponent(workspace)}&payload=${encodeURIComponent(JSON.stringify(payload))}`;
}

/**
 * Opens the command palette and types `title` until the palette lists it (the extension host
 * reads the extension's commands a while after the workbench shows), then leaves it open on that
 * row: press Enter to run it. Throws after `timeoutMs`.
 * @param {import('playwright-core').Page} page
 * @param {string} title  as the palette shows it, "Category: Title"
 */
export async function showInCommandPalette(page, title, timeoutMs = 90_000) {
  const row = page.locator('.quick-input-list .monaco-list-row', { hasText: title }).first();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await page.locator('.monaco-workbench').click({ position: { x: 800, y: 500 } });
    await page.keyboard.press('F1');
    const input = page.locator('.quick-input-widget input');
    await input.waitFor({ state: 'visible' });
    await input.pressSequentially(title, { delay: 20 });
    if (
      await row.waitFor({ timeout: 5_000 }).then(
        () => true,
        () => false,
      )
    )
      return;
    if (Date.now() > deadline) throw new Error(`the command palette never listed "${title}"`);
    await page.keyboard.press('Escape');
  }
}
