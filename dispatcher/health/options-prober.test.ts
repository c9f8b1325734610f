/**
 * OptionsProber end to end below the socket: real TransactionLayer over FakeTransport, a
 * ManualClock, the switch answering (or not) by injected responses.
 */
import { describe, expect, it } from 'vitest';
import { MemoryClusterStore } from '../../shared/cluster-store/memory-cluster-store.ts';
import { ManualClock } from '../transaction/manual-clock.ts';
import { parseRequest, settle } from '../transaction/transaction-test-kit.ts';
import {
  answer,
  FakeProbeStore,
  nextProbe,
  PROBE,
  proberHarness,
  probeRounds,
  probesTo,
  SW1,
  SW2,
  SW3,
  switchRecord,
} from './health-test-kit.ts';
import { probeOffset } from './probe-offset.ts';

const OFFSET1 = probeOffset('sw1', PROBE.interval, PROBE.timeout);

function headerValue(text: string, name: string): string | undefined {
  const line = text.split('\r\n').find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
  return line?.slice(name.length + 1).trim();
}


describe('OptionsProber: the OPTIONS request (RFC 3261 §11)', () => {
  it('has the request line, Via, Max-Forwards, From, To, Call-ID, CSeq and Content-Length we promise', () => {
    const h = proberHarness();
    h.prober.start();
    const first = nextProbe(h, SW1.host);
    expect(first).toBeDefined();
    const p = first!;
    expect(p.target).toEqual({ protocol: 'udp', address: '192.0.2.21', port: 5060 });
    expect(p.text.startsWith('OPTIONS sip:192.0.2.21:5060 SIP/2.0\r\n')).toBe(true);
    const via = headerValue(p.text, 'Via')!;
    expect(via).toMatch(/^SIP\/2\.0\/UDP 192\.0\.2\.100:5060;branch=z9hG4bK[^;]+;rport$/);
    expect(headerValue(p.text, 'Max-Forwards')).toBe('70');
    expect(headerValue(p.text, 'From')).toMatch(/^<sip:sipfleet@192\.0\.2\.100>;tag=\S+$/);
    expect(headerValue(p.text, 'To')).toBe('<sip:192.0.2.21:5060>');
    expect(headerValue(p.text, 'CSeq')).toBe('1 OPTIONS');
    expect(headerValue(p.text, 'Content-Length')).toBe('0');
    expect(p.text.endsWith('\r\n\r\n')).toBe(true);
    const req = parseRequest(p);
    expect(req.method).toBe('OPTIONS');
    expect(req.to.params.get('tag')).toBeUndefined();

    answer(h, p, 200);
    const second = nextProbe(h, SW1.host)!;
    const req2 = parseRequest(second);
    expect(second.text.startsWith('OPTIONS sip:192.0.2.21:5060 SIP/2.0\r\n')).toBe(true);
    expect(req2.callId).not.toBe(req.callId);
    expect(req2.via.branch).not.toBe(req.via.branch);
    expect(req2.fromTag).not.toBe(req.fromTag);
    expect(req2.cseq).toEqual({ seq: 2, method: 'OPTIONS' });
    h.prober.stop();
  });

  it('names the transport for TCP switches (R-URI transport param, Via, target)', () => {
    const tcp = switchRecord('swt', '192.0.2.31', { transport: 'tcp', port: 5080 });
    const h = proberHarness({ switches: [tcp] });
    h.prober.start();
    const p = nextProbe(h, tcp.host)!;
    expect(p.target).toEqual({ protocol: 'tcp', address: '192.0.2.31', port: 5080 });
    expect(p.text.startsWith('OPTIONS sip:192.0.2.31:5080;transport=tcp SIP/2.0\r\n')).toBe(true);
    expect(headerValue(p.text, 'Via')).toMatch(/^SIP\/2\.0\/TCP 192\.0\.2\.100:5060;branch=z9hG4bK/);
    expect(headerValue(p.text, 'To')).toBe('<sip:192.0.2.31:5080>');
    h.prober.stop();
  });

  it('brackets an IPv6 switch host in the URIs', () => {
    const v6 = switchRecord('sw6', '2001:db8::21');
    const h = proberHarness({ switches: [v6] });
    h.prober.start();
    const p = nextProbe(h, v6.host)!;
    expect(p.text.startsWith('OPTIONS sip:[2001:db8::21]:5060 SIP/2.0\r\n')).toBe(true);
    expect(headerValue(p.text, 'To')).toBe('<sip:[2001:db8::21]:5060>');
    expect(p.target.address).toBe('2001:db8::21');
    h.prober.stop();
  });
});

