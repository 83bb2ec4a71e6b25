// Types of installCodeServer.mjs, for the tests that import it.
import type { ChildProcess } from 'node:child_process';

export const CODE_SERVER_VERSION: string;
export function codeServerDir(): string;
export function codeServerEntry(dir?: string): string;
export function ensureCodeServer(options?: { quiet?: boolean }): string;
export function installExtension(vsix: string, options: { extensionsDir: string; userDataDir: string; extensionId: string }): string;
export function freePort(): Promise<number>;
export interface CodeServer {
  port: number;
  url: string;
  process: ChildProcess;
  stop(): Promise<void>;
}
export function startCodeServer(options: {
  port?: number;
  userDataDir: string;
  extensionsDir: string;
  configFile?: string;
  env?: NodeJS.ProcessEnv;
  extraArgs?: string[];
  onOutput?: (text: string) => void;
  startTimeoutMs?: number;
}): Promise<CodeServer>;
