/**
 * A pool of threads that run the SIMD kernels over one shared WebAssembly memory. A parallel
 * step is a list of kernel calls (chunks: ranges of output channels, rows or pixels) written to
 * shared memory; the calling thread and the pool's threads take chunks from a shared counter
 * until none are left, then the caller waits until all are done: to the caller a parallel step is
 * as synchronous as a single-threaded one, so the kernels' interface stays the same. Taking
 * chunks instead of being handed fixed slices keeps a step going at full speed when a thread is
 * late (not yet awake, or descheduled on a busy machine): the others take its share.
 *
 * Between steps a pool thread spins on the shared step counter for a while (a run's steps follow
 * each other within microseconds) before it blocks in Atomics.wait; no message is posted per step.
 * A thread descheduled in the middle of a chunk (a machine with more runnable threads than cores)
 * holds the step up for as long as it is off its core: after such a step the caller runs the
 * steps alone for a while (see STRAGGLER_MS), so that a busy machine costs no more than one thread.
 *
 * Threads are worker_threads in Node and Web Workers in browsers, made once per pool (no thread
 * start per run). Both need shared memory (SharedArrayBuffer: always in Node, only in
 * cross-origin isolated pages in browsers) and a caller that may block (a Node thread, a worker;
 * not a page's main thread).
 *
 * Imports neither `vscode`, the DOM nor node modules statically: Node's worker_threads is loaded
 * on demand, so the same code bundles for the page's worker.
 */

/** The kernel exports a pool thread may be asked to run, by index (the same list on both sides). */
export const THREAD_KERNELS = ['gemm', 'gemv', 'depthwise', 'packPanels', 'packGemm', 'im2colGemm'] as const;
export type ThreadKernel = (typeof THREAD_KERNELS)[number];

/** One kernel call: an export of the kernels and its arguments (pointers, sizes, clamp bounds). */
export interface KernelCall {
  kernel: ThreadKernel;
  args: number[];
}

/**
 * Scratch memory of one thread: argument `arg` of every call is a pointer to thread 0's scratch,
 * and thread t adds t * `stride` bytes to it (the kernels' padded planes and partial tiles).
 */
export interface ThreadScratch {
  arg: number;
  stride: number;
}

/** Float64 slots per chunk: the kernel's index, the argument count and up to 30 arguments. */
const CALL_SLOTS = 32;
/** Chunks a step may have. */
export const MAX_CHUNKS = 256;

// Int32 slots of the control block, each on a cache line of its own (16 slots apart) so that
// the counter every thread bumps does not share a line with the ones they read.
/** Bumped by the caller for each step (and set to STOP): what idle threads spin and wait on. */
const STEP = 0;
/** The step's claim word: (step & 0xff) << 24 | chunks << 12 | next chunk (see claimWord). */
const CLAIM = 16;
/** Chunks of the current step finished. */
const DONE = 32;
/** Set when a kernel threw on a pool thread. */
const FAILED = 48;
/** Set when the caller has no steps for a while (a run ended): idle threads sleep at once instead of spinning. */
const PARK = 56;
/** The scratch argument and stride of the step (see ThreadScratch); arg -1: none. */
const SCRATCH_ARG = 64;
const SCRATCH_STRIDE = 65;
const CONTROL_INTS = 80;
/** The step number that tells the threads to return. */
const STOP = -1;

/** The claim word of step `step` with `chunks` chunks, `next` of them taken (chunks < 4096). */
const claimWord = (step: number, chunks: number, next: number) => ((step & 0xff) << 24) | (chunks << 12) | next | 0;

/**
 * How long an idle pool thread or a waiting caller spins (ms) before it blocks in Atomics.wait:
 * longer than the gap between a run's steps, short enough to leave the core soon after a run.
 */
const SPIN_MS = 0.25;

/**
 * A caller that waited longer than this (ms), and longer than it worked itself, for the chunks a
 * pool thread had taken, ran the step slower than alone: that thread was descheduled (a machine
 * busier than its cores). Steps then run on the calling thread alone for a while: SOLO_MIN_MS
 * after a first such step, twice as long after each further one (at most SOLO_MAX_MS), half as
 * long again after each step the pool ran without one. A lone hiccup costs little; a machine
 * that stays busy keeps the caller on its own.
 */
const STRAGGLER_MS = 1;
const SOLO_MIN_MS = 25;
const SOLO_MAX_MS = 1000;

