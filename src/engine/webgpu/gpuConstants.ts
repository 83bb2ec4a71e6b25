/**
 * GPUBufferUsage and GPUMapMode as numbers (the values the WebGPU spec fixes): Node has no WebGPU
 * globals, and the engine runs there as well as in the browser.
 */

export const MAP_READ = 0x0001;
export const COPY_SRC = 0x0004;
export const COPY_DST = 0x0008;
export const UNIFORM = 0x0040;
export const STORAGE = 0x0080;
export const QUERY_RESOLVE = 0x0200;

/** GPUMapMode.READ, for mapAsync. */
export const MAP_MODE_READ = 0x0001;
