/**
 * The Kamailio side of the side-by-side benchmark (bench/kamailio/): its config is accepted by
 * Kamailio 5.6, and calls from the benchmark's SIPp scenarios go through it the way they go
 * through sipfleet: round-robin over two switches, with the switches answering the proxy's
 * OPTIONS probes, every call set up and torn down along the Record-Route path.
 *
 *   uac-rr.xml  127.0.0.74 ──► kamailio 127.0.0.71:5060 ──► uas-rr.xml -aa 127.0.0.72:5060
 *                                                       └─► uas-rr.xml -aa 127.0.0.73:5060
 *   uac-rr.xml  127.0.0.74 ──► uas-rr.xml 127.0.0.75:5060 (no proxy, so no Record-Route)
 *
 * The addresses 127.0.0.71-75 are used by no other test.
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkKamailioConfig, dispatcherTargets, kamailioCpuTicks, kamailioPids, startKamailio, type RunningKamailio } from '../bench/lib/kamailio.ts';
import { ensureSocketBufferLimits, readSysctlNumber, SOCKET_BUFFER_BYTES } from '../bench/lib/step-support.ts';
import { stopAllProcesses } from './support/managed-process.ts';
import { requireTool } from './support/require-tool.ts';
import { runSipp, startSipp, type BackgroundSipp, type SippResult } from './support/sipp.ts';

const KAMAILIO_IP = '127.0.0.71';
const SWITCH_IPS = ['127.0.0.72', '127.0.0.73'];
const DIRECT_SWITCH_IP = '127.0.0.75';
const UAC_IP = '127.0.0.74';
const SIP_PORT = 5060;
const UAC = new URL('../bench/scenarios/uac-rr.xml', import.meta.url).pathname;
const UAS = new URL('../bench/scenarios/uas-rr.xml', import.meta.url).pathname;
/** Probe every second: three failed probes (ds_probing_threshold) would disable a switch within the test. */
const PING_INTERVAL_S = 1;
/** Kamailio's default `maxbuffer`: its start-up probing stops there without `-b`. */
const KAMAILIO_OWN_BUFFER_LIMIT = 256 * 1024;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const stat = (r: SippResult, column: string): number => Number.parseFloat(r.stats[column] ?? 'NaN');

