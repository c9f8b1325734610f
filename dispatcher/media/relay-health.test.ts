import { describe, expect, it } from 'vitest';
import { ManualClock } from '../transaction/manual-clock.ts';
import { FakeRelayClient, logger, settle } from './media-test-kit.ts';
import { RelayHealth, type RelayProbeTarget } from './relay-health.ts';

function setup(opts: { fall?: number; rise?: number; counts?: Record<string, number> } = {}) {
  const clock = new ManualClock(0);
  const a = new FakeRelayClient('a');
  const b = new FakeRelayClient('b');
  const targets: RelayProbeTarget[] = [
    { id: 'a', state: 'active', client: a },
    { id: 'b', state: 'disabled', client: b },
  ];
  const counts = { value: opts.counts ?? {} };
  const changes: string[] = [];
  const health = new RelayHealth({
    probe: { interval: 1000, timeout: 500, fall: opts.fall ?? 3, rise: opts.rise ?? 2 },
    statsIntervalMs: 5000,
    store: { relaySessionCounts: async () => ({ ...counts.value }) },
    targets: () => targets,
    clock,
    logger,
    onChange: (id, up) => changes.push(`${id} ${up ? 'up' : 'down'}`),
  });
  return { clock, a, b, targets, counts, changes, health };
}

describe('RelayHealth', () => {
  it('pings every relay that is not disabled, at start and every interval', async () => {
    const { clock, a, b, health } = setup();
    health.start();
    clock.advance(0);
    await settle();
    expect(a.log.filter((l) => l === 'ping')).toHaveLength(1);
    clock.advance(1000);
    await settle();
    clock.advance(1000);
    await settle();
    expect(a.log.filter((l) => l === 'ping')).toHaveLength(3);
    expect(b.log.filter((l) => l === 'ping')).toHaveLength(0);
    health.stop();
    clock.advance(5000);
    await settle();
    expect(a.log.filter((l) => l === 'ping')).toHaveLength(3);
  });

  it('takes a relay down after fall failed pings and back up after rise pongs', async () => {
    const { a, health, changes } = setup({ fall: 3, rise: 2 });
    expect(health.isUp('a')).toBe(true);
    a.mode.ping = 'MEDIA_ERR_TIMEOUT';
    await health.probeAll();
    await health.probeAll();
    expect(health.isUp('a')).toBe(true);
    await health.probeAll();
    expect(health.isUp('a')).toBe(false);
    expect(health.snapshot('a').lastFailure).toBe('MEDIA_ERR_TIMEOUT');
    a.mode.ping = 'ok';
    await health.probeAll();
    expect(health.isUp('a')).toBe(false);
    await health.probeAll();
    expect(health.isUp('a')).toBe(true);
    expect(changes).toEqual(['a down', 'a up']);
  });

  it('counts a live failure like a failed ping; a pong resets the count', () => {
    const { health } = setup({ fall: 2 });
    health.recordFailure('a', 'MEDIA_ERR_TIMEOUT');
    health.recordSuccess('a', 3);
    health.recordFailure('a', 'MEDIA_ERR_TIMEOUT');
    expect(health.isUp('a')).toBe(true);
    health.recordFailure('a', 'MEDIA_ERR_SEND');
    expect(health.isUp('a')).toBe(false);
  });

  it('does not send a second ping while one is in flight', async () => {
    const { a, health } = setup();
    a.hold = true;
    void health.probeAll();
    void health.probeAll();
    await settle();
    expect(a.log.filter((l) => l === 'ping')).toHaveLength(1);
    a.release();
    await settle();
  });

  it('load: the max of the relay\'s own count and the cluster\'s, plus this node\'s picks since the cluster read', async () => {
    const { a, health, counts } = setup({ counts: { a: 4 } });
    a.reportedSessions = 10;
    expect(health.sessions('a')).toBe(0);
    await health.readClusterCounts();
    expect(health.sessions('a')).toBe(4);
    await health.probeAll(); // known, up
    await health.readStatistics();
    expect(health.sessions('a')).toBe(10);
    health.notePicked('a');
    health.notePicked('a');
    expect(health.sessions('a')).toBe(12);
    // The next cluster read includes those picks: they are not counted twice.
    counts.value = { a: 13 };
    await health.readClusterCounts();
    expect(health.sessions('a')).toBe(13);
    expect(health.snapshot('a')).toMatchObject({ relaySessions: 10, clusterSessions: 13, picked: 0, sessions: 13 });
  });

  it('keeps the picks made while the cluster counts were being read', async () => {
    const clock = new ManualClock(0);
    let resolve: (v: Record<string, number>) => void = () => {};
    const health = new RelayHealth({
      probe: { interval: 1000, timeout: 500, fall: 3, rise: 2 },
      statsIntervalMs: 5000,
      store: { relaySessionCounts: () => new Promise((r) => (resolve = r)) },
      targets: () => [],
      clock,
      logger,
    });
    health.notePicked('a');
    const reading = health.readClusterCounts();
    health.notePicked('a');
    resolve({ a: 1 });
    await reading;
    expect(health.sessions('a')).toBe(2);
  });

  it('reads statistics only from relays that are up and not disabled', async () => {
    const { a, b, health } = setup({ fall: 1 });
    await health.probeAll();
    await health.readStatistics();
    expect(a.log).toContain('statistics');
    expect(b.log).not.toContain('statistics');
    a.mode.ping = 'MEDIA_ERR_TIMEOUT';
    await health.probeAll();
    a.log.length = 0;
    await health.readStatistics();
    expect(a.log).not.toContain('statistics');
  });

  it('forgets a removed relay', async () => {
    const { a, health } = setup({ fall: 1 });
    a.mode.ping = 'MEDIA_ERR_TIMEOUT';
    await health.probeAll();
    health.notePicked('a');
    expect(health.isUp('a')).toBe(false);
    health.remove('a');
    expect(health.isUp('a')).toBe(true);
    expect(health.sessions('a')).toBe(0);
  });
});
