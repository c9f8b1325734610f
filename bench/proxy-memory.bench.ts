/**
 * Proxy memory per call, in one process (no sockets, no SIPp):
 *
 *   npx node --expose-gc bench/proxy-memory.bench.ts            # markdown
 *   npx node --expose-gc bench/proxy-memory.bench.ts --json     # JSON
 *
 * Options: --calls N (default 20000), --batch N (calls in flight together, default 200),
 * --warmup N (default 2000), --real-timers (below).
 *
 * Builds the proxy test harness (TransactionLayer + ProxyCore over FakeTransport, ManualClock,
 * static router over two switches, admit-all admission) and runs complete UDP calls through it:
 * carrier INVITE (with SDP) → switch 100/180/200 (with SDP) → carrier ACK → carrier BYE →
 * switch 200. The clock never moves while the calls run, so every finished transaction is still
 * in the table, as it is in steady state for the 32 s of RFC 6026 Timer L/M and Timer J (and the
 * 5 s of Timer K). Then it reports, after global.gc():
 *   - heap used per call (V8 heap) and off-heap Buffer memory per call (`arrayBuffers`),
 *   - live server/client transactions,
 *   - calls per second of process CPU time (includes building the carrier's and switch's
 *     messages, a small share),
 * and again after advancing the clock past every timer: the tables must be empty and the heap
 * back near the baseline (a leak check). Then the memory of active calls: as many calls answered
 * and left up (no BYE), measured once their transactions have expired (40 s into the call).
 *
 * `--real-timers`: the same calls on the system clock (Node timers, the transaction layer's
 * expiry lanes), as the dispatcher runs them: heap per call while every call's transactions are
 * held (the run is far shorter than their 32 s), and CPU µs per call of the proxy's own work
 * (parse, transactions, proxy core, serialize, timers, GC; no sockets, no store). Run it pinned:
 * `taskset -c 1 npx node --expose-gc bench/proxy-memory.bench.ts --real-timers`. Keep --calls
 * at or below 20000: held transactions count against the table's 100 000.
 *
 * TestAdmission's assertion records are cleared after each batch (a real admission keeps nothing
 * per call once the call is released).
 *
 * Inbound datagrams are given their own ArrayBuffer (as a UDP socket delivers them), not a slice
 * of Node's shared 8 KB Buffer pool, so what a retained message pins is what it would pin live.
 */
import { performance } from 'node:perf_hooks';
import { proxyHarness, SW1_FLOW, SW2_FLOW, type ProxyHarness } from '../dispatcher/proxy/proxy-test-kit.ts';
import { systemClock, type Clock } from '../dispatcher/transaction/clock.ts';
import { CARRIER, settle } from '../dispatcher/transaction/transaction-test-kit.ts';
import type { FlowOptions, SentRecord } from '../dispatcher/transport/fake-transport.ts';

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) {
  console.error('run with --expose-gc: npx node --expose-gc bench/proxy-memory.bench.ts');
  process.exit(2);
}

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const v = Number(process.argv[i + 1]);
  if (!Number.isInteger(v) || v <= 0) throw new Error(`--${name}: a positive integer`);
  return v;
}
const CALLS = arg('calls', 20_000);
const BATCH = arg('batch', 200);
const WARMUP = arg('warmup', 2_000);
const JSON_OUT = process.argv.includes('--json');
const REAL_TIMERS = process.argv.includes('--real-timers');

const SDP_CARRIER =
  'v=0\r\no=- 3901938217 3901938217 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\n' +
  'm=audio 34568 RTP/AVP 0 8 18 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:18 G729/8000\r\n' +
  'a=fmtp:18 annexb=no\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n';
const SDP_SWITCH = SDP_CARRIER.replaceAll('198.51.100.7', '192.0.2.21').replace('34568', '40000');

/** A datagram in its own ArrayBuffer, as dgram hands it over. */
function datagram(text: string): Buffer {
  const b = Buffer.allocUnsafeSlow(text.length);
  b.write(text, 0, 'latin1');
  return b;
}

interface Call {
  n: number;
  /** The run's name, in the Call-ID and branches: the warm-up's transactions are still held on the system clock. */
  run: string;
  callId: string;
  fromTag: string;
  /** From and To lines as the carrier sends them (To without tag). */
  from: string;
  to: string;
  ruri: string;
}

