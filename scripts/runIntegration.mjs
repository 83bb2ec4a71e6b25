#!/usr/bin/env node
// Runs the integration tests (test/integration) inside a real VS Code extension host:
// code-server serves VS Code, headless Chromium opens it with the extension under
// development and the compiled test index, and VS Code calls the index's run().
//
//   node scripts/runIntegration.mjs [--grep TEXT] [--timeout-ms N] [--no-build] [--keep]
//                                   [--extension-path DIR] [--workspace DIR] [--build-only]
//                                   [--tests-dir DIR] [--vsix FILE]
//
// --vsix FILE tests an installed copy instead of the extension under development: the VSIX is
// installed into the fresh extensions folder with code-server's --install-extension, as a user
// would install it, and the tests of test/integration/installed run. VS Code only runs an
// extensionTestsPath in extension development mode, so the development path is then a
// stand-in extension with no code of its own (a package.json only), never this repository.
// --no-build skips rebuilding the extension (`node esbuild.mjs`); the tests are always
// bundled into dist-test/integration unless --tests-dir names compiled tests elsewhere.
// --extension-path and --workspace default to this repository and test/integration/workspace.
// --keep keeps the temporary folders (profiles, workspace copy, results file).
// Results come back two ways: the test index appends one JSON line per result to the file
// named by SEPCONV_INTEGRATION_RESULTS (code-server's extension host inherits code-server's
// environment), and VS Code's workbench reports the extension host's exit code through
// window.codeAutomationExit, which this script provides to the page. Evidence lands in
// test-results/: a screenshot, the code-server log and the browser console.
//
// A test can reload the window (test/integration/helpers.ts requestReload): it appends a
// 'reload' event and runs VS Code's reload command, which saves the open editors while the
// extension host still runs (a webview panel is only saved while its serializer is
// registered). This script then waits for the new page instead of taking the extension
// host's exit as the end. The reloaded workbench starts a new extension host, which runs the
// index again; the index sees the 'reload' event and runs the tests of
// test/integration/afterReload.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as esbuild from 'esbuild';
import { launchChromium, SWIFTSHADER_ICD, workbenchUrl } from './codeServerBrowser.mjs';
import { ensureCodeServer, installExtension, startCodeServer } from './installCodeServer.mjs';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const testSourceDir = path.join(repoRoot, 'test', 'integration');
const testOutDir = path.join(repoRoot, 'dist-test', 'integration');
const resultsDir = path.join(repoRoot, 'test-results');
/** Long enough for a cold start on a busy two-core machine plus the GPU tests. */
const DEFAULT_TIMEOUT_MS = 5 * 60_000;
const EXTENSION_ID = 'sepconv-lab.sepconv-lab';

const { values: options } = parseArgs({
  options: {
    grep: { type: 'string' },
    'timeout-ms': { type: 'string' },
    'no-build': { type: 'boolean', default: false },
    'build-only': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    'extension-path': { type: 'string' },
    workspace: { type: 'string' },
    'tests-dir': { type: 'string' },
    vsix: { type: 'string' },
  },
});

const timeoutMs = Number(options['timeout-ms'] ?? process.env.SEPCONV_INTEGRATION_TIMEOUT_MS ?? DEFAULT_TIMEOUT_MS);
if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
  console.error(`--timeout-ms must be a positive number of milliseconds, got ${options['timeout-ms']}`);
  process.exit(2);
}
const vsix = options.vsix ? path.resolve(options.vsix) : undefined;
if (vsix && options['extension-path']) {
  console.error('--vsix and --extension-path exclude each other: --vsix tests the installed copy');
  process.exit(2);
}
if (vsix && !fs.existsSync(vsix)) {
  console.error(`--vsix ${vsix}: no such file`);
  process.exit(2);
}
let extensionPath = path.resolve(options['extension-path'] ?? repoRoot);
const workspaceSource = path.resolve(options.workspace ?? path.join(testSourceDir, 'workspace'));

/** Test sources: the index and every *.test.ts; helpers are bundled into the tests that import them. */
function findTestEntries(dir) {
  const entries = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'workspace') entries.push(...findTestEntries(full));
    } else if (entry.name.endsWith('.test.ts') || full === path.join(testSourceDir, 'index.ts')) {
      entries.push(full);
    }
  }
  return entries;
}

/** Bundles the test index and test files into dist-test/integration (CommonJS for the extension host). */
async function buildIntegrationTests() {
  // A stale compiled test whose source is gone would still run: start from empty.
  fs.rmSync(testOutDir, { recursive: true, force: true });
  await esbuild.build({
    entryPoints: findTestEntries(testSourceDir),
    outbase: testSourceDir,
    outdir: testOutDir,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    // vscode is the host's; mocha must be the single copy that the index configures.
    external: ['vscode', 'mocha', 'webgpu'],
    sourcemap: 'inline',
    logLevel: 'warning',
  });
}

