/**
 * Softphones end to end (docs/registrar.md): a phone registers with digest through node A; a call
 * that a switch sends to that user through node B rings the phone, B handing it to A over the
 * internal hop and A relaying it over the phone's flow; over UDP, TCP and TLS (sip.js over WSS:
 * webrtc-phone-registers-and-takes-calls.test.ts).
 *
 * The cluster: two dispatchers (A = d1 on 127.0.0.11, B = d2 on 127.0.0.12) with UDP, TCP and TLS
 * listeners, one switch (127.0.0.21) and the carrier `local` narrowed to 127.0.0.40/32, so that
 * the phones (127.0.0.31 and up, and stunnel on 127.0.0.1) are phones and not carriers. The caller
 * is a SIPp UAC bound to the switch's address (any free port): a switch is recognised by its
 * source IP only, so node B takes its INVITE for a call to a phone.
 *
 * Digest algorithms: SIPp 3.6.1 computes MD5 only and reads only the first WWW-Authenticate; with
 * the default order (SHA-256 first) it aborts ("createAuthHeader: authentication must use MD5 or
 * AKAv1-MD5", exit 255). So this cluster offers `[MD5, SHA-256]`; the SHA-256 challenge (still
 * offered, second) is answered by a small node:crypto client below, through a real dispatcher
 * process.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMessage, type SipRequest, type SipResponse } from '../shared/sip/index.ts';
import { makeTestCertificates } from './support/certs.ts';
import { startClusterHarness, type ClusterHarness, type DispatcherNodeHandle } from './support/cluster-harness.ts';
import type { ManagedProcess } from './support/managed-process.ts';
import { freePort } from './support/ports.ts';
import { requireTool } from './support/require-tool.ts';
import { UdpSipClient } from './support/sip-test-client.ts';
import { runSipp, startSipp, type SippTransport } from './support/sipp.ts';
import { startStunnelClient } from './support/stunnel.ts';

const PHONE = fileURLToPath(new URL('./scenarios/phone-register-then-answer.xml', import.meta.url));
const PHONE_OOC = fileURLToPath(new URL('./scenarios/phone-answer-call.xml', import.meta.url));
const CALLER = fileURLToPath(new URL('./scenarios/switch-calls-phone.xml', import.meta.url));
const SWITCH_IP = '127.0.0.21';

const USERS: Record<string, string> = {
  alice: 'alice-udp-pw',
  bob: 'bob-tcp-pw',
  carol: 'carol-tls-pw',
  erin: 'erin-sha256-pw',
  frank: 'frank-never-registers',
};

let h: ClusterHarness;
let a: DispatcherNodeHandle;
let b: DispatcherNodeHandle;
let dir: string;
let caFile: string;

beforeAll(async () => {
  requireTool('sipp', 'sip-tester');
  requireTool('openssl', 'openssl');
  dir = mkdtempSync(join(tmpdir(), 'sipfleet-phones-'));
  const certs = await makeTestCertificates(join(dir, 'certs'), { ips: ['127.0.0.11', '127.0.0.12'] });
  caFile = certs.caCert;
  const users = Object.entries(USERS)
    .map(([username, password]) => `    - { username: ${username}, password: ${password} }`)
    .join('\n');
  h = await startClusterHarness({
    dispatchers: 2,
    switches: 1,
    carrierSources: ['127.0.0.40/32'],
    extraListeners: ['tls'],
    tls: { cert: certs.cert, key: certs.key },
    // MD5 first: SIPp answers the first challenge only, and only MD5 (see the header comment).
    clusterYaml: `  users:\n${users}\n  registrar:\n    algorithms: [MD5, SHA-256]\n`,
  });
  [a, b] = h.dispatchers;
});

afterAll(async () => {
  await h?.stop();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

async function registeredOk(node: DispatcherNodeHandle): Promise<number> {
  return (await node.process.metrics())['sipfleet_registers_total{outcome="ok"}'] ?? 0;
}

/** The messages of a SIPp `-trace_msg` file, parsed (received and sent). */
function tracedMessages(file: string): Array<SipRequest | SipResponse> {
  const out: Array<SipRequest | SipResponse> = [];
  for (const block of readFileSync(file, 'latin1').split(/^-{20,}.*$/m)) {
    const m = /^(?:UDP|TCP|TLS) message (?:sent|received)[^\n]*\n\n([\s\S]*)$/.exec(block.trim() + '\n');
    if (m === null) continue;
    // SIPp writes the message with LF or CRLF line ends as it was; normalise to CRLF.
    const text = m[1].replace(/\r?\n/g, '\r\n');
    try {
      out.push(parseMessage(Buffer.from(text, 'latin1')));
    } catch {
      // a partial block
    }
  }
  return out;
}

