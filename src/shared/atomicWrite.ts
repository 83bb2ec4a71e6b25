/**
 * Writing a file so that a failed write (disk full, a file size limit, a crash) never leaves a
 * truncated file where a good one was: the bytes go to a temporary file in the same folder, which
 * then replaces the target in one rename. The file system is passed in, so the CLI (node:fs) and
 * the extension (vscode.workspace.fs) share this one implementation.
 */

/** The few file operations an atomic write needs, over any kind of location (a path, a Uri). */
export interface AtomicWriteFileSystem<Location> {
  /** A file named `name` in the folder that holds `target`. */
  sibling(target: Location, name: string): Location;
  /** The target's own file name, for the temporary file's name. */
  baseName(target: Location): string;
  /** Writes a new file (it does not exist yet) with all of `bytes`, flushed to the disk. */
  writeNew(location: Location, bytes: Uint8Array, target: Location): Promise<void>;
  /** Replaces `to` with `from` in one step. */
  rename(from: Location, to: Location): Promise<void>;
  /** Deletes a file; a missing file is no error. */
  remove(location: Location): Promise<void>;
}

/** The temporary file's name: hidden, beside the target, and unlikely to meet another writer's. */
export function temporaryName(baseName: string): string {
  const random = Math.floor(Math.random() * 0x100000000)
    .toString(16)
    .padStart(8, '0');
  return `.${baseName}.${random}.tmp`;
}

/**
 * Writes `bytes` to `target` through a temporary file in the same folder and a rename: the target
 * holds either its old content or all of the new one. On failure the temporary file is removed and
 * the error is rethrown.
 */
export async function writeFileAtomic<Location>(target: Location, bytes: Uint8Array, fileSystem: AtomicWriteFileSystem<Location>): Promise<void> {
  const temporary = fileSystem.sibling(target, temporaryName(fileSystem.baseName(target)));
  try {
    await fileSystem.writeNew(temporary, bytes, target);
    await fileSystem.rename(temporary, target);
  } catch (error) {
    await fileSystem.remove(temporary).catch(() => undefined);
    throw error;
  }
}
