/**
 * Model files imported in a node worker thread (bundled to dist/modelImportWorker.js), so that
 * parsing an .onnx or a .pt/.pth and building its weights never holds up the extension host's
 * thread. It answers one `ImportRequest` with the opened model, the weights' buffers transferred,
 * or with the message that says why the file does not open.
 */
import { parentPort } from 'node:worker_threads';
import { buffersOf } from '../engine/workerProtocol';
import { openModelBytes } from './openModel';
import type { ImportReply, ImportRequest } from './modelImport';

const port = parentPort;
if (!port) throw new Error('modelImportWorker.js must run in a worker thread');

port.on('message', async (request: ImportRequest) => {
  try {
    const bytes = new Uint8Array(request.bytes);
    let readExternal: ((location: string, offset: number, length: number | undefined) => Uint8Array) | undefined;
    if (typeof request.folder === 'string') {
      const { readExternalData } = await import('../io/onnxFiles');
      const folder = request.folder;
      readExternal = (location, offset, length) => readExternalData(folder, location, offset, length);
    }
    const model = openModelBytes(bytes, request.name, readExternal);
    port.postMessage({ ok: true, model } satisfies ImportReply, buffersOf(Object.values(model.weights)));
  } catch (error) {
    port.postMessage({ ok: false, message: error instanceof Error ? error.message : String(error) } satisfies ImportReply);
  }
});
