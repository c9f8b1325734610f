/**
 * The floor of Node's UDP I/O: CPU per datagram that a Node process receives and sends on (what
 * the dispatcher does for each of the 7 datagrams in and 7 out of a call, before any SIP work).
 *
 *   npx node bench/udp-floor.bench.ts [--rate N] [--seconds N] [--size BYTES] [--cpu N] [--load-cpu N] [--io node|native] [--json]
 *
 * A forwarder (a child process pinned to --cpu, default 1) receives on 127.0.0.50 and sends each
 * datagram on to 127.0.0.51, nothing else; this process (pinned to --load-cpu, default 0) sends
 * --rate datagrams/s (default 14000: the dispatcher's datagram rate at 1000 calls/s, 7 in per
 * call) of --size bytes (default 900, a carrier INVITE's size) for --seconds (default 6) and
 * counts what comes back. The forwarder reports its user and system CPU per datagram.
 *
 * --io node (default): the forwarder uses node:dgram. --io native: the dispatcher's batched UDP
 * I/O addon (dispatcher/transport/native/udp-io.c; `bash scripts/build-native.sh` builds it),
 * receiving in recvmmsg batches and sending each datagram with one sendto, as the dispatcher does.
 */
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { loadUdpIo, udpIoUnavailable } from '../dispatcher/transport/native-udp-io.ts';

const IN = { address: '127.0.0.50', port: 7150 };
const OUT = { address: '127.0.0.51', port: 7151 };

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const v = Number(process.argv[i + 1]);
  if (!Number.isInteger(v) || v < 0) throw new Error(`--${name}: a non-negative integer`);
  return v;
}

/** The forwarder: receive, send on; print CPU per datagram when told to stop (a line on stdin). */
function forwarder(io: string): void {
  let n = 0;
  let cpu0 = process.cpuUsage();
  if (io === 'native') {
    const addon = loadUdpIo();
    if (addon === undefined) throw new Error(udpIoUnavailable());
    const meta = new Uint32Array(addon.BATCH * 3);
    const bufs = new Array<Buffer | undefined>(addon.BATCH).fill(undefined);
    const handle = addon.open(4, IN.address, IN.port, false, 4 << 20, (k) => {
      if (n === 0) cpu0 = process.cpuUsage();
      for (let i = 0; i < k; i++) {
        n++;
        addon.send(handle, bufs[i]!, OUT.address, OUT.port);
        bufs[i] = undefined;
      }
    }, () => {}, meta, bufs, []);
    process.stdout.write('ready\n');
  } else {
    const sock = dgram.createSocket('udp4');
    sock.on('message', (msg) => {
      if (n === 0) cpu0 = process.cpuUsage();
      n++;
      sock.send(msg, OUT.port, OUT.address);
    });
    sock.bind(IN.port, IN.address, () => process.stdout.write('ready\n'));
  }
  process.stdin.once('data', () => {
    const c = process.cpuUsage(cpu0);
    process.stdout.write(`${JSON.stringify({ datagrams: n, userUs: c.user / Math.max(1, n), sysUs: c.system / Math.max(1, n) })}\n`);
    process.exit(0);
  });
}

async function main(): Promise<void> {
  const rate = arg('rate', 14_000);
  const seconds = arg('seconds', 6);
  const size = arg('size', 900);
  const cpu = arg('cpu', 1);
  const loadCpu = arg('load-cpu', 0);
  const json = process.argv.includes('--json');
  const io = ioArg();
  const self = fileURLToPath(import.meta.url);
  const child = spawn('taskset', ['-c', String(cpu), process.execPath, self, '--forwarder', '--io', io], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines: string[] = [];
  let buf = '';
  const lineWaiters: Array<() => void> = [];
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      lines.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
      lineWaiters.shift()?.();
    }
  });
  const nextLine = async (): Promise<string> => {
    if (lines.length === 0) await new Promise<void>((resolve) => lineWaiters.push(resolve));
    return lines.shift() as string;
  };
  try {
    if ((await nextLine()) !== 'ready') throw new Error('forwarder did not start');
    spawn('taskset', ['-pc', String(loadCpu), String(process.pid)], { stdio: 'ignore' });
    const sink = dgram.createSocket('udp4');
    let back = 0;
    sink.on('message', () => back++);
    await new Promise<void>((resolve) => sink.bind(OUT.port, OUT.address, resolve));
    const out = dgram.createSocket('udp4');
    const msg = Buffer.alloc(size, 0x41);
    let sent = 0;
    const perTick = Math.max(1, Math.round(rate / 100));
    const tick = setInterval(() => {
      for (let i = 0; i < perTick; i++) out.send(msg, IN.port, IN.address);
      sent += perTick;
    }, 10);
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    clearInterval(tick);
    await new Promise((resolve) => setTimeout(resolve, 300));
    child.stdin.write('stop\n');
    const r = JSON.parse(await nextLine()) as { datagrams: number; userUs: number; sysUs: number };
    sink.close();
    out.close();
    const result = { date: new Date().toISOString(), node: process.version, io, rate, seconds, size, sent, received: r.datagrams, returned: back, ...r, totalUs: r.userUs + r.sysUs };
    if (json) console.log(JSON.stringify(result, null, 2));
    else {
      console.log(`Node UDP forward floor (${io === 'native' ? 'batched I/O addon' : 'node:dgram'}): ${result.node}, ${rate} datagrams/s × ${seconds} s of ${size} B, forwarder on CPU ${cpu}, ${result.date}\n`);
      console.log('| datagrams sent / forwarded / returned | user µs per datagram | system µs per datagram | total µs per datagram |');
      console.log('| --- | --: | --: | --: |');
      console.log(`| ${sent} / ${r.datagrams} / ${back} | ${r.userUs.toFixed(2)} | ${r.sysUs.toFixed(2)} | ${result.totalUs.toFixed(2)} |`);
    }
  } finally {
    child.kill('SIGKILL');
  }
}

function ioArg(): 'node' | 'native' {
  const i = process.argv.indexOf('--io');
  const v = i < 0 ? 'node' : process.argv[i + 1];
  if (v !== 'node' && v !== 'native') throw new Error('--io: node or native');
  return v;
}

if (process.argv.includes('--forwarder')) forwarder(ioArg());
else await main();
