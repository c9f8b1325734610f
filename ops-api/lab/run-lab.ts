/**
 * `sipfleet lab`: a working local cluster on loopback in one command. Today: one dispatcher
 * (memory store) in front of two switch-sims, each a child process; the ops-API issue grows it
 * to Redis, the ops API and two dispatchers. Prints every address and a ready-to-paste SIPp
 * command; Ctrl-C (or SIGTERM) stops everything.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/sipfleet.ts', import.meta.url));

export const LAB_USAGE = `Usage: sipfleet lab [--dispatcher-ip IP] [--port N]

Start a local cluster: a dispatcher on udp/tcp IP:PORT (default 127.0.0.11:5060) in front of two
switch-sims on 127.0.0.21 and 127.0.0.22. Ctrl-C stops everything.
`;

interface Child {
  name: string;
  proc: ChildProcess;
}

function start(name: string, args: string[], children: Child[]): Promise<void> {
  const proc = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' } });
  children.push({ name, proc });
  proc.stdout?.on('data', (d: Buffer) => process.stdout.write(prefix(name, d)));
  proc.stderr?.on('data', (d: Buffer) => process.stderr.write(prefix(name, d)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, 1_500);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with code ${code}`));
    });
  });
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
  const { values } = parseArgs({ args: argv, options: { 'dispatcher-ip': { type: 'string' }, port: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    process.stdout.write(LAB_USAGE);
    return 0;
  }
  const ip = values['dispatcher-ip'] ?? '127.0.0.11';
  const port = Number(values.port ?? 5060);
  const dir = mkdtempSync(join(tmpdir(), 'sipfleet-lab-'));
  const config = join(dir, 'd1.yaml');
  writeFileSync(
    config,
    `node:
  id: d1
  listen: [udp://${ip}:${port}, tcp://${ip}:${port}]
  http: ${ip}:9060
store: memory
cluster:
  name: lab
  selection: round-robin
  switches:
    - { id: sw1, address: 127.0.0.21:5060, transport: udp }
    - { id: sw2, address: 127.0.0.22:5060, transport: udp }
  carriers:
    - { id: local, sources: [127.0.0.0/8] }
`,
  );
  const children: Child[] = [];
  const stopAll = async () => {
    for (const c of children) c.proc.kill('SIGTERM');
    await Promise.all(children.map((c) => (c.proc.exitCode === null ? new Promise((r) => c.proc.once('exit', r)) : undefined)));
  };
  try {
    await start('sw1', ['switch-sim', '--id', 'sw1', '--listen', 'udp://127.0.0.21:5060', '--listen', 'tcp://127.0.0.21:5060', '--http', '127.0.0.21:8060'], children);
    await start('sw2', ['switch-sim', '--id', 'sw2', '--listen', 'udp://127.0.0.22:5060', '--listen', 'tcp://127.0.0.22:5060', '--http', '127.0.0.22:8060'], children);
    await start('d1', ['dispatcher', '--config', config], children);
  } catch (err) {
    process.stderr.write(`sipfleet lab: ${(err as Error).message}\n`);
    await stopAll();
    return 1;
  }
  process.stdout.write(`
sipfleet lab is up.
  dispatcher d1   sip: udp://${ip}:${port}  tcp://${ip}:${port}   http: http://${ip}:9060/metrics
  switch-sim sw1  sip: udp://127.0.0.21:5060                       http: http://127.0.0.21:8060/status
  switch-sim sw2  sip: udp://127.0.0.22:5060                       http: http://127.0.0.22:8060/status
  config          ${config}

Place 1,000 calls through the dispatcher with SIPp:
  sipp -sn uac ${ip}:${port} -m 1000 -r 100 -i 127.0.0.1 -p 5070

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