function newCall(n: number, run: string): Call {
  return {
    n,
    run,
    callId: `${run}-${n}-5f9c1e7a2b8d4c3e9a1f6b2d7c8e4a0b@198.51.100.7`,
    fromTag: `8f3a2c71-${n}`,
    from: `From: "ACME Billing" <sip:+12125550199@198.51.100.7:5060;user=phone>;tag=8f3a2c71-${n}`,
    to: 'To: "Customer" <sip:+14155550123@192.0.2.100;user=phone>',
    ruri: 'sip:+14155550123@192.0.2.100:5060;user=phone',
  };
}

function carrierRequest(c: Call, method: string, cseq: number, branch: string, toTag: string | undefined, body: string): string {
  const lines = [
    `${method} ${c.ruri} SIP/2.0`,
    `Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-${branch}-${c.run}-${c.n};rport`,
    'Max-Forwards: 70',
    c.from,
    toTag === undefined ? c.to : `${c.to};tag=${toTag}`,
    `Call-ID: ${c.callId}`,
    `CSeq: ${cseq} ${method}`,
    'Contact: <sip:+12125550199@198.51.100.7:5060;transport=udp>',
  ];
  if (method === 'INVITE') {
    lines.push(
      'Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, PRACK, UPDATE, INFO, REFER, NOTIFY',
      'Supported: 100rel, timer, replaces',
      'User-Agent: CarrierSBC/7.4.2',
      'P-Asserted-Identity: "ACME Billing" <sip:+12125550199@carrier.example.net;user=phone>',
      'Content-Type: application/sdp',
    );
  }
  lines.push(`Content-Length: ${body.length}`);
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}

/** A switch's response to a request we forwarded: Vias, Record-Route, From, To (+tag), Call-ID, CSeq copied. */
function switchResponse(fwd: SentRecord, status: number, reason: string, body: string): string {
  const text = fwd.text;
  const head = text.slice(0, text.indexOf('\r\n\r\n')).split('\r\n');
  const out = [`SIP/2.0 ${status} ${reason}`];
  for (const l of head) {
    const k = l.slice(0, l.indexOf(':')).toLowerCase();
    if (k === 'via' || k === 'record-route' || k === 'from' || k === 'call-id' || k === 'cseq') out.push(l);
    else if (k === 'to') out.push(status > 100 && !l.includes(';tag=') ? `${l};tag=sw-${status === 100 ? '' : 'as5e1b2c7d'}` : l);
  }
  if (status > 100 && fwd.text.startsWith('INVITE ')) {
    out.push('Contact: <sip:+14155550123@192.0.2.21:5060>', 'Server: SwitchCore/3.1');
    if (body.length > 0) out.push('Content-Type: application/sdp');
  }
  out.push(`Content-Length: ${body.length}`);
  return `${out.join('\r\n')}\r\n\r\n${body}`;
}

function switchFlow(fwd: SentRecord): FlowOptions {
  return fwd.target.address === SW1_FLOW.remoteAddress ? SW1_FLOW : SW2_FLOW;
}

function toSwitch(s: SentRecord, method: string): boolean {
  return s.target.address !== CARRIER.remoteAddress && s.text.startsWith(`${method} `);
}

let relayedByeOk = 0;

function countRelayed(sent: SentRecord[]): void {
  for (const s of sent) if (s.target.address === CARRIER.remoteAddress && s.text.startsWith('SIP/2.0 200 ') && s.text.includes(' BYE\r\n')) relayedByeOk++;
}

/** One batch of calls, all in flight together: complete ones, or (`bye` false) answered calls left up. */
async function runBatch(h: ProxyHarness<Clock>, calls: Call[], bye = true): Promise<void> {
  const t = h.transport;
  for (const c of calls) t.inject(datagram(carrierRequest(c, 'INVITE', 1, 'inv', undefined, SDP_CARRIER)), CARRIER);
  await settle();
  for (const s of t.take()) {
    if (!toSwitch(s, 'INVITE')) continue;
    const flow = switchFlow(s);
    t.inject(datagram(switchResponse(s, 100, 'Trying', '')), flow);
    t.inject(datagram(switchResponse(s, 180, 'Ringing', '')), flow);
    t.inject(datagram(switchResponse(s, 200, 'OK', SDP_SWITCH)), flow);
  }
  t.take();
  for (const c of calls) {
    t.inject(datagram(carrierRequest(c, 'ACK', 1, 'ack', 'sw-as5e1b2c7d', '')), CARRIER);
    if (bye) t.inject(datagram(carrierRequest(c, 'BYE', 2, 'bye', 'sw-as5e1b2c7d', '')), CARRIER);
  }
  await settle();
  for (const s of t.take()) {
    if (toSwitch(s, 'BYE')) t.inject(datagram(switchResponse(s, 200, 'OK', '')), switchFlow(s));
  }
  countRelayed(t.take());
  // TestAdmission records every admit (with its request) and release for assertions; a real
  // admission keeps nothing per call once released, so the bench drops the records.
  h.admission.admits.length = 0;
  h.admission.releases.length = 0;
}