describe('OptionsProber: schedule', () => {
  it('probes each switch at once on start, then once per interval at a fixed per-switch offset, spread over the interval', () => {
    const ids = ['sw1', 'sw2', 'sw3', 'alpha', 'beta', 'gamma'];
    const switches = ids.map((id, i) => switchRecord(id, `192.0.2.${40 + i}`));
    const h = proberHarness({ switches });
    const times = new Map<string, number[]>();
    h.prober.start();
    const seen = new Set<string>();
    while (h.clock.now() < 3 * PROBE.interval) {
      const next = h.clock.nextTimerAt();
      if (next === undefined || next >= 3 * PROBE.interval) break;
      h.clock.advanceTo(next);
      for (const s of h.transport.sent) {
        const branch = parseRequest(s).via.branch!;
        if (seen.has(branch)) continue;
        seen.add(branch);
        const id = switches.find((sw) => sw.host === s.target.address)!.id;
        times.set(id, [...(times.get(id) ?? []), h.clock.now()]);
        answer(h, s, 200);
      }
    }
    const offsets = new Set<number>();
    for (const id of ids) {
      const o = probeOffset(id, PROBE.interval, PROBE.timeout);
      expect(o).toBeGreaterThanOrEqual(0);
      expect(o).toBeLessThan(PROBE.interval - PROBE.timeout);
      expect(times.get(id)).toEqual([0, o + PROBE.interval, o + 2 * PROBE.interval]);
      offsets.add(o);
    }
    // Not all at once.
    expect(offsets.size).toBeGreaterThan(1);
    h.prober.stop();
  });

  it('probes a switch that joins the registry at the next round start, then at its offset', () => {
    const h = proberHarness();
    h.prober.start();
    answer(h, nextProbe(h, SW1.host)!, 200);
    h.clock.advanceTo(PROBE.interval / 2);
    const sw9 = switchRecord('sw9', '192.0.2.49');
    h.registry.push(sw9);
    const first = nextProbe(h, sw9.host)!;
    expect(h.clock.now()).toBe(PROBE.interval);
    answer(h, first, 200);
    expect(h.health.isUp('sw9')).toBe(true);
    nextProbe(h, sw9.host);
    expect(h.clock.now()).toBe(2 * PROBE.interval + probeOffset('sw9', PROBE.interval, PROBE.timeout));
    h.prober.stop();
  });

  it('never has more than one probe in flight per switch', () => {
    // Timeout close to the interval: the next round comes right after the previous deadline.
    const h = proberHarness({ probe: { interval: 1000, timeout: 999 } });
    h.prober.start();
    // To 4950: five rounds (0, 1000, ..., 4000), the sixth not begun.
    for (let i = 0; i < 99; i++) {
      h.clock.advance(50);
      expect(h.layer.stats().clientTransactions).toBeLessThanOrEqual(1);
    }
    expect(probesTo(h, SW1.host).length).toBe(5);
    h.prober.stop();
  });
});