interface PhoneCallCase {
  user: string;
  transport: SippTransport;
  /** Where the phone's SIPp sends (node A, or the stunnel in front of A's TLS listener). */
  registerTo: string;
  phoneIp: string;
  /** The Via node A puts on the INVITE it relays to the phone. */
  topVia: string;
}

/**
 * The phone (SIPp) registers through node A; once its 200 is counted, the switch's SIPp calls the
 * user through node B. Both SIPps must pass; the INVITE the phone got must have come from A (top
 * Via) after B (next Via), with both nodes in its Record-Route.
 */
async function phoneTakesCallThroughOtherNode(c: PhoneCallCase): Promise<void> {
  const trace = join(dir, `phone-${c.user}.log`);
  const okBefore = await registeredOk(a);
  const phone = await startSipp({
    scenario: PHONE,
    target: c.registerTo,
    transport: c.transport,
    localIp: c.phoneIp,
    calls: 1,
    timeoutS: 40,
    service: c.user,
    extraArgs: ['-au', c.user, '-ap', USERS[c.user], '-oocsf', PHONE_OOC, '-trace_msg', '-message_file', trace],
  });
  try {
    await expect.poll(() => registeredOk(a), { timeout: 10_000, interval: 100 }).toBe(okBefore + 1);
    const caller = await runSipp({
      scenario: CALLER,
      target: `${b.ip}:${b.port}`,
      localIp: SWITCH_IP,
      service: c.user,
      holdMs: 300,
      timeoutS: 20,
    });
    expect(caller.exitCode, `caller SIPp: ${caller.errors}\n${caller.stdout.slice(-2000)}`).toBe(0);
    expect(caller.successful).toBe(1);
    // The phone ends by itself once the call is over (or fails after 20 s without one).
    let timer: ReturnType<typeof setTimeout> | undefined;
    const exit = await Promise.race([phone.exited, new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), 25_000)))]);
    clearTimeout(timer);
    const result = await phone.finish();
    expect(exit?.code, `phone SIPp: ${result.errors}\n${result.stdout.slice(-2000)}`).toBe(0);
    expect(result.successful).toBe(1);

    const invite = tracedMessages(trace).find((m): m is SipRequest => m.kind === 'request' && m.method === 'INVITE');
    expect(invite, 'the phone traced the INVITE').toBeDefined();
    const vias = invite!.vias().map((v) => `${v.transport} ${v.host}:${v.port}`);
    expect(vias[0]).toBe(c.topVia);
    expect(vias[1]).toBe(`UDP ${b.ip}:${b.port}`);
    expect(vias[2]).toMatch(new RegExp(`^UDP ${SWITCH_IP.replace(/\./g, '\\.')}:`));
    const rr = invite!.getAll('record-route').join(', ');
    expect(rr).toContain(`@${a.ip}:`); // A's value facing the phone carries the flow token
    expect(rr).toContain(`${b.ip}:${b.port}`);
    expect(invite!.requestUri).toMatchObject({ user: c.user, host: c.phoneIp });
  } finally {
    await phone.stop().catch(() => undefined);
  }
}

