// Compiles the WebAssembly SIMD kernels (assembly/kernels.ts, AssemblyScript) to
// dist/sepconvKernels.wasm with the project's own asc. esbuild.mjs calls it before bundling and
// embeds the binary; the unit tests and the benchmark call it to get the same bytes.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../../../..');
export const KERNELS_SOURCE = join(here, 'assembly', 'kernels.ts');
export const KERNELS_WASM = join(root, 'dist', 'sepconvKernels.wasm');

/**
 * Builds the kernels if the binary is missing or older than its source, and returns its bytes.
 * @param {{ force?: boolean, quiet?: boolean }} [options]
 * @returns {Uint8Array}
 */
export function buildKernels(options = {}) {
  const stale = !existsSync(KERNELS_WASM) || statSync(KERNELS_WASM).mtimeMs < statSync(KERNELS_SOURCE).mtimeMs;
  if (options.force || stale) {
    mkdirSync(dirname(KERNELS_WASM), { recursive: true });
    const asc = join(root, 'node_modules', 'assemblyscript', 'bin', 'asc.js');
    // -O3 with the stub runtime: no GC, no allocator; the host manages the memory. --noAssert
    // drops the bounds assertions (the host sizes every buffer).
    execFileSync(process.execPath, [asc, KERNELS_SOURCE, '--enable', 'simd', '-O3', '--runtime', 'stub', '--noAssert', '-o', KERNELS_WASM], {
      cwd: root,
      stdio: options.quiet ? 'pipe' : 'inherit',
    });
  }
  return new Uint8Array(readFileSync(KERNELS_WASM));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const bytes = buildKernels({ force: process.argv.includes('--force') });
  console.log(`${KERNELS_WASM}: ${bytes.length} bytes`);
}