async function runCalls(h: ProxyHarness<Clock>, n: number, run: string, bye = true): Promise<void> {
  for (let i = 0; i < n; i += BATCH) {
    const calls: Call[] = [];
    for (let j = i; j < Math.min(n, i + BATCH); j++) calls.push(newCall(j, run));
    await runBatch(h, calls, bye);
  }
}

/** Past the transaction timers of an answered call (Timer L/M 32 s, Timer K 5 s), not Timer C nor the dialog's age. */
function expireTransactions(h: ProxyHarness): void {
  h.clock.advance(40_000);
}

function heap(): { heapUsed: number; arrayBuffers: number; rss: number } {
  for (let i = 0; i < 4; i++) gc?.();
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, arrayBuffers: m.arrayBuffers, rss: m.rss };
}

/** Past every timer: Timer L/M/J/K (32 s), Timer C (181 s), the dialog table's max age (6 h). */
function expireAll(h: ProxyHarness): void {
  h.clock.advance(7 * 3600_000);
}

/** The calls on the system clock: held heap and CPU per call, as the dispatcher runs them. */
async function mainRealTimers(): Promise<void> {
  const h = proxyHarness({}, systemClock);
  await runCalls(h, WARMUP, 'warm');
  relayedByeOk = 0;
  const base = heap();
  const cpu0 = process.cpuUsage();
  await runCalls(h, CALLS, 'run');
  const cpu = process.cpuUsage(cpu0);
  const held = heap();
  const st = h.layer.stats();
  const r = {
    date: new Date().toISOString(),
    node: process.version,
    calls: CALLS,
    completed: relayedByeOk,
    heldServerTxns: st.serverTransactions,
    heldClientTxns: st.clientTransactions,
    heapPerCallBytes: (held.heapUsed - base.heapUsed) / CALLS,
    arrayBuffersPerCallBytes: (held.arrayBuffers - base.arrayBuffers) / CALLS,
    cpuUsPerCall: (cpu.user + cpu.system) / CALLS,
  };
  if (r.completed !== CALLS) console.error(`warning: ${r.completed} of ${CALLS} calls completed (BYE 200 relayed to the carrier)`);
  if (JSON_OUT) console.log(JSON.stringify(r, null, 2));
  else {
    console.log(`proxy per call on the system clock: ${r.node}, ${CALLS} calls (${r.completed} completed), ${r.date}\n`);
    console.log('| figure | value |\n| --- | --: |');
    console.log(`| heap per call, all transactions held (KB) | ${(r.heapPerCallBytes / 1024).toFixed(2)} |`);
    console.log(`| off-heap Buffers per call, held (KB) | ${(r.arrayBuffersPerCallBytes / 1024).toFixed(2)} |`);
    console.log(`| live server / client transactions | ${r.heldServerTxns} / ${r.heldClientTxns} |`);
    console.log(`| CPU per call, µs (proxy work in-process: no sockets, no store) | ${r.cpuUsPerCall.toFixed(1)} |`);
  }
  // The held transactions' timers (32 s) would keep nothing alive (they are unref'd), but end now.
  h.layer.close();
}

