/**
 * The hover's command links carry an id, never arguments: the arguments stay in this table, on the
 * extension's side, and the command looks its id up when it runs. A link written into a document
 * (should one ever render) can then name only a command, never a file or a model of its choosing.
 * Imports no `vscode`, so that it can be tested alone.
 */
import { randomBytes } from 'node:crypto';

/** `command:id?[args]`, the form VS Code runs from a trusted Markdown link (every character that could end a link target encoded). */
export function commandUri(command: string, args: unknown[]): string {
  return `command:${command}?${encodeURIComponent(JSON.stringify(args)).replace(/[!'()*~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)}`;
}

export const CONVERT_COMMAND = 'sepconv.convertToSeparable';
export const OPEN_PLAYGROUND_COMMAND = 'sepconv.openPlayground';

/** What a command says when its id is not in the table. */
export const UNKNOWN_LINK_MESSAGE = 'SepConv: this link is out of date or was not made by SepConv; hover the code again and use the new link.';

/** Links of about the last hundred hovers and CodeLens refreshes: older ones have long disappeared. */
const DEFAULT_CAPACITY = 300;

export class CommandLinkTable {
  private readonly entries = new Map<string, { command: string; args: unknown[] }>();

  constructor(private readonly capacity = DEFAULT_CAPACITY) {}

  /** Registers `args` for `command` and returns the `command:` URI of a link that names them by id. */
  target(command: string, args: unknown[]): string {
    return commandUri(command, [this.id(command, args)]);
  }

  /** Registers `args` for `command` and returns their id: the one argument of a CodeLens's command. */
  id(command: string, args: unknown[]): string {
    const id = randomBytes(16).toString('hex');
    this.entries.set(id, { command, args });
    // A Map iterates in insertion order: the first key is the oldest.
    while (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!);
    return id;
  }

  /** The arguments registered under `id` for `command`, or undefined for any id this table did not issue for it. */
  resolve(command: string, id: unknown): unknown[] | undefined {
    if (typeof id !== 'string' || !/^[0-9a-f]{32}$/.test(id)) return undefined;
    const entry = this.entries.get(id);
    return entry && entry.command === command ? entry.args : undefined;
  }

  get size(): number {
    return this.entries.size;
  }
}
