/**
 * NumPy `.npy` files: float32 and float16, little-endian, C order, format versions 1.0, 2.0
 * and 3.0. Everything else (Fortran order, other dtypes, structured or object arrays,
 * big-endian data) is refused with an {@link NpyError}, as is any file whose header does not
 * parse or whose data does not have exactly the size the header promises.
 *
 * Works on bytes only (no file system), so the extension host and the webview share it.
 * This module imports neither `vscode` nor the DOM.
 */
import { elementCount, type Tensor } from '../shared/tensor';
import { decodeFloat16, decodeFloat32, encodeFloat16, encodeFloat32 } from './float16';

export type NpyDtype = 'float32' | 'float16';

/** A file that is not a .npy this reader accepts; the message says why. */
export class NpyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NpyError';
  }
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"
/** Far above any real header (numpy itself refuses more than 10,000 bytes by default). */
const MAX_HEADER_BYTES = 1 << 20;
/** numpy pads the header so the data starts on a 64-byte boundary. */
const HEADER_ALIGNMENT = 64;

const DTYPES: Record<string, { dtype: NpyDtype; itemBytes: number }> = {
  '<f4': { dtype: 'float32', itemBytes: 4 },
  '<f2': { dtype: 'float16', itemBytes: 2 },
};

export interface NpyArray extends Tensor {
  /** The dtype stored in the file; the data is float32 either way. */
  dtype: NpyDtype;
}

