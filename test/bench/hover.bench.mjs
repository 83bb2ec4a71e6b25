// Bundles the hover benchmark (TypeScript) with esbuild and runs it: `node test/bench/hover.bench.mjs`.
import * as esbuild from 'esbuild';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const dir = mkdtempSync(path.join(tmpdir(), 'sepconv-bench-'));
try {
  const outfile = path.join(dir, 'pythonHover.mjs');
  await esbuild.build({ entryPoints: [path.join(root, 'test/bench/pythonHover.ts')], bundle: true, platform: 'node', format: 'esm', outfile, logLevel: 'warning' });
  const { runHoverBench } = await import(pathToFileURL(outfile).href);
  await runHoverBench(root);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
