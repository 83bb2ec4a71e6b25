// One build script, one build(options) helper, called once per bundle.
// Usage: node esbuild.mjs [--watch] [--production] [--only extension,webview,cli,engine]
import * as esbuild from 'esbuild';
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, existsSync, rmSync } from 'node:fs';
import { buildKernels, buildSharedKernels } from './src/engine/cpu/wasm/buildKernels.mjs';

const args = process.argv.slice(2);
const watch = args.includes('--watch');
const production = args.includes('--production');
const onlyArg = args.find((a) => a.startsWith('--only='));
const only = onlyArg ? onlyArg.slice('--only='.length).split(',') : undefined;
const skipTypecheck = args.includes('--no-typecheck');

/** The bundles. Each entry is independent: the extension host (node/cjs), its workers (engine, Python analysis), the webview (browser/esm), the CLI and the engine library. */
const bundles = {
  extension: { entryPoints: { extension: 'src/extension.ts' }, platform: 'node', format: 'cjs', external: ['vscode', 'webgpu'] },
  worker: { entryPoints: { engineWorker: 'src/engine/engineWorker.ts' }, platform: 'node', format: 'cjs', external: ['webgpu'], optional: true },
  // Model files (.onnx, .pt/.pth) are parsed in a worker thread of their own (see src/playground/modelImport.ts).
  importWorker: { entryPoints: { modelImportWorker: 'src/playground/modelImportWorker.ts' }, platform: 'node', format: 'cjs', optional: true },
  // The Python analysis (web-tree-sitter, the evaluator, the costing) in a worker thread of the extension host; it finds the .wasm files beside it in dist/.
  pythonWorker: { entryPoints: { pythonWorker: 'src/python/pythonWorker.ts' }, platform: 'node', format: 'cjs', external: ['webgpu'] },
  cli: { entryPoints: { cli: 'src/cli/main.ts' }, platform: 'node', format: 'cjs', external: ['webgpu'], banner: { js: '#!/usr/bin/env node' } },
  // .mjs: an ES module whatever package.json says, so Node loads it without guessing (and without a warning).
  engine: { entryPoints: { engine: 'src/engine/index.ts' }, platform: 'node', format: 'esm', outExtension: { '.js': '.mjs' }, external: ['webgpu'], optional: true },
  // 'webgpu' (Dawn for Node) stays an import the page never reaches: there the engine takes navigator.gpu.
  webview: { entryPoints: { webview: 'webview/main.ts' }, platform: 'browser', format: 'esm', external: ['webgpu'], optional: true, loader: { '.css': 'text', '.ttf': 'dataurl' } },
  webviewWorker: { entryPoints: { webviewWorker: 'webview/engineWorker.ts' }, platform: 'browser', format: 'esm', external: ['webgpu'], optional: true },
};

function build(name, { entryPoints, optional, ...options }) {
  const entry = Object.values(entryPoints)[0];
  if (optional && !existsSync(entry)) return undefined;
  const cjsNode = options.platform === 'node' && options.format === 'cjs';
  return {
    name,
    options: {
      entryPoints,
      bundle: true,
      outdir: 'dist',
      target: options.platform === 'browser' ? 'chrome120' : 'node20',
      minify: production,
      sourcemap: production ? false : 'linked',
      logLevel: 'warning',
      // The WebAssembly SIMD CPU kernels, compiled from our AssemblyScript source, embedded as base64 (built below, by buildKernels and buildSharedKernels).
      define: { __SEPCONV_KERNELS_WASM__: JSON.stringify(kernelsBase64), __SEPCONV_KERNELS_SHARED_WASM__: JSON.stringify(sharedKernelsBase64), ...(cjsNode ? { 'import.meta.url': '__sepconvImportMetaUrl' } : {}) },
      ...options,
      // web-tree-sitter reads import.meta.url even in its CommonJS build; give CommonJS bundles a real one.
      ...(cjsNode ? { banner: { js: `${options.banner?.js ? `${options.banner.js}\n` : ''}var __sepconvImportMetaUrl = require('url').pathToFileURL(__filename).href;` } } : {}),
    },
  };
}

function copyAssets() {
  // A production build starts from an empty dist/ so no stale source maps end up in a VSIX.
  if (production) rmSync('dist', { recursive: true, force: true });
  mkdirSync('dist', { recursive: true });
  const assets = [
    ['node_modules/web-tree-sitter/tree-sitter.wasm', 'dist/tree-sitter.wasm'],
    ['node_modules/tree-sitter-python/tree-sitter-python.wasm', 'dist/tree-sitter-python.wasm'],
    ['node_modules/@vscode/codicons/dist/codicon.css', 'dist/codicon.css'],
    ['node_modules/@vscode/codicons/dist/codicon.ttf', 'dist/codicon.ttf'],
  ];
  for (const [from, to] of assets) if (existsSync(from)) cpSync(from, to);
}

// `npm run package` builds once, then vsce runs `vscode:prepublish` for every target: skip those.
if (process.env.SEPCONV_PREBUILT === '1' && existsSync('dist/extension.js')) {
  console.log('using the prebuilt dist/');
  process.exit(0);
}
if (!skipTypecheck && !watch) {
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '--noEmit', '-p', '.'], { stdio: 'inherit' });
}
copyAssets();
// After copyAssets (a production build empties dist/): asc writes dist/sepconvKernels.wasm.
const kernelsBase64 = Buffer.from(buildKernels()).toString('base64');
// The same kernels over a shared memory, for pools of threads (see kernelThreads.ts).
const sharedKernelsBase64 = Buffer.from(buildSharedKernels()).toString('base64');
const configs = Object.entries(bundles)
  .filter(([name]) => !only || only.includes(name))
  .map(([name, options]) => build(name, options))
  .filter(Boolean);
if (watch) {
  for (const { options } of configs) await (await esbuild.context(options)).watch();
  console.log(`watching ${configs.map((c) => c.name).join(', ')}`);
} else {
  await Promise.all(configs.map(({ options }) => esbuild.build(options)));
  // The `sepconv` bin (`npx sepconv ...`) must be executable.
  if (existsSync('dist/cli.js')) chmodSync('dist/cli.js', 0o755);
  console.log(`built ${configs.map((c) => c.name).join(', ')}${production ? ' (production)' : ''}`);
}
