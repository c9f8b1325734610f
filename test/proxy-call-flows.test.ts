/**
 * Call flows through a real dispatcher process (RFC 3261 §16/§17): INVITE retransmissions
 * absorbed, CANCEL on the INVITE's branch, a non-2xx ACKed hop by hop, a 2xx ACKed end to end;
 * how long finished transactions are kept (node.limits.transactionLinger).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProcess, type ManagedProcess } from './support/managed-process.ts';
import { freePort } from './support/ports.ts';
import { requireTool } from './support/require-tool.ts';
import { buildInvite, buildRequest, UdpSipClient, type InviteOptions } from './support/sip-test-client.ts';
import { startDispatcherProcess, startSwitchSimProcess, type DispatcherProcess, type SwitchSimProcess } from './support/sipfleet-processes.ts';
import type { SipResponse } from '../shared/sip/index.ts';

const UAS_486 = fileURLToPath(new URL('./scenarios/uas-486-expects-ack.xml', import.meta.url));

let sipp: string;
let sw: SwitchSimProcess;
let dispatcher: DispatcherProcess;
let dPort: number;
let sippPort: number;
let swAddress: string;

beforeAll(async () => {
  sipp = requireTool('sipp', 'sip-tester');
  const swPort = await freePort('127.0.0.21');
  sippPort = await freePort('127.0.0.22');
  swAddress = `127.0.0.21:${swPort}`;
  sw = await startSwitchSimProcess('sw1', [`udp://127.0.0.21:${swPort}`], `127.0.0.21:${await freePort('127.0.0.21')}`);
  dPort = await freePort('127.0.0.11');
  const http = `127.0.0.11:${await freePort('127.0.0.11')}`;
  // The ACK tests start their own dispatcher in front of a one-call SIPp UAS.
  dispatcher = await startDispatcherProcess(
    'd1',
    `node: { id: d1, listen: [udp://127.0.0.11:${dPort}], http: ${http} }
cluster:
  name: flows
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

function invite(client: UdpSipClient, tag: string): InviteOptions {
  return { target: `127.0.0.11:${dPort}`, localHost: '127.0.0.1', localPort: client.port, callId: `${tag}-${Date.now()}@test`, branch: `z9hG4bK-${tag}-${Date.now()}` };
}

const is = (status: number, method = 'INVITE') => (m: { kind: string }) =>
  m.kind === 'response' && (m as SipResponse).status === status && (m as SipResponse).cseq.method === method;

describe('INVITE retransmissions (RFC 3261 §17.2.1)', () => {
  it('reach the switch once and get the latest provisional each time', async () => {
    await sw.behaviour({ invite: 'answer', ringMs: 300, answerMs: 60_000 });
    const before = (await sw.status()).calls.total;
    const c = await UdpSipClient.open();
    const o = invite(c, 'retrans');
    const msg = buildInvite(o);
    await c.send(msg, '127.0.0.11', dPort);
    await c.expect(is(180), 3_000);
    const provisionalsBefore = c.responses('INVITE').filter((r) => r.status === 180).length;
    for (let i = 0; i < 4; i++) {
      await new Promise((r) => setTimeout(r, 300));
      await c.send(msg, '127.0.0.11', dPort);
    }
    await new Promise((r) => setTimeout(r, 300));
    const ringing = c.responses('INVITE').filter((r) => r.status === 180).length;
    // Every retransmission after the 180 was answered with the 180 (the latest provisional).
    expect(ringing - provisionalsBefore).toBe(4);
    expect((await sw.status()).calls.total - before).toBe(1);
    const toTag = c.responses('INVITE').find((r) => r.status === 180)?.toTag;
    expect(toTag).toBeDefined();
    // Clean up: cancel the ringing call.
    await c.send(buildRequest('CANCEL', o), '127.0.0.11', dPort);
    await c.expect(is(487), 3_000);
    await c.send(buildRequest('ACK', { ...o, toTag }), '127.0.0.11', dPort);
    await c.close();
  });
});

describe('CANCEL (RFC 3261 §9, §16.10)', () => {
  it('gives 200 for the CANCEL and 487 for the INVITE, and frees the channel', async () => {
    await sw.behaviour({ invite: 'answer', ringMs: 0, answerMs: 60_000 });
    const before = (await sw.status()).calls;
    const c = await UdpSipClient.open();
    const o = invite(c, 'cancel');
    await c.send(buildInvite(o), '127.0.0.11', dPort);
    await c.expect(is(180), 3_000);
    expect((await sw.status()).channels).toBeGreaterThan(0);
    await c.send(buildRequest('CANCEL', o), '127.0.0.11', dPort);
    await c.expect(is(200, 'CANCEL'), 3_000);
    const final = (await c.expect(is(487), 3_000)) as SipResponse;
    await c.send(buildRequest('ACK', { ...o, toTag: final.toTag }), '127.0.0.11', dPort);
    // The switch answered 487 itself: it matched the CANCEL to the INVITE's transaction, which
    // it can only do when the CANCEL carries the INVITE's branch (RFC 3261 §9.2).
    const after = (await sw.status()).calls;
    expect(after.cancelled - before.cancelled).toBe(1);
    expect((await sw.status()).channels).toBe(0);
    const m = await dispatcher.metrics();
    expect(m.sipfleet_dialogs).toBe(0);
    await c.close();
  });

  it('for an unknown INVITE is answered 481', async () => {
    const c = await UdpSipClient.open();
    await c.send(buildRequest('CANCEL', invite(c, 'nocall')), '127.0.0.11', dPort);
    await c.expect(is(481, 'CANCEL'), 3_000);
    await c.close();
  });
});

describe('ACK', () => {
  async function withSippSwitch(scenario: string[], run: (port: number) => Promise<void>): Promise<number | null> {
    const dir = mkdtempSync(join(tmpdir(), 'sipp-'));
    const http = `127.0.0.12:${await freePort('127.0.0.12')}`;
    const port = await freePort('127.0.0.12');
    // The SIPp switch plays one scenario once and does not answer OPTIONS: a probe would be taken
    // for its call. The dispatcher starts first: its one probe (sent at once on start) finds no
    // SIPp yet and times out, one miss of `fall` 3; the next is an hour away. No warm-up waits.
    const d = await startDispatcherProcess(
      'd2',
      `node: { id: d2, listen: [udp://127.0.0.12:${port}], http: ${http}, warmup: 0s }
cluster:
  name: ack
  probe: { interval: 1h, timeout: 2s }
  switches:
    - { id: sipp, address: 127.0.0.22:${sippPort}, transport: udp }
`,
      http,
    );
    let uas: ManagedProcess | undefined;
    try {
      uas = await startProcess({
        name: 'sipp-uas',
        command: sipp,
        args: [...scenario, '-i', '127.0.0.22', '-p', String(sippPort), '-m', '1', '-nostdin', '-timeout', '20s', '-timeout_error', '-trace_err'],
        cwd: dir,
      });
      await new Promise((r) => setTimeout(r, 300));
      await run(port);
      const exit = await Promise.race([uas.exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), 15_000))]);
      return exit?.code ?? null;
    } finally {
      await uas?.stop();
      await d.stop();
    }
  }

  it('for a 486 is sent by the dispatcher hop by hop, and the 486 is relayed', async () => {
    const code = await withSippSwitch(['-sf', UAS_486], async (port) => {
      const c = await UdpSipClient.open();
      const o = { ...invite(c, 'busy'), target: `127.0.0.12:${port}` };
      await c.send(buildInvite(o), '127.0.0.12', port);
      await c.expect(is(486), 5_000);
      // The caller does not ACK: SIPp only passes if the dispatcher's own ACK reached it.
      await c.close();
    });
    expect(code, 'SIPp UAS must receive the ACK for its 486').toBe(0);
  });

  it('for a 200 goes end to end, and the BYE after it', async () => {
    const code = await withSippSwitch(['-sn', 'uas'], async (port) => {
      const c = await UdpSipClient.open();
      const o = { ...invite(c, 'ok'), target: `127.0.0.12:${port}` };
      await c.send(buildInvite(o), '127.0.0.12', port);
      const ok = (await c.expect(is(200), 5_000)) as SipResponse;
      // No Route set used: the dispatcher finds the dialog by Call-ID (as for SIPp's uac).
      await c.send(buildRequest('ACK', { ...o, branch: `${o.branch}-ack`, toTag: ok.toTag }), '127.0.0.12', port);
      await c.send(buildRequest('BYE', { ...o, branch: `${o.branch}-bye`, toTag: ok.toTag, cseq: 2 }), '127.0.0.12', port);
      await c.expect(is(200, 'BYE'), 5_000);
      await c.close();
    });
    expect(code, 'SIPp UAS must receive the ACK and the BYE').toBe(0);
  });
});

describe('finished transactions linger (node.limits.transactionLinger)', () => {
  it('a dispatcher set to 5s lets a call\'s server transactions go 5 s after its answers, not after the RFCs\' 32 s', async () => {
    await sw.behaviour({ invite: 'answer', ringMs: 0, answerMs: 0, holdMs: 0 });
    const port = await freePort('127.0.0.13');
    const http = `127.0.0.13:${await freePort('127.0.0.13')}`;
    const d = await startDispatcherProcess(
      'd3',
      `node: { id: d3, listen: [udp://127.0.0.13:${port}], http: ${http}, limits: { transactionLinger: 5s } }
cluster:
  name: linger
  switches:
    - { id: sw1, address: ${swAddress}, transport: udp }
`,
      http,
    );
    const c = await UdpSipClient.open();
    try {
      const o = { ...invite(c, 'linger'), target: `127.0.0.13:${port}` };
      await c.send(buildInvite(o), '127.0.0.13', port);
      const ok = (await c.expect(is(200), 5_000)) as SipResponse;
      await c.send(buildRequest('ACK', { ...o, branch: `${o.branch}-ack`, toTag: ok.toTag }), '127.0.0.13', port);
      await c.send(buildRequest('BYE', { ...o, branch: `${o.branch}-bye`, toTag: ok.toTag, cseq: 2 }), '127.0.0.13', port);
      await c.expect(is(200, 'BYE'), 5_000);
      const answered = Date.now();
      const held = async (): Promise<number> => (await d.metrics())['sipfleet_server_transactions'] ?? Number.NaN;
      // The INVITE's (RFC 6026 Accepted) and the BYE's (Completed, Timer J) server transactions.
      expect(await held()).toBe(2);
      await new Promise((r) => setTimeout(r, 3_500));
      expect(await held(), 'still held 3.5 s after the answers').toBe(2);
      let gone = Number.NaN;
      while (Date.now() - answered < 9_000) {
        if ((await held()) === 0) {
          gone = Date.now() - answered;
          break;
        }
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(gone, 'gone about 5 s after the answers').toBeGreaterThanOrEqual(3_500);
      expect(gone).toBeLessThan(7_000);
    } finally {
      await c.close();
      await d.stop();
    }
  });
});
