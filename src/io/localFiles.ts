/**
 * Files on the local disk, for the CLI (Node only; the engine never imports this): bounded reads
 * of regular files, atomic writes, folders made one level at a time, and checks of a destination
 * before any work is done.
 */
import { accessSync, closeSync, constants, fstatSync, mkdirSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, parse, resolve } from 'node:path';
import { writeFileAtomic, type AtomicWriteFileSystem } from '../shared/atomicWrite';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

/**
 * The most bytes each kind of input file may have. A .npy input or a .safetensors file is at most
 * the memory budget of its tensors (2 GiB of fp32, spec.ts) plus its header; the text formats are
 * far larger than any real model definition.
 */
export const READ_LIMITS = {
  /** A JSON model spec. */
  spec: 16 * MiB,
  /** A Python file for `sepconv cost FILE.py`. */
  python: 16 * MiB,
  /** An .npy input: 2 GiB of fp32 plus the header (at most 1 MiB, npy.ts). */
  npy: 2 * GiB + MiB,
  /** A .safetensors file: 2 GiB of fp32 weights, as float64 at most, plus the header (at most 100 MB, safetensors.ts). */
  safetensors: 4 * GiB + 100 * MiB,
  /** An .onnx file: protobuf caps a message at 2 GiB (larger models keep their weights in external data files). */
  onnx: 2 * GiB,
} as const;

/** A file problem with a message for people ("not a regular file (a FIFO)"). */
export class LocalFileError extends Error {
  constructor(message: string, readonly code?: string) {
    super(message);
    this.name = 'LocalFileError';
  }
}

/** "a FIFO", "a character device", ...: what a path is when it is not a regular file. */
function kindOf(stats: Stats): string {
  if (stats.isDirectory()) return 'a directory';
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  if (stats.isSocket()) return 'a socket';
  return 'not a plain file';
}

/** "2 GiB", "16 MiB", "300 bytes". */
export function formatLimit(bytes: number): string {
  if (bytes >= GiB && bytes % GiB === 0) return `${bytes / GiB} GiB`;
  if (bytes >= MiB) return `${Math.round(bytes / MiB)} MiB`;
  return `${bytes} bytes`;
}

/**
 * Reads a whole regular file of at most `maxBytes`. Anything else is refused before a byte is
 * read: a directory, a FIFO, a device such as /dev/zero, a socket. The read stops at the size the
 * file had when it was opened, so a file that grows (or a /proc file) cannot make it endless.
 */
export function readRegularFile(path: string, maxBytes: number): Buffer {
  // O_NONBLOCK: opening a FIFO must not wait for a writer. It changes nothing for a regular file.
  const fd = openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  try {
    const stats = fstatSync(fd);
    if (stats.isDirectory()) throw new LocalFileError('is a directory, not a file', 'EISDIR');
    if (!stats.isFile()) throw new LocalFileError(`not a regular file (${kindOf(stats)}): refused`, 'ENOTREG');
    if (stats.size > maxBytes) throw new LocalFileError(`is ${stats.size} bytes, more than the ${formatLimit(maxBytes)} read from such a file`, 'EFBIG');
    const buffer = Buffer.allocUnsafe(stats.size);
    let filled = 0;
    while (filled < stats.size) {
      const read = readSync(fd, buffer, filled, stats.size - filled, filled);
      if (read === 0) break; // the file shrank while being read
      filled += read;
    }
    return filled === stats.size ? buffer : buffer.subarray(0, filled);
  } finally {
    closeSync(fd);
  }
}

/** node:fs for {@link writeFileAtomic}: the new file takes the mode of the file it replaces. */
export const localFileSystem: AtomicWriteFileSystem<string> = {
  sibling: (target, name) => join(dirname(target), name),
  baseName: (target) => basename(target),
  async writeNew(location, bytes, target) {
    const mode = await stat(target).then((s) => (s.isFile() ? s.mode & 0o777 : 0o666), () => 0o666);
    const handle = await open(location, 'wx', mode);
    try {
      let written = 0;
      while (written < bytes.length) written += (await handle.write(bytes, written, bytes.length - written)).bytesWritten;
      await handle.sync();
    } finally {
      await handle.close();
    }
  },
  rename: (from, to) => rename(from, to),
  remove: (location) => rm(location, { force: true }),
};

