import { describe, expect, it } from 'vitest';
import { ManualClock } from '../transaction/manual-clock.ts';
import { FakeRelayClient, logger, settle } from './media-test-kit.ts';
import { SessionDeleter } from './session-deleter.ts';

function setup() {
  const clock = new ManualClock(0);
  const r1 = new FakeRelayClient('r1');
  const clients = new Map([['r1', r1]]);
  const up = new Map([['r1', true]]);
  const deleter = new SessionDeleter({
    clientOf: (id) => clients.get(id),
    isUp: (id) => up.get(id) ?? true,
    clock,
    logger,
    retryIntervalMs: 1000,
    maxAgeMs: 10_000,
    maxQueued: 2,
  });
  deleter.start();
  return { clock, r1, clients, up, deleter };
}

const ref = (callId: string) => ({ relayId: 'r1', callId, fromTag: 'ft' });

describe('SessionDeleter', () => {
  it('deletes by Call-ID and From tag; an unknown session is counted apart', async () => {
    const { r1, deleter } = setup();
    r1.sessions.set('c1', new Set(['ft']));
    expect(await deleter.delete(ref('c1'))).toBe('deleted');
    expect(await deleter.delete(ref('c1'))).toBe('unknown');
    expect(r1.log).toEqual(['delete c1 ft', 'delete c1 ft']);
    expect(deleter.stats()).toMatchObject({ deleted: 1, unknown: 1, failed: 0 });
  });

  it('uses the client it is given (a call keeps the one its session was made on)', async () => {
    const { r1, deleter } = setup();
    const old = new FakeRelayClient('r1', '10.9.9.9');
    await deleter.delete(ref('c1'), old);
    expect(old.log).toEqual(['delete c1 ft']);
    expect(r1.log).toEqual([]);
  });

  it('queues an unanswered delete and retries it while the relay is up', async () => {
    const { r1, up, clock, deleter } = setup();
    r1.sessions.set('c1', new Set(['ft']));
    r1.mode.delete = 'MEDIA_ERR_TIMEOUT';
    expect(await deleter.delete(ref('c1'))).toBe('queued');
    up.set('r1', false);
    r1.mode.delete = 'ok';
    clock.advance(1000);
    await settle();
    expect(r1.log.filter((l) => l.startsWith('delete'))).toHaveLength(1);
    up.set('r1', true);
    clock.advance(1000);
    await settle();
    expect(r1.sessions.size).toBe(0);
    expect(deleter.stats()).toMatchObject({ deleted: 1, queued: 1, waiting: 0 });
  });

  it('gives up after maxAge, when the relay left the registry, or when the queue is full', async () => {
    const { r1, clients, clock, deleter } = setup();
    r1.mode.delete = 'MEDIA_ERR_TIMEOUT';
    await deleter.delete(ref('c1'));
    await deleter.delete(ref('c2'));
    expect(await deleter.delete(ref('c3'))).toBe('failed');
    expect(deleter.stats()).toMatchObject({ queued: 2, dropped: 1, waiting: 2 });
    for (let i = 0; i < 11; i++) {
      clock.advance(1000);
      await settle();
    }
    expect(deleter.stats()).toMatchObject({ dropped: 3, waiting: 0 });
    await deleter.delete(ref('c4'));
    clients.delete('r1');
    clock.advance(1000);
    await settle();
    expect(deleter.stats()).toMatchObject({ dropped: 4, waiting: 0 });
    expect(await deleter.delete(ref('c5'))).toBe('failed');
  });

  it('a delete the relay refuses is not retried', async () => {
    const { r1, deleter } = setup();
    r1.mode.delete = 'MEDIA_ERR_RELAY';
    expect(await deleter.delete(ref('c1'))).toBe('failed');
    expect(deleter.stats()).toMatchObject({ failed: 1, waiting: 0 });
  });
});
