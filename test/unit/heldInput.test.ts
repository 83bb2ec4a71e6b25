/** Inputs named instead of sent: the page's list and the host's store agree, and a miss costs one resend, never a wrong input. */
import { describe, expect, it } from 'vitest';
import { HeldInputs, inputDigest } from '../../src/playground/heldInputs';
import { INPUT_NOT_HELD, parseFromWebview, type HeldInput, type WireTensor } from '../../src/shared/protocol';
import { HostInputs } from '../../webview/heldInput';

const shape = [1, 3, 8, 8];
const image = (seed: number): WireTensor => ({ shape, data: Float32Array.from({ length: 192 }, (_, i) => Math.sin(i * seed)).buffer });

/** The host's side of a run request: the message checked as the panel checks it, the input taken from the store. */
function hostSide(store: HeldInputs, sent: Array<'data' | 'held'>) {
  return async (input: WireTensor | HeldInput) => {
    sent.push('held' in input ? 'held' : 'data');
    const message = {
      type: 'request',
      requestId: 1,
      method: 'run',
      body: { backend: 'cpu', model: { layers: [{ type: 'ReLU' }] }, input, weights: { kind: 'seed', seed: 0 }, intermediates: false },
    };
    const parsed = parseFromWebview(message);
    if (!parsed.ok) throw new Error(parsed.error);
    if (parsed.value.type !== 'request' || parsed.value.method !== 'run') throw new Error('not a run');
    return store.take((parsed.value.body as { input: WireTensor | HeldInput }).input);
  };
}

describe('held inputs', () => {
  it('sends an image once, names it after; the host gives each run a copy of its own', async () => {
    const store = new HeldInputs();
    const page = new HostInputs();
    const sent: Array<'data' | 'held'> = [];
    const a = image(1);
    const first = await page.send(a, hostSide(store, sent));
    const second = await page.send(image(1), hostSide(store, sent));
    expect(sent).toEqual(['data', 'held']);
    expect(second.data).toEqual(new Float32Array(a.data));
    expect(second.data.buffer).not.toBe(first.data.buffer);
    second.data[0] = 99; // a run that writes its input (or transfers it) leaves the held one alone
    expect((await page.send(image(1), hostSide(store, sent))).data[0]).toBe(new Float32Array(a.data)[0]);
  });

  it('keeps the two latest images; a third drops the oldest on both sides', async () => {
    const store = new HeldInputs();
    const page = new HostInputs();
    const sent: Array<'data' | 'held'> = [];
    for (const seed of [1, 2, 1, 2, 3, 2, 1]) await page.send(image(seed), hostSide(store, sent));
    expect(sent).toEqual(['data', 'data', 'held', 'held', 'data', 'held', 'data']);
  });

  it('resends when the host no longer holds the image (a new panel, a restarted host)', async () => {
    const page = new HostInputs();
    const sent: Array<'data' | 'held'> = [];
    await page.send(image(4), hostSide(new HeldInputs(), sent));
    const fresh = new HeldInputs();
    const result = await page.send(image(4), hostSide(fresh, sent));
    expect(sent).toEqual(['data', 'held', 'data']);
    expect(result.data).toEqual(new Float32Array(image(4).data));
  });

  it('other errors of a named run are not retried', async () => {
    const page = new HostInputs();
    await page.send(image(5), async () => 0);
    let calls = 0;
    await expect(
      page.send(image(5), async () => {
        calls++;
        throw new Error('out of memory');
      }),
    ).rejects.toThrow('out of memory');
    expect(calls).toBe(1);
  });

  it('a name finds only the bytes it was made from, with the shape they fit', () => {
    const store = new HeldInputs();
    const a = image(6);
    store.take(a);
    const digest = inputDigest(new Float32Array(a.data));
    expect(digest).toMatch(/^[0-9a-f]{64}$/);
    expect(() => store.take({ shape, held: inputDigest(new Float32Array(image(7).data)) })).toThrow(INPUT_NOT_HELD);
    expect(() => store.take({ shape: [1, 3, 8, 9], held: digest })).toThrow(INPUT_NOT_HELD);
    expect(store.take({ shape: [1, 1, 8, 24], held: digest }).shape).toEqual([1, 1, 8, 24]);
    store.clear();
    expect(() => store.take({ shape, held: digest })).toThrow(INPUT_NOT_HELD);
  });
});
