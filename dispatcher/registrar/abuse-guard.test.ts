import { beforeEach, describe, expect, it } from 'vitest';
import { SipfleetError } from '../../shared/errors.ts';
import { createLogger } from '../../shared/log.ts';
import { MemoryRegistrarStore } from '../../shared/registrar-store/memory-registrar-store.ts';
import type { RegistrarStore } from '../../shared/registrar-store/registrar-store.ts';
import { parseMessage, type SipRequest } from '../../shared/sip/index.ts';
import { ManualClock } from '../transaction/manual-clock.ts';
import { AbuseGuard, type AbusePolicy } from './abuse-guard.ts';

const logger = createLogger({ test: true });
const CARRIER = '198.51.100.7';
const POLICY: AbusePolicy = { threshold: 3, window: 60_000, banTime: 600_000, scanners: ['friendly-scanner', 'SIPVicious', ''] };

function request(userAgent?: string): SipRequest {
  const lines = [
    'OPTIONS sip:100@192.0.2.100 SIP/2.0',
    'Via: SIP/2.0/UDP 203.0.113.9:5060;branch=z9hG4bK-1',
    'From: <sip:100@192.0.2.100>;tag=1',
    'To: <sip:100@192.0.2.100>',
    'Call-ID: scan-1',
    'CSeq: 1 OPTIONS',
    ...(userAgent === undefined ? [] : [`User-Agent: ${userAgent}`]),
    'Content-Length: 0',
    '',
    '',
  ];
  return parseMessage(Buffer.from(lines.join('\r\n'), 'latin1')) as SipRequest;
}

/** Let the store's onBan microtasks run. */
async function flush(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

describe('AbuseGuard', () => {
  let clock: ManualClock;
  let store: MemoryRegistrarStore;

  function guard(s: RegistrarStore = store, policy: AbusePolicy = POLICY): AbuseGuard {
    return new AbuseGuard({ store: s, policy, isCarrier: (ip) => ip === CARRIER, clock, logger });
  }

  beforeEach(() => {
    clock = new ManualClock(1_700_000_000_000);
    store = new MemoryRegistrarStore({ now: () => clock.now() });
  });

  it('bans at the threshold, locally at once and on another node through onBan', async () => {
    const a = guard();
    const b = guard();
    await a.start();
    await b.start();
    await a.authFailed('203.0.113.9');
    await a.authFailed('203.0.113.9');
    expect(a.isBanned('203.0.113.9')).toBe(false);
    await a.authFailed('203.0.113.9');
    expect(a.isBanned('203.0.113.9')).toBe(true);
    await flush();
    expect(b.isBanned('203.0.113.9')).toBe(true);
    expect(b.isBanned('203.0.113.10')).toBe(false);
    expect(a.stats()).toMatchObject({ banned: 1, authFailures: 3 });
    // The ban ends after banTime.
    clock.advance(POLICY.banTime + 1);
    expect(a.isBanned('203.0.113.9')).toBe(false);
    expect(b.stats().banned).toBe(0);
  });

  it('counts failures cluster-wide (two nodes, one store)', async () => {
    const a = guard();
    const b = guard();
    await a.start();
    await b.start();
    await a.authFailed('203.0.113.9');
    await b.authFailed('203.0.113.9');
    await a.authFailed('203.0.113.9');
    await flush();
    expect(a.isBanned('203.0.113.9')).toBe(true);
    expect(b.isBanned('203.0.113.9')).toBe(true);
  });

  it('loads the bans in force at start, and hears of unbans', async () => {
    for (let i = 0; i < POLICY.threshold; i++) {
      await store.recordAuthFailure('203.0.113.9', { windowMs: POLICY.window, threshold: POLICY.threshold, banMs: POLICY.banTime });
    }
    const g = guard();
    await g.start();
    expect(g.isBanned('203.0.113.9')).toBe(true);
    await store.unban('203.0.113.9');
    await flush();
    expect(g.isBanned('203.0.113.9')).toBe(false);
  });

  it('never counts nor bans a carrier source', async () => {
    const g = guard();
    await g.start();
    for (let i = 0; i < 10; i++) await g.authFailed(CARRIER);
    expect(g.isBanned(CARRIER)).toBe(false);
    expect(await store.listBans()).toEqual([]);
    expect(g.stats().authFailures).toBe(0);
    // Even if banned in the store (before it became a carrier), it is let through.
    for (let i = 0; i < POLICY.threshold; i++) {
      await store.recordAuthFailure(CARRIER, { windowMs: POLICY.window, threshold: POLICY.threshold, banMs: POLICY.banTime });
    }
    await flush();
    expect(g.isBanned(CARRIER)).toBe(false);
    expect(g.shouldDrop(request(), CARRIER)).toBe(false);
  });

  it('detects scanners by User-Agent, case-insensitively', () => {
    const g = guard();
    expect(g.isScanner(request('friendly-scanner'))).toBe(true);
    expect(g.isScanner(request('SIPVICIOUS-1.2'))).toBe(true);
    expect(g.isScanner(request('x sipvicious x'))).toBe(true);
    // The empty configured string must not match everything.
    expect(g.isScanner(request('Linphone/5.2'))).toBe(false);
    expect(g.isScanner(request())).toBe(false);
  });

  it('shouldDrop drops banned sources and scanners and counts them', async () => {
    const g = guard();
    await g.start();
    for (let i = 0; i < POLICY.threshold; i++) await g.authFailed('203.0.113.9');
    expect(g.shouldDrop(request('Linphone'), '203.0.113.9')).toBe(true);
    expect(g.shouldDrop(request('friendly-scanner'), '203.0.113.20')).toBe(true);
    expect(g.shouldDrop(request('friendly-scanner'), CARRIER)).toBe(false);
    expect(g.shouldDrop(request('Linphone'), '203.0.113.20')).toBe(false);
    expect(g.stats()).toMatchObject({ droppedBanned: 1, droppedScanners: 1 });
    g.countDrop('scanner');
    expect(g.stats().droppedScanners).toBe(2);
  });

  it('swallows store errors in authFailed', async () => {
    const down = new Proxy(store, {
      get(target, prop, receiver) {
        if (prop === 'recordAuthFailure') return () => Promise.reject(new SipfleetError('STORE_ERR_UNAVAILABLE', 'down'));
        const v = Reflect.get(target, prop, receiver) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    }) as RegistrarStore;
    const g = guard(down);
    await g.start();
    await expect(g.authFailed('203.0.113.9')).resolves.toBeUndefined();
    expect(g.isBanned('203.0.113.9')).toBe(false);
  });

  it('stops listening after stop()', async () => {
    const a = guard();
    const b = guard();
    await a.start();
    await b.start();
    b.stop();
    for (let i = 0; i < POLICY.threshold; i++) await a.authFailed('203.0.113.9');
    await flush();
    expect(b.isBanned('203.0.113.9')).toBe(false);
  });
});
