import { createSocket } from 'node:dgram';
import { readdir, readFile, readlink } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';

export type PortKind = 'tcp' | 'udp';

/** Ports handed out recently by this worker: never hand the same one out twice in a row. */
const recentlyHanded = new Set<number>();
const RECENT_MAX = 512;

function udpFamily(host: string): 'udp4' | 'udp6' {
  return host.includes(':') ? 'udp6' : 'udp4';
}

/** Binds `port` (0 = any) for one kind, returns the bound port and a closer. */
function bindOnce(host: string, port: number, kind: PortKind): Promise<{ port: number; close: () => Promise<void> }> {
  return new Promise((resolve, reject) => {
    if (kind === 'tcp') {
      const server = createServer();
      server.once('error', reject);
      server.listen({ host, port, exclusive: true }, () => {
        const address = server.address();
        if (address === null || typeof address === 'string') {
          server.close();
          reject(new Error(`unexpected TCP address ${String(address)}`));
          return;
        }
        resolve({ port: address.port, close: () => new Promise<void>((done) => server.close(() => done())) });
      });
    } else {
      const socket = createSocket({ type: udpFamily(host), reuseAddr: false });
      socket.once('error', (err) => {
        socket.close();
        reject(err);
      });
      socket.bind({ address: host, port, exclusive: true }, () => {
        resolve({ port: socket.address().port, close: () => new Promise<void>((done) => socket.close(() => done())) });
      });
    }
  });
}

/**
 * Returns a port that is free right now on `host` for every kind in `kinds` (default TCP and
 * UDP), so that a SIP listener can take both `udp://` and `tcp://` on it.
 *
 * Binds an ephemeral port for the first kind, then the same number for the others, closes them
 * all and retries on a clash. The port is not reserved: start the server soon after.
 */
export async function freePort(host = '127.0.0.1', kinds: PortKind[] = ['tcp', 'udp']): Promise<number> {
  const [first, ...rest] = kinds.length > 0 ? kinds : (['tcp'] as PortKind[]);
  let lastError: unknown;
  for (let attempt = 0; attempt < 50; attempt++) {
    const held: Array<() => Promise<void>> = [];
    try {
      const base = await bindOnce(host, 0, first);
      held.push(base.close);
      for (const kind of rest) {
        const other = await bindOnce(host, base.port, kind);
        held.push(other.close);
      }
      if (recentlyHanded.has(base.port)) continue;
      recentlyHanded.add(base.port);
      if (recentlyHanded.size > RECENT_MAX) {
        const oldest = recentlyHanded.values().next().value;
        if (oldest !== undefined) recentlyHanded.delete(oldest);
      }
      return base.port;
    } catch (err) {
      lastError = err;
    } finally {
      await Promise.all(held.map((close) => close()));
    }
  }
  throw new Error(`no port free for ${kinds.join('+')} on ${host} after 50 attempts`, { cause: lastError });
}

/**
 * True when `port` can be bound on `host` for `kind` right now (a bind-then-close probe). Fine
 * for "is the port free before I start a server". Not a readiness check for a server that is
 * starting: the probe can steal the port from it for a moment; use `isPortListening`.
 */
export async function isPortFree(host: string, port: number, kind: PortKind): Promise<boolean> {
  try {
    const bound = await bindOnce(host, port, kind);
    await bound.close();
    return true;
  } catch {
    return false;
  }
}

/**
 * True when a socket on this machine is bound to `port`: a TCP socket in LISTEN state, or any
 * UDP socket. Reads /proc/net/{tcp,tcp6,udp,udp6} (Linux), so it sends no traffic and, unlike a
 * bind probe, never races the server for the port: use it to tell that a UDP server, or a TCP
 * one that must not see stray connections, is up.
 *
 * `host` narrows the match to that local address or the wildcard address; `pid` to sockets
 * that process holds (via /proc/PID/fd), so a stranger already on the port does not count; the
 * tables are then read from /proc/PID/net, so this also works for a process in another network
 * namespace.
 */
export async function isPortListening(
  port: number,
  kind: PortKind,
  filter: { host?: string; pid?: number } = {},
): Promise<boolean> {
  const portHex = port.toString(16).toUpperCase().padStart(4, '0');
  const wanted = filter.host === undefined ? undefined : procAddresses(filter.host);
  const inodes = new Set<string>();
  for (const table of kind === 'tcp' ? ['tcp', 'tcp6'] : ['udp', 'udp6']) {
    let text: string;
    try {
      // /proc/PID/net shows the tables of that process's network namespace (a process started
      // under `ip netns exec` included); /proc/net is this process's.
      text = await readFile(filter.pid === undefined ? `/proc/net/${table}` : `/proc/${filter.pid}/net/${table}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
      const fields = line.trim().split(/\s+/);
      if (fields.length < 10) continue;
      const [address, localPort] = fields[1].split(':');
      if (localPort !== portHex) continue;
      if (kind === 'tcp' && fields[3] !== '0A') continue; // 0A = LISTEN
      if (wanted !== undefined && !wanted.has(address)) continue;
      if (filter.pid === undefined) return true;
      inodes.add(fields[9]);
    }
  }
  if (filter.pid === undefined || inodes.size === 0) return false;
  let fds: string[];
  try {
    fds = await readdir(`/proc/${filter.pid}/fd`);
  } catch {
    return false;
  }
  for (const fd of fds) {
    try {
      const target = await readlink(`/proc/${filter.pid}/fd/${fd}`);
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (m && inodes.has(m[1])) return true;
    } catch {
      // fd closed meanwhile
    }
  }
  return false;
}

/** /proc/net spellings of an address and of the wildcard addresses that also cover it. */
function procAddresses(host: string): Set<string> {
  const set = new Set(['00000000', '00000000000000000000000000000000']);
  const v4 = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(host);
  if (v4) {
    // IPv4 is printed as a little-endian 32-bit word: 127.0.0.1 -> 0100007F.
    const bytes = v4.slice(1, 5).map((b) => Number(b).toString(16).toUpperCase().padStart(2, '0'));
    const littleEndian = [...bytes].reverse().join('');
    set.add(littleEndian);
    // ::ffff:a.b.c.d on a dual-stack socket (four little-endian words).
    set.add(`0000000000000000FFFF0000${littleEndian}`);
  } else if (host === '::1') {
    set.add('00000000000000000000000001000000');
  }
  return set;
}

/** Resolves once a TCP connection to `host:port` succeeds; polls every 50 ms. */
export async function waitForPort(host: string, port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      await new Promise<void>((resolve, reject) => {
        const socket = createConnection({ host, port });
        socket.setTimeout(Math.max(100, Math.min(1000, deadline - Date.now())));
        socket.once('connect', () => {
          socket.destroy();
          resolve();
        });
        socket.once('timeout', () => {
          socket.destroy();
          reject(new Error('connect timeout'));
        });
        socket.once('error', (err) => {
          socket.destroy();
          reject(err);
        });
      });
      return;
    } catch (err) {
      lastError = err;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  const reason = lastError instanceof Error ? lastError.message : String(lastError);
  throw new Error(`nothing accepted TCP connections on ${host}:${port} within ${timeoutMs} ms (${reason})`);
}
