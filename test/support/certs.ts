import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { requireTool } from './require-tool.ts';

const run = promisify(execFile);

export interface TestCertificateOptions {
  /** IP addresses for the server certificate's subjectAltName (`127.0.0.1`). */
  ips: string[];
  /** DNS names for the subjectAltName (`localhost`, `sip.test`). */
  dnsNames?: string[];
  /** Validity in days; default 7. */
  days?: number;
}

export interface TestCertificates {
  /** PEM of the throwaway CA: what a client trusts. */
  caCert: string;
  /** PEM private key of the CA (to sign more certificates with openssl by hand). */
  caKey: string;
  /** PEM server certificate signed by the CA, with the requested subjectAltName. */
  cert: string;
  /** PEM private key of the server certificate (unencrypted). */
  key: string;
}

/**
 * Makes a throwaway CA and a server certificate signed by it, with the `openssl` CLI, in `dir`
 * (created if needed). EC P-256 keys keep it fast (~50 ms). Returns the file paths.
 *
 * ```ts
 * const certs = await makeTestCertificates(dir, { ips: ['127.0.0.1'], dnsNames: ['localhost'] });
 * tls.createServer({ cert: readFileSync(certs.cert), key: readFileSync(certs.key) });
 * ```
 */
export async function makeTestCertificates(dir: string, options: TestCertificateOptions): Promise<TestCertificates> {
  const openssl = requireTool('openssl', 'openssl');
  const ips = options.ips;
  const dnsNames = options.dnsNames ?? [];
  if (ips.length + dnsNames.length === 0) throw new Error('makeTestCertificates: give at least one IP or DNS name');
  for (const ip of ips) {
    if (isIP(ip) === 0) throw new Error(`makeTestCertificates: not an IP address: ${ip}`);
  }
  const days = String(options.days ?? 7);
  await mkdir(dir, { recursive: true });

  const paths: TestCertificates = {
    caCert: join(dir, 'ca.crt'),
    caKey: join(dir, 'ca.key'),
    cert: join(dir, 'server.crt'),
    key: join(dir, 'server.key'),
  };
  const csr = join(dir, 'server.csr');
  const ext = join(dir, 'server.ext');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const openSslEnv = { ...process.env, OPENSSL_CONF: '/dev/null' };
  const exec = async (args: string[]): Promise<void> => {
    try {
      await run(openssl, args, { cwd: dir, env: openSslEnv });
    } catch (err) {
      const stderr = (err as { stderr?: string }).stderr ?? '';
      throw new Error(`openssl ${args[0]} failed: ${stderr.trim() || String(err)}`, { cause: err });
    }
  };

  await exec([
    'req', '-x509', ...ec,
    '-keyout', paths.caKey, '-out', paths.caCert,
    '-days', days, '-subj', '/O=sipfleet tests/CN=sipfleet test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    '-addext', 'subjectKeyIdentifier=hash',
  ]);

  const subjectName = dnsNames[0] ?? ips[0];
  await exec(['req', '-new', ...ec, '-keyout', paths.key, '-out', csr, '-subj', `/O=sipfleet tests/CN=${subjectName}`]);

  const altNames = [...ips.map((ip) => `IP:${ip}`), ...dnsNames.map((name) => `DNS:${name}`)].join(',');
  await writeFile(
    ext,
    [
      `subjectAltName=${altNames}`,
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=serverAuth,clientAuth',
      'subjectKeyIdentifier=hash',
      'authorityKeyIdentifier=keyid',
      '',
    ].join('\n'),
  );
  await exec([
    'x509', '-req', '-in', csr,
    '-CA', paths.caCert, '-CAkey', paths.caKey, '-set_serial', `0x${randomBytes(8).toString('hex')}`,
    '-days', days, '-sha256', '-extfile', ext, '-out', paths.cert,
  ]);
  await rm(csr, { force: true });
  await rm(ext, { force: true });
  return paths;
}
