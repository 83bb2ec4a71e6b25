/**
 * Files named on the command line (`--input X.npy`, `--model M.json`, ...): every read is bounded
 * (see readRegularFile), every write atomic, and every error names the option and the path, with
 * the problem said for people ("--weights w.safetensors: no such file").
 */
import { resolve } from 'node:path';
import { readRegularFile, writeLocalFileAtomic } from '../io/localFiles';

/** The message of anything thrown. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** What went wrong with a path, for people: "no such file", "is a directory, not a file", ... */
export function fileProblem(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EISDIR') return 'is a directory, not a file';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  return errorMessage(error);
}

/** Runs `work`; what it throws is thrown again as "OPTION PATH: problem". */
export function forOption<T>(option: string, path: string, work: () => T, problem: (error: unknown) => string = errorMessage): T {
  try {
    return work();
  } catch (error) {
    throw new Error(`${option} ${path}: ${problem(error)}`);
  }
}

/** Reads a regular file of at most `maxBytes` (no FIFO, no device, no endless read). */
export function readOptionFile(option: string, path: string, maxBytes: number): Buffer {
  return forOption(option, path, () => readRegularFile(path, maxBytes), fileProblem);
}

/** Reads a file and runs a reader of its bytes; the errors of both name the option and the file. */
export function parseOptionFile<T>(option: string, path: string, maxBytes: number, parse: (bytes: Buffer) => T): T {
  const bytes = readOptionFile(option, path, maxBytes);
  return forOption(option, path, () => parse(bytes));
}

/** Writes through a temporary file and a rename: a failed write leaves the old file as it was. */
export async function writeOptionFile(option: string, path: string, bytes: Uint8Array): Promise<void> {
  try {
    await writeLocalFileAtomic(path, bytes);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new Error(`${option} ${path}: ${code === 'EISDIR' ? fileProblem(error) : `cannot write (${code ?? fileProblem(error)})`}`);
  }
}

/**
 * The folders where the CLI looks for what ships beside it (tree-sitter's .wasm files,
 * media/python/measure.py): its own, then two levels up, so that both the bundle (dist/cli.js)
 * and the source (src/cli/, under the tests) reach the repository's root.
 */
export function installFolders(): string[] {
  const here = typeof __dirname === 'string' ? __dirname : process.cwd();
  return [here, resolve(here, '..'), resolve(here, '../..')];
}
