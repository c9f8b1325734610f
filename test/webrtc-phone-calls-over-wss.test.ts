/**
 * A WebRTC-style phone (sip.js, with `ws` as its WebSocket) calls through the dispatcher's WSS
 * listener (RFC 7118): the call is set up on a switch reached over UDP (double Record-Route),
 * the phone's BYE reaches the switch, and a BYE from the switch reaches the phone over its
 * WebSocket connection (flow token in our Record-Route), although its Contact is `*.invalid`.
 * sip.js has no media in Node, so a static SDP session-description handler stands in.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Inviter, SessionState, UserAgent, type Session, type SessionDescriptionHandler } from 'sip.js';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestCertificates } from './support/certs.ts';
import { freePort } from './support/ports.ts';
import { requireTool } from './support/require-tool.ts';
import { startDispatcherProcess, startSwitchSimProcess, type DispatcherProcess, type SwitchSimProcess } from './support/sipfleet-processes.ts';

const OFFER = 'v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 41000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n';

/** Offers a fixed SDP and accepts any answer: enough for signalling tests. */
function staticSdh(): SessionDescriptionHandler {
  return {
    close: () => {},
    getDescription: async () => ({ body: OFFER, contentType: 'application/sdp' }),
    hasDescription: (contentType: string) => contentType === 'application/sdp',
    setDescription: async () => {},
    sendDtmf: () => false,
  } as unknown as SessionDescriptionHandler;
}

let dispatcher: DispatcherProcess;
let sw: SwitchSimProcess;
let wssPort: number;
let caPem: Buffer;

beforeAll(async () => {
  requireTool('openssl', 'openssl');
  const dir = mkdtempSync(join(tmpdir(), 'sipfleet-wss-'));
  const certs = await makeTestCertificates(dir, { ips: ['127.0.0.11'] });
  caPem = readFileSync(certs.caCert);
  const swPort = await freePort('127.0.0.21');
  sw = await startSwitchSimProcess('sw1', [`udp://127.0.0.21:${swPort}`], `127.0.0.21:${await freePort('127.0.0.21')}`);
  const udpPort = await freePort('127.0.0.11');
  wssPort = await freePort('127.0.0.11');
  const http = `127.0.0.11:${await freePort('127.0.0.11')}`;
  dispatcher = await startDispatcherProcess(
    'd1',
    `node:
  id: d1
  listen: [udp://127.0.0.11:${udpPort}, wss://127.0.0.11:${wssPort}]
  tls: { cert: ${certs.cert}, key: ${certs.key} }
  http: ${http}
cluster:
  name: webrtc
  switches:
    - { id: sw1, address: 127.0.0.21:${swPort}, transport: udp }
`,
    http,
  );
  // sip.js opens `new WebSocket(url, 'sip')`; give it `ws`, trusting the test CA.
  const ca = caPem;
  (globalThis as unknown as { WebSocket: unknown }).WebSocket = class extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols, { ca });
    }
  };
});

afterAll(async () => {
  await dispatcher?.stop();
  await sw?.stop();
});

async function phone(): Promise<UserAgent> {
  const ua = new UserAgent({
    uri: UserAgent.makeURI('sip:alice@webrtc.invalid'),
    transportOptions: { server: `wss://127.0.0.11:${wssPort}` },
    sessionDescriptionHandlerFactory: staticSdh,
    logLevel: 'error',
  });
  await ua.start();
  return ua;
}

function waitFor(session: Session, state: SessionState, timeoutMs = 5_000): Promise<void> {
  if (session.state === state) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`session stayed ${session.state}, wanted ${state}`)), timeoutMs);
    session.stateChange.addListener((s) => {
      if (s === state) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

describe('a sip.js phone over WSS', () => {
  it('places a call through the dispatcher and hangs up', async () => {
    await sw.behaviour({ holdMs: 0 });
    const before = (await sw.status()).calls.answered;
    const ua = await phone();
    try {
      const inviter = new Inviter(ua, UserAgent.makeURI(`sip:+15551234@127.0.0.11:${wssPort}`)!);
      await inviter.invite();
      await waitFor(inviter, SessionState.Established);
      expect((await sw.status()).calls.answered - before).toBe(1);
      expect((await sw.status()).channels).toBe(1);
      await inviter.bye();
      await waitFor(inviter, SessionState.Terminated);
      await expect.poll(async () => (await sw.status()).channels, { timeout: 3_000 }).toBe(0);
      await expect.poll(async () => (await dispatcher.metrics()).sipfleet_dialogs, { timeout: 3_000 }).toBe(0);
    } finally {
      await ua.stop();
    }
  });

  it('receives the switch BYE over its WebSocket connection', async () => {
    await sw.behaviour({ holdMs: 500 });
    const ua = await phone();
    try {
      const inviter = new Inviter(ua, UserAgent.makeURI(`sip:+15551234@127.0.0.11:${wssPort}`)!);
      await inviter.invite();
      await waitFor(inviter, SessionState.Established);
      // The switch hangs up after 500 ms; only the flow token gets its BYE to this phone.
      await waitFor(inviter, SessionState.Terminated, 5_000);
      await expect.poll(async () => (await sw.status()).channels, { timeout: 3_000 }).toBe(0);
    } finally {
      await sw.behaviour({ holdMs: 0 });
      await ua.stop();
    }
  });
});
