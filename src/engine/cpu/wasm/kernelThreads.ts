/**
 * A pool of threads that run the SIMD kernels over one shared WebAssembly memory. The calling
 * thread hands each pool thread one kernel call (a slice of a step: output pixels or channels),
 * runs its own slice, then waits for the others with Atomics.wait: to the caller a parallel step
 * is as synchronous as a single-threaded one, so the kernels' interface stays the same.
 *
 * Threads are worker_threads in Node and Web Workers in browsers, made once per pool and kept
 * blocked in Atomics.wait between steps (no thread start per run). Both need shared memory
 * (SharedArrayBuffer: always in Node, only in cross-origin isolated pages in browsers) and a
 * caller that may block (a Node thread, a worker; not a page's main thread).
 *
 * Imports neither `vscode`, the DOM nor node modules statically: Node's worker_threads is loaded
 * on demand, so the same code bundles for the page's worker.
 */

/** The kernel exports a pool thread may be asked to run, by index (the same list on both sides). */
export const THREAD_KERNELS = ['gemm', 'depthwise', 'packPanels', 'im2colPanels'] as const;
export type ThreadKernel = (typeof THREAD_KERNELS)[number];

/** One kernel call: an export of the kernels and its arguments (pointers, sizes, clamp bounds). */
export interface KernelCall {
  kernel: ThreadKernel;
  args: number[];
}

/** Float64 slots per thread for a call: the kernel's index, the argument count and up to 22 arguments. */
const CALL_SLOTS = 24;
/** Int32 slots of control per thread: [call sequence number, sequence number done, failed]. */
const CONTROL_SLOTS = 4;
const SEQUENCE = 0;
const DONE = 1;
const FAILED = 2;
/** The sequence number that tells a thread to return. */
const STOP = -1;

/** What each thread gets when it starts. */
interface ThreadInit {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  control: SharedArrayBuffer;
  calls: SharedArrayBuffer;
  index: number;
  kernels: readonly string[];
  callSlots: number;
  controlSlots: number;
}

/**
 * The body of a pool thread, run from its source text (`toString()`) in a worker: it refers to
 * nothing outside itself. Instantiates the kernels over the shared memory, says it is ready,
 * then runs one call per sequence number until told to stop. A kernel that throws (a trap) is
 * reported through the FAILED slot, never left as a caller waiting forever.
 */
function kernelThreadMain(init: ThreadInit, ready: () => void): void {
  const instance = new WebAssembly.Instance(init.module, { env: { memory: init.memory } });
  const exports = instance.exports as Record<string, (...args: number[]) => unknown>;
  const functions = init.kernels.map((name) => exports[name]!);
  const control = new Int32Array(init.control);
  const calls = new Float64Array(init.calls);
  const at = init.index * init.controlSlots;
  const base = init.index * init.callSlots;
  let seen = 0;
  ready();
  for (;;) {
    Atomics.wait(control, at, seen);
    seen = Atomics.load(control, at);
    if (seen === -1) return;
    try {
      const count = calls[base + 1]!;
      const args: number[] = [];
      for (let i = 0; i < count; i++) args.push(calls[base + 2 + i]!);
      functions[calls[base]!]!(...args);
    } catch {
      Atomics.store(control, at + 2, 1);
    }
    Atomics.store(control, at + 1, seen);
    Atomics.notify(control, at + 1);
  }
}

/** A started thread, as the pool sees it in Node or in a browser. */
interface PoolThread {
  terminate(): void;
}

/** Starts a thread that runs `source` (an expression of a function taking (init, ready)) with `init`; resolves when it is ready. */
type ThreadStarter = (source: string, init: ThreadInit) => Promise<PoolThread>;

/** A pool of kernel threads over one shared memory. */
export class KernelThreads {
  private readonly control: Int32Array;
  private readonly calls: Float64Array;
  private sequence = 0;
  private disposed = false;

  private constructor(
    /** Pool threads, besides the calling thread. */
    private readonly threads: PoolThread[],
    control: SharedArrayBuffer,
    calls: SharedArrayBuffer,
  ) {
    this.control = new Int32Array(control);
    this.calls = new Float64Array(calls);
  }

  /** Threads that run a step: the pool's and the calling thread. */
  get count(): number {
    return this.threads.length + 1;
  }

  /**
   * Starts `threads - 1` pool threads over `memory`, each with its own instance of `module` (the
   * shared-memory kernels). Undefined where threads cannot run here (no shared memory, no way
   * to start a thread, or a thread failed to start).
   */
  static async start(module: WebAssembly.Module, memory: WebAssembly.Memory, threads: number): Promise<KernelThreads | undefined> {
    const starter = await threadStarter();
    if (!starter || threads < 2 || typeof SharedArrayBuffer !== 'function') return undefined;
    const others = threads - 1;
    const control = new SharedArrayBuffer(others * CONTROL_SLOTS * 4);
    const calls = new SharedArrayBuffer(others * CALL_SLOTS * 8);
    const source = `(${kernelThreadMain.toString()})`;
    const started = await Promise.allSettled(
      Array.from({ length: others }, (_, index) =>
        starter(source, { module, memory, control, calls, index, kernels: THREAD_KERNELS, callSlots: CALL_SLOTS, controlSlots: CONTROL_SLOTS }),
      ),
    );
    const running = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    if (running.length < others) {
      for (const thread of running) thread.terminate();
      return undefined;
    }
    return new KernelThreads(running, control, calls);
  }

