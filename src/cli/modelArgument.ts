/**
 * `--model` of `sepconv cost` and `sepconv forward`: a path to a JSON spec or a preset name, with
 * one rule for both commands: a path that exists wins over a preset of the same name, and a note
 * says which was used when both exist.
 */
import { existsSync } from 'node:fs';
import { READ_LIMITS, readRegularFile } from '../io/localFiles';
import { getPreset } from '../shared/presets';

/** What went wrong with a path, for people: "no such file", "is a directory, not a file", ... */
export function fileProblem(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EISDIR') return 'is a directory, not a file';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  return error instanceof Error ? error.message : String(error);
}

function readModelFile(path: string): Uint8Array {
  try {
    return readRegularFile(path, READ_LIMITS.spec);
  } catch (error) {
    throw new Error(`--model ${path}: ${fileProblem(error)}`);
  }
}

/**
 * The spec `reference` names, not yet checked (resolveModel checks it). `read` reads the file (the
 * command's own reader, with its limits); `note` receives the line saying that a file shadows a
 * preset. A UTF-8 byte-order mark before the JSON is accepted, as editors on Windows write one.
 */
export function loadModelArgument(reference: string, note: (text: string) => void, read: (path: string) => Uint8Array = readModelFile): unknown {
  const preset = getPreset(reference);
  if (!existsSync(reference)) {
    if (preset) return preset;
    throw new Error(`--model ${reference}: no such file, and no preset of that name (see \`sepconv presets\`)`);
  }
  if (preset) note(`sepconv: --model ${reference}: reading the file ${JSON.stringify(reference)} of the current folder, not the preset of the same name (an existing path wins; move or rename the file to use the preset)`);
  let text: string;
  try {
    // TextDecoder drops a leading byte-order mark.
    text = new TextDecoder('utf-8', { fatal: true }).decode(read(reference));
  } catch (error) {
    if (error instanceof TypeError) throw new Error(`--model ${reference}: not UTF-8 text`);
    throw error;
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Error(`--model ${reference}: not valid JSON (${(error as Error).message})`);
  }
}
