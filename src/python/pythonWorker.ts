/**
 * The Python analysis in a node worker thread (bundled to dist/pythonWorker.js): web-tree-sitter,
 * the evaluator and the costing run here, so that the extension host's thread only forwards
 * document changes and reads results. Messages: analysisProtocol.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { findWasmLocations, loadPythonParser } from './pythonParser';
import { DocumentAnalyzer } from './documentAnalyzer';
import { RequestClient } from '../shared/requests';
import { cancelSlot, packedBuffers, type AnalysisWorkerData, type FromAnalysisWorker, type ToAnalysisWorker } from './analysisProtocol';

const port = parentPort;
if (!port) throw new Error('pythonWorker.js must run in a worker thread');
const data = workerData as AnalysisWorkerData;
const slots = new Int32Array(data.cancelSlots);
const post = (message: FromAnalysisWorker) => port.postMessage(message);

/** The worker's requests to the host (file reads), through the project's one request client. */
const reads = new RequestClient({ cancelled: () => new Error('the read was cancelled') });
/** Messages that arrive before the parser is loaded wait here, in order. */
let queued: ToAnalysisWorker[] | undefined = [];
let analyzer: DocumentAnalyzer | undefined;

function handle(message: ToAnalysisWorker): void {
  if (message.type === 'file') {
    reads.resolve(message.requestId, message.text ?? undefined);
    return;
  }
  if (!analyzer) {
    queued?.push(message);
    return;
  }
  switch (message.type) {
    case 'open':
      analyzer.open(message.key, message.version, message.text, message.path);
      break;
    case 'change':
      analyzer.change(message.key, message.from, message.version, message.changes);
      break;
    case 'close':
      analyzer.close(message.key);
      break;
    case 'settings':
      analyzer.setSettings(message.settings, message.generation);
      break;
    case 'fileChanged':
      analyzer.fileChanged(message.path);
      break;
  }
}

port.on('message', handle);

loadPythonParser(findWasmLocations(data.wasmDirs)).then(
  (parser) => {
    analyzer = new DocumentAnalyzer(parser, {
      readFile: (path) => reads.request<string | undefined>((requestId) => post({ type: 'readFile', requestId, path })),
      // The sites and rewrites move to the host's thread without a copy.
      publish: (results) => port.postMessage({ type: 'results', results } satisfies FromAnalysisWorker, packedBuffers([results.sites, results.rewrites])),
      publishPlayground: (key, version, generation, playground) => post({ type: 'playground', key, version, generation, playground }),
      needText: (key) => post({ type: 'needText', key }),
      changeCount: (key) => Atomics.load(slots, cancelSlot(key)),
      log: (message) => post({ type: 'log', message }),
    });
    const waiting = queued ?? [];
    queued = undefined;
    for (const message of waiting) handle(message);
    post({ type: 'ready' });
  },
  (error: unknown) => {
    post({ type: 'log', message: `the Python parser could not be loaded: ${error instanceof Error ? error.message : String(error)}` });
    // Nothing can be analysed: exit, and let the host say so (it does not restart a worker that never became ready).
    process.exit(3);
  },
);