describe('OptionsProber: outcomes', () => {
  it('goes down after exactly `fall` unanswered probes, within interval × fall, and the transactions are aborted', () => {
    const h = proberHarness();
    h.prober.start();
    const probes = probeRounds(h, SW1.host, PROBE.fall, undefined);
    expect(probes.map((p) => p.target.address)).toEqual(Array(PROBE.fall).fill(SW1.host));
    const lastDeadline = OFFSET1 + (PROBE.fall - 1) * PROBE.interval + PROBE.timeout;
    expect(lastDeadline).toBeLessThanOrEqual(PROBE.fall * PROBE.interval);
    h.clock.advanceTo(lastDeadline - 1);
    expect(h.health.isUp('sw1')).toBe(true);
    expect(h.health.snapshot('sw1')?.consecutiveFailures).toBe(PROBE.fall - 1);
    h.clock.advanceTo(lastDeadline);
    expect(h.health.isUp('sw1')).toBe(false);
    expect(h.changes).toEqual([['sw1', false]]);
    // Our timeout aborted the client transaction: nothing left in the layer.
    expect(h.layer.stats().clientTransactions).toBe(0);
    h.prober.stop();
  });

  it('does not count a timeout while this node is behind on its own input (the answer may sit in our queue); answers and errors still count', () => {
    let behind = true;
    const h = proberHarness({ selfBehind: () => behind });
    h.prober.start();
    probeRounds(h, SW1.host, PROBE.fall + 2, undefined);
    h.clock.advance(PROBE.timeout); // the last probe's deadline
    expect(h.health.isUp('sw1')).toBe(true);
    expect(h.health.snapshot('sw1')?.consecutiveFailures).toBe(0);
    expect(h.prober.inconclusive).toBe(PROBE.fall + 2);
    // A final answer that is not accepted is a failure even while behind.
    probeRounds(h, SW1.host, 1, 503);
    expect(h.health.snapshot('sw1')?.consecutiveFailures).toBe(1);
    // Caught up: timeouts count again.
    behind = false;
    probeRounds(h, SW1.host, PROBE.fall - 1, undefined);
    h.clock.advance(PROBE.timeout);
    expect(h.health.snapshot('sw1')?.consecutiveFailures).toBe(PROBE.fall);
    expect(h.health.isUp('sw1')).toBe(false);
    expect(h.prober.inconclusive).toBe(PROBE.fall + 2);
    h.prober.stop();
  });

  it('comes back up after `rise` probes answered 200', () => {
    const h = proberHarness();
    h.prober.start();
    probeRounds(h, SW1.host, PROBE.fall + 1, undefined);
    expect(h.health.isUp('sw1')).toBe(false);
    for (let i = 1; i < PROBE.rise; i++) {
      probeRounds(h, SW1.host, 1, 200);
      expect(h.health.isUp('sw1')).toBe(false);
    }
    probeRounds(h, SW1.host, 1, 200);
    expect(h.health.isUp('sw1')).toBe(true);
    expect(h.changes).toEqual([
      ['sw1', false],
      ['sw1', true],
    ]);
    h.prober.stop();
  });

  it('ignores 1xx: a 100 Trying then nothing is still a timeout', () => {
    const h = proberHarness({ probe: { fall: 1 } });
    h.prober.start();
    const p = nextProbe(h, SW1.host)!;
    answer(h, p, 100, 'Trying');
    expect(h.health.isUp('sw1')).toBe(true);
    h.clock.advance(PROBE.timeout);
    expect(h.health.isUp('sw1')).toBe(false);
    expect(h.health.snapshot('sw1')?.lastFailure).toBe('timeout');
    h.prober.stop();
  });

  it('counts a final status outside `accept` (503) as a failure', () => {
    const h = proberHarness();
    h.prober.start();
    probeRounds(h, SW1.host, PROBE.fall - 1, 503);
    expect(h.health.isUp('sw1')).toBe(true);
    probeRounds(h, SW1.host, 1, 503);
    expect(h.health.isUp('sw1')).toBe(false);
    expect(h.health.snapshot('sw1')?.lastFailure).toBe('503 Service Unavailable');
    h.prober.stop();
  });

  it('accept: [200, 404] makes a 404 healthy (and 404 is a failure by default)', () => {
    const lenient = proberHarness({ probe: { accept: [200, 404], fall: 1 } });
    lenient.prober.start();
    probeRounds(lenient, SW1.host, 3, 404);
    expect(lenient.health.isUp('sw1')).toBe(true);
    expect(lenient.health.snapshot('sw1')?.consecutiveSuccesses).toBe(3);
    lenient.prober.stop();

    const strict = proberHarness({ probe: { fall: 1 } });
    strict.prober.start();
    probeRounds(strict, SW1.host, 1, 404);
    expect(strict.health.isUp('sw1')).toBe(false);
    strict.prober.stop();
  });

  it('a transport error is a failure', async () => {
    const h = proberHarness({ probe: { fall: 2 } });
    h.transport.failSendsTo({ address: SW1.host });
    h.prober.start();
    nextProbe(h, SW1.host);
    await settle();
    expect(h.health.snapshot('sw1')?.consecutiveFailures).toBe(1);
    expect(h.health.snapshot('sw1')?.lastFailure).toMatch(/^transport error/);
    nextProbe(h, SW1.host);
    await settle();
    expect(h.health.isUp('sw1')).toBe(false);
    h.prober.stop();
  });

  it('measures the round trip of good probes (EWMA and p99)', () => {
    const h = proberHarness();
    h.prober.start();
    for (const rtt of [100, 200, 50]) {
      const p = nextProbe(h, SW1.host)!;
      h.clock.advance(rtt);
      answer(h, p, 200);
    }
    expect(h.health.latencyMs('sw1')).toBeCloseTo(106, 10);
    expect(h.health.p99Ms('sw1')).toBe(200);
    h.prober.stop();
  });

  it('a suspect switch (live traffic timed out) needs `rise` good probes', () => {
    const h = proberHarness();
    h.prober.start();
    probeRounds(h, SW1.host, 1, 200);
    h.health.markSuspect('sw1');
    expect(h.health.isUp('sw1')).toBe(false);
    probeRounds(h, SW1.host, PROBE.rise - 1, 200);
    expect(h.health.isUp('sw1')).toBe(false);
    probeRounds(h, SW1.host, 1, 200);
    expect(h.health.isUp('sw1')).toBe(true);
    h.prober.stop();
  });

  it('slow start: the share ramps from 0.1 to 1 over warmup after the probes bring a switch back', () => {
    const h = proberHarness({ probe: { fall: 1, rise: 1, warmup: 4000 } });
    h.prober.start();
    probeRounds(h, SW1.host, 1, 503);
    expect(h.health.isUp('sw1')).toBe(false);
    probeRounds(h, SW1.host, 1, 200);
    expect(h.health.share('sw1')).toBeCloseTo(0.1, 10);
    h.prober.stop(); // no more probes: the ramp is the clock's alone
    h.clock.advance(2000);
    expect(h.health.share('sw1')).toBeCloseTo(0.55, 10);
    h.clock.advance(2000);
    expect(h.health.share('sw1')).toBe(1);
    h.prober.stop();
  });
});

