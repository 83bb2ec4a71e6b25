// Bundles the hover benchmark (TypeScript) and the Python analysis worker with esbuild and runs it:
// `node test/bench/hover.bench.mjs` (or `npm run bench -- --hover`).
import * as esbuild from 'esbuild';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const dir = mkdtempSync(path.join(tmpdir(), 'sepconv-bench-'));
try {
  const outfile = path.join(dir, 'pythonHover.mjs');
  const workerPath = path.join(dir, 'pythonWorker.js');
  await esbuild.build({ entryPoints: [path.join(root, 'test/bench/pythonHover.ts')], bundle: true, platform: 'node', format: 'esm', outfile, logLevel: 'warning' });
  // The options of esbuild.mjs's `pythonWorker` bundle (a CommonJS bundle gets a real import.meta.url), minified as in a VSIX.
  await esbuild.build({
    entryPoints: [path.join(root, 'src/python/pythonWorker.ts')], bundle: true, platform: 'node', format: 'cjs', target: 'node20', minify: true, external: ['webgpu'], outfile: workerPath, logLevel: 'warning',
    define: { 'import.meta.url': '__sepconvImportMetaUrl' }, banner: { js: "var __sepconvImportMetaUrl = require('url').pathToFileURL(__filename).href;" },
  });
  const { runHoverBench } = await import(pathToFileURL(outfile).href);
  await runHoverBench(root, workerPath);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
