/**
 * `sipfleet lab` (what `npm start` runs): a working local cluster on loopback in one command.
 *
 * - Redis: `redis-server` started on a free loopback port when it is on PATH (two dispatchers share
 *   it); without it, the memory store and one dispatcher (a memory store cannot be shared).
 * - The ops API on 127.0.0.1:8080 with a fresh random token (only its SHA-256 is written to disk).
 * - Dispatchers on 127.0.0.11 and 127.0.0.12 (UDP and TCP 5060), switch-sims on 127.0.0.21 and .22.
 * Every address is printed with a ready-to-paste SIPp command and a curl with the token. Ctrl-C
 * (or SIGTERM) stops everything, in reverse order.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/sipfleet.ts', import.meta.url));

export const LAB_USAGE = `Usage: sipfleet lab [--sip-port N] [--api HOST:PORT] [--memory]

Start a local cluster on loopback: Redis (when redis-server is on PATH), the ops API, two dispatchers
(127.0.0.11 and 127.0.0.12, UDP and TCP) in front of two switch-sims (127.0.0.21 and 127.0.0.22).
Without redis-server (or with --memory): one dispatcher on the memory store.

Options:
  --sip-port N      dispatchers' SIP port (default 5060)
  --api HOST:PORT   the ops API (default 127.0.0.1:8080)
  --memory          do not use Redis even when it is installed
  -h, --help        show this help

Ctrl-C stops everything.
`;

interface Child {
  name: string;
  proc: ChildProcess;
}

/** Thrown to skip the ops API in a memory-store lab (not an error). */
class NoApi extends Error {}

function which(cmd: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

async function waitHttp(url: string, timeoutMs: number, child: Child): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.proc.exitCode !== null) throw new Error(`${child.name} exited with code ${child.proc.exitCode}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(500) });
      if (res.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${child.name} did not become ready at ${url} within ${timeoutMs} ms`);
}

function prefix(name: string, d: Buffer): string {
  return d
    .toString()
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => `[${name}] ${l}\n`)
    .join('');
}