describe('OptionsProber: admin state and the registry', () => {
  it('does not probe disabled switches; draining ones are probed', () => {
    const h = proberHarness({
      switches: [SW1, switchRecord('sw2', SW2.host, { state: 'disabled' }), switchRecord('sw3', SW3.host, { state: 'draining' })],
    });
    h.prober.start();
    h.clock.advance(3 * PROBE.interval - 1);
    expect(probesTo(h, SW1.host).length).toBe(3);
    expect(probesTo(h, SW2.host).length).toBe(0);
    expect(probesTo(h, SW3.host).length).toBe(3);
    expect(h.health.ids().sort()).toEqual(['sw1', 'sw3']);

    // Disabled live: probing stops from the next probe; enabled again: it resumes.
    h.registry[0] = { ...SW1, state: 'disabled' };
    h.clock.advance(2 * PROBE.interval);
    expect(probesTo(h, SW1.host).length).toBe(3);
    h.registry[0] = SW1;
    h.clock.advance(2 * PROBE.interval);
    expect(probesTo(h, SW1.host).length).toBe(5);
    h.prober.stop();
  });

  it('stops probing a switch removed from the registry and forgets its health', () => {
    const h = proberHarness({ switches: [SW1, SW2], probe: { fall: 1 } });
    h.prober.start();
    h.clock.advance(PROBE.interval - 1);
    expect(probesTo(h, SW2.host).length).toBe(1);
    expect(h.health.isUp('sw2')).toBe(false); // unanswered
    h.registry.splice(1, 1);
    h.clock.advance(3 * PROBE.interval);
    expect(probesTo(h, SW2.host).length).toBe(1);
    expect(probesTo(h, SW1.host).length).toBe(4);
    expect(h.health.ids()).toEqual(['sw1']);
    expect(h.health.isUp('sw2')).toBe(true);
    h.prober.stop();
  });

  it('a switch removed before its probe of the round goes out is not probed (the registry is re-read)', () => {
    const h = proberHarness({ switches: [SW1, SW2] });
    h.prober.start();
    expect(h.health.ids().sort()).toEqual(['sw1', 'sw2']);
    h.registry.splice(1, 1);
    h.clock.advance(PROBE.interval - 1);
    expect(probesTo(h, SW2.host).length).toBe(0);
    expect(probesTo(h, SW1.host).length).toBe(1);
    expect(h.health.ids()).toEqual(['sw1']);
    h.prober.stop();
  });

  it('picks up switches added to the registry at the next round', () => {
    const h = proberHarness({ switches: [SW1] });
    h.prober.start();
    h.clock.advance(PROBE.interval - 1);
    h.registry.push(SW2);
    expect(probesTo(h, SW2.host).length).toBe(0);
    h.clock.advance(PROBE.interval);
    expect(probesTo(h, SW2.host).length).toBe(1);
    h.prober.stop();
  });
});

