/**
 * The page's side of the protocol: requests with ids and promises (the hexeditor MessageHandler
 * idiom), and the two places the page can live: a VS Code webview (requests go to the extension
 * host) or the standalone page of `npm run web` (no host: files come from the browser, saves are
 * downloads, the engine runs only in the page).
 */
import type { FromWebviewMessage, RequestMap, RequestType, ToWebviewMessage } from '../src/shared/protocol';
import { RequestClient, type RequestHandlers, type RequestOptions } from '../src/shared/requests';

interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}

declare function acquireVsCodeApi(): VsCodeApi;

export interface Host {
  readonly standalone: boolean;
  request<K extends RequestType>(method: K, body: RequestMap[K]['body'], options?: RequestOptions): Promise<RequestMap[K]['result']>;
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
  private readonly requests: RequestClient;
  private readonly listeners: ((message: ToWebviewMessage) => void)[] = [];

  constructor(private readonly api: VsCodeApi) {
    this.requests = new RequestClient({
      cancelled: () => new RequestCancelled(),
      onCancel: (requestId) => this.api.postMessage({ type: 'cancel', requestId } satisfies FromWebviewMessage),
    });
    window.addEventListener('message', (event: MessageEvent<ToWebviewMessage>) => {
      const message = event.data;
      if (!message || typeof message !== 'object') return;
      if (message.type === 'response') {
        if (message.ok) this.requests.resolve(message.requestId, message.result);
        else this.requests.reject(message.requestId, new Error(message.error));
      } else if (message.type === 'progress') {
        this.requests.progress(message.requestId, message.done, message.total, message.label);
      } else {
        for (const listener of this.listeners) listener(message);
      }
    });
  }

  request<K extends RequestType>(method: K, body: RequestMap[K]['body'], options: RequestOptions = {}): Promise<RequestMap[K]['result']> {
    return this.requests.request((requestId) => this.api.postMessage({ type: 'request', requestId, method, body }), options);
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

/** What the standalone page can do itself; the other methods need the extension host. */
const STANDALONE_HANDLERS: Partial<RequestHandlers<RequestMap>> = {
  copyText: async ({ text }) => {
    await navigator.clipboard.writeText(text);
    return {};
  },
  saveFile: ({ suggestedName, content }) => {
    const blob = new Blob([content], { type: typeof content === 'string' ? 'text/plain' : 'application/octet-stream' });
    const url = URL.createObjectURL(blob);
    const link = document.createElement('a');
    link.href = url;
    link.download = suggestedName;
    link.click();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
    return { path: suggestedName };
  },
  listWorkspaceFiles: () => [],
  probeHostGpu: () => ({ available: false, description: 'no extension host in the standalone page', software: false }),
};

class StandaloneHost implements Host {
  readonly standalone = true;

  async request<K extends RequestType>(method: K, body: RequestMap[K]['body']): Promise<RequestMap[K]['result']> {
    const handler = STANDALONE_HANDLERS[method];
    if (!handler) throw new Error(`"${method}" needs the VS Code extension host; the standalone page runs everything in the browser`);
    return handler(body);
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