export async function runLabCli(argv: string[]): Promise<number> {
  let values: { 'sip-port'?: string; api?: string; memory?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { 'sip-port': { type: 'string' }, api: { type: 'string' }, memory: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`sipfleet lab: ${(err as Error).message}\n\n${LAB_USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(LAB_USAGE);
    return 0;
  }
  const sipPort = Number(values['sip-port'] ?? 5060);
  const api = values.api ?? '127.0.0.1:8080';
  if (!Number.isInteger(sipPort) || sipPort < 1 || sipPort > 65535) {
    process.stderr.write(`sipfleet lab: --sip-port must be a port number (got ${values['sip-port']})\n`);
    return 2;
  }
  if (!/^[\d.]+:\d{1,5}$/.test(api)) {
    process.stderr.write(`sipfleet lab: --api must be IPv4:port (got ${api})\n`);
    return 2;
  }

  const dir = mkdtempSync(join(tmpdir(), 'sipfleet-lab-'));
  const redisServer = values.memory ? undefined : which('redis-server');
  const children: Child[] = [];
  let stopping = false;
  const stopAll = async (): Promise<void> => {
    stopping = true;
    for (const c of [...children].reverse()) {
      if (c.proc.exitCode !== null) continue;
      c.proc.kill('SIGTERM');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          c.proc.kill('SIGKILL');
          resolve();
        }, 5_000);
        c.proc.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  };
  const start = (name: string, command: string, args: string[], env: Record<string, string> = {}): Child => {
    const proc = spawn(command, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn', ...env } });
    const child = { name, proc };
    children.push(child);
    proc.stdout?.on('data', (d: Buffer) => process.stdout.write(prefix(name, d)));
    proc.stderr?.on('data', (d: Buffer) => process.stderr.write(prefix(name, d)));
    proc.once('exit', (code, signal) => {
      if (!stopping) process.stderr.write(`[${name}] exited (${signal ?? `code ${code}`})\n`);
    });
    return child;
  };

  const token = randomBytes(24).toString('hex');
  // Softphone accounts for trying the registrar (any source but 127.0.0.1, the lab's carrier, is a phone).
  const phonePassword = randomBytes(6).toString('hex');
  const tokenHash = createHash('sha256').update(token).digest('hex');
  const dispatcherIps = redisServer === undefined ? ['127.0.0.11'] : ['127.0.0.11', '127.0.0.12'];
  try {
    let store = 'memory';
    if (redisServer !== undefined) {
      const port = await freePort('127.0.0.1');
      const redis = start('redis', redisServer, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--loglevel', 'warning']);
      await new Promise((r) => setTimeout(r, 300));
      if (redis.proc.exitCode !== null) throw new Error('redis-server did not start');
      store = `redis://127.0.0.1:${port}`;
    }
    const cluster = `cluster:
  name: lab
  selection: round-robin
  probe: { interval: 2s, timeout: 1s, fall: 2, rise: 2, warmup: 5s }
  switches:
    - { id: sw1, address: 127.0.0.21:5060, transport: udp }
    - { id: sw2, address: 127.0.0.22:5060, transport: udp }
  carriers:
    - { id: local, sources: [127.0.0.1/32] }
  users:
    - { username: alice, password: ${phonePassword} }
    - { username: bob, password: ${phonePassword} }
  registrar: { algorithms: [SHA-256, MD5], keepalive: { interval: 30s } }
`;
    for (const [i, ip] of ['127.0.0.21', '127.0.0.22'].entries()) {
      const sw = start(`sw${i + 1}`, process.execPath, [BIN, 'switch-sim', '--id', `sw${i + 1}`, '--listen', `udp://${ip}:5060`, '--listen', `tcp://${ip}:5060`, '--http', `${ip}:8060`]);
      await waitHttp(`http://${ip}:8060/status`, 15_000, sw);
    }
    for (const [i, ip] of dispatcherIps.entries()) {
      const id = `d${i + 1}`;
      const file = join(dir, `${id}.yaml`);
      writeFileSync(file, `node:\n  id: ${id}\n  listen: [udp://${ip}:${sipPort}, tcp://${ip}:${sipPort}]\n  http: ${ip}:9060\nstore: ${store}\n${cluster}`);
      const d = start(id, process.execPath, [BIN, 'dispatcher', '--config', file]);
      await waitHttp(`http://${ip}:9060/readyz`, 15_000, d);
    }
    // A memory store lives inside one process: an ops API beside it would see nothing. Only with
    // Redis does the lab run one.
    if (redisServer === undefined) throw new NoApi();
    const opsFile = join(dir, 'ops.yaml');
    writeFileSync(
      opsFile,
      `node:\n  id: ops\n  listen: [udp://127.0.0.1:${await freePort('127.0.0.1')}]\nstore: ${store}\n${cluster}ops:\n  listen: ${api}\n  tokens:\n    - { name: lab, role: admin, sha256: ${tokenHash} }\n  audit: ${join(dir, 'audit.jsonl')}\n`,
    );
    // Servers deployed through the API run as the ops API's children, their logs under servers/.
    const ops = start('ops-api', process.execPath, [BIN, 'ops-api', '--config', opsFile, '--state-dir', join(dir, 'servers')]);
    await waitHttp(`http://${api}/healthz`, 15_000, ops);
  } catch (err) {
    if (!(err instanceof NoApi)) {
      process.stderr.write(`sipfleet lab: ${(err as Error).message}\n`);
      await stopAll();
      return 1;
    }
  }

  const d1 = `${dispatcherIps[0]}:${sipPort}`;
  process.stdout.write(`
sipfleet lab is up (${redisServer === undefined ? 'memory store, one dispatcher: install redis-server for two' : 'Redis store'}).
${dispatcherIps.map((ip, i) => `  dispatcher d${i + 1}   sip: udp://${ip}:${sipPort}  tcp://${ip}:${sipPort}   http: http://${ip}:9060/metrics`).join('\n')}
  switch-sim sw1  sip: udp://127.0.0.21:5060                       http: http://127.0.0.21:8060/status
  switch-sim sw2  sip: udp://127.0.0.22:5060                       http: http://127.0.0.22:8060/status
${redisServer === undefined ? '  ops API         not started (it needs the Redis store): apt-get install redis-server' : `  ops API         http://${api}  (OpenAPI: http://${api}/docs)\n  API token       ${token}`}
  files           ${dir}

Place 1,000 calls through a dispatcher with SIPp:
  sipp -sn uac ${d1} -m 1000 -r 100 -i 127.0.0.1 -p 5070

Register a softphone (from any loopback address but 127.0.0.1, e.g. bind it to 127.0.0.50):
  users alice and bob, password ${phonePassword}, registrar ${d1} (UDP or TCP)

${redisServer === undefined ? '' : `List the servers with their live channels, and alice's registrations:\n  curl -s -H "Authorization: Bearer ${token}" http://${api}/v1/servers\n  curl -s -H "Authorization: Bearer ${token}" http://${api}/v1/registrations/alice\n\nDeploy a third switch (a switch-sim the ops API runs), then poll the operation it answers:\n  curl -s -H "Authorization: Bearer ${token}" -H 'content-type: application/json' http://${api}/v1/servers -d '{"id":"sw3","type":"switch","address":"127.0.0.23:5060","deploy":true}'\n`}
Ctrl-C stops everything.
`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
    for (const c of children) c.proc.once('exit', () => resolve());
  });
  await stopAll();
  return 0;
}