describe('OptionsProber: reports in the cluster store', () => {
  it('writes this node\'s view after each outcome, with a TTL of three intervals', async () => {
    const clock = new ManualClock();
    const store = new FakeProbeStore(clock);
    const h = proberHarness({ clock, store, probe: { fall: 1 } });
    h.prober.start();
    const p = nextProbe(h, SW1.host)!;
    h.clock.advance(20);
    answer(h, p, 200);
    await settle();
    expect(await store.probeReports('sw1')).toEqual([{ switchId: 'sw1', nodeId: 'n1', up: true, latencyMs: 20, p99Ms: 20, atMs: h.clock.now() }]);
    probeRounds(h, SW1.host, 1, 500);
    await settle();
    expect((await store.probeReports('sw1'))[0]).toMatchObject({ up: false, latencyMs: 20 });
    expect(store.puts).toBe(2);
    // Stop probing: the report expires after 3 intervals.
    h.prober.stop();
    const writtenAt = (await store.probeReports('sw1'))[0].atMs;
    h.clock.advanceTo(writtenAt + 3 * PROBE.interval - 1);
    expect(await store.probeReports('sw1')).toHaveLength(1);
    h.clock.advance(1);
    expect(await store.probeReports('sw1')).toHaveLength(0);
  });

  it('writes to a MemoryClusterStore', async () => {
    const store = new MemoryClusterStore();
    const h = proberHarness({ store, switches: [SW1, SW2] });
    h.prober.start();
    const p1 = nextProbe(h, SW1.host)!;
    answer(h, p1, 200);
    h.clock.advance(PROBE.interval);
    await settle();
    const reports = await store.probeReports();
    expect(reports.map((r) => [r.switchId, r.nodeId, r.up]).sort()).toEqual([
      ['sw1', 'n1', true],
      ['sw2', 'n1', true], // one unanswered probe: still up (fall 3)
    ]);
    expect((await store.probeReports('sw1'))[0].latencyMs).toBe(0);
    h.prober.stop();
    await store.close();
  });

  it('keeps probing when the store is down (errors are ignored)', async () => {
    const clock = new ManualClock();
    const store = new FakeProbeStore(clock);
    store.down = true;
    const h = proberHarness({ clock, store, probe: { fall: 1, quorum: true } });
    h.prober.start();
    probeRounds(h, SW1.host, 2, 503);
    await settle();
    expect(h.health.isUp('sw1')).toBe(false);
    store.down = false;
    probeRounds(h, SW1.host, 2, 200);
    await settle();
    expect(h.health.isUp('sw1')).toBe(true);
    expect(store.puts).toBe(2);
    h.prober.stop();
  });
});

