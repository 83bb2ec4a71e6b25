/**
 * Where a run goes: the backend the user chose, what the probes found, the weights, to a place
 * (the extension host or the page) and a backend, or the reason it cannot run.
 *
 * What "Auto" runs on: the place that draws the maps soonest where this panel runs. A hardware GPU
 * first (the host's, then the page's); then the CPU of the host or of the page: the host's when it
 * is this machine, the page's when the host is across a network (code-server, SSH, Codespaces),
 * where a host run's answer must cross it. Then by measurement: each candidate is tried once, and
 * the one whose Run -> last map drawn was shortest for the current model is kept.
 * Pure functions (no DOM), checked by the unit tests.
 */

import type { EngineBackend, HostGpuInfo, RunWeights } from '../src/shared/protocol';
import type { BackendChoice } from './state';
import type { WebGpuProbe } from './workerProtocol';

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
  pageGpu?: WebGpuProbe;
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

/** What the router decides by. */
export interface RouterInputs extends AutoInputs {
  /** The backend the user chose. */
  choice: BackendChoice;
  /** The kind of the run's weights: a model file's own weights stay in the extension host. */
  weights: RunWeights['kind'];
}

/** Where a run goes, and why (for the status line). */
export interface Route {
  where: 'host' | 'page';
  backend: EngineBackend;
  why: string;
}

/** Where a run goes, or why it cannot run. */
export function routeRun(inputs: RouterInputs): Route | { blocked: string } {
  const { choice, standalone, pageGpu: gpu, hostGpu: host } = inputs;
  if (inputs.weights === 'imported') {
    // The trained weights of an opened model file stay in the extension host.
    if (standalone) return { blocked: "The model file's weights are only available in VS Code; choose other weights." };
    if (choice === 'webview-gpu') return { blocked: "The model file's weights stay in the extension host: choose CPU, Host GPU or Auto." };
    if (choice === 'auto') return { where: 'host', backend: 'cpu', why: "the model file's weights are on the host" };
  }
  const cpu = { where: standalone ? ('page' as const) : ('host' as const), backend: 'cpu' as const };
  switch (choice) {
    case 'cpu':
      return { ...cpu, why: 'CPU chosen' };
    case 'webview-gpu':
      if (gpu && !gpu.available) return { blocked: `The page has no WebGPU: ${gpu.description}` };
      return { where: 'page', backend: 'webgpu', why: 'page GPU chosen' };
    case 'host-gpu':
      if (standalone) return { blocked: 'Host GPU needs the VS Code extension host; the standalone page offers Page GPU and CPU.' };
      if (host && !host.available) return { blocked: `Host GPU is unavailable: ${host.description}` };
      return { where: 'host', backend: 'webgpu', why: 'host GPU chosen' };
    case 'auto': {
      const { key, why } = autoRoute(inputs);
      const [where, backend] = key.split('/') as ['host' | 'page', EngineBackend];
      return { where, backend, why };
    }
  }
}

/** The key under which a route's measured time is kept (see {@link AutoInputs.measured}). */
export function routeKey(route: Route): RouteKey {
  return `${route.where}/${route.backend}`;
}

/** The backend choices as the page lists them, with what the probes found. */
export function backendChoices(inputs: Pick<RouterInputs, 'standalone' | 'pageGpu' | 'hostGpu'>): [BackendChoice, string][] {
  const { standalone, pageGpu: gpu, hostGpu: host } = inputs;
  return [
    ['auto', 'Auto'],
    ['host-gpu', `Host GPU${host ? ` (${host.description})` : standalone ? ' (needs VS Code)' : ''}`],
    ['webview-gpu', `Page GPU${gpu ? ` (${gpu.description}${gpu.software ? ', software' : ''})` : ''}`],
    ['cpu', standalone ? 'CPU (in the page)' : 'CPU (extension host worker)'],
  ];
}
