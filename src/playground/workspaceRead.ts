/**
 * The checks behind the page's `readWorkspaceFile`: the page is untrusted, so it may read only the
 * file types it has a use for, only regular files whose real path (links resolved) lies inside a
 * workspace folder, and only up to a size cap. Imports no `vscode`, so that it can be tested alone.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * The file types the page may read from the workspace: weights (.safetensors) and images. A
 * format the page learns to open (.onnx, .pt, .pth, ...) is added here, and nowhere else.
 */
export const READABLE_EXTENSIONS: readonly string[] = ['.safetensors', '.png', '.jpg', '.jpeg', '.webp', '.gif', '.bmp'];

/** Largest workspace file the page may read, bytes (a MobileNetV2 state_dict is 14 MB). */
export const MAX_READ_BYTES = 256 * 1024 ** 2;

const readableType = (file: string) => READABLE_EXTENSIONS.includes(path.extname(file).toLowerCase());

const inside = (root: string, file: string) => {
  const relative = path.relative(root, file);
  return relative !== '' && relative !== '..' && !relative.startsWith(`..${path.sep}`) && !path.isAbsolute(relative);
};

/**
 * Reads `file` (an absolute path) for the page. `shown` names it in errors, `folders` are the
 * workspace folders' paths. Throws a one-line reason for a type not in {@link READABLE_EXTENSIONS}
 * (the requested name and the file a link points at are both checked), a real path outside every
 * folder, anything but a regular file, or more than `maxBytes`.
 */
export async function readInsideFolders(folders: readonly string[], file: string, shown: string, maxBytes = MAX_READ_BYTES): Promise<Uint8Array> {
  const allowed = `the playground reads only ${READABLE_EXTENSIONS.join(', ')} files`;
  if (!readableType(file)) throw new Error(`${shown}: ${allowed}`);
  let real: string;
  try {
    real = await fs.promises.realpath(file);
  } catch {
    throw new Error(`${shown}: no such file in the workspace`);
  }
  const roots = await Promise.all(folders.map((f) => fs.promises.realpath(f).catch(() => undefined)));
  if (!roots.some((root) => root !== undefined && inside(root, real)))
    throw new Error(`${shown}: the file is outside the workspace folders (a link leading out of the workspace is not followed)`);
  if (!readableType(real)) throw new Error(`${shown}: links to a file of another type; ${allowed}`);
  // O_NOFOLLOW: the real path must not have become a link since; O_NONBLOCK: a FIFO does not block the open.
  const handle = await fs.promises.open(real, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK).catch(() => {
    throw new Error(`${shown}: could not be opened`);
  });
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new Error(`${shown}: not a regular file`);
    if (stat.size > maxBytes) throw new Error(`${shown} is ${stat.size} bytes, more than the ${maxBytes} the playground reads`);
    // At most the size seen (plus one byte, to notice a file that grew since).
    const bytes = new Uint8Array(stat.size + 1);
    let filled = 0;
    while (filled < bytes.length) {
      const { bytesRead } = await handle.read(bytes, filled, bytes.length - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    if (filled > stat.size) throw new Error(`${shown}: the file changed while it was read`);
    return bytes.subarray(0, filled);
  } finally {
    await handle.close();
  }
}
