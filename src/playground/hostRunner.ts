/**
 * Forward passes that the page asks the host to run: CPU passes in the engine's worker thread,
 * 'host GPU' passes on Dawn's device. Filled in as the engine lands.
 */
import type { HostGpuInfo, RunRequestBody, RunResult } from '../shared/protocol';

export interface RunContext {
  signal: AbortSignal;
  progress(done: number, total: number, label: string): void;
}

export async function runOnHost(_body: RunRequestBody, _context: RunContext): Promise<RunResult> {
  throw new Error('the host engine is not available yet; choose the webview backend');
}

export async function probeHostGpu(): Promise<HostGpuInfo> {
  return { available: false, description: 'host WebGPU not wired yet' };
}