/** Writes a local file atomically (see {@link writeFileAtomic}). */
export function writeLocalFileAtomic(path: string, bytes: Uint8Array, fileSystem: AtomicWriteFileSystem<string> = localFileSystem): Promise<void> {
  return writeFileAtomic(path, bytes, fileSystem);
}

/** Folders made by {@link makeDirectories} at most (deeper paths are refused). */
export const MAX_DIRECTORY_DEPTH = 64;

/**
 * The folders of `path` from the root down, as absolute paths: "/a/b/c" gives "/a", "/a/b", "/a/b/c".
 */
function pathPrefixes(path: string): string[] {
  const absolute = resolve(path);
  const { root } = parse(absolute);
  const parts = absolute.slice(root.length).split(/[\\/]+/).filter((part) => part.length > 0);
  return parts.map((_, i) => join(root, ...parts.slice(0, i + 1)));
}

/**
 * Makes a folder and its missing parents one level at a time, each with one mkdir: bounded by the
 * path's length, where `mkdirSync(path, {recursive: true})` loops for ever under /proc.
 * @throws LocalFileError naming the level that failed
 */
export function makeDirectories(path: string): void {
  const prefixes = pathPrefixes(path);
  if (prefixes.length > MAX_DIRECTORY_DEPTH) throw new LocalFileError(`is ${prefixes.length} folders deep, more than ${MAX_DIRECTORY_DEPTH}`);
  for (const prefix of prefixes) {
    let existing: Stats | undefined;
    try {
      existing = statSync(prefix);
    } catch {
      existing = undefined;
    }
    if (existing) {
      if (!existing.isDirectory()) throw new LocalFileError(`${prefix} is a file, not a directory`, 'ENOTDIR');
      continue;
    }
    try {
      mkdirSync(prefix);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' && statSync(prefix).isDirectory()) continue;
      throw new LocalFileError(`cannot make the directory ${prefix} (${code ?? String(error)})`, code);
    }
  }
}

/** Whether the current process may write into the folder `dir` (an existing folder). */
function canWriteInto(dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Checks, before any work is done, that a file can be written at `path`: its folder exists, is a
 * folder and is writable, and `path` itself is not a folder.
 * @throws LocalFileError with the reason
 */
export function checkFileDestination(path: string): void {
  let existing: Stats | undefined;
  try {
    existing = statSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR') throw new LocalFileError(`a parent of ${path} is a file, not a directory`, code);
  }
  if (existing?.isDirectory()) throw new LocalFileError('is a directory, not a file', 'EISDIR');
  const dir = dirname(resolve(path));
  let parent: Stats;
  try {
    parent = statSync(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new LocalFileError(`cannot write (${code === 'ENOENT' ? `ENOENT: no folder ${dir}` : `${code}: cannot reach the folder ${dir}`})`, code);
  }
  if (!parent.isDirectory()) throw new LocalFileError(`${dir} is a file, not a directory`, 'ENOTDIR');
  if (!canWriteInto(dir)) throw new LocalFileError(`cannot write (EACCES: permission denied in ${dir})`, 'EACCES');
}

/**
 * Checks, before any work is done, that `dir` is a folder that can be written or can be made:
 * the deepest part of it that exists is a writable folder, and nothing on the way is a file.
 * @throws LocalFileError with the reason
 */
export function checkDirectoryDestination(dir: string): void {
  const prefixes = pathPrefixes(dir);
  if (prefixes.length > MAX_DIRECTORY_DEPTH) throw new LocalFileError(`is ${prefixes.length} folders deep, more than ${MAX_DIRECTORY_DEPTH}`);
  let deepest = parse(resolve(dir)).root;
  for (const prefix of prefixes) {
    let stats: Stats;
    try {
      stats = statSync(prefix);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') break;
      throw new LocalFileError(`cannot reach ${prefix} (${code})`, code);
    }
    if (!stats.isDirectory()) throw new LocalFileError(prefix === prefixes[prefixes.length - 1] ? 'is a file, not a directory' : `${prefix} is a file, not a directory`, 'ENOTDIR');
    deepest = prefix;
  }
  if (!canWriteInto(deepest)) throw new LocalFileError(`cannot write (EACCES: permission denied in ${deepest})`, 'EACCES');
}
