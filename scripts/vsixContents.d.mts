// Types of vsixContents.mjs, for the tests that import it.
export interface ZipEntry {
  name: string;
  compressedSize: number;
  size: number;
}
export function listVsix(path: string): ZipEntry[];
export function checkVsix(entries: ZipEntry[], target: string, dawnFolder: string | undefined): string[];
