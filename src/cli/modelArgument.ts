/**
 * `--model` of `sepconv cost` and `sepconv forward`, read by one function with one rule for both
 * commands: a name ending in .onnx is an ONNX file; otherwise a path that exists wins over a preset
 * of the same name (a note says which was used when both exist), and a preset is used only when
 * no such path exists.
 */
import { existsSync } from 'node:fs';
import { READ_LIMITS } from '../io/localFiles';
import type { OnnxImport } from '../io/onnxImport';
import { getPreset } from '../shared/presets';
import { errorMessage, fileProblem, forOption, readOptionFile } from './files';

/** What `--model` named: a spec not yet checked (resolveModel checks it), or an imported ONNX graph. */
export type ModelArgument = { kind: 'spec'; spec: unknown } | { kind: 'onnx'; imported: OnnxImport };

export interface LoadModelOptions {
  /** Receives the line saying that a file shadows a preset. */
  note: (text: string) => void;
  /** The input shape an .onnx graph is imported at (default: the one the file declares). */
  inputShape?: number[];
}

/** Whether `--model` names an ONNX file (by its extension: no preset name ends so). */
export function isOnnxModel(reference: string): boolean {
  return reference.toLowerCase().endsWith('.onnx');
}

/**
 * Reads `--model`. A UTF-8 byte-order mark before a JSON spec is accepted, as editors on Windows
 * write one. An .onnx file is imported as far as it can be: `imported.unsupported` says where it
 * stopped, for the command to show or refuse.
 */
export async function loadModel(reference: string, options: LoadModelOptions): Promise<ModelArgument> {
  if (isOnnxModel(reference)) {
    const { importOnnxFile } = await import('../io/onnxFiles');
    const imported = forOption(
      '--model',
      reference,
      () => importOnnxFile(reference, options.inputShape ? { inputShape: options.inputShape } : {}),
      fileProblem,
    );
    return { kind: 'onnx', imported };
  }
  const preset = getPreset(reference);
  if (!existsSync(reference)) {
    if (preset) return { kind: 'spec', spec: preset };
    throw new Error(`--model ${reference}: no such file, and no preset of that name (see \`sepconv presets\`)`);
  }
  if (preset)
    options.note(
      `sepconv: --model ${reference}: reading the file ${JSON.stringify(reference)} of the current folder, not the preset of the same name (an existing path wins; move or rename the file to use the preset)`,
    );
  const bytes = readOptionFile('--model', reference, READ_LIMITS.spec);
  // TextDecoder drops a leading byte-order mark.
  const text = forOption(
    '--model',
    reference,
    () => new TextDecoder('utf-8', { fatal: true }).decode(bytes),
    () => 'not UTF-8 text',
  );
  const spec = forOption(
    '--model',
    reference,
    () => JSON.parse(text) as unknown,
    (error) => `not valid JSON (${errorMessage(error)})`,
  );
  return { kind: 'spec', spec };
}