function buildExtension() {
  if (!fs.existsSync(path.join(repoRoot, 'esbuild.mjs'))) return;
  // Type-checking is `npm test`'s first step; here only the bundles are rebuilt.
  try {
    execFileSync(process.execPath, ['esbuild.mjs', '--no-typecheck'], { cwd: repoRoot, stdio: 'inherit' });
  } catch {
    console.error('building the extension (node esbuild.mjs --no-typecheck) failed; --no-build tests the dist/ already there');
    process.exit(1);
  }
}

/** Reads the JSON lines the test index has appended since the last call. */
function createResultsReader(file) {
  let consumed = 0;
  let pendingText = '';
  return () => {
    if (!fs.existsSync(file)) return [];
    const content = fs.readFileSync(file);
    if (content.length <= consumed) return [];
    pendingText += content.subarray(consumed).toString('utf8');
    consumed = content.length;
    const lines = pendingText.split('\n');
    pendingText = lines.pop() ?? '';
    return lines.filter((line) => line.trim() !== '').map((line) => JSON.parse(line));
  };
}

function printEvent(event) {
  switch (event.event) {
    case 'start':
      console.log(`running ${event.total} test(s) from ${event.files.join(', ')}`);
      break;
    case 'pass':
      console.log(`  PASS ${event.title} (${event.durationMs} ms)`);
      break;
    case 'fail':
      console.log(`  FAIL ${event.title} (${event.durationMs} ms)`);
      console.log(event.error.replace(/^/gm, '       '));
      break;
    case 'pending':
      console.log(`  SKIPPED ${event.title} (counted as a failure: no silent skips)`);
      break;
    case 'reload':
      console.log(`  PASS ${event.title} (part 1 done; reloading the window)`);
      break;
    case 'end':
      console.log(`${event.passes} passed, ${event.failures} failed, ${event.pending} skipped in ${(event.durationMs / 1000).toFixed(1)} s`);
      break;
  }
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function main() {
  const started = Date.now();
  if (!options['no-build'] && !vsix && extensionPath === repoRoot) buildExtension();
  if (!options['tests-dir']) await buildIntegrationTests();
  if (options['build-only']) return 0;
  const testsDir = path.resolve(options['tests-dir'] ?? testOutDir);
  const testIndex = path.join(testsDir, 'index.js');
  if (!fs.existsSync(testIndex)) throw new Error(`${testIndex} is missing: build the tests first`);
  ensureCodeServer({ quiet: true });

  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'sepconv-integration-'));
  const resultsFile = path.join(scratch, 'results.jsonl');
  const userDataDir = path.join(scratch, 'code-server-user-data');
  const extensionsDir = path.join(scratch, 'code-server-extensions');
  let installedPath = '';
  if (vsix) {
    installedPath = installExtension(vsix, { extensionsDir, userDataDir, extensionId: EXTENSION_ID });
    console.log(`installed ${path.basename(vsix)} into ${installedPath}`);
    extensionPath = path.join(scratch, 'stand-in-extension');
    fs.mkdirSync(extensionPath);
    const standIn = {
      name: 'sepconv-integration-stand-in',
      publisher: 'sepconv-lab-tests',
      version: '0.0.0',
      description: 'Lets VS Code run the integration tests against an installed extension; has no code.',
      engines: { vscode: '^1.100.0' },
    };
    fs.writeFileSync(path.join(extensionPath, 'package.json'), JSON.stringify(standIn, null, 2) + '\n');
  }
  if (!fs.existsSync(path.join(extensionPath, 'package.json'))) {
    throw new Error(`${extensionPath} holds no package.json: not an extension`);
  }
  const main = JSON.parse(fs.readFileSync(path.join(extensionPath, 'package.json'), 'utf8')).main;
  if (main && !fs.existsSync(path.resolve(extensionPath, main))) {
    throw new Error(`the extension's main ${main} does not exist in ${extensionPath}: build it first`);
  }
  const workspace = path.join(scratch, 'workspace');
  // Tests may edit files (quick fixes): they get a copy.
  if (fs.existsSync(workspaceSource)) fs.cpSync(workspaceSource, workspace, { recursive: true });
  else fs.mkdirSync(workspace);
  fs.mkdirSync(resultsDir, { recursive: true });
  const serverLog = fs.createWriteStream(path.join(resultsDir, 'integration-code-server.log'));
  const browserLog = fs.createWriteStream(path.join(resultsDir, 'integration-browser.log'));

  let server;
  let context;
  let cleanedUp = false;
  const cleanUp = async () => {
    if (cleanedUp) return;
    cleanedUp = true;
    if (context) await Promise.race([context.close().catch(() => {}), sleep(10_000)]);
    if (server) await server.stop();
    serverLog.end();
    browserLog.end();
    if (options.keep) console.log(`kept ${scratch}`);
    else fs.rmSync(scratch, { recursive: true, force: true });
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(signal, () => {
      console.error(`\n${signal}: stopping code-server and Chromium`);
      cleanUp().finally(() => process.exit(130));
    });
  }

  let exitCode = 1;
  try {
    server = await startCodeServer({
      userDataDir,
      extensionsDir,
      env: {
        SEPCONV_INTEGRATION_RESULTS: resultsFile,
        SEPCONV_INTEGRATION_GREP: options.grep ?? '',
        // Which folder of tests the index runs: test/integration/installed for --vsix.
        SEPCONV_INTEGRATION_SUITE: vsix ? 'installed' : '',
        SEPCONV_INTEGRATION_INSTALLED_PATH: installedPath,
        // Dawn in the extension host finds SwiftShader's Vulkan driver through this.
        VK_ICD_FILENAMES: process.env.VK_ICD_FILENAMES || SWIFTSHADER_ICD,
      },
      onOutput: (text) => serverLog.write(text),
    });
    const url = workbenchUrl(server, workspace, [
      ['extensionDevelopmentPath', extensionPath],
      ['extensionTestsPath', testIndex],
    ]);

    context = await launchChromium(path.join(scratch, 'chromium-profile'));
    const page = context.pages()[0] ?? (await context.newPage());
    let hostExit;
    await page.exposeFunction('codeAutomationExit', (code) => {
      hostExit = Number(code);
    });
    page.on('console', (message) => browserLog.write(`[${message.type()}] ${message.text()}\n`));
    page.on('pageerror', (error) => browserLog.write(`[pageerror] ${error.stack ?? error.message}\n`));
    let pageLoads = 0;
    page.on('domcontentloaded', () => (pageLoads += 1));
    await page.goto(url);

    const readResults = createResultsReader(resultsFile);
    const counts = { pass: 0, fail: 0, pending: 0 };
    let end;
    let running = '';
    let serverExited = false;
    server.process.once('exit', () => (serverExited = true));
    const deadline = started + timeoutMs;
    let reason = '';
    let reloads = 0;
    for (;;) {
      let reloadRequested = false;
      for (const event of readResults()) {
        printEvent(event);
        if (event.event in counts) counts[event.event] += 1;
        if (event.event === 'end') end = event;
        if (event.event === 'reload') {
          counts.pass += 1;
          reloadRequested = true;
        }
        running = event.event === 'begin' ? event.title : '';
      }
      if (reloadRequested) {
        // One reload per run: a second request means the index did not see the first.
        if (++reloads > 1) {
          reason = 'a test asked for a second window reload';
          break;
        }
        // The test runs VS Code's reload command, which saves the window's state first; the
        // new page may already be there.
        const waitUntil = Date.now() + 60_000;
        while (pageLoads < 2 && Date.now() < waitUntil) await sleep(100);
        if (pageLoads < 2) {
          reason = 'the window did not reload within 60 s of the test asking for it';
          break;
        }
        // The old workbench may report its extension host's exit while it unloads.
        hostExit = undefined;
        continue;
      }
      if (end) {
        // The exit code follows the last result closely; give it a moment.
        const waitUntil = Date.now() + 10_000;
        while (hostExit === undefined && Date.now() < waitUntil) await sleep(100);
        break;
      }
      if (hostExit !== undefined) {
        await sleep(500);
        for (const event of readResults()) printEvent(event);
        reason = `the extension host exited with code ${hostExit} before the tests finished`;
        break;
      }
      if (serverExited) {
        reason = 'code-server exited while the tests were running';
        break;
      }
      if (Date.now() > deadline) {
        reason = `timed out after ${timeoutMs} ms (${counts.pass} passed, ${counts.fail} failed so far` + `${running ? `; still running: ${running}` : ''})`;
        break;
      }
      await sleep(250);
    }

    await page.screenshot({ path: path.join(resultsDir, 'integration.png') }).catch((error) => console.error(`no screenshot: ${error.message}`));

    if (!reason && end) {
      // Counted here rather than taken from `end`: a run with a reload ends in a second index run.
      if (counts.pass === 0 && counts.fail === 0) reason = 'no tests ran';
      else if (counts.fail > 0 || counts.pending > 0) reason = 'some tests failed or were skipped';
      else if (hostExit !== undefined && hostExit !== 0) reason = `the extension host exited with code ${hostExit}`;
    }
    if (reason) console.error(`integration tests FAILED: ${reason}`);
    else exitCode = 0;
  } finally {
    await cleanUp();
  }
  console.log(`integration run took ${((Date.now() - started) / 1000).toFixed(1)} s; logs and screenshot in test-results/`);
  return exitCode;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    process.exit(1);
  },
);
