/**
 * numpy's 1-D arrays of known numbers, as model code computes layer widths and stage depths with
 * them (RegNet's generator: arange, log, power, round, unique with counts, astype(int), tolist()).
 * An array is a tensor value whose TensorInfo has `numpy` set and its values in `items`, float64
 * as numpy computes them (a torch tensor of known values rounds to float32). Anything else (more
 * dimensions, values not known, functions not listed) is not followed, as before.
 */
import { int, isUnknown, num, RaiseError, unknown, type TensorInfo, type Value } from './evalValues';

/** Values an array of known numbers keeps at most. */
export const NUMPY_ITEMS = 4096;

type Array1D = TensorInfo & { items: Value[]; numpy: true };

export function isNumpyArray(v: Value): v is { k: 'tensor'; t: Array1D } {
  return v.k === 'tensor' && v.t.numpy === true && v.t.items !== undefined && v.t.shape?.length === 1;
}

/** An array of these numbers (ints stay ints, as an int64 array's values). */
export function numpyArray(items: Value[]): Value {
  return { k: 'tensor', t: { framework: 'torch', shape: [items.length], items, numpy: true } };
}

const float = (v: number): Value => ({ k: 'float', v });
const isNumber = (v: Value): v is { k: 'int' | 'float'; v: number } => v.k === 'int' || v.k === 'float';

/** The numbers of an array, a list or tuple of numbers, or one number; undefined otherwise. */
function numbersOf(v: Value): Value[] | undefined {
  if (isNumpyArray(v)) return v.t.items;
  if ((v.k === 'list' || v.k === 'tuple') && v.items.every(isNumber)) return v.items;
  return undefined;
}

/** a op b for two numbers, as numpy's float64 and int64 arithmetic gives it; undefined where not known here. */
export function numpyBinary(op: string, a: Value, b: Value): Value | undefined {
  if (a.k === 'bool') a = int(a.v ? 1 : 0);
  if (b.k === 'bool') b = int(b.v ? 1 : 0);
  if (!isNumber(a) || !isNumber(b)) return undefined;
  const integer = a.k === 'int' && b.k === 'int';
  switch (op) {
    case '+':
      return integer ? int(a.v + b.v) : float(a.v + b.v);
    case '-':
      return integer ? int(a.v - b.v) : float(a.v - b.v);
    case '*':
      return integer ? int(a.v * b.v) : float(a.v * b.v);
    case '/':
      return b.v === 0 ? undefined : float(a.v / b.v);
    case '//':
      return b.v === 0 ? undefined : integer ? int(Math.floor(a.v / b.v)) : float(Math.floor(a.v / b.v));
    case '**':
      return integer && b.v >= 0 ? int(a.v ** b.v) : float(a.v ** b.v);
    default:
      return undefined;
  }
}

/** An elementwise op on arrays and numbers (one of them an array), broadcast as numpy does for 1-D; undefined when not known here. */
export function numpyElementwise(op: string, a: Value, b: Value): Value | undefined {
  const xs = isNumpyArray(a) ? a.t.items : isNumber(a) ? undefined : numbersOf(a);
  const ys = isNumpyArray(b) ? b.t.items : isNumber(b) ? undefined : numbersOf(b);
  if (!isNumpyArray(a) && !isNumpyArray(b)) return undefined;
  const n = Math.max(xs?.length ?? 1, ys?.length ?? 1);
  if ((xs && xs.length !== n && xs.length !== 1) || (ys && ys.length !== n && ys.length !== 1))
    throw new RaiseError(`ValueError: operands could not be broadcast together with shapes (${xs?.length ?? ''},) (${ys?.length ?? ''},)`);
  const out: Value[] = [];
  for (let i = 0; i < n; i++) {
    const x = xs ? xs[xs.length === 1 ? 0 : i]! : a;
    const y = ys ? ys[ys.length === 1 ? 0 : i]! : b;
    const r = numpyBinary(op, x, y);
    if (!r) return undefined;
    out.push(r);
  }
  return numpyArray(out);
}

/** Functions of one number applied to each value (numpy's rounding gives floats). */
const UNARY = new Map<string, (x: number) => number>([
  ['round', pyRound],
  ['around', pyRound],
  ['rint', pyRound],
  ['ceil', Math.ceil],
  ['floor', Math.floor],
  ['sqrt', Math.sqrt],
  ['abs', Math.abs],
  ['log', Math.log],
  ['log2', Math.log2],
  ['log10', Math.log10],
  ['exp', Math.exp],
]);