describe('OptionsProber: quorum mode', () => {
  async function quorumHarness(fall: number) {
    const clock = new ManualClock();
    const store = new FakeProbeStore(clock);
    const h = proberHarness({ clock, store, probe: { quorum: true, fall } });
    store.live = ['n1', 'n2', 'n3'];
    await store.putProbeReport({ switchId: 'sw1', nodeId: 'n2', up: true }, 60_000);
    await store.putProbeReport({ switchId: 'sw1', nodeId: 'n3', up: true }, 60_000);
    return { h, store };
  }

  it('a local down stays up while 2 of 3 nodes say up, and goes down when 2 say down', async () => {
    const { h, store } = await quorumHarness(1);
    h.prober.start();
    await settle(); // the round's read of the peers' reports
    probeRounds(h, SW1.host, 1, 503);
    await settle();
    expect(h.health.localUp('sw1')).toBe(false);
    expect(h.health.isUp('sw1')).toBe(true);
    // Our own report says down (the vote others see).
    expect((await store.probeReports('sw1')).find((r) => r.nodeId === 'n1')?.up).toBe(false);

    await store.putProbeReport({ switchId: 'sw1', nodeId: 'n3', up: false }, 60_000);
    h.clock.advanceTo(2 * PROBE.interval); // next round reads the reports
    await settle();
    expect(h.health.isUp('sw1')).toBe(false);
    expect(h.changes).toEqual([['sw1', false]]);
    h.prober.stop();
  });

  it('works over a MemoryClusterStore with registered nodes', async () => {
    const store = new MemoryClusterStore();
    for (const n of ['n1', 'n2', 'n3']) await store.registerNode(n, 60_000);
    await store.putProbeReport({ switchId: 'sw1', nodeId: 'n2', up: true }, 60_000);
    await store.putProbeReport({ switchId: 'sw1', nodeId: 'n3', up: true }, 60_000);
    const h = proberHarness({ store, probe: { quorum: true, fall: 1 } });
    h.prober.start();
    await settle();
    probeRounds(h, SW1.host, 1, 503);
    await settle();
    expect(h.health.localUp('sw1')).toBe(false);
    expect(h.health.isUp('sw1')).toBe(true);
    await store.putProbeReport({ switchId: 'sw1', nodeId: 'n2', up: false }, 60_000);
    h.clock.advanceTo(PROBE.interval);
    await settle();
    expect(h.health.isUp('sw1')).toBe(false);
    h.prober.stop();
    await store.close();
  });

  it('reports of nodes without a live lease do not vote', async () => {
    // fall 5: the unanswered probes of the rounds below leave our own view up.
    const { h, store } = await quorumHarness(5);
    await store.putProbeReport({ switchId: 'sw1', nodeId: 'n3', up: false }, 60_000);
    await store.putProbeReport({ switchId: 'sw1', nodeId: 'n4', up: false }, 60_000);
    store.live = ['n1', 'n2', 'n3'];
    h.prober.start();
    await settle();
    probeRounds(h, SW1.host, 1, 200);
    await settle();
    // n1 up, n2 up, n3 down (n4 is not live): up.
    expect(h.health.isUp('sw1')).toBe(true);
    store.live = ['n1', 'n2', 'n3', 'n4'];
    h.clock.advanceTo(2 * PROBE.interval);
    await settle();
    // 2 up, 2 down: a tie stays up.
    expect(h.health.isUp('sw1')).toBe(true);
    await store.putProbeReport({ switchId: 'sw1', nodeId: 'n2', up: false }, 60_000);
    h.clock.advanceTo(3 * PROBE.interval);
    await settle();
    expect(h.health.isUp('sw1')).toBe(false);
    h.prober.stop();
  });
});

describe('OptionsProber: stop()', () => {
  it('leaves no timers and no transactions, with probes in flight and transactions completing', () => {
    const h = proberHarness({ switches: [SW1, SW2, SW3] });
    h.prober.start();
    // sw1 answered (its transaction lingers in Completed for Timer K), the others in flight.
    const p = nextProbe(h, SW1.host)!;
    answer(h, p, 200);
    h.clock.advanceTo(PROBE.interval - PROBE.timeout - 1);
    expect(h.clock.pending).toBeGreaterThan(0);
    h.prober.stop();
    expect(h.clock.pending).toBe(0);
    expect(h.layer.stats().clientTransactions).toBe(0);
    expect(h.prober.running).toBe(false);
    const sent = h.transport.sent.length;
    h.clock.advance(10 * PROBE.interval);
    expect(h.transport.sent.length).toBe(sent);
  });

  it('can be started again', () => {
    const h = proberHarness();
    h.prober.start();
    h.prober.start(); // idempotent: one round timer
    h.clock.advance(PROBE.interval - 1);
    expect(probesTo(h, SW1.host).length).toBe(1);
    h.prober.stop();
    h.prober.start();
    h.clock.advance(PROBE.interval - 1);
    expect(probesTo(h, SW1.host).length).toBe(2);
    h.prober.stop();
    expect(h.clock.pending).toBe(0);
  });
});