describe('Kamailio benchmark config', () => {
  let kamailio: RunningKamailio | undefined;
  const switches: BackgroundSipp[] = [];

  beforeAll(() => {
    requireTool('kamailio', 'kamailio');
    requireTool('sipp', 'sip-tester');
    // As the benchmarks do: let the kernel grant the 4 MiB (a stock Debian allows 208 KiB).
    ensureSocketBufferLimits((line) => console.log(line));
  });

  afterAll(async () => {
    await kamailio?.stop(3000);
    await stopAllProcesses();
  });

  it('is accepted by kamailio -c with the defines the helper passes', async () => {
    const output = await checkKamailioConfig({ ip: KAMAILIO_IP, port: SIP_PORT, cpu: 0, switches: SWITCH_IPS.map((ip) => `${ip}:${SIP_PORT}`) });
    expect(output).toMatch(/config file ok/i);
    expect(output).toContain(`udp: ${KAMAILIO_IP}`);
  });

  it('carries 200 calls round-robin over two switches that answer its OPTIONS probes', async () => {
    for (const ip of SWITCH_IPS) {
      // -aa: the uas answers the dispatcher's out-of-call OPTIONS probes with 200.
      switches.push(await startSipp({ scenario: UAS, localIp: ip, localPort: SIP_PORT, extraArgs: ['-aa'], timeoutS: 120 }));
    }
    kamailio = await startKamailio({
      ip: KAMAILIO_IP,
      port: SIP_PORT,
      cpu: os.cpus().length - 1,
      children: 2,
      shmMb: 64,
      switches: switches.map((s) => s.address),
      pingIntervalS: PING_INTERVAL_S,
    });
    // Main process plus receivers and timer processes, all of them counted for CPU.
    expect(kamailioPids(kamailio.pid).length).toBeGreaterThan(3);
    // Its socket may grow to the bench's buffer (`-b`), not only to Kamailio's own 256 KB: it
    // did, as far as net.core.rmem_max lets it (raised to 4 MiB in beforeAll when root). The
    // kernel reports twice what it granted (`rb` in ss's skmem).
    expect(kamailio.commandLine.join(' ')).toContain(`-b ${SOCKET_BUFFER_BYTES}`);
    requireTool('ss', 'iproute2');
    const skmem = execFileSync('ss', ['-uamnH', 'src', kamailio.address], { encoding: 'utf8' });
    const rb = Number(/\brb(\d+)/.exec(skmem)?.[1]);
    const rmemMax = readSysctlNumber('/proc/sys/net/core/rmem_max') ?? 0;
    expect(rb, skmem).toBeGreaterThanOrEqual(2 * Math.min(SOCKET_BUFFER_BYTES, rmemMax) * 0.9);
    if (rmemMax > KAMAILIO_OWN_BUFFER_LIMIT) expect(rb, `${skmem}: no more than Kamailio's own limit`).toBeGreaterThan(2 * KAMAILIO_OWN_BUFFER_LIMIT);
    const ticksBefore = kamailioCpuTicks(kamailio.pid);

    const calls = await runSipp({
      scenario: UAC,
      target: kamailio.address,
      localIp: UAC_IP,
      calls: 200,
      rate: 50,
      maxConcurrent: 100,
      extraArgs: ['-recv_timeout', '8000'],
    });
    expect(calls.errors, calls.stdout.slice(-3000)).toBe('');
    expect(calls.successful).toBe(200);
    expect(calls.failed).toBe(0);
    expect(calls.exitCode).toBe(0);
    // rtd 1: INVITE sent → 200 received, once per call (as with the built-in uac).
    expect(calls.responseTimesByRtd['1']).toHaveLength(200);
    expect(kamailioCpuTicks(kamailio.pid)).toBeGreaterThanOrEqual(ticksBefore);

    // Let the switches' calls leave their 4 s timewait (then they count as successful) while
    // more probe rounds go by.
    await sleep(5000);
    // Both switches still up: their probes were answered (a switch failing 3 probes in a row is
    // flagged I, inactive; one that just failed one, T).
    const targets = await dispatcherTargets(kamailio);
    expect(targets.map((t) => t.uri).sort()).toEqual(switches.map((s) => `sip:${s.address}`).sort());
    for (const t of targets) expect(t.flags, `${t.uri} flags`).toBe('AP');
    expect(kamailio.exitStatus()).toBeUndefined();

    const results = await Promise.all(switches.map((s) => s.finish()));
    const perSwitch = results.map((r) => r.successful);
    expect(perSwitch.reduce((a, b) => a + b, 0)).toBe(200);
    // Round-robin: an even split (allow a little slack for the per-process start of the rotation).
    for (const n of perSwitch) expect(n).toBeGreaterThanOrEqual(90);
    for (const r of results) {
      expect(r.failed).toBe(0);
      // Each probe OPTIONS creates a SIPp "call" that -aa answers and that then waits for an
      // INVITE that never comes: incoming calls neither successful nor failed are the probes.
      const probes = stat(r, 'IncomingCall(C)') - r.successful - r.failed;
      expect(probes, r.stdout.slice(-2000)).toBeGreaterThanOrEqual(3);
    }
  });

  it('runs the same uac-rr scenario straight against one uas-rr, without Record-Route', async () => {
    const uas = await startSipp({ scenario: UAS, localIp: DIRECT_SWITCH_IP, localPort: SIP_PORT, timeoutS: 60 });
    const calls = await runSipp({
      scenario: UAC,
      target: uas.address,
      localIp: UAC_IP,
      calls: 20,
      rate: 20,
      maxConcurrent: 100,
      extraArgs: ['-recv_timeout', '8000'],
    });
    expect(calls.errors, calls.stdout.slice(-3000)).toBe('');
    expect(calls.successful).toBe(20);
    expect(calls.failed).toBe(0);
    expect(calls.responseTimesByRtd['1']).toHaveLength(20);
    await sleep(4500);
    const r = await uas.finish();
    expect(r.successful).toBe(20);
    expect(r.failed).toBe(0);
  });
});