/** What each thread gets when it starts. */
interface ThreadInit {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  control: SharedArrayBuffer;
  calls: SharedArrayBuffer;
  index: number;
  kernels: readonly string[];
  layout: {
    callSlots: number;
    step: number;
    claim: number;
    done: number;
    failed: number;
    park: number;
    scratchArg: number;
    scratchStride: number;
    spinMs: number;
  };
}

/**
 * The body of a pool thread, run from its source text (`toString()`) in a worker: it refers to
 * nothing outside itself. Instantiates the kernels over the shared memory, says it is ready,
 * then for each step takes chunks until none are left, until told to stop. A kernel that throws
 * (a trap) is reported through the FAILED slot, never left as a caller waiting forever.
 */
function kernelThreadMain(init: ThreadInit, ready: () => void): void {
  const instance = new WebAssembly.Instance(init.module, { env: { memory: init.memory } });
  const exports = instance.exports as Record<string, (...args: number[]) => unknown>;
  const functions = init.kernels.map((name) => exports[name]!);
  const control = new Int32Array(init.control);
  const calls = new Float64Array(init.calls);
  const { callSlots, step, claim, done, failed, park, scratchArg, scratchStride, spinMs } = init.layout;
  const args: number[] = [];
  let seen = 0;
  ready();
  for (;;) {
    // Spin a while for the next step, then sleep until it is posted.
    let now = Atomics.load(control, step);
    const until = performance.now() + spinMs;
    for (let i = 1; now === seen; i++) {
      if ((i & 63) === 0 && (performance.now() > until || Atomics.load(control, park) !== 0)) break;
      now = Atomics.load(control, step);
    }
    while (now === seen) {
      Atomics.wait(control, step, seen);
      now = Atomics.load(control, step);
    }
    if (now === -1) return;
    seen = now;
    for (;;) {
      const word = Atomics.load(control, claim);
      const chunks = (word >>> 12) & 0xfff;
      const next = word & 0xfff;
      // Chunks of a later step than `seen` are fine to take: the word says which step they are of.
      if (next >= chunks) break;
      if (Atomics.compareExchange(control, claim, word, word + 1) !== word) continue;
      // Read after the claim: the step's data stays as it is until its last chunk is done.
      const arg = control[scratchArg]!;
      const base = next * callSlots;
      const count = calls[base + 1]!;
      args.length = count;
      for (let i = 0; i < count; i++) args[i] = calls[base + 2 + i]!;
      if (arg >= 0) args[arg] = args[arg]! + init.index * control[scratchStride]!;
      try {
        functions[calls[base]!]!(...args);
      } catch {
        Atomics.store(control, failed, 1);
      }
      if (Atomics.add(control, done, 1) + 1 === chunks) Atomics.notify(control, done);
    }
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
  private step = 0;
  private disposed = false;
  /** Until when (performance.now()) steps had better run on the calling thread alone, and for how long that was; see STRAGGLER_MS. */
  private soloUntil = 0;
  private soloMs = 0;
  /** False: every step uses the pool, held up or not (the tests of the split itself). */
  adaptive = true;

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
    const control = new SharedArrayBuffer(CONTROL_INTS * 4);
    const calls = new SharedArrayBuffer(MAX_CHUNKS * CALL_SLOTS * 8);
    const source = `(${kernelThreadMain.toString()})`;
    const layout = {
      callSlots: CALL_SLOTS,
      step: STEP,
      claim: CLAIM,
      done: DONE,
      failed: FAILED,
      park: PARK,
      scratchArg: SCRATCH_ARG,
      scratchStride: SCRATCH_STRIDE,
      spinMs: SPIN_MS,
    };
    const started = await Promise.allSettled(
      Array.from({ length: others }, (_, t) => starter(source, { module, memory, control, calls, index: t + 1, kernels: THREAD_KERNELS, layout })),
    );
    const running = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    if (running.length < others) {
      for (const thread of running) thread.terminate();
      return undefined;
    }
    return new KernelThreads(running, control, calls);
  }

  /** Whether a step should use the pool now: false for a while after a pool thread held a step up (see STRAGGLER_MS). */
  get ready(): boolean {
    return !this.adaptive || performance.now() >= this.soloUntil;
  }

  /**
   * Runs every call (chunk) once, on this thread (with `runHere`) and the pool's, and returns
   * when all are done. Chunks may run in any order on any thread: they must write disjoint
   * memory, and thread t's scratch is at `scratch.stride * t` past thread 0's.
   */
  run(calls: readonly KernelCall[], runHere: (call: KernelCall) => void, scratch?: ThreadScratch): void {
    if (this.disposed) throw new Error('internal: kernel threads used after dispose');
    const chunks = calls.length;
    if (chunks > MAX_CHUNKS) throw new Error(`internal: ${chunks} chunks in one step, at most ${MAX_CHUNKS}`);
    if (chunks === 0) return;
    for (let i = 0; i < chunks; i++) {
      const call = calls[i]!;
      if (call.args.length > CALL_SLOTS - 2) throw new Error(`internal: ${call.kernel} takes more than ${CALL_SLOTS - 2} arguments`);
      const base = i * CALL_SLOTS;
      this.calls[base] = THREAD_KERNELS.indexOf(call.kernel);
      this.calls[base + 1] = call.args.length;
      this.calls.set(call.args, base + 2);
    }
    const control = this.control;
    control[SCRATCH_ARG] = scratch ? scratch.arg : -1;
    control[SCRATCH_STRIDE] = scratch ? scratch.stride : 0;
    Atomics.store(control, DONE, 0);
    Atomics.store(control, PARK, 0);
    const step = (this.step = (this.step + 1) & 0x7fffffff);
    // Publishing the claim word makes the chunks takeable (by threads still spinning); the step
    // counter wakes the ones asleep. Atomics order both after the plain writes above.
    Atomics.store(control, CLAIM, claimWord(step, chunks, 0));
    Atomics.store(control, STEP, step);
    Atomics.notify(control, STEP);
    // Boxed, so that a thrown undefined is rethrown too.
    let failure: { error: unknown } | undefined;
    const started = performance.now();
    for (;;) {
      const word = Atomics.load(control, CLAIM);
      const next = word & 0xfff;
      if (next >= chunks) break;
      if (Atomics.compareExchange(control, CLAIM, word, word + 1) !== word) continue;
      try {
        runHere(calls[next]!);
      } catch (error) {
        failure ??= { error };
      }
      Atomics.add(control, DONE, 1);
    }
    // The last chunks may still be running elsewhere: spin a while, then sleep until the thread
    // that finishes the last one notifies.
    let done = Atomics.load(control, DONE);
    const worked = performance.now();
    const until = worked + SPIN_MS;
    for (let i = 1; done < chunks; i++) {
      if ((i & 63) === 0 && performance.now() > until) break;
      done = Atomics.load(control, DONE);
    }
    while (done < chunks) {
      Atomics.wait(control, DONE, done);
      done = Atomics.load(control, DONE);
    }
    const ended = performance.now();
    if (ended - worked > STRAGGLER_MS && ended - worked > worked - started) {
      this.soloMs = Math.min(SOLO_MAX_MS, Math.max(SOLO_MIN_MS, this.soloMs * 2));
      this.soloUntil = ended + this.soloMs;
    } else this.soloMs /= 2;
    const failed = Atomics.exchange(control, FAILED, 0) !== 0;
    if (failure) throw failure.error;
    if (failed) throw new Error('a CPU kernel failed on a pool thread');
  }

  /**
   * Wakes the pool's threads ahead of a run's first step (a step of no chunks): they spin for
   * SPIN_MS from here, so that the step finds them awake instead of waking them then, which takes
   * tens of microseconds. Call it before work of the caller's own that precedes the steps.
   */
  wake(): void {
    if (this.disposed || !this.ready) return;
    Atomics.store(this.control, PARK, 0);
    const step = (this.step = (this.step + 1) & 0x7fffffff);
    Atomics.store(this.control, CLAIM, claimWord(step, 0, 0));
    Atomics.store(this.control, STEP, step);
    Atomics.notify(this.control, STEP);
  }

  /**
   * Tells the pool's threads that no step follows soon (a run ended): they stop spinning and
   * sleep, leaving the cores to the caller's work after the steps and to other programs.
   */
  park(): void {
    if (!this.disposed) Atomics.store(this.control, PARK, 1);
  }

  /** Stops the pool's threads. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    Atomics.store(this.control, STEP, STOP);
    Atomics.notify(this.control, STEP);
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
        worker.once('exit', (code) => reject(new Error(`kernel thread exited with ${code}`)));
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
  Worker: new (
    code: string,
    options: { eval: true; workerData: unknown },
  ) => {
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
