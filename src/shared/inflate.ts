/**
 * Raw deflate (RFC 1951) undone into a buffer of a size known in advance: the page's reader of the
 * feature maps a host run sends compressed (packedMaps.ts). Written for that one job: the output
 * is preallocated, matches of distance 1 (runs of one byte, most of a ReLU map's zeros) become
 * fills, and a block's Huffman codes become one lookup table each. Chromium's DecompressionStream
 * hands its output out in 64 KB chunks, one task each: 3.0 MB of previews took 30 ms through it,
 * against a few ms here.
 *
 * Nothing in the input is trusted: every length, distance and code is checked, the output never
 * grows past `size`, and a stream that ends early, refers before its start, uses a code no table
 * has or yields other than `size` bytes throws an InflateError.
 *
 * Imports nothing: the host's tests and the page use it alike.
 */

export class InflateError extends Error {
  constructor(message: string) {
    super(`deflate stream: ${message}`);
    this.name = 'InflateError';
  }
}

// RFC 1951, 3.2.5: the base and the extra bits of each length code (257..285) and distance code (0..29).
const LENGTH_BASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LENGTH_EXTRA = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DISTANCE_BASE = [
  1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
const DISTANCE_EXTRA = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
/** RFC 1951, 3.2.7: the order in which a dynamic block gives its code length code's lengths. */
const CODE_LENGTH_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

/**
 * A Huffman code as a lookup table indexed by the next `bits` bits of the stream (least
 * significant first, as deflate packs codes): each entry is symbol << 4 | code length, 0 where
 * no code starts with those bits.
 */
interface Table {
  entries: Int32Array;
  bits: number;
}

/** The canonical Huffman code of these code lengths (0: the symbol has no code), as a table. */
function buildTable(lengths: ArrayLike<number>, what: string): Table {
  const counts = new Int32Array(16);
  let longest = 0;
  for (let s = 0; s < lengths.length; s++) {
    const length = lengths[s]!;
    counts[length] = counts[length]! + 1;
    if (length > longest) longest = length;
  }
  counts[0] = 0;
  // Over-subscribed lengths (more codes than the bit patterns allow) describe no code.
  let left = 1;
  for (let length = 1; length <= 15; length++) {
    left = 2 * left - counts[length]!;
    if (left < 0) throw new InflateError(`the ${what} code is over-subscribed`);
  }
  const next = new Int32Array(16);
  for (let length = 1, code = 0; length <= 15; length++) {
    code = (code + counts[length - 1]!) << 1;
    next[length] = code;
  }
  const bits = Math.max(1, longest);
  const entries = new Int32Array(1 << bits);
  for (let s = 0; s < lengths.length; s++) {
    const length = lengths[s]!;
    if (length === 0) continue;
    const code = next[length]!++;
    let reversed = 0;
    for (let b = 0; b < length; b++) reversed |= ((code >> b) & 1) << (length - 1 - b);
    const entry = (s << 4) | length;
    for (let i = reversed; i < entries.length; i += 1 << length) entries[i] = entry;
  }
  return { entries, bits };
}

let fixedTables: { literals: Table; distances: Table } | undefined;

/** The fixed codes of block type 1 (RFC 1951, 3.2.6). */
function fixed(): { literals: Table; distances: Table } {
  if (!fixedTables) {
    const literals = new Uint8Array(288);
    literals.fill(8, 0, 144);
    literals.fill(9, 144, 256);
    literals.fill(7, 256, 280);
    literals.fill(8, 280, 288);
    fixedTables = { literals: buildTable(literals, 'fixed literal/length'), distances: buildTable(new Uint8Array(30).fill(5), 'fixed distance') };
  }
  return fixedTables;
}

/**
 * Inflates raw deflate `input` into exactly `size` bytes: into `into` when given (an array of
 * exactly `size` bytes, every one of them written: memory already written once costs less than new
 * memory), else a new array. @throws InflateError
 */
export function inflateRaw<T extends ArrayBufferLike = ArrayBuffer>(input: Uint8Array, size: number, into?: Uint8Array<T>): Uint8Array<T> {
  if (!Number.isSafeInteger(size) || size < 0) throw new InflateError(`cannot inflate into ${size} bytes`);
  if (into && into.length !== size) throw new InflateError(`cannot inflate ${size} bytes into an array of ${into.length}`);
  const out = (into ?? new Uint8Array(size)) as Uint8Array<T>;
  const end = input.length;
  let at = 0; // next input byte
  let buffer = 0; // bits read ahead, least significant first
  let count = 0; // how many
  let o = 0; // output written

  /** Makes `n` (<= 24) bits available; past the input's end they read as zeros, caught by `checkEnd`. */
  const fill = (n: number) => {
    while (count < n) {
      buffer |= (at < end ? input[at]! : 0) << count;
      at++;
      count += 8;
    }
  };
  const take = (n: number): number => {
    fill(n);
    const value = buffer & ((1 << n) - 1);
    buffer >>>= n;
    count -= n;
    return value;
  };
  /** Whether more bits were used than the input has. */
  const overrun = () => at - (count >> 3) > end;
  const decode = (table: Table, what: string): number => {
    fill(table.bits);
    const entry = table.entries[buffer & ((1 << table.bits) - 1)]!;
    const length = entry & 15;
    if (length === 0) throw new InflateError(`a ${what} code that the block's code does not have`);
    buffer >>>= length;
    count -= length;
    return entry >> 4;
  };

  for (let last = 0; !last;) {
    last = take(1);
    const type = take(2);
    if (type === 0) {
      // Stored: from the next byte boundary, LEN and its complement, then LEN bytes as they are.
      buffer >>>= count & 7;
      count -= count & 7;
      at -= count >> 3; // the whole bytes read ahead are read again
      buffer = 0;
      count = 0;
      if (at + 4 > end) throw new InflateError('ends inside a stored block header');
      const length = input[at]! | (input[at + 1]! << 8);
      const complement = input[at + 2]! | (input[at + 3]! << 8);
      at += 4;
      if ((length ^ 0xffff) !== complement) throw new InflateError('a stored block whose length does not match its complement');
      if (at + length > end) throw new InflateError('ends inside a stored block');
      if (o + length > size) throw new InflateError(`inflates to more than ${size} bytes`);
      out.set(input.subarray(at, at + length), o);
      at += length;
      o += length;
      continue;
    }
    let literals: Table;
    let distances: Table;
    if (type === 1) ({ literals, distances } = fixed());
    else if (type === 2) ({ literals, distances } = dynamicTables(take, decode));
    else throw new InflateError('a block of the reserved type 3');

    for (;;) {
      const symbol = decode(literals, 'literal/length');
      if (symbol < 256) {
        if (o >= size) throw new InflateError(`inflates to more than ${size} bytes`);
        out[o++] = symbol;
        continue;
      }
      if (symbol === 256) break;
      const lengthCode = symbol - 257;
      if (lengthCode >= 29) throw new InflateError(`the length code ${symbol}`);
      const length = LENGTH_BASE[lengthCode]! + take(LENGTH_EXTRA[lengthCode]!);
      const distanceCode = decode(distances, 'distance');
      if (distanceCode >= 30) throw new InflateError(`the distance code ${distanceCode}`);
      const distance = DISTANCE_BASE[distanceCode]! + take(DISTANCE_EXTRA[distanceCode]!);
      if (distance > o) throw new InflateError(`a distance of ${distance} bytes where ${o} have been written`);
      if (o + length > size) throw new InflateError(`inflates to more than ${size} bytes`);
      if (distance === 1) out.fill(out[o - 1]!, o, o + length);
      else if (distance >= length) out.copyWithin(o, o - distance, o - distance + length);
      else for (let k = 0; k < length; k++) out[o + k] = out[o + k - distance]!;
      o += length;
    }
    if (overrun()) throw new InflateError('ends inside a block');
  }
  if (overrun()) throw new InflateError('ends inside a block');
  if (o !== size) throw new InflateError(`inflates to ${o} bytes, not ${size}`);
  return out;
}

/** The codes of a dynamic block (RFC 1951, 3.2.7), read from its header. */
function dynamicTables(take: (n: number) => number, decode: (table: Table, what: string) => number): { literals: Table; distances: Table } {
  const literalCount = take(5) + 257;
  const distanceCount = take(5) + 1;
  const lengthCodeCount = take(4) + 4;
  if (literalCount > 286 || distanceCount > 30)
    throw new InflateError(`a block header with ${literalCount} literal/length and ${distanceCount} distance codes`);
  const codeLengths = new Uint8Array(19);
  for (let i = 0; i < lengthCodeCount; i++) codeLengths[CODE_LENGTH_ORDER[i]!] = take(3);
  const lengthCode = buildTable(codeLengths, 'code length');
  const lengths = new Uint8Array(literalCount + distanceCount);
  for (let i = 0; i < lengths.length;) {
    const symbol = decode(lengthCode, 'code length');
    if (symbol < 16) {
      lengths[i++] = symbol;
      continue;
    }
    let repeat: number;
    let value = 0;
    if (symbol === 16) {
      if (i === 0) throw new InflateError('a repeat of the previous code length at the start');
      value = lengths[i - 1]!;
      repeat = 3 + take(2);
    } else if (symbol === 17) repeat = 3 + take(3);
    else repeat = 11 + take(7);
    if (i + repeat > lengths.length) throw new InflateError('code lengths that run past the block header');
    lengths.fill(value, i, i + repeat);
    i += repeat;
  }
  if (lengths[256] === 0) throw new InflateError('a block with no end-of-block code');
  return {
    literals: buildTable(lengths.subarray(0, literalCount), 'literal/length'),
    distances: buildTable(lengths.subarray(literalCount), 'distance'),
  };
}