/** Reads a .npy file. float16 data is widened to float32 exactly. */
export function readNpy(input: Uint8Array | ArrayBuffer): NpyArray {
  const bytes = input instanceof Uint8Array ? input : new Uint8Array(input);
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new NpyError('not a .npy file: it does not start with the magic bytes "\\x93NUMPY"');
  }
  const major = bytes[6]!;
  const minor = bytes[7]!;
  if (![1, 2, 3].includes(major) || minor !== 0) throw new NpyError(`unsupported .npy format version ${major}.${minor} (supported: 1.0, 2.0, 3.0)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lengthBytes = major === 1 ? 2 : 4;
  if (bytes.length < 8 + lengthBytes) throw new NpyError('truncated .npy file: the header length is cut off');
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const headerStart = 8 + lengthBytes;
  if (headerLength > MAX_HEADER_BYTES)
    throw new NpyError(`the .npy header claims ${headerLength} bytes, more than the ${MAX_HEADER_BYTES} this reader accepts`);
  if (headerStart + headerLength > bytes.length) {
    throw new NpyError(`truncated .npy file: the header needs ${headerLength} bytes but only ${bytes.length - headerStart} follow`);
  }
  let headerText: string;
  try {
    headerText = new TextDecoder(major === 3 ? 'utf-8' : 'latin1', { fatal: true }).decode(bytes.subarray(headerStart, headerStart + headerLength));
  } catch {
    throw new NpyError('the .npy header is not valid text');
  }
  const header = parseHeader(headerText);

  const { dtype, itemBytes } = DTYPES[header.descr] ?? unsupportedDescr(header.descr);
  if (header.fortranOrder) throw new NpyError('Fortran-order (column-major) .npy arrays are not supported; save a C-order array (numpy.ascontiguousarray)');

  const dataStart = headerStart + headerLength;
  const available = bytes.length - dataStart;
  const count = elementCount(header.shape);
  const needed = count * itemBytes;
  if (needed > available)
    throw new NpyError(
      `truncated .npy file: shape [${header.shape.join(', ')}] needs ${needed} bytes of ${dtype} data but only ${available} follow the header`,
    );
  if (needed < available)
    throw new NpyError(`malformed .npy file: shape [${header.shape.join(', ')}] needs ${needed} bytes of ${dtype} data but ${available} follow the header`);
  const data = dtype === 'float32' ? decodeFloat32(bytes, dataStart, count) : decodeFloat16(bytes, dataStart, count);
  return { shape: header.shape, data, dtype };
}

function unsupportedDescr(descr: string): never {
  if (descr.startsWith('>')) {
    throw new NpyError(`big-endian .npy data (dtype '${descr}') is not supported; save it little-endian (array.astype('<f4'))`);
  }
  if (descr === '|O' || descr === 'O') throw new NpyError('object .npy arrays (Python objects, pickled) are not supported: only float32 and float16');
  throw new NpyError(`unsupported .npy dtype '${descr}': only float32 ('<f4') and float16 ('<f2') are supported`);
}

interface NpyHeader {
  descr: string;
  fortranOrder: boolean;
  shape: number[];
}

function parseHeader(text: string): NpyHeader {
  const value = new PythonLiteralParser(text).parseHeader();
  if (!(value instanceof Map)) throw new NpyError('malformed .npy header: it must be a Python dict');
  const dict = value;
  for (const key of dict.keys()) {
    if (!['descr', 'fortran_order', 'shape'].includes(key)) throw new NpyError(`malformed .npy header: unexpected key '${key}'`);
  }
  const descr = dict.get('descr');
  const fortranOrder = dict.get('fortran_order');
  const shape = dict.get('shape');
  if (Array.isArray(descr)) throw new NpyError('structured .npy arrays (a dtype with fields) are not supported: only float32 and float16');
  if (typeof descr !== 'string') throw new NpyError("malformed .npy header: 'descr' must be a dtype string");
  if (typeof fortranOrder !== 'boolean') throw new NpyError("malformed .npy header: 'fortran_order' must be True or False");
  if (!Array.isArray(shape)) throw new NpyError("malformed .npy header: 'shape' must be a tuple of integers");
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0)
      throw new NpyError(`malformed .npy header: shape entries must be non-negative integers, got ${JSON.stringify(shape)}`);
  }
  return { descr, fortranOrder, shape: shape as number[] };
}

type PyValue = string | number | boolean | null | PyValue[] | Map<string, PyValue>;

/** Parses the small subset of Python literals that .npy headers use: dicts, strings, ints, tuples, True/False/None. */
class PythonLiteralParser {
  private pos = 0;
  private depth = 0;
  constructor(private readonly text: string) {}

  parseHeader(): PyValue {
    const value = this.value();
    this.skipSpace();
    if (this.pos !== this.text.length) this.fail('unexpected text after the header dict');
    return value;
  }

  private fail(reason: string): never {
    throw new NpyError(`malformed .npy header at character ${this.pos}: ${reason}`);
  }

  private skipSpace(): void {
    while (this.pos < this.text.length && ' \t\r\n\0'.includes(this.text[this.pos]!)) this.pos++;
  }

  private value(): PyValue {
    this.skipSpace();
    const c = this.text[this.pos];
    if (c === undefined) this.fail('the header ends too early');
    if (c === '{') return this.nested(() => this.dict());
    if (c === '(' || c === '[') return this.nested(() => this.sequence(c === '(' ? ')' : ']'));
    if (c === "'" || c === '"') return this.string();
    if (/[-+0-9]/.test(c)) return this.integer();
    for (const [word, result] of [
      ['True', true],
      ['False', false],
      ['None', null],
    ] as const) {
      if (this.text.startsWith(word, this.pos)) {
        this.pos += word.length;
        return result;
      }
    }
    return this.fail(`unexpected ${JSON.stringify(c)}`);
  }

  private nested<T>(parse: () => T): T {
    if (++this.depth > 16) this.fail('nested too deeply');
    const result = parse();
    this.depth--;
    return result;
  }

  private dict(): Map<string, PyValue> {
    this.pos++; // {
    const result = new Map<string, PyValue>();
    for (;;) {
      this.skipSpace();
      if (this.text[this.pos] === '}') {
        this.pos++;
        return result;
      }
      const key = this.value();
      if (typeof key !== 'string') this.fail('dict keys must be strings');
      if (result.has(key)) this.fail(`the key '${key}' appears twice`);
      this.skipSpace();
      if (this.text[this.pos] !== ':') this.fail("expected ':'");
      this.pos++;
      result.set(key, this.value());
      this.skipSpace();
      const next = this.text[this.pos];
      if (next === ',') this.pos++;
      else if (next !== '}') this.fail("expected ',' or '}'");
    }
  }

  private sequence(close: string): PyValue[] {
    this.pos++; // ( or [
    const result: PyValue[] = [];
    for (;;) {
      this.skipSpace();
      if (this.text[this.pos] === close) {
        this.pos++;
        return result;
      }
      result.push(this.value());
      this.skipSpace();
      const next = this.text[this.pos];
      if (next === ',') this.pos++;
      else if (next !== close) this.fail(`expected ',' or '${close}'`);
    }
  }

  private string(): string {
    const quote = this.text[this.pos]!;
    const end = this.text.indexOf(quote, this.pos + 1);
    if (end < 0) this.fail('unterminated string');
    const body = this.text.slice(this.pos + 1, end);
    if (body.includes('\\') || body.includes('\n')) this.fail('escapes in strings are not supported');
    this.pos = end + 1;
    return body;
  }

  private integer(): number {
    const match = /^[-+]?[0-9]+L?/.exec(this.text.slice(this.pos, this.pos + 32));
    if (!match) this.fail('expected an integer');
    this.pos += match[0].length;
    const value = Number(match[0].replace(/L$/, ''));
    if (!Number.isSafeInteger(value)) this.fail(`the integer ${match[0]} is too large`);
    return value;
  }
}

export interface WriteNpyOptions {
  /** The dtype stored in the file; float16 rounds to nearest, ties to even. Default float32. */
  dtype?: NpyDtype;
}

/** Writes a tensor as a version 1.0 .npy file (2.0 when the header does not fit in 64 KiB). */
export function writeNpy(tensor: Tensor, options: WriteNpyOptions = {}): Uint8Array {
  const dtype = options.dtype ?? 'float32';
  const descr = dtype === 'float32' ? '<f4' : dtype === 'float16' ? '<f2' : undefined;
  if (!descr) throw new NpyError(`cannot write dtype ${JSON.stringify(dtype)}: only float32 and float16`);
  checkTensor(tensor);
  const itemBytes = DTYPES[descr]!.itemBytes;
  const shapeText = tensor.shape.length === 1 ? `(${tensor.shape[0]},)` : `(${tensor.shape.join(', ')})`;
  const dictText = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  let major = 1;
  let prefixBytes = 10;
  let padded = padHeader(dictText, prefixBytes);
  if (padded.length > 0xffff) {
    major = 2;
    prefixBytes = 12;
    padded = padHeader(dictText, prefixBytes);
  }
  const dataStart = prefixBytes + padded.length;
  const out = new Uint8Array(dataStart + tensor.data.length * itemBytes);
  out.set(MAGIC, 0);
  out[6] = major;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, padded.length, true);
  else view.setUint32(8, padded.length, true);
  for (let i = 0; i < padded.length; i++) out[prefixBytes + i] = padded.charCodeAt(i);
  if (dtype === 'float32') encodeFloat32(tensor.data, out, dataStart);
  else encodeFloat16(tensor.data, out, dataStart);
  return out;
}

function padHeader(dictText: string, prefixBytes: number): string {
  const unpadded = prefixBytes + dictText.length + 1; // + '\n'
  const padding = (HEADER_ALIGNMENT - (unpadded % HEADER_ALIGNMENT)) % HEADER_ALIGNMENT;
  return dictText + ' '.repeat(padding) + '\n';
}

function checkTensor(tensor: Tensor): void {
  if (!Array.isArray(tensor.shape) || tensor.shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    throw new NpyError(`cannot write a tensor whose shape is not a list of non-negative integers: ${JSON.stringify(tensor.shape)}`);
  }
  if (!(tensor.data instanceof Float32Array)) throw new NpyError('cannot write a tensor whose data is not a Float32Array');
  const count = elementCount(tensor.shape);
  if (count !== tensor.data.length)
    throw new NpyError(`cannot write a tensor of shape [${tensor.shape.join(', ')}] (${count} elements) with ${tensor.data.length} values`);
}
