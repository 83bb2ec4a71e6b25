import { describe, expect, it } from 'vitest';
import { autoCandidates, autoRoute, backendChoices, routeKey, routeRun, type RouterInputs } from '../../webview/backendRouter';

describe('Auto', () => {
  const none = { available: false, description: 'none', software: false };
  const swiftshader = { available: true, description: 'Google SwiftShader', software: true };

  it('starts where the maps should come soonest: a hardware GPU, else the CPU on the side of the panel', () => {
    expect(autoRoute({ standalone: false, remote: false, hostGpu: { available: true, description: 'NVIDIA H200', software: false }, pageGpu: none, measured: {} }).key).toBe('host/webgpu');
    expect(autoRoute({ standalone: false, remote: false, hostGpu: { available: true, description: 'SwiftShader Device', software: true }, pageGpu: swiftshader, measured: {} }).key).toBe('host/cpu');
    const remote = autoRoute({ standalone: false, remote: true, hostGpu: none, pageGpu: swiftshader, measured: {} });
    expect(remote.key).toBe('page/cpu');
    expect(remote.why).toMatch(/across a network/);
    expect(autoCandidates({ standalone: true, remote: false, pageGpu: swiftshader, measured: {} })).toEqual(['page/cpu']);
    expect(autoCandidates({ standalone: true, remote: false, pageGpu: { available: true, description: 'Apple M2', software: false }, measured: {} })).toEqual(['page/webgpu', 'page/cpu']);
  });

  it('tries each candidate once, then keeps the fastest measured', () => {
    const inputs = { standalone: false, remote: true, hostGpu: none, pageGpu: swiftshader };
    const second = autoRoute({ ...inputs, measured: { 'page/cpu': 400 } });
    expect(second.key).toBe('host/cpu');
    expect(second.why).toMatch(/trying host CPU once.*page CPU 400 ms/);
    const chosen = autoRoute({ ...inputs, measured: { 'page/cpu': 400, 'host/cpu': 120 } });
    expect(chosen.key).toBe('host/cpu');
    expect(chosen.why).toMatch(/fastest here/);
    expect(autoRoute({ ...inputs, measured: { 'page/cpu': 90, 'host/cpu': 120 } }).key).toBe('page/cpu');
    // A route measured on another set-up (here a host GPU that is gone) does not count.
    expect(autoRoute({ ...inputs, measured: { 'page/cpu': 400, 'host/cpu': 300, 'host/webgpu': 5 } }).key).toBe('host/cpu');
  });
});

describe('routeRun', () => {
  const hardware = { available: true, description: 'NVIDIA H200', software: false };
  const missing = { available: false, description: 'navigator.gpu is missing', software: false };
  const inVsCode: RouterInputs = { choice: 'auto', weights: 'seed', standalone: false, remote: false, hostGpu: hardware, pageGpu: missing, measured: {} };
  const standalone: RouterInputs = { ...inVsCode, standalone: true, hostGpu: undefined };

  it('sends a chosen backend where it was chosen', () => {
    expect(routeRun({ ...inVsCode, choice: 'cpu' })).toEqual({ where: 'host', backend: 'cpu', why: 'CPU chosen' });
    expect(routeRun({ ...standalone, choice: 'cpu' })).toEqual({ where: 'page', backend: 'cpu', why: 'CPU chosen' });
    expect(routeRun({ ...inVsCode, choice: 'host-gpu' })).toEqual({ where: 'host', backend: 'webgpu', why: 'host GPU chosen' });
    expect(routeRun({ ...inVsCode, choice: 'webview-gpu', pageGpu: hardware })).toEqual({ where: 'page', backend: 'webgpu', why: 'page GPU chosen' });
    // Before the probes answer, a GPU choice is taken at its word.
    expect(routeRun({ ...inVsCode, choice: 'webview-gpu', pageGpu: undefined })).toMatchObject({ where: 'page', backend: 'webgpu' });
  });

  it('says why a choice cannot run', () => {
    expect(routeRun({ ...inVsCode, choice: 'webview-gpu' })).toEqual({ blocked: 'The page has no WebGPU: navigator.gpu is missing' });
    expect(routeRun({ ...standalone, choice: 'host-gpu' })).toMatchObject({ blocked: expect.stringMatching(/needs the VS Code extension host/) });
    expect(routeRun({ ...inVsCode, choice: 'host-gpu', hostGpu: { available: false, description: 'no adapter', software: false } })).toEqual({ blocked: 'Host GPU is unavailable: no adapter' });
  });

  it("keeps a model file's own weights on the host", () => {
    const imported = { ...inVsCode, weights: 'imported' as const };
    expect(routeRun(imported)).toEqual({ where: 'host', backend: 'cpu', why: "the model file's weights are on the host" });
    expect(routeRun({ ...imported, choice: 'host-gpu' })).toMatchObject({ where: 'host', backend: 'webgpu' });
    expect(routeRun({ ...imported, choice: 'webview-gpu' })).toMatchObject({ blocked: expect.stringMatching(/stay in the extension host/) });
    expect(routeRun({ ...imported, standalone: true })).toMatchObject({ blocked: expect.stringMatching(/only available in VS Code/) });
  });

  it('lets Auto choose, and keys the route as Auto measures it', () => {
    const route = routeRun(inVsCode);
    expect(route).toEqual({ where: 'host', backend: 'webgpu', why: 'auto: host GPU (a hardware GPU)' });
    expect(routeKey(route as Exclude<typeof route, { blocked: string }>)).toBe('host/webgpu');
    expect(routeRun({ ...standalone, pageGpu: { available: true, description: 'SwiftShader', software: true } })).toMatchObject({ where: 'page', backend: 'cpu' });
  });
});

describe('backendChoices', () => {
  it('lists every choice, with what the probes found', () => {
    const choices = backendChoices({ standalone: false, hostGpu: { available: true, description: 'NVIDIA H200', software: false }, pageGpu: { available: true, description: 'SwiftShader', software: true } });
    expect(choices).toEqual([
      ['auto', 'Auto'],
      ['host-gpu', 'Host GPU (NVIDIA H200)'],
      ['webview-gpu', 'Page GPU (SwiftShader, software)'],
      ['cpu', 'CPU (extension host worker)'],
    ]);
    expect(backendChoices({ standalone: true }).map(([, label]) => label)).toEqual(['Auto', 'Host GPU (needs VS Code)', 'Page GPU', 'CPU (in the page)']);
  });
});
