// Compiles the WebAssembly SIMD kernels (assembly/kernels.ts, AssemblyScript) with the project's
// own asc, twice: dist/sepconvKernels.wasm with a memory of its own (one thread), and
// dist/sepconvKernelsShared.wasm that imports a shared memory (every thread of a pool
// instantiates it over the same memory). esbuild.mjs calls it before bundling and embeds both;
// the unit tests and the benchmark call it to get the same bytes.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../../../..');
export const KERNELS_SOURCE = join(here, 'assembly', 'kernels.ts');
export const KERNELS_WASM = join(root, 'dist', 'sepconvKernels.wasm');
export const KERNELS_SHARED_WASM = join(root, 'dist', 'sepconvKernelsShared.wasm');

/**
 * Pages (64 KiB) a shared memory may grow to: 4 GiB, wasm32's whole address space. A shared
 * memory must declare its maximum; it reserves address space, not memory.
 */
export const SHARED_MAXIMUM_PAGES = 65536;

function build(output, extraArgs, options) {
  const stale = !existsSync(output) || statSync(output).mtimeMs < statSync(KERNELS_SOURCE).mtimeMs;
  if (options.force || stale) {
    mkdirSync(dirname(output), { recursive: true });
    const asc = join(root, 'node_modules', 'assemblyscript', 'bin', 'asc.js');
    // -O3 with the stub runtime: no GC, no allocator; the host manages the memory. --noAssert
    // drops the bounds assertions (the host sizes every buffer).
    execFileSync(process.execPath, [asc, KERNELS_SOURCE, '--enable', 'simd', '-O3', '--runtime', 'stub', '--noAssert', ...extraArgs, '-o', output], {
      cwd: root,
      stdio: options.quiet ? 'pipe' : 'inherit',
    });
  }
  return new Uint8Array(readFileSync(output));
}

/**
 * Builds the single-thread kernels if the binary is missing or older than its source, and returns its bytes.
 * @param {{ force?: boolean, quiet?: boolean }} [options]
 * @returns {Uint8Array}
 */
export function buildKernels(options = {}) {
  return build(KERNELS_WASM, [], options);
}

/**
 * Builds the kernels for a thread pool (memory imported as env.memory, shared, threads enabled).
 * @param {{ force?: boolean, quiet?: boolean }} [options]
 * @returns {Uint8Array}
 */
export function buildSharedKernels(options = {}) {
  return build(
    KERNELS_SHARED_WASM,
    ['--enable', 'threads', '--importMemory', '--sharedMemory', '--initialMemory', '16', '--maximumMemory', String(SHARED_MAXIMUM_PAGES)],
    options,
  );
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const force = process.argv.includes('--force');
  console.log(`${KERNELS_WASM}: ${buildKernels({ force }).length} bytes`);
  console.log(`${KERNELS_SHARED_WASM}: ${buildSharedKernels({ force }).length} bytes`);
}
