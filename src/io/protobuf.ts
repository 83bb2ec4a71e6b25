/**
 * A reader of the protobuf wire format, just enough to decode the ONNX messages (see onnx.ts).
 *
 * Every read is checked against the end of the message it belongs to: a length that runs past
 * its message, a varint longer than ten bytes, a truncated fixed-width value or an unknown wire
 * type is a {@link ProtobufError} naming the byte offset, never a read out of bounds.
 *
 * Works on bytes only, so the extension host, the webview and the CLI share it.
 * This module imports neither `vscode` nor the DOM.
 */

/** A byte sequence that is not a well-formed protobuf message; the message says where. */
export class ProtobufError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProtobufError';
  }
}

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_LENGTH = 2;
export const WIRE_FIXED32 = 5;

/** Nested messages deeper than this are refused: ONNX nests a handful of levels (subgraphs a few more). */
const MAX_DEPTH = 64;

/** One message: the bytes [start, end) of a buffer, read field by field. */
export class ProtoReader {
  private position: number;
  private readonly view: DataView;

  constructor(
    readonly bytes: Uint8Array,
    readonly start = 0,
    readonly end = bytes.length,
    /** How deep this message is nested, to refuse pathological nesting before the stack does. */
    readonly depth = 0,
  ) {
    if (start < 0 || end > bytes.length || start > end) throw new ProtobufError(`message bounds [${start}, ${end}) lie outside the ${bytes.length} bytes`);
    if (depth > MAX_DEPTH) throw new ProtobufError(`messages nested more than ${MAX_DEPTH} deep at byte ${start}`);
    this.position = start;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** Where the next read starts, in bytes from the start of the buffer. */
  get offset(): number {
    return this.position;
  }

  /** The next field's number and wire type, or undefined at the end of the message. */
  nextField(): { field: number; wire: number } | undefined {
    if (this.position >= this.end) return undefined;
    const at = this.position;
    const key = this.uint();
    const field = Math.floor(key / 8);
    const wire = key % 8;
    if (field === 0) throw new ProtobufError(`field number 0 at byte ${at}: not a protobuf message`);
    if (wire !== WIRE_VARINT && wire !== WIRE_FIXED64 && wire !== WIRE_LENGTH && wire !== WIRE_FIXED32) {
      throw new ProtobufError(`unsupported wire type ${wire} for field ${field} at byte ${at}`);
    }
    return { field, wire };
  }

  /** Raw varint as [low 32 bits, high 32 bits]. */
  private varint(): [number, number] {
    let low = 0;
    let high = 0;
    const at = this.position;
    for (let i = 0; i < 10; i++) {
      if (this.position >= this.end) throw new ProtobufError(`truncated varint at byte ${at}`);
      const b = this.bytes[this.position++]!;
      if (i < 4) low |= (b & 0x7f) << (7 * i);
      else if (i === 4) {
        low |= (b & 0x0f) << 28;
        high |= (b & 0x7f) >>> 4;
      } else high |= (b & 0x7f) << (7 * i - 32);
      if ((b & 0x80) === 0) return [low >>> 0, high >>> 0];
    }
    throw new ProtobufError(`varint longer than 10 bytes at byte ${at}`);
  }

  /** An unsigned varint; values past 2^53 are refused (no length, count or enum is that large). */
  uint(): number {
    const at = this.position;
    const [low, high] = this.varint();
    if (high >= 2 ** 21) throw new ProtobufError(`varint at byte ${at} is larger than 2^53`);
    return high * 2 ** 32 + low;
  }

  /** A two's-complement int64 (or int32) varint; magnitudes past 2^53 are rounded to the nearest double. */
  int64(): number {
    const [low, high] = this.varint();
    if (high & 0x80000000) return -((~high >>> 0) * 2 ** 32 + (~low >>> 0) + 1);
    return high * 2 ** 32 + low;
  }

  float32(): number {
    this.need(4, 'float');
    const value = this.view.getFloat32(this.position, true);
    this.position += 4;
    return value;
  }

  float64(): number {
    this.need(8, 'double');
    const value = this.view.getFloat64(this.position, true);
    this.position += 8;
    return value;
  }

  /** A length-delimited field's bytes (a view, not a copy). */
  bytesField(): Uint8Array {
    const [start, end] = this.lengthDelimited();
    return this.bytes.subarray(start, end);
  }

  string(): string {
    const bytes = this.bytesField();
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      throw new ProtobufError(`string field ending at byte ${this.position} is not valid UTF-8`);
    }
  }

