/**
 * The page's side of the protocol: requests with ids and promises (the hexeditor MessageHandler
 * idiom), and the two places the page can live: a VS Code webview (requests go to the extension
 * host) or the standalone page of `npm run web` (no host: files come from the browser, saves are
 * downloads, the engine runs only in the page).
 */
import type { RequestMap, RequestType, ToWebviewMessage } from '../src/shared/protocol';

interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}

declare function acquireVsCodeApi(): VsCodeApi;

export interface Host {
  readonly standalone: boolean;
  request<K extends RequestType>(method: K, body: RequestMap[K]['body'], options?: { signal?: AbortSignal; onProgress?(done: number, total: number, label: string): void }): Promise<RequestMap[K]['result']>;
  /** Host -> page messages other than responses and progress. */
  onMessage(listener: (message: ToWebviewMessage) => void): void;
  getState(): unknown;
  setState(state: unknown): void;
  ready(): void;
}

export class RequestCancelled extends Error {
  constructor() {
    super('cancelled');
    this.name = 'RequestCancelled';
  }
}

class VsCodeHost implements Host {
  readonly standalone = false;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void; onProgress?(done: number, total: number, label: string): void }>();
  private readonly listeners: ((message: ToWebviewMessage) => void)[] = [];

  constructor(private readonly api: VsCodeApi) {
    window.addEventListener('message', (event: MessageEvent<ToWebviewMessage>) => {
      const message = event.data;
      if (!message || typeof message !== 'object') return;
      if (message.type === 'response') {
        const entry = this.pending.get(message.requestId);
        if (!entry) return;
        this.pending.delete(message.requestId);
        if (message.ok) entry.resolve(message.result);
        else entry.reject(new Error(message.error));
      } else if (message.type === 'progress') {
        this.pending.get(message.requestId)?.onProgress?.(message.done, message.total, message.label);
      } else {
        for (const listener of this.listeners) listener(message);
      }
    });
  }

  request<K extends RequestType>(method: K, body: RequestMap[K]['body'], options: { signal?: AbortSignal; onProgress?: (done: number, total: number, label: string) => void } = {}): Promise<RequestMap[K]['result']> {
    const requestId = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(requestId, { resolve: resolve, reject, onProgress: options.onProgress });
      options.signal?.addEventListener('abort', () => {
        if (!this.pending.delete(requestId)) return;
        this.api.postMessage({ type: 'cancel', requestId });
        reject(new RequestCancelled());
      });
      this.api.postMessage({ type: 'request', requestId, method, body });
    });
  }

  onMessage(listener: (message: ToWebviewMessage) => void): void {
    this.listeners.push(listener);
  }

  getState(): unknown {
    return this.api.getState();
  }

  setState(state: unknown): void {
    this.api.setState(state);
  }

  ready(): void {
    this.api.postMessage({ type: 'ready' });
  }
}

const STORAGE_KEY = 'sepconv.playground.state';

class StandaloneHost implements Host {
  readonly standalone = true;

  async request<K extends RequestType>(method: K, body: RequestMap[K]['body']): Promise<RequestMap[K]['result']> {
    switch (method) {
      case 'copyText':
        await navigator.clipboard.writeText((body as RequestMap['copyText']['body']).text);
        return {};
      case 'saveFile': {
        const { suggestedName, content } = body as RequestMap['saveFile']['body'];
        const blob = new Blob([content], { type: typeof content === 'string' ? 'text/plain' : 'application/octet-stream' });
        const url = URL.createObjectURL(blob);
        const link = document.createElement('a');
        link.href = url;
        link.download = suggestedName;
        link.click();
        setTimeout(() => URL.revokeObjectURL(url), 10_000);
        return { path: suggestedName } as RequestMap[K]['result'];
      }
      case 'listWorkspaceFiles':
        return [] as RequestMap[K]['result'];
      case 'probeHostGpu':
        return { available: false, description: 'no extension host in the standalone page' } as RequestMap[K]['result'];
      default:
        throw new Error(`"${method}" needs the VS Code extension host; the standalone page runs everything in the browser`);
    }
  }

  onMessage(): void {
    // No host: nothing arrives.
  }

  getState(): unknown {
    try {
      const text = localStorage.getItem(STORAGE_KEY);
      return text ? JSON.parse(text) : undefined;
    } catch {
      return undefined;
    }
  }

  setState(state: unknown): void {
    try {
      localStorage.setItem(STORAGE_KEY, JSON.stringify(state));
    } catch {
      // Private mode or a full quota: the state is simply not kept.
    }
  }

  ready(): void {
    // Nothing to tell.
  }
}

export function connectHost(): Host {
  return typeof acquireVsCodeApi === 'function' ? new VsCodeHost(acquireVsCodeApi()) : new StandaloneHost();
}
