/**
 * SIP parser micro-benchmark (`npm run bench:parse`). A plain Node script, no test runner.
 *
 *   taskset -c 1 npx node bench/parse.bench.ts          # markdown table
 *   taskset -c 1 npx node bench/parse.bench.ts --json   # JSON
 *
 * Options: --rounds N (default 5), --round-ms N (default 1000), --warmup-ms N (default 1500),
 * --only NAME[,NAME...] (those cases only).
 *
 * Cases:
 *   invite-parse            parseMessage of a typical carrier INVITE with SDP
 *   invite-parse-touch-ser  parse + what the proxy reads on every hop (top Via branch, From tag,
 *                           Call-ID, CSeq, Max-Forwards) + serializeMessage
 *   invite-serialize        serializeMessage of an already-parsed INVITE
 *   200ok-parse-ser         parse + serialize of a 200 OK with SDP
 *   invite-forward          parse + touch + what forwarding changes (our Via on top, Max-Forwards
 *                           decremented, Route removed) + serialize; for reference, not a target
 *   200ok-relay             a switch's 200 OK with both Vias on one line (as SIPp's [last_Via:]
 *                           writes them): parse + touch + our Via removed + serialize, which is
 *                           what relaying a response upstream costs
 *
 * Each case warms up, then runs N timed rounds of at least round-ms each; the reported figure is
 * the median msgs/s (wall clock) over the rounds. The median msgs per second of process CPU time
 * is printed too: on a machine shared with other work it shows how much of a low wall-clock
 * figure is time spent waiting for the CPU rather than parsing.
 */
import os from 'node:os';
import { parseMessage } from '../shared/sip/parse.ts';
import { serializeMessage } from '../shared/sip/serialize.ts';
import type { SipMessage } from '../shared/sip/message.ts';

const SDP =
  'v=0\r\n' +
  'o=- 3901938217 3901938217 IN IP4 203.0.113.17\r\n' +
  's=-\r\n' +
  'c=IN IP4 203.0.113.17\r\n' +
  't=0 0\r\n' +
  'm=audio 34568 RTP/AVP 0 8 18 101\r\n' +
  'a=rtpmap:0 PCMU/8000\r\n' +
  'a=rtpmap:8 PCMA/8000\r\n' +
  'a=rtpmap:18 G729/8000\r\n' +
  'a=fmtp:18 annexb=no\r\n' +
  'a=rtpmap:101 telephone-event/8000\r\n' +
  'a=fmtp:101 0-16\r\n' +
  'a=ptime:20\r\n' +
  'a=sendrecv\r\n';

function invite(): Buffer {
  const head =
    'INVITE sip:+14155550123@198.51.100.20:5060;user=phone SIP/2.0\r\n' +
    'Via: SIP/2.0/UDP 203.0.113.17:5060;branch=z9hG4bK-524287-1---6c2f7b1e3a9d4f01;rport\r\n' +
    'Max-Forwards: 69\r\n' +
    'From: "ACME Billing" <sip:+12125550199@203.0.113.17:5060;user=phone>;tag=8f3a2c71\r\n' +
    'To: "Customer" <sip:+14155550123@198.51.100.20;user=phone>\r\n' +
    'Call-ID: 5f9c1e7a2b8d4c3e9a1f6b2d7c8e4a0b@203.0.113.17\r\n' +
    'CSeq: 102 INVITE\r\n' +
    'Contact: <sip:+12125550199@203.0.113.17:5060;transport=udp>\r\n' +
    'Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, PRACK, UPDATE, INFO, REFER, NOTIFY\r\n' +
    'Supported: 100rel, timer, replaces\r\n' +
    'User-Agent: CarrierSBC/7.4.2\r\n' +
    'P-Asserted-Identity: "ACME Billing" <sip:+12125550199@carrier.example.net;user=phone>\r\n' +
    'Content-Type: application/sdp\r\n' +
    `Content-Length: ${SDP.length}\r\n` +
    '\r\n';
  return Buffer.from(head + SDP, 'latin1');
}

