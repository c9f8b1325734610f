import { accessSync, constants, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { DEFAULT_TRANSACTIONS, DEFAULT_WARMUP_CALLS, type ListenAddress, type NodeLimits, type NodeSection, type TlsConfig } from './config-types.ts';
import type { Fields } from './fields.ts';
import { tryParseHost, tryParseHostPort } from './host-port.ts';
import { tryParseListenAddress } from './listen-address.ts';
import { checkVipListeners, validateVip } from './validate-vip.ts';

const SECOND = 1000;

/** `node.udpIo`: the UDP listeners' socket implementation (dispatcher/transport/udp-transport.ts). */
export const UDP_IO_MODES = ['auto', 'native', 'node'] as const satisfies readonly NodeSection['udpIo'][];

/** Resolves a file path against `baseDir` and checks it is a readable regular file. */
function readableFile(f: Fields, key: string, baseDir: string, required: boolean): string | undefined {
  const text = required ? f.str(key) : f.optStr(key);
  if (!text) return undefined;
  const file = resolve(baseDir, text);
  let reason: string | undefined;
  try {
    if (!statSync(file).isFile()) reason = 'not a regular file';
    else accessSync(file, constants.R_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    reason = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (code ?? String(err));
  }
  if (reason) f.issues.add(f.field(key), `cannot read file ${JSON.stringify(file)} (${reason})`);
  return file;
}

function validateListen(f: Fields): ListenAddress[] {
  const result: ListenAddress[] = [];
  const bound = new Map<string, number>();
  f.list('listen', { required: true, nonEmpty: true }).forEach((item, i) => {
    const text = f.itemStr('listen', i, item);
    if (text === undefined) return;
    const addr = tryParseListenAddress(text);
    if (typeof addr === 'string') return f.issues.invalid(f.itemPath('listen', i), addr, text);
    const socket = `${addr.transport === 'udp' ? 'udp' : 'tcp'} ${addr.host} ${addr.port}`;
    const earlier = bound.get(socket);
    if (earlier !== undefined) {
      const why = addr.transport === 'udp' ? '' : ' (tcp, tls, ws and wss all bind a TCP socket)';
      f.issues.invalid(f.itemPath('listen', i), `binds the same address as ${f.itemPath('listen', earlier)}${why}`, text);
    } else {
      bound.set(socket, i);
    }
    result.push(addr);
  });
  return result;
}

function validateLimits(f: Fields): NodeLimits {
  return {
    maxMessageBytes: f.int('maxMessageBytes', 65535, { min: 1024, max: 1_048_576 }),
    maxHeaders: f.int('maxHeaders', 256, { min: 8, max: 4096 }),
    maxLineLength: f.int('maxLineLength', 8192, { min: 256, max: 65535 }),
    maxConnections: f.int('maxConnections', 10_000, { min: 1, max: 1_000_000 }),
    connectionsPerIp: f.int('connectionsPerIp', 256, { min: 1, max: 1_000_000 }),
    idleTimeout: f.duration('idleTimeout', 120 * SECOND, { min: SECOND, max: 24 * 3600 * SECOND }),
    headerTimeout: f.duration('headerTimeout', 10 * SECOND, { min: 100, max: 600 * SECOND }),
    transactions: f.int('transactions', DEFAULT_TRANSACTIONS, { min: 1, max: 10_000_000 }),
    // RFC 3261/6026's 64×T1; under T4 (5 s) a request retransmitted at T2 intervals outlives it.
    transactionLinger: f.duration('transactionLinger', 32 * SECOND, { min: 5 * SECOND, max: 32 * SECOND }),
    overloadBacklog: f.int('overloadBacklog', 4_194_304, { min: 0, max: 256 * 1_048_576 }),
  };
}

export function validateNode(f: Fields, baseDir: string): NodeSection {
  const node: NodeSection = {
    id: f.str('id', { pattern: /^[a-z0-9-]+$/, maxLength: 32, hint: 'must be 1-32 characters of a-z, 0-9 and -' }),
    listen: validateListen(f),
    limits: validateLimits(f.map('limits')),
    warmup: f.duration('warmup', 10 * SECOND, { min: 0, max: 600 * SECOND }),
    warmupCalls: f.int('warmupCalls', DEFAULT_WARMUP_CALLS, { min: 0, max: 20_000 }),
    workers: f.int('workers', 1, { min: 1, max: MAX_WORKERS }),
    udpIo: f.oneOf('udpIo', UDP_IO_MODES, 'auto'),
    workerPortBase: 0,
  };

  const advertise = f.optStr('advertise');
  if (advertise !== undefined) {
    const host = tryParseHost(advertise, true);
    if (typeof host === 'string') node.advertise = host;
    else f.invalid('advertise', host.problem);
  }

  if (f.has('vip')) {
    const vip = validateVip(f.map('vip'));
    checkVipListeners(f, vip, node.listen);
    node.vip = vip;
    // Record-Route and Via name the floating IP: in-dialog requests then reach whichever node holds it.
    if (node.advertise === undefined && vip.address !== '') node.advertise = vip.address;
  }

  const http = f.optStr('http');
  if (http !== undefined) {
    const hp = tryParseHostPort(http, false);
    if (typeof hp === 'string') f.invalid('http', hp);
    else node.http = hp;
  }

  if (f.has('tls')) {
    const t = f.map('tls');
    const tls: TlsConfig = { cert: readableFile(t, 'cert', baseDir, true) ?? '', key: readableFile(t, 'key', baseDir, true) ?? '' };
    const ca = readableFile(t, 'ca', baseDir, false);
    if (ca !== undefined) tls.ca = ca;
    node.tls = tls;
  } else {
    const secure = node.listen.findIndex((l) => l.transport === 'tls' || l.transport === 'wss');
    if (secure >= 0) {
      f.missing('tls', `is required (cert and key) because node.listen has ${node.listen[secure].url}`);
    }
  }
  validateWorkers(f, node);
  return node;
}

/** Most worker processes one node may run (a core each; more than the cores only costs). */
export const MAX_WORKERS = 64;

/** What workers add to `node.id` (`d1` → `d1-w0`, `d1-w1`...). */
export function workerNodeId(id: string, index: number): string {
  return `${id}-w${index}`;
}

/**
 * `node.workers` > 1: each worker is a cluster node of its own (`<id>-w<k>`), with its own UDP
 * port `workerPortBase + k`; the ports and the ids must fit. The default base is 100 above the
 * first UDP listen port (5060 → 5160), or 5160 without one.
 */
function validateWorkers(f: Fields, node: NodeSection): void {
  const firstUdp = node.listen.find((l) => l.transport === 'udp');
  node.workerPortBase = f.int('workerPortBase', Math.min((firstUdp?.port ?? 5060) + 100, 65535), { min: 1, max: 65535 });
  const n = node.workers;
  if (n <= 1) return;
  const last = node.workerPortBase + n - 1;
  if (last > 65535) f.invalid('workerPortBase', `with ${n} workers the last worker port would be ${last}, past 65535`);
  const clash = node.listen.find((l) => l.transport === 'udp' && l.port >= node.workerPortBase && l.port <= last);
  if (clash !== undefined) f.invalid('workerPortBase', `worker ports ${node.workerPortBase}-${last} overlap ${clash.url} in node.listen`);
  const longest = workerNodeId(node.id, n - 1);
  if (node.id !== '' && longest.length > 32) f.invalid('id', `is too long for ${n} workers: worker ids like "${longest}" must stay within 32 characters`, node.id);
  if (node.vip !== undefined) f.invalid('workers', 'cannot be more than 1 with node.vip (the floating IP is held per node, and every worker is a node of its own)', n);
  if (node.http !== undefined && node.http.port + n - 1 > 65535) f.invalid('http', `worker k serves HTTP on its port + k: ${node.http.port + n - 1} is past 65535`);
}
