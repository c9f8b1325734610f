/**
 * RFC 4475 / RFC 5118 torture messages sent to a real dispatcher process, over UDP and over
 * TCP: each gets the response INDEX.md names (or is dropped, or closes the stream where the
 * RFC says so), the process stays up, and an OPTIONS right after is answered.
 */
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './support/ports.ts';
import { UdpSipClient } from './support/sip-test-client.ts';
import { startDispatcherProcess, startSwitchSimProcess, type DispatcherProcess, type SwitchSimProcess } from './support/sipfleet-processes.ts';

const RFC4475 = new URL('../shared/sip/fixtures/rfc4475/', import.meta.url);
const RFC5118 = new URL('../shared/sip/fixtures/rfc5118/', import.meta.url);

/** What the dispatcher must do with each message: a status, 'drop', or 'not-400' (forwarded or answered, never 400). */
type Expect = number | 'drop' | 'not-400';
const EXPECTED: Record<string, Expect> = {
  // RFC 4475 §3.1.1: valid, tortuous
  wsinv: 'not-400', // well-formed, in dialog (To tag) with a Route to a name that does not resolve: 503
  intmeth: 'not-400', esc01: 'not-400', escnull: 'not-400', esc02: 'not-400', lwsdisp: 'not-400', longreq: 'not-400',
  dblreq: 'not-400', semiuri: 'not-400', transports: 'not-400', mpart01: 'not-400', unreason: 'drop', noreason: 'drop',
  // §3.1.2: invalid
  badinv01: 400, clerr: 400, ncl: 400, scalar02: 400, scalarlg: 'drop', quotbal: 400, ltgtruri: 400, lwsruri: 400,
  lwsstart: 400, trws: 400, escruri: 400, baddate: 'not-400', regbadct: 400, badaspec: 400, baddn: 400, badvers: 505,
  mismatch01: 400, mismatch02: 501, bigcode: 'drop',
  // §3.2 - §3.4
  badbranch: 'not-400', insuf: 400, unkscm: 416, novelsc: 416, unksm2: 'not-400', bext01: 420, invut: 'not-400',
  regaut01: 'not-400', multi01: 400, mcl01: 400, bcast: 'drop', zeromf: 483, cparam01: 'not-400', cparam02: 'not-400',
  regescrt: 'not-400', sdp01: 'not-400', inv2543: 'not-400',
  // RFC 5118
  'ipv6-good': 'not-400', 'ipv6-bad': 400, 'port-ambiguous': 'not-400', 'port-unambiguous': 'not-400',
  'via-received-param-with-delim': 'not-400', 'via-received-param-no-delim': 'not-400', 'ipv6-in-sdp': 'not-400',
  'mult-ip-in-header': 'not-400', 'mult-ip-in-sdp': 'not-400', 'ipv4-mapped-ipv6': 'not-400',
  'ipv6-bug-abnf-3-colons': 'not-400', 'ipv6-correct-abnf-2-colons': 'not-400',
};

/**
 * Over TCP these cannot be framed (RFC 3261 §18.3): the connection is closed instead of answered.
 * clerr and baddn never complete (header timeout); ncl, mcl01 and inv2543 have no usable
 * Content-Length; dblreq's trailing INVITE octets are a second message followed by bytes with
 * no Content-Length (RFC 4475's "ignore the extra octets" is a datagram rule).
 */
const TCP_CLOSES = new Set(['clerr', 'ncl', 'mcl01', 'inv2543', 'baddn', 'dblreq']);

function file(name: string): Buffer {
  const base = name.startsWith('ipv') || name.includes('-') ? RFC5118 : RFC4475;
  return readFileSync(new URL(`${name}.dat`, base));
}

function statusOf(data: Buffer): number | undefined {
  const m = /^SIP\/2\.0 (\d{3}) /.exec(data.toString('latin1', 0, 16));
  return m === null ? undefined : Number(m[1]);
}

let dispatcher: DispatcherProcess;
let sw: SwitchSimProcess;
let sipPort: number;

