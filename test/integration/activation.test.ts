/// <reference types="mocha" />
// Activation, that it is cheap (nothing heavy loads before a feature asks for it), and every
// contributed command.
//
// What "heavy" means here, and how it is seen from outside the extension's bundle:
// - the Python analysis worker (dist/pythonWorker.js, where tree-sitter's WebAssembly is
//   compiled) and the CPU engine's worker thread (worker_threads.Worker is wrapped: the bundle
//   looks the class up on the module object when it starts one);
// - WebAssembly compiled on the extension host's own thread from the extension's code
//   (WebAssembly.instantiate/compile/Module are wrapped before the extension loads): never, the
//   parser runs in its worker;
// - Dawn: its native addon dawn.node among the process's shared objects.
// Each probe also has to see the load happen once a feature needs it, so that a probe that
// sees nothing cannot pass by accident.
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { EXTENSION_ID, activatedExtension, closePlaygroundTabs, hoverText, openWorkspaceDocument, playgroundTabs, positionOf, runOnHost, waitFor } from './helpers';

/** Generous for a busy two-core machine: a cheap activation takes tens of ms, loading the parser or Dawn hundreds. */
const MAX_ACTIVATION_MS = 1000;

const extensionAtLoad = vscode.extensions.getExtension(EXTENSION_ID);
const activeBeforeTests = extensionAtLoad?.isActive ?? false;
const bundleDir = extensionAtLoad ? path.join(extensionAtLoad.extensionPath, 'dist') : undefined;

/** Stack traces of WebAssembly compiles started from the extension's bundles. */
const wasmCompiles: string[] = [];
/** Scripts of the worker threads started since this file loaded. */
const workersStarted: string[] = [];

function fromExtension(): string | undefined {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 60;
  const stack = new Error('probe').stack ?? '';
  Error.stackTraceLimit = limit;
  return bundleDir && stack.includes(bundleDir) ? stack : undefined;
}

function installProbes(): void {
  const wasm = WebAssembly as unknown as Record<string, unknown>;
  for (const name of ['instantiate', 'compile', 'instantiateStreaming', 'compileStreaming'] as const) {
    const original = wasm[name] as ((...args: unknown[]) => unknown) | undefined;
    if (typeof original !== 'function') continue;
    wasm[name] = function (this: unknown, ...args: unknown[]) {
      const stack = fromExtension();
      if (stack) wasmCompiles.push(stack);
      return original.apply(this, args);
    };
  }
  const OriginalModule = WebAssembly.Module;
  wasm.Module = new Proxy(OriginalModule, {
    construct(target, args, newTarget) {
      const stack = fromExtension();
      if (stack) wasmCompiles.push(stack);
      return Reflect.construct(target, args, newTarget);
    },
  });
  // The module object itself (an `import * as` would give esbuild's copy of it).
  const threads = require('node:worker_threads') as { Worker: typeof import('node:worker_threads').Worker };
  const OriginalWorker = threads.Worker;
  try {
    threads.Worker = new Proxy(OriginalWorker, {
      construct(target, args, newTarget) {
        workersStarted.push(String(args[0]));
        return Reflect.construct(target, args, newTarget);
      },
    });
  } catch {
    // A frozen module namespace: the worker test below then fails with this reason.
    workersStarted.push('(worker_threads.Worker could not be wrapped)');
  }
}

function dawnLoaded(): string | undefined {
  const report = process.report?.getReport() as { sharedObjects?: string[] } | undefined;
  return report?.sharedObjects?.find((file) => file.endsWith('dawn.node'));
}

/** Worker threads started from the extension's dist/ (any of them, or those of one script). */
function extensionWorkers(script?: string): string[] {
  return workersStarted.filter((started) => bundleDir !== undefined && started.includes(bundleDir) && (!script || path.basename(started) === script));
}

installProbes();