describe('a SIPp phone registered through node A takes a call sent to node B', () => {
  it('over UDP', async () => {
    await phoneTakesCallThroughOtherNode({
      user: 'alice',
      transport: 'u1',
      registerTo: `${a.ip}:${a.port}`,
      phoneIp: '127.0.0.31',
      topVia: `UDP ${a.ip}:${a.port}`,
    });
  });

  it('over TCP', async () => {
    await phoneTakesCallThroughOtherNode({
      user: 'bob',
      transport: 't1',
      registerTo: `${a.ip}:${a.port}`,
      phoneIp: '127.0.0.32',
      topVia: `TCP ${a.ip}:${a.port}`,
    });
  });

  it('over TLS (SIPp over TCP to a local stunnel that speaks TLS to node A)', async () => {
    requireTool('stunnel4', 'stunnel4');
    const acceptPort = await freePort('127.0.0.33', ['tcp']);
    let stunnel: ManagedProcess | undefined;
    try {
      stunnel = await startStunnelClient({ acceptHost: '127.0.0.33', acceptPort, connectHost: a.ip, connectPort: a.ports.tls, caFile });
      await phoneTakesCallThroughOtherNode({
        user: 'carol',
        transport: 't1',
        registerTo: `127.0.0.33:${acceptPort}`,
        phoneIp: '127.0.0.33',
        topVia: `TLS ${a.ip}:${a.ports.tls}`,
      });
    } finally {
      await stunnel?.stop();
    }
  });
});

// ---- SHA-256 digest, by hand ----

function sha256(text: string): string {
  return createHash('sha256').update(text, 'latin1').digest('hex');
}

/** `key="value"` / `key=value` parameters of a Digest challenge. */
function challengeParams(value: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of value.replace(/^Digest\s+/i, '').matchAll(/([\w-]+)=(?:"([^"]*)"|([^,\s]+))/g)) out[m[1].toLowerCase()] = m[2] ?? m[3];
  return out;
}

