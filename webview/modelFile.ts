/**
 * A model file (.onnx, .pt/.pth) opened in the standalone page, which has no extension host to
 * keep its weights: the file is imported here (openModel.ts, as the host's import worker does) and
 * its trained weights become the page's weights file, a .safetensors made in memory that the
 * page's engine worker reads as it reads one the user opens.
 */
import { writeSafetensors } from '../src/io/safetensors';
import { MODEL_EXTENSIONS, openModelBytes } from '../src/playground/openModel';
import type { LoadModelOptions } from '../src/shared/protocol';
import type { ModelSpec } from '../src/shared/spec';
import { h } from './dom';

export interface PageModelFile {
  spec: ModelSpec;
  options: LoadModelOptions;
  /** The trained weights as a .safetensors file, and the name the weights control shows. */
  weights: { name: string; bytes: ArrayBuffer };
  /** Warnings of the import and the unsupported op, one line each. */
  notes: string[];
}

/** Imports a model file the user chose; throws an Error whose message names the file and the reason. */
export async function openPageModelFile(file: File): Promise<PageModelFile> {
  const opened = openModelBytes(new Uint8Array(await file.arrayBuffer()), file.name);
  const bytes = writeSafetensors(opened.weights, { source: file.name });
  return {
    spec: opened.spec,
    options: { imported: true, ...(opened.countedParams ? { countedParams: opened.countedParams } : {}) },
    weights: { name: `${file.name} (trained weights)`, bytes: bytes.buffer.byteLength === bytes.byteLength ? (bytes.buffer as ArrayBuffer) : bytes.slice().buffer },
    notes: [...opened.warnings, ...(opened.unsupported ? [`${opened.unsupported.message}: the graph before it is shown and runs`] : [])],
  };
}

/** The "Open model file" control: a file input for .onnx, .pt and .pth, and where its outcome is said. */
export function modelFileControl(opened: (model: PageModelFile) => void): HTMLElement {
  const note = h('span', { className: 'muted', id: 'model-file-note', role: 'status' });
  const input = h('input', { type: 'file', accept: MODEL_EXTENSIONS.map((e) => `.${e}`).join(','), id: 'model-file', 'aria-label': 'Open a model file (.onnx, .pt, .pth)' });
  input.addEventListener('change', async () => {
    const file = input.files?.[0];
    if (!file) return;
    note.textContent = `Importing ${file.name}…`;
    try {
      const model = await openPageModelFile(file);
      note.textContent = [`Opened ${file.name}.`, ...model.notes.map((n) => `${n.charAt(0).toUpperCase()}${n.slice(1)}.`)].join(' ');
      opened(model);
    } catch (error) {
      note.textContent = error instanceof Error ? error.message : String(error);
    }
  });
  return h('div', { className: 'row' }, h('label', { htmlFor: 'model-file' }, 'Model file'), input, note);
}