suite('activation', () => {
  test('the extension is installed and activates cheaply: no parser, engine worker or Dawn yet', async () => {
    assert.ok(extensionAtLoad, `${EXTENSION_ID} is not among the loaded extensions`);
    assert.equal(activeBeforeTests, false, 'the extension was already active before any test asked for it (an eager activation event?)');
    const started = performance.now();
    await extensionAtLoad.activate();
    const activationMs = performance.now() - started;
    assert.equal(extensionAtLoad.isActive, true);
    console.log(`activation took ${activationMs.toFixed(1)} ms`);
    assert.ok(activationMs < MAX_ACTIVATION_MS, `activation took ${activationMs.toFixed(0)} ms (limit ${MAX_ACTIVATION_MS} ms)`);
    assert.deepEqual(wasmCompiles, [], 'WebAssembly was compiled during activation');
    assert.deepEqual(extensionWorkers(), [], 'a worker thread was started during activation');
    assert.equal(dawnLoaded(), undefined, 'Dawn (dawn.node) was loaded during activation');
  });

  test('every command in package.json is registered', async () => {
    const { extension } = await activatedExtension();
    const contributed: { command: string }[] = extension.packageJSON.contributes?.commands ?? [];
    const declared = contributed.map((entry) => entry.command);
    assert.ok(declared.includes('sepconv.openPlayground'), 'package.json does not contribute sepconv.openPlayground');
    const registered = new Set(await vscode.commands.getCommands(true));
    const missing = declared.filter((command) => !registered.has(command));
    assert.deepEqual(missing, [], `declared in package.json but not registered: ${missing.join(', ')}`);
  });

  test('every command in package.json runs without arguments', async () => {
    const { extension } = await activatedExtension();
    const contributed: { command: string }[] = extension.packageJSON.contributes?.commands ?? [];
    await closePlaygroundTabs();
    for (const { command } of contributed) {
      try {
        const result = await vscode.commands.executeCommand(command);
        if (command === 'sepconv.openPlayground') {
          await waitFor(() => playgroundTabs().length === 1, 'the playground tab');
        } else if (command === 'sepconv.openModel') {
          // Without a file it asks for one (a dialog, which returns at once here): close it.
          await vscode.commands.executeCommand('workbench.action.closeQuickOpen');
        } else if (command === 'sepconv.convertToSeparable') {
          // Without a document and position there is nothing to convert: it says so and returns false.
          assert.equal(result, false, 'sepconv.convertToSeparable without arguments should return false');
        }
      } catch (error) {
        assert.fail(`${command} threw: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    await closePlaygroundTabs();
  });

  test('the Python analysis worker starts with the first Python document; the host thread compiles no WebAssembly, and Dawn stays unloaded', async () => {
    await activatedExtension();
    assert.deepEqual(wasmCompiles, [], 'WebAssembly was compiled before the first Python request');
    const editor = await openWorkspaceDocument('convs.py');
    const hovers = await vscode.commands.executeCommand<vscode.Hover[]>(
      'vscode.executeHoverProvider',
      editor.document.uri,
      positionOf(editor.document, 'standard =', 'Conv2d'),
    );
    assert.match(hoverText(hovers), /params/, 'the hover on a Conv2d gave no figures');
    assert.equal(extensionWorkers('pythonWorker.js').length, 1, `the hover answered without one Python analysis worker (workers seen: ${workersStarted.join(', ') || 'none'}): the probe sees nothing`);
    assert.deepEqual(wasmCompiles, [], "the parser's WebAssembly was compiled on the extension host's thread");
    assert.equal(dawnLoaded(), undefined, 'Dawn was loaded by a hover');
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  test('a CPU run starts the engine worker and leaves Dawn unloaded; a WebGPU run loads Dawn', async () => {
    const { api } = await activatedExtension();
    assert.equal(dawnLoaded(), undefined, 'Dawn was loaded before any GPU run');
    const cpu = await runOnHost(api, { backend: 'cpu' });
    assert.equal(cpu.backend, 'cpu');
    assert.ok(extensionWorkers('engineWorker.js').length > 0, `a CPU run answered without the engine's worker thread (workers seen: ${workersStarted.join(', ') || 'none'})`);
    assert.equal(dawnLoaded(), undefined, 'a CPU run loaded Dawn');
    const gpu = await runOnHost(api, { backend: 'webgpu' });
    assert.equal(gpu.backend, 'webgpu', `the host fell back to ${gpu.backend}: ${gpu.note ?? ''}`);
    assert.ok(dawnLoaded(), 'a WebGPU run on the host answered without loading dawn.node');
  });
});