/** Python's and numpy's round(): halves to even. */
export function pyRound(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * numpy.<name>(...) where an argument is an array or the call makes one; undefined to leave the
 * call to the scalar functions (numpy.ceil(2.5)) or to "not followed".
 */
export function numpyCall(name: string, given: Value[], kwargs: Map<string, Value>): Value | undefined {
  // Lists and tuples of numbers are arrays to numpy's functions.
  const args = name === 'arange' || name === 'linspace' ? given : given.map((v) => (!isNumpyArray(v) && numbersOf(v) ? numpyArray([...numbersOf(v)!]) : v));
  const a = args[0] ?? kwargs.get('a') ?? kwargs.get('x');
  switch (name) {
    case 'arange': {
      const given = args.slice(0, 3);
      if (given.length === 0 || !given.every(isNumber)) return given.some(isUnknown) ? unknown('numpy.arange() of numbers not known') : undefined;
      const numbers = given as { k: 'int' | 'float'; v: number }[];
      const one = { k: 'int' as const, v: 1 };
      const [start, stop, step] = numbers.length === 1 ? [{ k: 'int' as const, v: 0 }, numbers[0]!, one] : [numbers[0]!, numbers[1]!, numbers[2] ?? one];
      if (step.v === 0) throw new RaiseError('ZeroDivisionError: numpy.arange() step 0');
      const n = Math.max(0, Math.ceil((stop.v - start.v) / step.v));
      if (n > NUMPY_ITEMS) return unknown(`numpy.arange() of ${n} values`);
      const integer = start.k === 'int' && stop.k === 'int' && step.k === 'int';
      return numpyArray(Array.from({ length: n }, (_, i) => (integer ? int(start.v + i * step.v) : float(start.v + i * step.v))));
    }
    case 'linspace': {
      const [start, stop, count] = [a, args[1] ?? kwargs.get('stop'), args[2] ?? kwargs.get('num') ?? int(50)];
      if (!start || !stop || !isNumber(start) || !isNumber(stop) || count.k !== 'int' || count.v < 0 || count.v > NUMPY_ITEMS) return undefined;
      const n = count.v;
      const step = n > 1 ? (stop.v - start.v) / (n - 1) : 0;
      return numpyArray(Array.from({ length: n }, (_, i) => float(i === n - 1 && n > 1 ? stop.v : start.v + i * step)));
    }
    case 'array':
    case 'asarray': {
      const items = a && numbersOf(a);
      return items ? numpyArray([...items]) : undefined;
    }
    case 'add':
    case 'subtract':
    case 'multiply':
    case 'divide':
    case 'true_divide':
    case 'floor_divide':
    case 'power': {
      const op = { add: '+', subtract: '-', multiply: '*', divide: '/', true_divide: '/', floor_divide: '//', power: '**' }[name];
      const b = args[1];
      if (!a || !b) return undefined;
      if (isNumpyArray(a) || isNumpyArray(b)) return numpyElementwise(op, a, b);
      return isNumber(a) && isNumber(b) ? numpyBinary(op, a, b) : undefined;
    }
    case 'unique': {
      if (!a || !isNumpyArray(a)) return undefined;
      const values = a.t.items.map((v) => num(v)!);
      const sorted = [...new Set(values)].sort((x, y) => x - y);
      const integer = a.t.items.every((v) => v.k === 'int');
      const uniques = numpyArray(sorted.map((v) => (integer ? int(v) : float(v))));
      const counts = kwargs.get('return_counts');
      if (counts?.k === 'bool' && counts.v) return { k: 'tuple', items: [uniques, numpyArray(sorted.map((v) => int(values.filter((x) => x === v).length)))] };
      if (counts && counts.k !== 'bool') return unknown('numpy.unique(return_counts=...) not known');
      for (const other of ['return_index', 'return_inverse']) if (kwargs.has(other)) return unknown(`numpy.unique(${other}=...) is not followed`);
      return uniques;
    }
    case 'sum':
    case 'max':
    case 'min':
    case 'amax':
    case 'amin':
    case 'mean':
      return a && isNumpyArray(a) && args.length === 1 && kwargs.size === 0 ? reduce(name, a.t.items) : undefined;
    default: {
      const f = UNARY.get(name);
      if (!f || !a) return undefined;
      if (isNumber(a)) {
        // A number: numpy's float64 (rounding an int gives the int back).
        if (a.k === 'int' && ['round', 'around', 'rint'].includes(name)) return a;
        const r = f(a.v);
        return Number.isFinite(r) ? float(r) : unknown(`numpy.${name}() outside its domain`);
      }
      if (!isNumpyArray(a)) return undefined;
      const out = a.t.items.map((v) => float(f(num(v)!)));
      return out.every((v) => Number.isFinite((v as { v: number }).v)) ? numpyArray(out) : unknown(`numpy.${name}() outside its domain`);
    }
  }
}

function reduce(name: string, items: Value[]): Value {
  if (items.length === 0) return name === 'sum' ? int(0) : unknown(`numpy.${name}() of an empty array`);
  const values = items.map((v) => num(v)!);
  const integer = items.every((v) => v.k === 'int');
  const r =
    name === 'sum'
      ? values.reduce((x, y) => x + y, 0)
      : name === 'mean'
        ? values.reduce((x, y) => x + y, 0) / values.length
        : name === 'max' || name === 'amax'
          ? Math.max(...values)
          : Math.min(...values);
  return integer && name !== 'mean' ? int(r) : float(r);
}

/** array.<name>: the methods model code uses on such arrays; undefined for the others. */
export function numpyMethod(t: Array1D, name: string, args: Value[]): Value | undefined {
  switch (name) {
    case 'tolist':
      return { k: 'list', items: [...t.items] };
    case 'astype': {
      const type = args[0];
      const target = type?.k === 'str' ? type.v : type?.k === 'native' || type?.k === 'lib' ? (type.k === 'native' ? type.name : type.path) : undefined;
      if (target === undefined) return unknown('astype() to a type not known');
      if (/(^|\.)(int|int8|int16|int32|int64|uint8|intp)$/.test(target)) return numpyArray(t.items.map((v) => int(Math.trunc(num(v)!))));
      if (/(^|\.)(float|float32|float64|double)$/.test(target)) return numpyArray(t.items.map((v) => float(num(v)!)));
      return unknown(`astype(${target}) is not followed`);
    }
    case 'sum':
    case 'max':
    case 'min':
    case 'mean':
      return args.length === 0 ? reduce(name, t.items) : undefined;
    case 'item':
      return t.items.length === 1 ? t.items[0] : unknown('item() of an array of more than one value');
    default:
      return undefined;
  }
}
