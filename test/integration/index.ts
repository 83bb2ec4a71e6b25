// The entry point VS Code calls in its extension host when started with
// `extensionTestsPath` pointing at the compiled copy of this file (see
// scripts/runIntegration.mjs). It runs every `*.test.js` beside it with mocha's TDD
// interface (`suite`/`test`), the interface @vscode/test-cli uses too, so that the same
// files run under `npm run test:electron`.
//
// When SEPCONV_INTEGRATION_RESULTS names a file, each result is appended to it as one JSON
// line, as it happens: the runner outside VS Code reads them from there, and a run that
// hangs or crashes still leaves the results it reached.
//
// Which tests run: the `*.test.js` files beside this index; with SEPCONV_INTEGRATION_SUITE=NAME
// those of the folder NAME instead (`installed`: the checks of an extension installed from its
// VSIX). When the results file holds a 'reload' event, a test has had the window reloaded and
// this is the index's second run: the tests of `afterReload` run.

import * as fs from 'node:fs';
import * as path from 'node:path';
import Mocha from 'mocha';

/** One line of the results file. */
export type IntegrationEvent =
  | { event: 'start'; total: number; files: string[] }
  | { event: 'begin'; title: string }
  | { event: 'pass'; title: string; durationMs: number }
  | { event: 'fail'; title: string; durationMs: number; error: string }
  | { event: 'pending'; title: string }
  /** A test has done its part and asks the runner to reload the window (see helpers.ts). */
  | { event: 'reload'; title: string }
  | { event: 'end'; passes: number; failures: number; pending: number; durationMs: number };

/** The compiled test files in `dir` (not below it), sorted so the order is stable. */
function findTestFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) throw new Error(`no compiled tests in ${dir}`);
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.test.js'))
    .map((entry) => path.join(dir, entry.name))
    .sort((a, b) => Number(isReloadTest(a)) - Number(isReloadTest(b)) || a.localeCompare(b));
}

/** reload.test.js ends the extension host (see helpers.ts requestReload): it runs last. */
function isReloadTest(file: string): boolean {
  return path.basename(file) === 'reload.test.js';
}

/** True when an earlier run of this index in the same session asked for a window reload. */
function reloadHappened(resultsFile: string | undefined): boolean {
  if (!resultsFile || !fs.existsSync(resultsFile)) return false;
  return fs
    .readFileSync(resultsFile, 'utf8')
    .split('\n')
    .some((line) => line.includes('"event":"reload"'));
}

function describeError(error: unknown): string {
  if (error instanceof Error) return error.stack ?? `${error.name}: ${error.message}`;
  return String(error);
}

/** Called by VS Code once the extension under development is loaded; rejects when a test fails. */
export function run(): Promise<void> {
  const resultsFile = process.env.SEPCONV_INTEGRATION_RESULTS;
  const record = (event: IntegrationEvent): void => {
    if (resultsFile) fs.appendFileSync(resultsFile, JSON.stringify(event) + '\n');
  };

  const mocha = new Mocha({
    ui: 'tdd',
    color: false,
    // The first test may wait for activation and a GPU adapter; each test can set its own.
    timeout: 60_000,
    grep: process.env.SEPCONV_INTEGRATION_GREP || undefined,
  });
  const suite = reloadHappened(resultsFile) ? 'afterReload' : process.env.SEPCONV_INTEGRATION_SUITE || '';
  let files: string[];
  try {
    files = findTestFiles(suite ? path.join(__dirname, suite) : __dirname);
  } catch (error) {
    record({ event: 'fail', title: `(finding the ${suite || 'main'} tests)`, durationMs: 0, error: describeError(error) });
    record({ event: 'end', passes: 0, failures: 1, pending: 0, durationMs: 0 });
    return Promise.reject(error);
  }
  for (const file of files) mocha.addFile(file);

  return new Promise<void>((resolve, reject) => {
    const started = Date.now();
    let runner: Mocha.Runner;
    try {
      runner = mocha.run((failures) => {
        record({
          event: 'end',
          passes: runner.stats?.passes ?? 0,
          failures,
          pending: runner.stats?.pending ?? 0,
          durationMs: Date.now() - started,
        });
        if (failures > 0) reject(new Error(`${failures} integration test(s) failed`));
        else resolve();
      });
    } catch (error) {
      // A test file that throws while loading ends up here: report it as a failure.
      record({ event: 'fail', title: '(loading the test files)', durationMs: 0, error: describeError(error) });
      record({ event: 'end', passes: 0, failures: 1, pending: 0, durationMs: Date.now() - started });
      reject(error);
      return;
    }
    record({ event: 'start', total: runner.total, files: files.map((file) => path.relative(__dirname, file)) });
    runner.on('test', (test) => record({ event: 'begin', title: test.fullTitle() }));
    runner.on('pass', (test) => record({ event: 'pass', title: test.fullTitle(), durationMs: test.duration ?? 0 }));
    runner.on('fail', (test, error) => record({ event: 'fail', title: test.fullTitle(), durationMs: test.duration ?? 0, error: describeError(error) }));
    runner.on('pending', (test) => record({ event: 'pending', title: test.fullTitle() }));
  });
}
