/**
 * Requests and responses over a message channel, the same on every boundary of the project
 * (page -> extension host, extension host -> engine worker thread, page -> engine Web Worker):
 *
 * - the asking side keeps a {@link RequestClient}: it hands out ids, keeps the pending promises,
 *   routes progress, and rejects a request when its AbortSignal fires;
 * - the answering side keeps a {@link RequestHandlers} table, one handler per method, typed by a
 *   request map (`{ method: { body; result } }`), so that no handler needs a cast.
 *
 * The channel's own message shapes stay with each boundary's protocol module: the client is told
 * about each reply (`resolve`, `reject`, `progress`) and sends with a function it is given.
 *
 * This module imports neither `vscode` nor the DOM.
 */

/** A request map: each method's body and result. */
export type RequestMapOf<M> = { [K in keyof M]: { body: unknown; result: unknown } };

/** One handler per method of a request map; `C` is what the answering side passes along (a signal, a progress sink). */
export type RequestHandlers<M extends RequestMapOf<M>, C = void> = {
  [K in keyof M]: (body: M[K]['body'], context: C) => Promise<M[K]['result']> | M[K]['result'];
};

/** Answers `method` with its handler from `handlers` (the table keeps body and result paired by method). */
export function callHandler<M extends RequestMapOf<M>, C, K extends keyof M>(handlers: RequestHandlers<M, C>, method: K, body: M[K]['body'], context: C): Promise<M[K]['result']> {
  return Promise.resolve(handlers[method](body, context));
}

export type ProgressListener = (done: number, total: number, label: string) => void;

export interface RequestOptions {
  signal?: AbortSignal;
  onProgress?: ProgressListener;
}

export interface RequestClientOptions {
  /** The error a cancelled request rejects with. */
  cancelled(): Error;
  /**
   * Called after a request was cancelled through its signal (it is already rejected and no longer
   * pending): tell the other side, or stop a worker that cannot be interrupted.
   */
  onCancel?(id: number): void;
  /** Called whenever the last pending request settles (a worker may then stop keeping its process alive). */
  onIdle?(): void;
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
  onProgress?: ProgressListener;
}

/**
 * The asking side of a boundary: pending requests by id. Each request settles exactly once; a
 * reply for an id that is no longer pending (cancelled, failed) is ignored.
 */
export class RequestClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  constructor(private readonly options: RequestClientOptions) {}

  /** Requests in flight. */
  get size(): number {
    return this.pending.size;
  }

  /**
   * Starts a request: `send` posts it with the id given (a throw from `send` rejects the request).
   * A signal that has already fired rejects at once, without sending.
   */
  request<T>(send: (id: number) => void, options: RequestOptions = {}): Promise<T> {
    const { signal, onProgress } = options;
    if (signal?.aborted) return Promise.reject(this.options.cancelled());
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        if (!this.pending.has(id)) return;
        this.settle(id).reject(this.options.cancelled());
        this.options.onCancel?.(id);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = () => signal?.removeEventListener('abort', onAbort);
      this.pending.set(id, {
        resolve: (value) => {
          done();
          resolve(value as T);
        },
        reject: (error) => {
          done();
          reject(error);
        },
        onProgress,
      });
      try {
        send(id);
      } catch (error) {
        this.reject(id, error instanceof Error ? error : new Error(String(error)));
      }
    });
  }

  /** A progress reply for `id`. */
  progress(id: number, done: number, total: number, label = ''): void {
    this.pending.get(id)?.onProgress?.(done, total, label);
  }

  /** The result for `id`. */
  resolve(id: number, value: unknown): void {
    if (this.pending.has(id)) this.settle(id).resolve(value);
  }

  /** The error for `id`. */
  reject(id: number, error: Error): void {
    if (this.pending.has(id)) this.settle(id).reject(error);
  }

  /** Rejects every pending request with `error` (the channel broke, or was closed on purpose). */
  rejectAll(error: Error): void {
    for (const id of [...this.pending.keys()]) this.reject(id, error);
  }

  private settle(id: number): Pending {
    const entry = this.pending.get(id)!;
    this.pending.delete(id);
    if (this.pending.size === 0) this.options.onIdle?.();
    return entry;
  }
}
