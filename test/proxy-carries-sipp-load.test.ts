/**
 * SIPp's built-in `uac` → dispatcher → 2 switch-sims: 5,000 calls at 200 CPS with 0 failed
 * calls, over UDP, over TCP, and over TLS (Debian's SIPp has no TLS, so stunnel4 in client mode
 * carries SIPp's TCP to the dispatcher's TLS listener, verifying its certificate).
 * Afterwards every call is gone: no dialog left on the dispatcher, no channel on the switches.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestCertificates } from './support/certs.ts';
import { freePort } from './support/ports.ts';
import { requireTool } from './support/require-tool.ts';
import { runSipp, type SippResult } from './support/sipp.ts';
import { startStunnelClient } from './support/stunnel.ts';
import { startDispatcherProcess, startSwitchSimProcess, type DispatcherProcess, type SwitchSimProcess } from './support/sipfleet-processes.ts';

const CALLS = 5_000;
const RATE = 200;

let switches: SwitchSimProcess[] = [];
let dispatcher: DispatcherProcess;
let sipPort: number;
let tlsPort: number;
let caFile: string;

beforeAll(async () => {
  requireTool('sipp', 'sip-tester');
  requireTool('stunnel4', 'stunnel4');
  requireTool('openssl', 'openssl');
  const dir = mkdtempSync(join(tmpdir(), 'sipfleet-tls-'));
  const certs = await makeTestCertificates(dir, { ips: ['127.0.0.11'] });
  caFile = certs.caCert;
  switches = [];
  const lines: string[] = [];
  for (const [i, ip] of ['127.0.0.21', '127.0.0.22'].entries()) {
    const port = await freePort(ip);
    switches.push(await startSwitchSimProcess(`sw${i + 1}`, [`udp://${ip}:${port}`], `${ip}:${await freePort(ip)}`));
    lines.push(`    - { id: sw${i + 1}, address: ${ip}:${port}, transport: udp }`);
  }
  sipPort = await freePort('127.0.0.11');
  tlsPort = await freePort('127.0.0.11');
  const http = `127.0.0.11:${await freePort('127.0.0.11')}`;
  dispatcher = await startDispatcherProcess(
    'd1',
    `node:
  id: d1
  listen: [udp://127.0.0.11:${sipPort}, tcp://127.0.0.11:${sipPort}, tls://127.0.0.11:${tlsPort}]
  tls: { cert: ${certs.cert}, key: ${certs.key} }
  http: ${http}
cluster:
  name: load
  switches:
${lines.join('\n')}
`,
    http,
  );
});

afterAll(async () => {
  await dispatcher?.stop();
  for (const s of switches) await s.stop();
});

async function expectAllCallsDone(result: SippResult): Promise<void> {
  expect(result.failed, result.errors.slice(0, 2_000)).toBe(0);
  expect(result.successful).toBe(CALLS);
  expect(result.exitCode).toBe(0);
  // Both switches took calls, and no call is left anywhere.
  const answered = await Promise.all(switches.map(async (s) => (await s.status()).calls.answered));
  for (const n of answered) expect(n).toBeGreaterThan(0);
  await expect.poll(async () => (await dispatcher.metrics()).sipfleet_dialogs, { timeout: 5_000 }).toBe(0);
  for (const s of switches) await expect.poll(async () => (await s.status()).channels, { timeout: 5_000 }).toBe(0);
}

describe(`SIPp uac, ${CALLS} calls at ${RATE} CPS, through the dispatcher`, () => {
  it('over UDP: 0 failed calls', async () => {
    const r = await runSipp({ scenario: 'uac', target: `127.0.0.11:${sipPort}`, transport: 'u1', rate: RATE, calls: CALLS });
    await expectAllCallsDone(r);
  });

  it('over TCP: 0 failed calls', async () => {
    const r = await runSipp({ scenario: 'uac', target: `127.0.0.11:${sipPort}`, transport: 't1', rate: RATE, calls: CALLS });
    await expectAllCallsDone(r);
  });

  it('over TLS (SIPp → stunnel → TLS listener): 0 failed calls', async () => {
    const acceptPort = await freePort('127.0.0.1');
    const stunnel = await startStunnelClient({ acceptHost: '127.0.0.1', acceptPort, connectHost: '127.0.0.11', connectPort: tlsPort, caFile });
    try {
      const r = await runSipp({ scenario: 'uac', target: `127.0.0.1:${acceptPort}`, transport: 't1', rate: RATE, calls: CALLS });
      // SIPp's only path to the dispatcher is stunnel, which speaks only verified TLS to it.
      await expectAllCallsDone(r);
    } finally {
      await stunnel.stop();
    }
  });
});