  /** A nested message's reader. */
  message(): ProtoReader {
    const [start, end] = this.lengthDelimited();
    return new ProtoReader(this.bytes, start, end, this.depth + 1);
  }

  /** A repeated varint field, packed (one length-delimited run) or not (one value); more than `limit` values are refused. */
  repeatedInt64(wire: number, into: number[], limit = Infinity): void {
    if (wire === WIRE_VARINT) {
      into.push(this.int64());
    } else {
      this.expectWire(wire, WIRE_LENGTH, 'packed varints');
      const packed = this.message();
      while (packed.position < packed.end && into.length <= limit) into.push(packed.int64());
    }
    if (into.length > limit) throw new ProtobufError(`more than ${limit} values in a repeated field before byte ${this.position}`);
  }

  /** A repeated float field, packed or not; more than `limit` values are refused. */
  repeatedFloat32(wire: number, into: number[], limit = Infinity): void {
    this.repeatedFixed(wire, into, limit, 4);
  }

  /** A repeated double field, packed or not; more than `limit` values are refused. */
  repeatedFloat64(wire: number, into: number[], limit = Infinity): void {
    this.repeatedFixed(wire, into, limit, 8);
  }

  private repeatedFixed(wire: number, into: number[], limit: number, size: 4 | 8): void {
    const what = size === 4 ? 'floats' : 'doubles';
    if (wire === (size === 4 ? WIRE_FIXED32 : WIRE_FIXED64)) {
      into.push(size === 4 ? this.float32() : this.float64());
    } else {
      this.expectWire(wire, WIRE_LENGTH, `packed ${what}`);
      const [start, end] = this.lengthDelimited();
      if ((end - start) % size !== 0) throw new ProtobufError(`packed ${what} at byte ${start}: ${end - start} bytes is not a multiple of ${size}`);
      if (into.length + (end - start) / size > limit) throw new ProtobufError(`more than ${limit} values in a repeated field at byte ${start}`);
      for (let at = start; at < end; at += size) into.push(size === 4 ? this.view.getFloat32(at, true) : this.view.getFloat64(at, true));
    }
    if (into.length > limit) throw new ProtobufError(`more than ${limit} values in a repeated field before byte ${this.position}`);
  }

  /** Checks a field's wire type against the one its schema gives. */
  expectWire(wire: number, expected: number, what: string): void {
    if (wire !== expected) throw new ProtobufError(`${what} before byte ${this.position}: wire type ${wire}, expected ${expected}`);
  }

  /** Skips a field of a number this reader does not decode. */
  skip(wire: number): void {
    switch (wire) {
      case WIRE_VARINT:
        this.varint();
        return;
      case WIRE_FIXED64:
        this.need(8, 'fixed64');
        this.position += 8;
        return;
      case WIRE_FIXED32:
        this.need(4, 'fixed32');
        this.position += 4;
        return;
      case WIRE_LENGTH:
        this.lengthDelimited();
        return;
      default:
        throw new ProtobufError(`unsupported wire type ${wire} at byte ${this.position}`);
    }
  }

  private lengthDelimited(): [number, number] {
    const at = this.position;
    const length = this.uint();
    if (length > this.end - this.position) {
      throw new ProtobufError(
        `length ${length} at byte ${at} runs past the end of its message (${this.end - this.position} bytes left): the file is truncated or lying`,
      );
    }
    const start = this.position;
    this.position += length;
    return [start, this.position];
  }

  private need(count: number, what: string): void {
    if (this.end - this.position < count) throw new ProtobufError(`truncated ${what} at byte ${this.position}`);
  }
}
