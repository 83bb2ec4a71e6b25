/**
 * A reader of zip archives as torch.save writes them: stored (uncompressed) entries, found
 * through the central directory, with zip64 sizes and offsets. Every offset and size is checked
 * against the file before it is used; a compressed entry, a truncated file or a directory that
 * points outside the file is a {@link ZipError}.
 *
 * Works on bytes only. This module imports neither `vscode` nor the DOM.
 */

export class ZipError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ZipError';
  }
}

export interface ZipEntry {
  name: string;
  /** Offset of the entry's data in the file, and its length in bytes. */
  dataOffset: number;
  size: number;
}

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
/** More entries than this are refused: a state_dict has one per tensor plus a few. */
const MAX_ENTRIES = 1_000_000;

/** True when the bytes start like a zip archive (a local file header). */
export function isZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
}

/** The archive's entries by name. */
export function readZipEntries(bytes: Uint8Array): Map<string, ZipEntry> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u16 = (at: number) => view.getUint16(at, true);
  const u32 = (at: number) => view.getUint32(at, true);
  const u64 = (at: number) => {
    const value = view.getUint32(at + 4, true) * 2 ** 32 + view.getUint32(at, true);
    if (value > Number.MAX_SAFE_INTEGER) throw new ZipError(`a 64-bit field at byte ${at} is too large`);
    return value;
  };
  const within = (at: number, length: number, what: string) => {
    if (!(at >= 0 && length >= 0 && at + length <= bytes.length))
      throw new ZipError(`${what} at byte ${at} (${length} bytes) runs past the end of the ${bytes.length}-byte file: truncated or lying`);
  };

  // The end-of-central-directory record: 22 bytes plus a comment of up to 65535.
  let eocd = -1;
  for (let at = bytes.length - 22; at >= Math.max(0, bytes.length - 22 - 65535); at--) {
    if (u32(at) === EOCD) {
      eocd = at;
      break;
    }
  }
  if (eocd < 0) throw new ZipError('not a zip archive: no end-of-central-directory record (truncated?)');
  let count = u16(eocd + 10);
  let directorySize = u32(eocd + 12);
  let directoryOffset = u32(eocd + 16);
  if (count === 0xffff || directorySize === 0xffffffff || directoryOffset === 0xffffffff) {
    const locator = eocd - 20;
    within(locator, 20, 'the zip64 locator');
    if (u32(locator) !== ZIP64_LOCATOR) throw new ZipError('zip64 sizes without a zip64 locator');
    const record = u64(locator + 8);
    within(record, 56, 'the zip64 end record');
    if (u32(record) !== ZIP64_EOCD) throw new ZipError('the zip64 locator points at no zip64 end record');
    count = u64(record + 32);
    directorySize = u64(record + 40);
    directoryOffset = u64(record + 48);
  }
  if (count > MAX_ENTRIES) throw new ZipError(`${count} entries is over the limit of ${MAX_ENTRIES}`);
  within(directoryOffset, directorySize, 'the central directory');

  const entries = new Map<string, ZipEntry>();
  let at = directoryOffset;
  for (let i = 0; i < count; i++) {
    within(at, 46, 'a central directory entry');
    if (u32(at) !== CENTRAL) throw new ZipError(`central directory entry ${i} at byte ${at} has no signature`);
    const method = u16(at + 10);
    let compressed = u32(at + 20);
    let size = u32(at + 24);
    const nameLength = u16(at + 28);
    const extraLength = u16(at + 30);
    const commentLength = u16(at + 32);
    let localOffset = u32(at + 42);
    within(at + 46, nameLength + extraLength + commentLength, 'a central directory entry');
    const name = new TextDecoder().decode(bytes.subarray(at + 46, at + 46 + nameLength));
    // zip64 extra field: the 64-bit values of the fields that hold 0xffffffff, in order.
    let extra = at + 46 + nameLength;
    const extraEnd = extra + extraLength;
    while (extra + 4 <= extraEnd) {
      const id = u16(extra);
      const length = u16(extra + 2);
      if (extra + 4 + length > extraEnd) throw new ZipError(`entry ${JSON.stringify(name)}: its extra field runs past its end`);
      if (id === 0x0001) {
        let field = extra + 4;
        const next = (): number => {
          if (field + 8 > extra + 4 + length) throw new ZipError(`entry ${JSON.stringify(name)}: its zip64 field is too short`);
          const value = u64(field);
          field += 8;
          return value;
        };
        if (size === 0xffffffff) size = next();
        if (compressed === 0xffffffff) compressed = next();
        if (localOffset === 0xffffffff) localOffset = next();
      }
      extra += 4 + length;
    }
    if (method !== 0) throw new ZipError(`entry ${JSON.stringify(name)} is compressed (method ${method}); torch.save stores entries uncompressed`);
    if (compressed !== size) throw new ZipError(`entry ${JSON.stringify(name)}: stored with ${compressed} bytes but ${size} uncompressed`);
    within(localOffset, 30, `entry ${JSON.stringify(name)}: its local header`);
    if (u32(localOffset) !== LOCAL) throw new ZipError(`entry ${JSON.stringify(name)}: no local header at byte ${localOffset}`);
    const dataOffset = localOffset + 30 + u16(localOffset + 26) + u16(localOffset + 28);
    within(dataOffset, size, `entry ${JSON.stringify(name)}: its data`);
    entries.set(name, { name, dataOffset, size });
    at += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}
