/**
 * Compiled pipelines, per device, keyed by shader text: each shader compiles once, and concurrent
 * requests for the same text share one compile. Compiles run inside a validation error scope, so
 * a WGSL error rejects with the compiler's messages instead of surfacing later as a failed dispatch.
 */
import { shaderSource, type Program } from './program';

export interface CompiledProgram {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
}

const caches = new WeakMap<GPUDevice, Map<string, Promise<CompiledProgram>>>();

/** A WGSL compile or pipeline creation failed. */
export class ShaderCompileError extends Error {
  constructor(
    readonly label: string,
    detail: string,
    readonly source: string,
  ) {
    super(`the WebGPU program "${label}" failed to compile: ${detail}`);
    this.name = 'ShaderCompileError';
  }
}

export function getPipeline(device: GPUDevice, program: Program): Promise<CompiledProgram> {
  let cache = caches.get(device);
  if (!cache) caches.set(device, (cache = new Map<string, Promise<CompiledProgram>>()));
  const source = shaderSource(program);
  let compiled = cache.get(source);
  if (!compiled) {
    compiled = compile(device, program, source);
    cache.set(source, compiled);
    // A failed compile is not cached: the next request retries (and reports) it.
    compiled.catch(() => cache.delete(source));
  }
  return compiled;
}

/** Number of distinct shaders compiled (or compiling) for a device. */
export function pipelineCount(device: GPUDevice): number {
  return caches.get(device)?.size ?? 0;
}

async function compile(device: GPUDevice, program: Program, source: string): Promise<CompiledProgram> {
  device.pushErrorScope('validation');
  let pipeline: GPUComputePipeline | undefined;
  let layout: GPUBindGroupLayout | undefined;
  let thrown: Error | undefined;
  let messages = '';
  try {
    const module = device.createShaderModule({ label: program.label, code: source });
    const info = await module.getCompilationInfo();
    messages = info.messages
      .filter((m) => m.type === 'error')
      .map((m) => `line ${m.lineNum}:${m.linePos}: ${m.message}`)
      .join('; ');
    layout = device.createBindGroupLayout({
      label: program.label,
      entries: [
        { binding: 0, visibility: 4 /* COMPUTE */, buffer: { type: 'uniform' } },
        ...program.bindings.map((b, i) => ({
          binding: i + 1,
          visibility: 4,
          buffer: { type: b.access === 'read' ? ('read-only-storage' as const) : ('storage' as const) },
        })),
      ],
    });
    pipeline = await device.createComputePipelineAsync({
      label: program.label,
      layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: 'main' },
    });
  } catch (error) {
    thrown = error instanceof Error ? error : new Error(String(error));
  }
  const scopeError = await device.popErrorScope();
  if (messages || scopeError || thrown || !pipeline || !layout) {
    const detail = messages || scopeError?.message || thrown?.message || 'unknown error';
    throw new ShaderCompileError(program.label, detail, source);
  }
  return { pipeline, layout };
}
