/**
 * What the commands share in reading their arguments: the errors main() prints without a stack
 * trace, lists of positive integers ("1,3,224,224"), and a value from a fixed set.
 */

/** An error for the user, printed as "sepconv: message" with this exit code and no stack trace. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** A wrong command line: printed like a {@link CliError}, followed by the usage. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * "1,3,224,224" (or "1x3x224x224") as numbers: positive integers, as many as one of `counts`
 * says (any number of them when `counts` is not given).
 */
export function parsePositiveIntegers(value: string, what: string, counts?: readonly number[]): number[] {
  const parts = value.split(/[,x]/).map((part) => Number(part.trim()));
  const countOk = counts ? counts.includes(parts.length) : true;
  if (!countOk || !parts.every((p) => Number.isInteger(p) && p >= 1)) {
    const how = counts ? `${counts.join(' or ')} positive integers` : 'positive integers';
    throw new UsageError(`${what} must be ${how} separated by commas, got ${JSON.stringify(value)}`);
  }
  return parts;
}

/** `value` when it is one of `options`, `fallback` when it is not given. */
export function pickOption<T extends string>(value: string | undefined, options: readonly T[], fallback: T, what: string): T {
  if (value === undefined) return fallback;
  if (!options.includes(value as T)) throw new UsageError(`${what} must be one of ${options.join(', ')}, got ${JSON.stringify(value)}`);
  return value as T;
}
