/**
 * The host side of model import: `importModelInWorker()` opens a model file's bytes in a worker
 * thread of its own (dist/modelImportWorker.js), one per file, ended when it answers. The file's
 * bytes are transferred to the worker and the weights transferred back, so nothing is copied
 * between the threads. A worker that dies (out of memory on a hostile file) or takes too long
 * gives an OpenModelError naming the file.
 */
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { OpenModelError, type OpenedModel } from './openModel';

export interface ImportRequest {
  name: string;
  /** The file's bytes, transferred. */
  bytes: ArrayBuffer;
  /** The model's folder on disk, where ONNX external data may be read; none for remote files. */
  folder?: string;
}

export type ImportReply = { ok: true; model: OpenedModel } | { ok: false; message: string };

export interface ImportInWorkerOptions {
  /** The bundled worker script. Default: modelImportWorker.js next to this bundle (dist/). */
  workerPath?: string;
  /** ms before the import is given up. Default 120 s. */
  timeoutMs?: number;
  /** The worker's heap, MB. Default 4096: room for a 256 MB model's weights and its parse. */
  heapMb?: number;
}

function defaultWorkerPath(): string {
  return join(typeof __dirname === 'string' ? __dirname : process.cwd(), 'modelImportWorker.js');
}

/** Bytes the worker may own: the array's whole buffer when it is alone in it, else one copy. */
function ownBuffer(bytes: Uint8Array): ArrayBuffer {
  if (bytes.buffer instanceof ArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength) return bytes.buffer;
  // A copy (not bytes.slice(): a Node Buffer's slice is a view of the same memory).
  return new Uint8Array(bytes).buffer;
}

/**
 * Opens `bytes` (the file `name`) in a worker thread. The caller's `bytes` are detached afterwards
 * when they filled their own buffer (transferred, not copied).
 */
export function importModelInWorker(bytes: Uint8Array, name: string, folder: string | undefined, options: ImportInWorkerOptions = {}): Promise<OpenedModel> {
  return new Promise<OpenedModel>((resolve, reject) => {
    let worker: Worker;
    try {
      worker = new Worker(options.workerPath ?? defaultWorkerPath(), { resourceLimits: { maxOldGenerationSizeMb: options.heapMb ?? 4096 } });
    } catch (error) {
      reject(new OpenModelError(`${name}: the import worker could not start (${error instanceof Error ? error.message : String(error)})`));
      return;
    }
    let settled = false;
    const finish = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void worker.terminate();
      outcome();
    };
    const timeoutMs = options.timeoutMs ?? 120_000;
    const timer = setTimeout(() => finish(() => reject(new OpenModelError(`${name}: the import took over ${timeoutMs / 1000} s and was stopped`))), timeoutMs);
    worker.on('message', (reply: ImportReply) => finish(() => (reply.ok ? resolve(reply.model) : reject(new OpenModelError(reply.message)))));
    worker.on('error', (error) => finish(() => reject(new OpenModelError(`${name}: the import stopped (${error.message})`))));
    worker.on('exit', (code) => finish(() => reject(new OpenModelError(`${name}: the import stopped (exit code ${code})`))));
    const request: ImportRequest = { name, bytes: ownBuffer(bytes), ...(folder !== undefined ? { folder } : {}) };
    worker.postMessage(request, [request.bytes]);
  });
}
