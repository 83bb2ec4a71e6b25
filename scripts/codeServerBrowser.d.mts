// Types of codeServerBrowser.mjs, for the tests that import it.
import type { BrowserContext, Page } from 'playwright-core';

export const CHROMIUM: string;
export const SWIFTSHADER_ICD: string;
export function launchChromium(profileDir: string, options?: { viewport?: { width: number; height: number } }): Promise<BrowserContext>;
export function workbenchUrl(server: { url: string; port: number }, workspace: string, remotePaths: [string, string][], plain?: [string, string][]): string;
export function showInCommandPalette(page: Page, title: string, timeoutMs?: number): Promise<void>;
