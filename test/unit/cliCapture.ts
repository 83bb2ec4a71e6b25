/** Writers for the CLI's commands that keep what they are given, for tests to read. */
import type { CliOutput } from '../../src/cli/terminal';

export interface CapturedOutput {
  /** The writers to hand a command (or main(): `main(args, io.out, io.err)`). */
  io: CliOutput;
  /** Each text passed to `io.out`, in order. */
  out: string[];
  /** Each text passed to `io.err`, in order. */
  err: string[];
}

export function captureOutput(): CapturedOutput {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (text) => out.push(text), err: (text) => err.push(text) }, out, err };
}