function ok200(): Buffer {
  const head =
    'SIP/2.0 200 OK\r\n' +
    'Via: SIP/2.0/UDP 203.0.113.17:5060;branch=z9hG4bK-524287-1---6c2f7b1e3a9d4f01;rport=5060;received=203.0.113.17\r\n' +
    'Record-Route: <sip:198.51.100.2;lr>\r\n' +
    'From: "ACME Billing" <sip:+12125550199@203.0.113.17:5060;user=phone>;tag=8f3a2c71\r\n' +
    'To: "Customer" <sip:+14155550123@198.51.100.20;user=phone>;tag=as5e1b2c7d\r\n' +
    'Call-ID: 5f9c1e7a2b8d4c3e9a1f6b2d7c8e4a0b@203.0.113.17\r\n' +
    'CSeq: 102 INVITE\r\n' +
    'Contact: <sip:+14155550123@198.51.100.20:5060>\r\n' +
    'Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, PRACK, UPDATE, INFO, REFER, NOTIFY\r\n' +
    'Supported: replaces, timer\r\n' +
    'Server: SwitchCore/3.1\r\n' +
    'Content-Type: application/sdp\r\n' +
    `Content-Length: ${SDP.length}\r\n` +
    '\r\n';
  return Buffer.from(head + SDP, 'latin1');
}

/** `ok200()` as it comes back from a switch: our Via on top, on the same line as the carrier's. */
function ok200Relayed(): Buffer {
  const text = OK200.toString('latin1').replace(
    'Via: ',
    'Via: SIP/2.0/UDP 198.51.100.2:5060;branch=z9hG4bK-sf1.4k2j9-0-1a2b3c;rport=5060, ',
  );
  return Buffer.from(text, 'latin1');
}

const INVITE = invite();
const OK200 = ok200();
const OK200_RELAYED = ok200Relayed();

/** Keeps results alive so the JIT cannot drop the work. */
let sink = 0;

function touch(m: SipMessage): void {
  const v = m.via;
  sink += (v.branch?.length ?? 0) + (m.fromTag?.length ?? 0) + m.callId.length + m.cseq.seq + (m.maxForwards ?? 0);
}

interface Case {
  name: string;
  bytes: number;
  run: (n: number) => void;
}

const preParsed = parseMessage(INVITE);

const CASES: Case[] = [
  {
    name: 'invite-parse',
    bytes: INVITE.length,
    run(n) {
      for (let i = 0; i < n; i++) sink += parseMessage(INVITE).headers.length;
    },
  },
  {
    name: 'invite-parse-touch-ser',
    bytes: INVITE.length,
    run(n) {
      for (let i = 0; i < n; i++) {
        const m = parseMessage(INVITE);
        touch(m);
        sink += serializeMessage(m).length;
      }
    },
  },
  {
    name: 'invite-serialize',
    bytes: INVITE.length,
    run(n) {
      for (let i = 0; i < n; i++) sink += serializeMessage(preParsed).length;
    },
  },
  {
    name: 'invite-forward',
    bytes: INVITE.length,
    run(n) {
      for (let i = 0; i < n; i++) {
        const m = parseMessage(INVITE);
        touch(m);
        m.prepend('Via', 'SIP/2.0/UDP 198.51.100.2:5060;branch=z9hG4bK-sipfleet-1.1');
        m.set('Max-Forwards', String((m.maxForwards ?? 70) - 1));
        m.remove('route');
        sink += serializeMessage(m).length;
      }
    },
  },
  {
    name: '200ok-parse-ser',
    bytes: OK200.length,
    run(n) {
      for (let i = 0; i < n; i++) sink += serializeMessage(parseMessage(OK200)).length;
    },
  },
  {
    name: '200ok-relay',
    bytes: OK200_RELAYED.length,
    run(n) {
      for (let i = 0; i < n; i++) {
        const m = parseMessage(OK200_RELAYED);
        touch(m);
        m.removeFirstValue('via');
        sink += serializeMessage(m).length;
      }
    },
  },
];

