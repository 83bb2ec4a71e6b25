/**
 * What "Auto" runs on: the place that draws the maps soonest where this panel runs. A hardware GPU
 * first (the host's, then the page's); then the CPU of the host or of the page: the host's when it
 * is this machine, the page's when the host is across a network (code-server, SSH, Codespaces),
 * where a host run's answer must cross it. Then by measurement: each candidate is tried once, and
 * the one whose Run -> last map drawn was shortest for the current model is kept.
 * Pure functions (no DOM), checked by the unit tests.
 */

import type { HostGpuInfo } from '../src/shared/protocol';

export type RouteKey = 'host/webgpu' | 'page/webgpu' | 'host/cpu' | 'page/cpu';

export const ROUTE_LABELS: Record<RouteKey, string> = {
  'host/webgpu': 'host GPU',
  'page/webgpu': 'page GPU',
  'host/cpu': 'host CPU',
  'page/cpu': 'page CPU',
};

export interface AutoInputs {
  /** The standalone page: no host. */
  standalone: boolean;
  /** The host runs on another machine than the panel. */
  remote: boolean;
  hostGpu?: HostGpuInfo;
  pageGpu?: { available: boolean; software: boolean; description: string };
  /** Measured Run -> last map drawn of the current model, ms, by route. */
  measured: Partial<Record<RouteKey, number>>;
}

/** The routes Auto may take, best guess first. Software WebGPU (SwiftShader) is never one: the CPU engine beats it. */
export function autoCandidates(inputs: AutoInputs): RouteKey[] {
  const candidates: RouteKey[] = [];
  if (!inputs.standalone && inputs.hostGpu?.available && !inputs.hostGpu.software) candidates.push('host/webgpu');
  if (inputs.pageGpu?.available && !inputs.pageGpu.software) candidates.push('page/webgpu');
  if (inputs.standalone) candidates.push('page/cpu');
  else candidates.push(...(inputs.remote ? (['page/cpu', 'host/cpu'] as const) : (['host/cpu', 'page/cpu'] as const)));
  return candidates;
}

/** Where Auto runs next, and why (for the status line). */
export function autoRoute(inputs: AutoInputs): { key: RouteKey; why: string } {
  const candidates = autoCandidates(inputs);
  const measured = candidates.filter((key) => inputs.measured[key] !== undefined);
  const untried = candidates.find((key) => inputs.measured[key] === undefined);
  const times = measured.map((key) => `${ROUTE_LABELS[key]} ${inputs.measured[key]!.toFixed(0)} ms`).join(', ');
  if (untried && measured.length === 0) {
    const reason = untried.endsWith('webgpu') ? 'a hardware GPU' : inputs.remote && untried === 'page/cpu' ? 'the host is across a network, the page is here' : 'no hardware GPU';
    return { key: untried, why: `auto: ${ROUTE_LABELS[untried]} (${reason})` };
  }
  if (untried) return { key: untried, why: `auto: trying ${ROUTE_LABELS[untried]} once to compare (${times})` };
  const fastest = measured.reduce((best, key) => (inputs.measured[key]! < inputs.measured[best]! ? key : best));
  return { key: fastest, why: `auto: ${ROUTE_LABELS[fastest]}, the fastest here (${times})` };
}
