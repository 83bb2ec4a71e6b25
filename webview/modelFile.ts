/**
 * The standalone page's "Model file" control. The page has no extension host: the file is
 * imported in the page's engine worker (modelImport.ts), so the page stays responsive while a
 * large model is read.
 */
import { MODEL_EXTENSIONS } from '../src/playground/openModel';
import { h } from './dom';
import type { PageModelFile } from './modelImport';

export type { PageModelFile };

/**
 * The "Open model file" control: a file input for .onnx, .pt and .pth, and where its outcome is
 * said. `importModel` imports the chosen file's bytes (the page's engine worker).
 */
export function modelFileControl(
  importModel: (bytes: ArrayBuffer, name: string) => Promise<PageModelFile>,
  opened: (model: PageModelFile) => void,
): HTMLElement {
  const note = h('span', { className: 'muted', id: 'model-file-note', role: 'status' });
  const input = h('input', {
    type: 'file',
    accept: MODEL_EXTENSIONS.map((e) => `.${e}`).join(','),
    id: 'model-file',
    'aria-label': 'Open a model file (.onnx, .pt, .pth)',
  });
  const open = async (): Promise<void> => {
    const file = input.files?.[0];
    if (!file) return;
    note.textContent = `Importing ${file.name}…`;
    try {
      const model = await importModel(await file.arrayBuffer(), file.name);
      note.textContent = [`Opened ${file.name}.`, ...model.notes.map((n) => `${n.charAt(0).toUpperCase()}${n.slice(1)}.`)].join(' ');
      opened(model);
    } catch (error) {
      note.textContent = error instanceof Error ? error.message : String(error);
    }
  };
  // open() reports its own failures in the note, so its promise never rejects.
  input.addEventListener('change', () => void open());
  return h('div', { className: 'row' }, h('label', { htmlFor: 'model-file' }, 'Model file'), input, note);
}