beforeAll(async () => {
  const swPort = await freePort('127.0.0.21');
  sw = await startSwitchSimProcess('sw1', [`udp://127.0.0.21:${swPort}`, `tcp://127.0.0.21:${swPort}`], `127.0.0.21:${await freePort('127.0.0.21')}`);
  // Forwarded INVITEs are refused by the switch so that no call is left waiting for an ACK.
  await sw.behaviour({ invite: '486' });
  sipPort = await freePort('127.0.0.11');
  const http = `127.0.0.11:${await freePort('127.0.0.11')}`;
  dispatcher = await startDispatcherProcess(
    'd1',
    `node:
  id: d1
  listen: [udp://127.0.0.11:${sipPort}, tcp://127.0.0.11:${sipPort}]
  http: ${http}
  limits: { headerTimeout: 1s }
cluster:
  name: torture
  switches:
    - { id: sw1, address: 127.0.0.21:${swPort}, transport: udp }
`,
    http,
  );
});

afterAll(async () => {
  await dispatcher?.stop();
  await sw?.stop();
});

async function optionsAnswered(): Promise<void> {
  const c = await UdpSipClient.open();
  const callId = `opt-${Date.now()}`;
  await c.send(
    `OPTIONS sip:127.0.0.11:${sipPort} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${c.port};branch=z9hG4bK${callId}\r\nMax-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.11>\r\nCall-ID: ${callId}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`,
    '127.0.0.11',
    sipPort,
  );
  const res = await c.expectResponse(200, 'OPTIONS', 3_000);
  expect(res.get('allow')).toContain('INVITE');
  await c.close();
}

describe('torture messages over UDP', () => {
  it.each(Object.entries(EXPECTED))('%s → %s', async (name, expected) => {
    const c = await UdpSipClient.open();
    await c.send(file(name), '127.0.0.11', sipPort);
    const deadline = Date.now() + (expected === 'drop' ? 700 : 4_000);
    let final: number | undefined;
    while (Date.now() < deadline && final === undefined) {
      final = c.raw.map(statusOf).find((s) => s !== undefined && s >= 200);
      if (final === undefined) await new Promise((r) => setTimeout(r, 25));
    }
    await c.close();
    if (expected === 'drop') expect(c.raw.length, `${name} must be dropped`).toBe(0);
    else if (expected === 'not-400') {
      expect(final, `${name} must be answered (forwarded or by us)`).toBeDefined();
      expect(final).not.toBe(400);
    } else expect(final).toBe(expected);
    expect(dispatcher.exitStatus()).toBeUndefined();
  });

  it('still answers OPTIONS after all of them', optionsAnswered);
});

describe('torture messages over TCP', () => {
  it.each(Object.entries(EXPECTED))('%s', async (name, expected) => {
    const socket = connect({ host: '127.0.0.11', port: sipPort, localAddress: '127.0.0.1' });
    const chunks: Buffer[] = [];
    let closed = false;
    socket.on('data', (d) => chunks.push(d));
    socket.on('error', () => {});
    socket.on('close', () => (closed = true));
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    socket.write(file(name));
    const wantClose = TCP_CLOSES.has(name);
    const deadline = Date.now() + (wantClose ? 3_000 : expected === 'drop' ? 700 : 4_000);
    const finalOf = () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const codes = [...text.matchAll(/^SIP\/2\.0 (\d{3}) /gm)].map((m) => Number(m[1]));
      return codes.find((s) => s >= 200);
    };
    while (Date.now() < deadline && !closed && (wantClose || expected === 'drop' || finalOf() === undefined)) {
      await new Promise((r) => setTimeout(r, 25));
    }
    const final = finalOf();
    socket.destroy();
    if (wantClose) {
      expect(closed, `${name}: the dispatcher must close a stream it cannot frame`).toBe(true);
    } else if (expected === 'drop') {
      expect(chunks.length, `${name} must be dropped`).toBe(0);
    } else if (expected === 'not-400') {
      expect(final, `${name} must be answered`).toBeDefined();
      expect(final).not.toBe(400);
    } else {
      expect(final).toBe(expected);
    }
    expect(dispatcher.exitStatus()).toBeUndefined();
  });

  it('still answers OPTIONS after all of them', optionsAnswered);
});
