/** The AssemblyScript source of the kernels. */
export const KERNELS_SOURCE: string;
/** Where the built binary goes (dist/sepconvKernels.wasm). */
export const KERNELS_WASM: string;
/** Builds the kernels if the binary is missing or older than its source, and returns its bytes. */
export function buildKernels(options?: { force?: boolean; quiet?: boolean }): Uint8Array;