function register(o: { user: string; host: string; port: number; target: string; callId: string; cseq: number; authorization?: string }): string {
  return [
    `REGISTER sip:${o.target} SIP/2.0`,
    `Via: SIP/2.0/UDP ${o.host}:${o.port};branch=z9hG4bK-${randomBytes(6).toString('hex')};rport`,
    'Max-Forwards: 70',
    `From: <sip:${o.user}@${o.target}>;tag=reg-${o.callId}`,
    `To: <sip:${o.user}@${o.target}>`,
    `Call-ID: ${o.callId}`,
    `CSeq: ${o.cseq} REGISTER`,
    `Contact: <sip:${o.user}@${o.host}:${o.port}>`,
    'Expires: 120',
    ...(o.authorization === undefined ? [] : [`Authorization: ${o.authorization}`]),
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

function invite(o: { user: string; target: string; host: string; port: number; callId: string }): string {
  return [
    `INVITE sip:${o.user}@${o.target} SIP/2.0`,
    `Via: SIP/2.0/UDP ${o.host}:${o.port};branch=z9hG4bK-${o.callId};rport`,
    'Max-Forwards: 70',
    `From: <sip:+15550001@${o.host}>;tag=sw-${o.callId}`,
    `To: <sip:${o.user}@${o.target}>`,
    `Call-ID: ${o.callId}`,
    'CSeq: 1 INVITE',
    `Contact: <sip:switch@${o.host}:${o.port}>`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

function ackFor(inv: string, final: SipResponse): string {
  const lines = inv.split('\r\n');
  return lines
    .map((l) => (l.startsWith('INVITE ') ? l.replace(/^INVITE/, 'ACK') : l.startsWith('CSeq:') ? 'CSeq: 1 ACK' : l.startsWith('To:') ? `To: ${final.get('to')}` : l))
    .join('\r\n');
}

/** A response to `req` built by the test's phone (Via, From, To with a tag, Call-ID, CSeq copied). */
function answer(req: SipRequest, status: number, reason: string): string {
  return [
    `SIP/2.0 ${status} ${reason}`,
    ...req.getAll('via').map((v) => `Via: ${v}`),
    `From: ${req.get('from')}`,
    `To: ${req.get('to')};tag=phone-${req.callId.slice(0, 8)}`,
    `Call-ID: ${req.callId}`,
    `CSeq: ${req.get('cseq')}`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

describe('SHA-256 digest (RFC 7616) through a dispatcher process', () => {
  it('registers with the SHA-256 challenge, and a call through node B reaches the phone', async () => {
    const phone = await UdpSipClient.open('127.0.0.35');
    const sw = await UdpSipClient.open(SWITCH_IP);
    try {
      const callId = `sha-${Date.now()}@test`;
      const reg = { user: 'erin', host: phone.host, port: phone.port, target: `${a.ip}:${a.port}`, callId };
      await phone.send(register({ ...reg, cseq: 1 }), a.ip, a.port);
      const challenge = await phone.expectResponse(401, 'REGISTER');
      const offered = challenge.getAll('www-authenticate').map(challengeParams);
      expect(offered.map((c) => c.algorithm)).toEqual(['MD5', 'SHA-256']);
      const c = offered.find((x) => x.algorithm === 'SHA-256')!;
      expect(c.qop).toBe('auth');
      const uri = `sip:${reg.target}`;
      const cnonce = randomBytes(8).toString('hex');
      const nc = '00000001';
      const ha1 = sha256(`erin:${c.realm}:${USERS.erin}`);
      const response = sha256(`${ha1}:${c.nonce}:${nc}:${cnonce}:auth:${sha256(`REGISTER:${uri}`)}`);
      const authorization = `Digest username="erin", realm="${c.realm}", nonce="${c.nonce}", uri="${uri}", algorithm=SHA-256, qop=auth, nc=${nc}, cnonce="${cnonce}", response="${response}"`;
      await phone.send(register({ ...reg, cseq: 2, authorization }), a.ip, a.port);
      const ok = await phone.expectResponse(200, 'REGISTER');
      expect(ok.get('contact')).toContain(`sip:erin@${phone.host}:${phone.port}`);

      // The switch calls erin through node B; the phone (this client) is reached via node A.
      const inv = invite({ user: 'erin', target: `${b.ip}:${b.port}`, host: sw.host, port: sw.port, callId: `call-${callId}` });
      await sw.send(inv, b.ip, b.port);
      const got = (await phone.expect((m) => m.kind === 'request' && m.method === 'INVITE', 5_000, 'the INVITE')) as SipRequest;
      const vias = got.vias();
      expect(`${vias[0].host}:${vias[0].port}`).toBe(`${a.ip}:${a.port}`);
      expect(`${vias[1].host}:${vias[1].port}`).toBe(`${b.ip}:${b.port}`);
      await phone.send(answer(got, 486, 'Busy Here'), a.ip, a.port);
      const busy = await sw.expectResponse(486, 'INVITE');
      await sw.send(ackFor(inv, busy), b.ip, b.port);
      // Node A ACKed the 486 to the phone itself (hop by hop, RFC 3261 §17.1.1.3).
      await phone.expect((m) => m.kind === 'request' && m.method === 'ACK', 5_000, 'the ACK for the 486');
    } finally {
      await phone.close();
      await sw.close();
    }
  });
});

describe('a switch calling a user that cannot take the call', () => {
  async function finalFor(user: string): Promise<SipResponse> {
    const sw = await UdpSipClient.open(SWITCH_IP);
    try {
      const inv = invite({ user, target: `${b.ip}:${b.port}`, host: sw.host, port: sw.port, callId: `${user}-${Date.now()}@test` });
      await sw.send(inv, b.ip, b.port);
      const final = (await sw.expect((m) => m.kind === 'response' && m.status >= 300, 5_000, `a final response for ${user}`)) as SipResponse;
      await sw.send(ackFor(inv, final), b.ip, b.port);
      return final;
    } finally {
      await sw.close();
    }
  }

  it('gets 480 for a user with no binding', async () => {
    expect((await finalFor('frank')).status).toBe(480);
  });

  it('gets 404 for an unknown user', async () => {
    expect((await finalFor('nobody')).status).toBe(404);
  });
});
