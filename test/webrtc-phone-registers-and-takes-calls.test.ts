/**
 * A WebRTC-style phone (sip.js over WSS, `ws` as its WebSocket) registers with a digest password
 * through node A's WSS listener; a switch's call to that user sent to node B (SIPp from the
 * switch's address, UDP) reaches the phone over its WebSocket connection through A (the internal
 * hop, docs/registrar.md), is answered, and the caller's BYE ends it the same way.
 *
 * The registrar keeps its default algorithms (SHA-256, then MD5). sip.js 0.21 keeps only the last
 * WWW-Authenticate of a response (its parser replaces the header) and answers only MD5: with the
 * default order that is the MD5 one; `[MD5, SHA-256]` would make it give up ("challenge with
 * Digest algorithm different than 'MD5', authentication aborted").
 *
 * sip.js has no media in Node, so a static SDP session-description handler stands in.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Invitation, Registerer, RegistererState, SessionState, UserAgent, type Session, type SessionDescriptionHandler } from 'sip.js';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestCertificates } from './support/certs.ts';
import { startClusterHarness, type ClusterHarness, type DispatcherNodeHandle } from './support/cluster-harness.ts';
import { requireTool } from './support/require-tool.ts';
import { runSipp } from './support/sipp.ts';

const CALLER = fileURLToPath(new URL('./scenarios/switch-calls-phone.xml', import.meta.url));
const SWITCH_IP = '127.0.0.21';
const PHONE_IP = '127.0.0.34';
const PASSWORD = 'dave-wss-pw';

let h: ClusterHarness;
let a: DispatcherNodeHandle;
let b: DispatcherNodeHandle;
let dir: string;
let ca: Buffer;

beforeAll(async () => {
  requireTool('sipp', 'sip-tester');
  requireTool('openssl', 'openssl');
  dir = mkdtempSync(join(tmpdir(), 'sipfleet-webrtc-phone-'));
  const certs = await makeTestCertificates(dir, { ips: ['127.0.0.11', '127.0.0.12'] });
  ca = readFileSync(certs.caCert);
  h = await startClusterHarness({
    dispatchers: 2,
    switches: 1,
    // Only 127.0.0.40 is a carrier: the WebSocket client on PHONE_IP is a phone.
    carrierSources: ['127.0.0.40/32'],
    extraListeners: ['wss'],
    tls: { cert: certs.cert, key: certs.key },
    clusterYaml: `  users:\n    - { username: dave, password: ${PASSWORD} }\n`,
  });
  [a, b] = h.dispatchers;
});

afterAll(async () => {
  await h?.stop();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

const SDP = 'v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 41000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n';

/** A fixed SDP for offers and answers. */
function staticSdh(): SessionDescriptionHandler {
  return {
    close: () => {},
    getDescription: async () => ({ body: SDP, contentType: 'application/sdp' }),
    hasDescription: (contentType: string) => contentType === 'application/sdp',
    setDescription: async () => {},
    sendDtmf: () => false,
  } as unknown as SessionDescriptionHandler;
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)));
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

function sessionReaches(session: Session, state: SessionState, ms: number): Promise<void> {
  if (session.state === state) return Promise.resolve();
  return within(
    new Promise<void>((resolve) => {
      session.stateChange.addListener((s) => {
        if (s === state) resolve();
      });
    }),
    ms,
    `session ${session.state} to reach ${state}`,
  );
}

describe('a sip.js phone over WSS', () => {
  it('registers with digest through node A and answers a call a switch sends to node B', async () => {
    const g = globalThis as unknown as { WebSocket: unknown };
    const previous = g.WebSocket;
    // sip.js opens `new WebSocket(url, 'sip')`: give it `ws`, trusting the test CA, from the phone's address.
    g.WebSocket = class extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols, { ca, localAddress: PHONE_IP });
      }
    };
    let invited: (inv: Invitation) => void = () => {};
    const invitation = new Promise<Invitation>((resolve) => (invited = resolve));
    const ua = new UserAgent({
      uri: UserAgent.makeURI('sip:dave@webrtc.invalid'),
      authorizationUsername: 'dave',
      authorizationPassword: PASSWORD,
      transportOptions: { server: `wss://${a.ip}:${a.ports.wss}` },
      sessionDescriptionHandlerFactory: staticSdh,
      logLevel: 'error',
      delegate: {
        onInvite: (inv: Invitation) => {
          invited(inv);
          void inv.accept();
        },
      },
    });
    const registerer = new Registerer(ua, { expires: 300 });
    try {
      await ua.start();
      const registered = new Promise<void>((resolve) => {
        registerer.stateChange.addListener((s) => {
          if (s === RegistererState.Registered) resolve();
        });
      });
      await registerer.register();
      await within(registered, 10_000, `registration (registerer ${registerer.state})`);
      const m = await a.process.metrics();
      expect(m['sipfleet_registers_total{outcome="challenged"}']).toBeGreaterThanOrEqual(1);
      expect(m['sipfleet_registers_total{outcome="ok"}']).toBeGreaterThanOrEqual(1);

      // The switch hangs up 500 ms after its ACK.
      const callerRun = runSipp({ scenario: CALLER, target: `${b.ip}:${b.port}`, localIp: SWITCH_IP, service: 'dave', holdMs: 500, timeoutS: 20 });
      const inv = await within(invitation, 10_000, 'the INVITE to reach the sip.js phone');
      await sessionReaches(inv, SessionState.Established, 5_000);
      // The BYE comes through node B, then A, over the WebSocket connection (flow token in A's Record-Route).
      await sessionReaches(inv, SessionState.Terminated, 10_000);
      const caller = await callerRun;
      expect(caller.exitCode, `caller SIPp: ${caller.errors}\n${caller.stdout.slice(-2000)}`).toBe(0);
      expect(caller.successful).toBe(1);
      // Node A relayed it (top Via, over WSS) after node B (next Via) took it from the switch.
      const vias = inv.request.getHeaders('via');
      expect(vias[0]).toContain(`SIP/2.0/WSS ${a.ip}:${a.ports.wss};`);
      expect(vias[1]).toContain(`SIP/2.0/UDP ${b.ip}:${b.port};`);
      expect(vias[2]).toContain(`SIP/2.0/UDP ${SWITCH_IP}:`);
    } finally {
      await registerer.dispose().catch(() => undefined);
      await ua.stop().catch(() => undefined);
      g.WebSocket = previous;
    }
  });
});
