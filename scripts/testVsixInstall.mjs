#!/usr/bin/env node
// Installs this machine's platform VSIX (linux-x64 here) into a fresh code-server, as a user
// installing it would, and runs the checks of test/integration/installed against the installed
// copy: it activates, the hover answers, the playground runs (CPU and the VSIX's own Dawn).
//
//   node scripts/testVsixInstall.mjs [--vsix FILE] [--timeout-ms N] [--keep]
//
// Without --vsix it makes the VSIX first: a production build (dist/ is rebuilt for development
// afterwards), `vsce package` for this platform into a temporary folder, and the content check
// of scripts/vsixContents.mjs.

import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { packageTarget, TARGETS } from './package.mjs';
import { checkVsix, listVsix } from './vsixContents.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values: options } = parseArgs({
  options: {
    vsix: { type: 'string' },
    'timeout-ms': { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
});

function makeVsix(outDir) {
  const target = `${process.platform}-${process.arch === 'x64' || process.arch === 'arm64' ? process.arch : 'unknown'}`;
  if (!(target in TARGETS)) throw new Error(`no VSIX target for ${process.platform}-${process.arch} (known: ${Object.keys(TARGETS).join(', ')})`);
  // The type check is `npm test`'s first step; here only the production bundles are made.
  execFileSync(process.execPath, ['esbuild.mjs', '--production', '--no-typecheck'], { cwd: root, stdio: 'inherit' });
  try {
    const file = packageTarget(target, outDir);
    const problems = checkVsix(listVsix(file), target, TARGETS[target]);
    if (problems.length) throw new Error(`${file} does not hold what it should:\n  ${problems.join('\n  ')}`);
    return file;
  } finally {
    // Back to the development build (source maps) that the other suites and `npm start` use.
    execFileSync(process.execPath, ['esbuild.mjs', '--no-typecheck'], { cwd: root, stdio: 'inherit' });
  }
}

function main() {
  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sepconv-vsix-'));
  try {
    const vsix = options.vsix ? path.resolve(options.vsix) : makeVsix(outDir);
    console.log(`testing the installed ${path.basename(vsix)} (${(fs.statSync(vsix).size / 1e6).toFixed(2)} MB)`);
    const args = ['scripts/runIntegration.mjs', '--vsix', vsix];
    if (options['timeout-ms']) args.push('--timeout-ms', options['timeout-ms']);
    if (options.keep) args.push('--keep');
    const result = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
    return result.status ?? 1;
  } finally {
    if (options.keep) console.log(`kept ${outDir}`);
    else fs.rmSync(outDir, { recursive: true, force: true });
  }
}

try {
  process.exitCode = main();
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
}
