import { describe, expect, it } from 'vitest';
import type { Flow, Target } from '../transport/transport.ts';
import { ownerWorker, WorkerRelay } from './worker-relay.ts';

const BASE = 5160;

function req(callId: string, method = 'INVITE', compact = false): Buffer {
  return Buffer.from(
    `${method} sip:+15551234@192.0.2.10 SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-1\r\n${compact ? 'i' : 'Call-ID'}: ${callId}\r\nCSeq: 1 ${method}\r\nContent-Length: 0\r\n\r\n`,
  );
}

function res(viaPort: number): Buffer {
  return Buffer.from(`SIP/2.0 200 OK\r\nv: SIP/2.0/UDP 192.0.2.10:${viaPort};branch=z9hG4bK-x;rport=5060\r\nVia: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-1\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`);
}

function flow(localPort: number, remoteAddress = '198.51.100.7', remotePort = 5060): Flow {
  return { protocol: 'udp', localAddress: '192.0.2.10', localPort, remoteAddress, remotePort, connectionId: undefined };
}

function relay(index: number, count = 2) {
  const sent: Array<{ data: Buffer; target: Target }> = [];
  const delivered: Array<{ data: Buffer; flow: Flow }> = [];
  const r = new WorkerRelay({
    index,
    count,
    portBase: BASE,
    address: '192.0.2.10',
    sharedPorts: new Set([5060]),
    send: (data, target) => sent.push({ data, target }),
    deliver: (data, f) => delivered.push({ data, flow: f }),
  });
  return { r, sent, delivered };
}

describe('ownerWorker', () => {
  it('puts every request of a call on one worker by its Call-ID (long or compact form), spreading calls', () => {
    const owners = new Map<number, number>();
    for (let i = 0; i < 400; i++) {
      const id = `call-${i}@198.51.100.7`;
      const k = ownerWorker(req(id), 4, BASE);
      expect(ownerWorker(req(id, 'BYE', true), 4, BASE)).toBe(k);
      expect(ownerWorker(req(id, 'CANCEL'), 4, BASE)).toBe(k);
      owners.set(k, (owners.get(k) ?? 0) + 1);
    }
    expect([...owners.keys()].sort()).toEqual([0, 1, 2, 3]);
    for (const n of owners.values()) expect(n).toBeGreaterThan(60);
  });

  it('leaves REGISTER, unreadable datagrams and a single worker to whoever has them; a response goes by its top Via port', () => {
    expect(ownerWorker(req('r1', 'REGISTER'), 4, BASE)).toBe(-1);
    expect(ownerWorker(Buffer.from('garbage without headers'), 4, BASE)).toBe(-1);
    expect(ownerWorker(Buffer.from('INVITE sip:x SIP/2.0\r\nVia: SIP/2.0/UDP a\r\n\r\n'), 4, BASE)).toBe(-1);
    expect(ownerWorker(req('c1'), 1, BASE)).toBe(-1);
    expect(ownerWorker(res(BASE + 3), 4, BASE)).toBe(3);
    expect(ownerWorker(res(5060), 4, BASE)).toBe(-1);
    expect(ownerWorker(res(BASE + 4), 4, BASE)).toBe(-1);
  });
});

describe('WorkerRelay', () => {
  const id = (owner: number) => {
    for (let i = 0; ; i++) if (ownerWorker(req(`c-${i}`), 2, BASE) === owner) return `c-${i}`;
  };

  it('delivers its own calls; relays another worker\'s to that worker\'s port, which delivers it with the flow it came in on', () => {
    const w0 = relay(0);
    const w1 = relay(1);
    w0.r.onMessage(req(id(0)), flow(5060));
    expect(w0.delivered).toHaveLength(1);
    const foreign = req(id(1));
    w0.r.onMessage(foreign, flow(5060, '203.0.113.5', 40000));
    expect(w0.delivered).toHaveLength(1);
    expect(w0.sent).toHaveLength(1);
    expect(w0.sent[0].target).toEqual({ protocol: 'udp', address: '192.0.2.10', port: BASE + 1, localPort: BASE });
    // Worker 1 gets the wrapper on its own port, from worker 0's.
    w1.r.onMessage(w0.sent[0].data, flow(BASE + 1, '192.0.2.10', BASE));
    expect(w1.delivered).toHaveLength(1);
    expect(w1.delivered[0].data.equals(foreign)).toBe(true);
    expect(w1.delivered[0].flow).toEqual({ protocol: 'udp', localAddress: '192.0.2.10', localPort: 5060, remoteAddress: '203.0.113.5', remotePort: 40000, connectionId: undefined });
    expect(w0.r.stats()).toEqual({ relayedOut: 1, relayedIn: 0, refused: 0 });
    expect(w1.r.stats()).toEqual({ relayedOut: 0, relayedIn: 1, refused: 0 });
  });

  it('refuses a wrapper that does not come from a sibling worker\'s port, or names no shared port; never relays what reached its own port', () => {
    const w0 = relay(0);
    const w1 = relay(1);
    w0.r.onMessage(req(id(1)), flow(5060));
    const wrapped = w0.sent[0].data;
    w1.r.onMessage(wrapped, flow(BASE + 1, '203.0.113.66', BASE)); // spoofed from outside
    w1.r.onMessage(wrapped, flow(BASE + 1, '192.0.2.10', 5060)); // not a worker port
    w1.r.onMessage(Buffer.from(`\0SFW1 192.0.2.10 5999 203.0.113.5 40000\n${req('x').toString()}`), flow(BASE + 1, '192.0.2.10', BASE));
    expect(w1.delivered).toHaveLength(0);
    expect(w1.r.stats().refused).toBe(3);
    // A plain message on the own port (a switch's response or in-dialog request) is delivered, never relayed.
    w1.r.onMessage(req(id(0)), flow(BASE + 1));
    expect(w1.delivered).toHaveLength(1);
    expect(w1.sent).toHaveLength(0);
    // Stream flows are the connection's worker's.
    w1.r.onMessage(req(id(0)), { ...flow(5060), protocol: 'tcp', connectionId: 7 });
    expect(w1.delivered).toHaveLength(2);
  });
});
