import { describe, expect, it, vi } from 'vitest';
import { callHandler, RequestClient, type RequestHandlers } from '../../src/shared/requests';

class Cancelled extends Error {}

function client(hooks: { onCancel?(id: number): void; onIdle?(): void } = {}) {
  const sent: number[] = [];
  const requests = new RequestClient({ cancelled: () => new Cancelled('cancelled'), ...hooks });
  const ask = <T>(options = {}) => requests.request<T>((id) => sent.push(id), options);
  return { requests, sent, ask };
}

describe('RequestClient', () => {
  it('gives each request its own id and settles it with the reply for that id', async () => {
    const { requests, sent, ask } = client();
    const first = ask<string>();
    const second = ask<string>();
    expect(sent).toEqual([1, 2]);
    expect(requests.size).toBe(2);
    requests.resolve(2, 'two');
    requests.reject(1, new Error('one failed'));
    await expect(second).resolves.toBe('two');
    await expect(first).rejects.toThrow('one failed');
    expect(requests.size).toBe(0);
  });

  it('routes progress to its request and ignores replies for ids no longer pending', async () => {
    const { requests, ask } = client();
    const onProgress = vi.fn();
    const pending = ask<number>({ onProgress });
    requests.progress(1, 1, 3, 'step 1 of 3');
    requests.progress(7, 1, 3, 'nobody');
    requests.resolve(1, 42);
    requests.resolve(1, 43);
    requests.progress(1, 2, 3, 'late');
    await expect(pending).resolves.toBe(42);
    expect(onProgress.mock.calls).toEqual([[1, 3, 'step 1 of 3']]);
  });

  it('rejects a cancelled request alone, then tells the hook; a later reply is ignored', async () => {
    const onCancel = vi.fn();
    const { requests, ask } = client({ onCancel });
    const controller = new AbortController();
    const cancelled = ask({ signal: controller.signal });
    const other = ask<string>();
    controller.abort();
    await expect(cancelled).rejects.toBeInstanceOf(Cancelled);
    expect(onCancel).toHaveBeenCalledWith(1);
    requests.resolve(1, 'too late');
    requests.resolve(2, 'fine');
    await expect(other).resolves.toBe('fine');
  });

  it('does not send a request whose signal has already fired', async () => {
    const { sent, ask } = client();
    await expect(ask({ signal: AbortSignal.abort() })).rejects.toBeInstanceOf(Cancelled);
    expect(sent).toEqual([]);
  });

  it('rejects a request that could not be sent, and all of them when the channel breaks', async () => {
    const onIdle = vi.fn();
    const { requests, ask } = client({ onIdle });
    await expect(requests.request(() => { throw new Error('closed port'); })).rejects.toThrow('closed port');
    const a = ask();
    const b = ask();
    requests.rejectAll(new Error('worker died'));
    await expect(a).rejects.toThrow('worker died');
    await expect(b).rejects.toThrow('worker died');
    expect(requests.size).toBe(0);
    expect(onIdle).toHaveBeenCalledTimes(2);
  });
});

describe('callHandler', () => {
  interface Map {
    double: { body: { n: number }; result: number };
    greet: { body: { name: string }; result: string };
  }
  const handlers: RequestHandlers<Map, string> = {
    double: ({ n }) => n * 2,
    greet: async ({ name }, suffix) => `hello ${name}${suffix}`,
  };

  it('answers each method with its own handler and context', async () => {
    await expect(callHandler(handlers, 'double', { n: 21 }, '')).resolves.toBe(42);
    await expect(callHandler(handlers, 'greet', { name: 'page' }, '!')).resolves.toBe('hello page!');
  });
});
