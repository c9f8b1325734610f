import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startProcess, type ManagedProcess } from './managed-process.ts';
import { isPortListening } from './ports.ts';
import { requireTool } from './require-tool.ts';

export interface StunnelClientOptions {
  /** Where stunnel accepts plain TCP (what sipp `-t t1` targets). */
  acceptHost: string;
  acceptPort: number;
  /** The TLS server to connect to. */
  connectHost: string;
  connectPort: number;
  /** PEM CA certificate that must have signed the server's certificate. */
  caFile: string;
  /**
   * Verify the server: chain to `caFile` and its subjectAltName against `checkHost`, or against
   * `connectHost` (as `checkIP` or `checkHost`). Default true.
   */
  verify?: boolean;
  /** Name to check in the server certificate instead of `connectHost`; also sent as SNI. */
  checkHost?: string;
  /** Client certificate and key (PEM) for mutual TLS. */
  cert?: string;
  key?: string;
  /** stunnel log level 0-7; default 5 (notice: one line per connection). */
  debugLevel?: number;
  readyTimeoutMs?: number;
}

/**
 * Starts stunnel4 in client mode: plain TCP in on `acceptHost:acceptPort`, TLS out to
 * `connectHost:connectPort`. Debian's sipp has no TLS, so TLS tests run
 * `sipp -t t1` → stunnel → the TLS listener under test.
 *
 * The config lives in a temp dir (removed when stunnel exits): foreground, no pid file, logs on
 * stderr only. Resolves once the accept port is listening (checked without connecting, so the
 * TLS server sees no probe connection).
 */
export async function startStunnelClient(options: StunnelClientOptions): Promise<ManagedProcess> {
  const stunnel = requireTool('stunnel4', 'stunnel4');
  const verify = options.verify ?? true;
  const dir = await mkdtemp(join(tmpdir(), 'sipfleet-stunnel-'));
  const configPath = join(dir, 'stunnel.conf');

  const serviceLines = [
    '[sipfleet-tls]',
    'client = yes',
    `accept = ${hostPort(options.acceptHost, options.acceptPort)}`,
    `connect = ${hostPort(options.connectHost, options.connectPort)}`,
    `CAfile = ${options.caFile}`,
    'TIMEOUTclose = 0',
  ];
  const nameToCheck = options.checkHost ?? (isIP(options.connectHost) === 0 ? options.connectHost : undefined);
  if (nameToCheck !== undefined) serviceLines.push(`sni = ${nameToCheck}`);
  if (verify) {
    serviceLines.push('verifyChain = yes');
    if (nameToCheck !== undefined) serviceLines.push(`checkHost = ${nameToCheck}`);
    else serviceLines.push(`checkIP = ${options.connectHost}`);
  } else {
    serviceLines.push('verifyChain = no');
  }
  if (options.cert !== undefined) serviceLines.push(`cert = ${options.cert}`);
  if (options.key !== undefined) serviceLines.push(`key = ${options.key}`);

  const config = [
    '; written by sipfleet test/support/stunnel.ts',
    'foreground = yes',
    'pid =',
    'syslog = no',
    `debug = ${options.debugLevel ?? 5}`,
    '',
    ...serviceLines,
    '',
  ].join('\n');
  await writeFile(configPath, config);

  let proc: ManagedProcess;
  try {
    proc = await startProcess({
      name: 'stunnel-client',
      command: stunnel,
      args: [configPath],
      cwd: dir,
      readyWhen: (p) => isPortListening(options.acceptPort, 'tcp', { host: options.acceptHost, pid: p.pid }),
      readyTimeoutMs: options.readyTimeoutMs ?? 10_000,
    });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  void proc.exited.then(() => rm(dir, { recursive: true, force: true }));
  return proc;
}

/** stunnel splits HOST:PORT at the last colon, so IPv6 addresses go without brackets. */
function hostPort(host: string, port: number): string {
  return `${host}:${port}`;
}