  /**
   * Runs `calls[0]` on the calling thread (with `runHere`) and each further call on a pool thread,
   * and returns when all are done. At most {@link count} calls.
   */
  run(calls: readonly KernelCall[], runHere: (call: KernelCall) => void): void {
    if (this.disposed) throw new Error('internal: kernel threads used after dispose');
    if (calls.length > this.count) throw new Error(`internal: ${calls.length} calls for ${this.count} threads`);
    const sequence = ++this.sequence;
    for (let t = 1; t < calls.length; t++) {
      const call = calls[t]!;
      if (call.args.length > CALL_SLOTS - 2) throw new Error(`internal: ${call.kernel} takes more than ${CALL_SLOTS - 2} arguments`);
      const base = (t - 1) * CALL_SLOTS;
      this.calls[base] = THREAD_KERNELS.indexOf(call.kernel);
      this.calls[base + 1] = call.args.length;
      this.calls.set(call.args, base + 2);
      const at = (t - 1) * CONTROL_SLOTS;
      Atomics.store(this.control, at + SEQUENCE, sequence);
      Atomics.notify(this.control, at + SEQUENCE);
    }
    let failure: { error: unknown } | undefined;
    try {
      if (calls[0]) runHere(calls[0]);
    } catch (error) {
      failure = { error };
    }
    let failed = false;
    for (let t = 1; t < calls.length; t++) {
      const at = (t - 1) * CONTROL_SLOTS;
      for (;;) {
        const done = Atomics.load(this.control, at + DONE);
        if (done === sequence) break;
        Atomics.wait(this.control, at + DONE, done);
      }
      if (Atomics.exchange(this.control, at + FAILED, 0) !== 0) failed = true;
    }
    if (failure) throw failure.error;
    if (failed) throw new Error('a CPU kernel failed on a pool thread');
  }

  /** Stops the pool's threads. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (let t = 0; t < this.threads.length; t++) {
      Atomics.store(this.control, t * CONTROL_SLOTS + SEQUENCE, STOP);
      Atomics.notify(this.control, t * CONTROL_SLOTS + SEQUENCE);
    }
    for (const thread of this.threads) thread.terminate();
  }
}

/** How to start a thread here: worker_threads in Node, a Web Worker from a blob in a (cross-origin isolated) worker or page; undefined elsewhere. */
async function threadStarter(): Promise<ThreadStarter | undefined> {
  const node = await nodeWorkerThreads();
  if (node) {
    return (source, init) =>
      new Promise((resolve, reject) => {
        // An eval'd CommonJS script: the pool thread needs no file of its own in the bundle.
        const code = `const { parentPort, workerData } = require('node:worker_threads');\n${source}(workerData, () => parentPort.postMessage('ready'));`;
        const worker = new node.Worker(code, { eval: true, workerData: init });
        worker.unref(); // a pool blocked in Atomics.wait never keeps the process alive
        worker.once('message', () => resolve({ terminate: () => void worker.terminate() }));
        worker.once('error', reject);
        worker.once('exit', (code: number) => reject(new Error(`kernel thread exited with ${code}`)));
      });
  }
  const scope = globalThis as { Worker?: typeof Worker; crossOriginIsolated?: boolean; Blob?: typeof Blob; URL?: typeof URL };
  if (typeof scope.Worker !== 'function' || !scope.crossOriginIsolated || !scope.Blob || !scope.URL) return undefined;
  return (source, init) =>
    new Promise((resolve, reject) => {
      const code = `self.onmessage = (event) => { self.onmessage = null; ${source}(event.data, () => self.postMessage('ready')); };`;
      const url = scope.URL!.createObjectURL(new scope.Blob!([code], { type: 'text/javascript' }));
      const worker = new scope.Worker!(url);
      worker.onmessage = () => {
        scope.URL!.revokeObjectURL(url);
        resolve({ terminate: () => worker.terminate() });
      };
      worker.onerror = (event) => reject(new Error(`kernel thread failed to start: ${event.message}`));
      worker.postMessage(init);
    });
}

interface NodeWorkerThreads {
  Worker: new (code: string, options: { eval: true; workerData: unknown }) => {
    unref(): void;
    terminate(): Promise<number>;
    once(event: 'message' | 'error' | 'exit', listener: (value: never) => void): void;
  };
}

/** Node's worker_threads, loaded only in Node (a specifier the bundler leaves alone). */
async function nodeWorkerThreads(): Promise<NodeWorkerThreads | undefined> {
  const process = (globalThis as { process?: { versions?: { node?: string } } }).process;
  if (!process?.versions?.node) return undefined;
  const specifier = 'node:worker_threads';
  try {
    return (await import(/* @vite-ignore */ specifier)) as NodeWorkerThreads;
  } catch {
    return undefined;
  }
}

/**
 * Threads to use by default: the cores this runtime reports (navigator.hardwareConcurrency, or
 * Node's os.availableParallelism), at most {@link MAX_DEFAULT_THREADS}; 1 where shared memory is
 * missing.
 */
export async function defaultThreadCount(): Promise<number> {
  if (typeof SharedArrayBuffer !== 'function') return 1;
  const scope = globalThis as { navigator?: { hardwareConcurrency?: number }; process?: { versions?: { node?: string } } };
  let cores = scope.navigator?.hardwareConcurrency;
  if (!cores && scope.process?.versions?.node) {
    const specifier = 'node:os';
    try {
      const os = (await import(/* @vite-ignore */ specifier)) as { availableParallelism?: () => number; cpus: () => unknown[] };
      cores = os.availableParallelism?.() ?? os.cpus().length;
    } catch {
      cores = 1;
    }
  }
  return Math.max(1, Math.min(MAX_DEFAULT_THREADS, Math.floor(cores ?? 1)));
}

/**
 * Default thread cap: past 8, a batch-1 mobile net's steps (a few hundred thousand to a few
 * million MACs per slice) are too small for more threads to pay for their synchronisation.
 */
export const MAX_DEFAULT_THREADS = 8;