function argNum(flag: string, dflt: number): number {
  const i = process.argv.indexOf(flag);
  if (i < 0) return dflt;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${flag} needs a positive number`);
  return v;
}

const ROUNDS = Math.max(1, Math.floor(argNum('--rounds', 5)));
const ROUND_MS = argNum('--round-ms', 1000);
const WARMUP_MS = argNum('--warmup-ms', 1500);
const JSON_OUT = process.argv.includes('--json');

/**
 * Runs `c` for at least `ms` in batches; returns msgs per wall-clock second and msgs per second of
 * this process's CPU time (the second is less disturbed by other work on a shared machine).
 */
function timed(c: Case, ms: number): { wall: number; cpu: number } {
  let batch = 1000;
  let count = 0;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const limit = BigInt(Math.round(ms * 1e6));
  let elapsed = 0n;
  while (elapsed < limit) {
    c.run(batch);
    count += batch;
    elapsed = process.hrtime.bigint() - t0;
    // Aim for batches of ~20 ms so the clock is read rarely.
    if (elapsed < 20_000_000n) batch *= 2;
  }
  const cpu = process.cpuUsage(cpu0);
  return { wall: count / (Number(elapsed) / 1e9), cpu: count / ((cpu.user + cpu.system) / 1e6) };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

interface Result {
  case: string;
  bytes: number;
  /** Wall clock: the headline figure. */
  medianOpsPerSec: number;
  minOpsPerSec: number;
  maxOpsPerSec: number;
  /** Per second of process CPU time. */
  medianOpsPerCpuSec: number;
  rounds: number[];
}

// Sanity: the messages are what they claim to be, and parse + serialize is byte-exact.
if (!serializeMessage(parseMessage(INVITE)).equals(INVITE)) throw new Error('INVITE does not round-trip');
if (!serializeMessage(parseMessage(OK200)).equals(OK200)) throw new Error('200 OK does not round-trip');

const results: Result[] = [];
const ONLY = process.argv.indexOf('--only') < 0 ? undefined : (process.argv[process.argv.indexOf('--only') + 1] ?? '').split(',');
const unknown = ONLY?.filter((name) => !CASES.some((c) => c.name === name)) ?? [];
if (unknown.length > 0) throw new Error(`--only: no case named ${unknown.join(', ')} (cases: ${CASES.map((c) => c.name).join(', ')})`);

for (const c of CASES) {
  if (ONLY !== undefined && !ONLY.includes(c.name)) continue;
  timed(c, WARMUP_MS);
  const rounds: number[] = [];
  const cpuRounds: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t = timed(c, ROUND_MS);
    rounds.push(t.wall);
    cpuRounds.push(t.cpu);
  }
  results.push({
    case: c.name,
    bytes: c.bytes,
    medianOpsPerSec: Math.round(median(rounds)),
    minOpsPerSec: Math.round(Math.min(...rounds)),
    maxOpsPerSec: Math.round(Math.max(...rounds)),
    medianOpsPerCpuSec: Math.round(median(cpuRounds)),
    rounds: rounds.map(Math.round),
  });
}

const env = {
  node: process.version,
  cpu: os.cpus()[0]?.model ?? 'unknown',
  cpus: os.cpus().length,
  platform: `${os.platform()} ${os.arch()}`,
  rounds: ROUNDS,
  roundMs: ROUND_MS,
  warmupMs: WARMUP_MS,
};

if (JSON_OUT) {
  console.log(JSON.stringify({ env, results, sink: sink > 0 }, null, 2));
} else {
  const fmt = (n: number) => n.toLocaleString('en-US');
  console.log(`node ${env.node} · ${env.cpu} (${env.cpus} cpus) · ${env.platform} · ${ROUNDS} rounds × ${ROUND_MS} ms, median\n`);
  console.log('| case | bytes | median msgs/s | min | max | µs/msg | median msgs per CPU-s |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const r of results) {
    console.log(
      `| ${r.case} | ${r.bytes} | ${fmt(r.medianOpsPerSec)} | ${fmt(r.minOpsPerSec)} | ${fmt(r.maxOpsPerSec)} | ${(1e6 / r.medianOpsPerSec).toFixed(2)} | ${fmt(r.medianOpsPerCpuSec)} |`,
    );
  }
  if (sink === 0) console.log('(sink is zero?)');
}
