/**
 * The Node side of ONNX import: reads an .onnx file and, for tensors stored outside it (ONNX
 * "external data"), the bytes of the files beside it. A location must stay inside the model's
 * folder: absolute paths, `..` segments and links that resolve outside are refused, so that a
 * model cannot make the reader open any other file.
 */
import { closeSync, fstatSync, openSync, readSync, realpathSync } from 'node:fs';
import { dirname, isAbsolute, resolve, sep } from 'node:path';
import { READ_LIMITS, readRegularFile } from './localFiles';
import { OnnxError } from './onnx';
import { importOnnx, type OnnxImport, type OnnxImportOptions } from './onnxImport';

/** Reads the bytes [offset, offset + length) of `location`, relative to `folder`, after checking that it stays inside it. */
export function readExternalData(folder: string, location: string, offset: number, length: number | undefined): Uint8Array {
  const label = `external data ${JSON.stringify(location)}`;
  if (location === '' || location.includes('\0')) throw new OnnxError(`${label}: not a file name`);
  if (isAbsolute(location) || /^[A-Za-z]:/.test(location) || location.startsWith('\\') || location.startsWith('/')) {
    throw new OnnxError(`${label}: absolute paths are refused; the data must lie in the model's folder`);
  }
  if (location.split(/[\\/]/).includes('..')) throw new OnnxError(`${label}: ".." is refused; the data must lie in the model's folder`);
  const root = realpathSync(folder);
  let target: string;
  try {
    target = realpathSync(resolve(root, location));
  } catch (error) {
    throw new OnnxError(`${label}: cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
  if (!target.startsWith(root + sep)) throw new OnnxError(`${label}: resolves outside the model's folder`);
  const fd = openSync(target, 'r');
  try {
    const size = fstatSync(fd).size;
    const want = length ?? size - offset;
    if (offset > size || want < 0 || offset + want > size) throw new OnnxError(`${label}: bytes [${offset}, ${offset + want}) run past its ${size} bytes`);
    const bytes = new Uint8Array(want);
    let done = 0;
    while (done < want) {
      const n = readSync(fd, bytes, done, want - done, offset + done);
      if (n === 0) throw new OnnxError(`${label}: ended early`);
      done += n;
    }
    return bytes;
  } finally {
    closeSync(fd);
  }
}

/** Imports an .onnx file from disk, external data included. Only a regular file is read (not a FIFO, not a device), of at most READ_LIMITS.onnx. */
export function importOnnxFile(path: string, options: Omit<OnnxImportOptions, 'readExternal'> = {}): OnnxImport {
  const bytes = readRegularFile(path, READ_LIMITS.onnx);
  const folder = dirname(resolve(path));
  return importOnnx(bytes, { ...options, readExternal: (location, offset, length) => readExternalData(folder, location, offset, length) });
}