async function main(): Promise<void> {
  const h = proxyHarness();
  // Warm-up: the JIT, the parser's name table, the harness; then everything expires.
  await runCalls(h, WARMUP, 'warm');
  expireAll(h);
  relayedByeOk = 0;
  const base = heap();

  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await runCalls(h, CALLS, 'run');
  const cpu = process.cpuUsage(cpu0);
  const wallMs = performance.now() - t0;
  const cpuS = (cpu.user + cpu.system) / 1e6;
  const held = heap();
  const st = h.layer.stats();
  const heldDialogs = h.dialogs.size;

  expireAll(h);
  const after = heap();
  const st2 = h.layer.stats();

  // Active calls: answered and up (INVITE … ACK, no BYE), once their transactions are gone
  // (≥ 40 s into the call): what a long call costs for its whole duration.
  await runCalls(h, CALLS, 'active', false);
  expireTransactions(h);
  const active = heap();
  const st3 = h.layer.stats();
  const activeDialogs = h.dialogs.size;
  expireAll(h);

  const r = {
    date: new Date().toISOString(),
    node: process.version,
    calls: CALLS,
    batch: BATCH,
    completed: relayedByeOk,
    heldServerTxns: st.serverTransactions,
    heldClientTxns: st.clientTransactions,
    txnsPerCall: (st.serverTransactions + st.clientTransactions) / CALLS,
    heldDialogs,
    heapPerCallBytes: (held.heapUsed - base.heapUsed) / CALLS,
    arrayBuffersPerCallBytes: (held.arrayBuffers - base.arrayBuffers) / CALLS,
    callsPerCpuSecond: CALLS / cpuS,
    callsPerWallSecond: CALLS / (wallMs / 1000),
    baselineHeapMB: base.heapUsed / 2 ** 20,
    heldHeapMB: held.heapUsed / 2 ** 20,
    heldRssMB: held.rss / 2 ** 20,
    afterServerTxns: st2.serverTransactions,
    afterClientTxns: st2.clientTransactions,
    afterDialogs: h.dialogs.size,
    afterPendingTimers: h.clock.pending,
    afterHeapDeltaPerCallBytes: (after.heapUsed - base.heapUsed) / CALLS,
    afterArrayBuffersDeltaPerCallBytes: (after.arrayBuffers - base.arrayBuffers) / CALLS,
    afterHeapMB: after.heapUsed / 2 ** 20,
    activeDialogs,
    activeTxnsLeft: st3.serverTransactions + st3.clientTransactions,
    heapPerActiveCallBytes: (active.heapUsed - after.heapUsed) / CALLS,
    arrayBuffersPerActiveCallBytes: (active.arrayBuffers - after.arrayBuffers) / CALLS,
  };
  if (r.completed !== CALLS) console.error(`warning: ${r.completed} of ${CALLS} calls completed (BYE 200 relayed to the carrier)`);
  if (JSON_OUT) {
    console.log(JSON.stringify(r, null, 2));
    return;
  }
  const kb = (b: number): string => (b / 1024).toFixed(2);
  console.log(`proxy memory per call: ${r.node}, ${CALLS} calls (${r.completed} completed), batches of ${BATCH}, ${r.date}\n`);
  console.log('| figure | value |\n| --- | --: |');
  console.log(`| heap per call, all transactions held (KB) | ${kb(r.heapPerCallBytes)} |`);
  console.log(`| off-heap Buffers per call, held (KB) | ${kb(r.arrayBuffersPerCallBytes)} |`);
  console.log(`| live server / client transactions | ${r.heldServerTxns} / ${r.heldClientTxns} |`);
  console.log(`| transactions per call | ${r.txnsPerCall.toFixed(2)} |`);
  console.log(`| dialogs left | ${r.heldDialogs} |`);
  console.log(`| calls per CPU-second | ${Math.round(r.callsPerCpuSecond)} |`);
  console.log(`| calls per wall-second | ${Math.round(r.callsPerWallSecond)} |`);
  console.log(`| heap MB: baseline / held / after expiry | ${r.baselineHeapMB.toFixed(1)} / ${r.heldHeapMB.toFixed(1)} / ${r.afterHeapMB.toFixed(1)} |`);
  console.log(`| after expiry: server / client txns, dialogs, pending timers | ${r.afterServerTxns} / ${r.afterClientTxns}, ${r.afterDialogs}, ${r.afterPendingTimers} |`);
  console.log(`| after expiry: heap / off-heap per call vs baseline (KB) | ${kb(r.afterHeapDeltaPerCallBytes)} / ${kb(r.afterArrayBuffersDeltaPerCallBytes)} |`);
  console.log(`| active calls (answered, up, transactions expired): dialogs / transactions left | ${r.activeDialogs} / ${r.activeTxnsLeft} |`);
  console.log(`| heap / off-heap per active call (KB) | ${kb(r.heapPerActiveCallBytes)} / ${kb(r.arrayBuffersPerActiveCallBytes)} |`);
}

await (REAL_TIMERS ? mainRealTimers() : main());
