/**
 * The floating IP on this host's interface, through iproute2: added with a kernel lifetime
 * (`valid_lft`), so that an address whose process died or hangs disappears by itself (the kernel
 * removes it when the lifetime runs out, within about a second), refreshed while the lease is
 * renewed, removed when the lease is lost. Gratuitous ARP (`arping -U`, Debian iputils-arping)
 * tells the neighbours (carriers, switches, routers) the address moved.
 */
import type { Logger } from '../../shared/log.ts';
import type { CommandRunner } from './command-runner.ts';

/** What the VIP manager needs from the host: injectable for tests. */
export interface VipAddress {
  /** Add the address, or refresh its lifetime when present (`ip addr replace`). Throws on failure. */
  up(lifetimeS: number): Promise<void>;
  /** Remove it; resolves when it is gone (also when it was not there). Throws on failure. */
  down(): Promise<void>;
  /** Whether the interface holds it now. Throws when the interface cannot be read. */
  present(): Promise<boolean>;
  /** Send `count` gratuitous ARPs for it (in the background; failures are logged). */
  announce(count: number): void;
}

export interface IpVipAddressOptions {
  /** IPv4 literal. */
  address: string;
  prefixLength: number;
  interface: string;
  runner: CommandRunner;
  logger: Logger;
  /** ms each `ip` command may take; default 2000. */
  timeoutMs?: number;
}

/**
 * The node's own IPv4 address on the floating IP's interface (the first one that is not the
 * floating IP: the primary), or undefined when there is none or it cannot be read. Peers reach
 * this node there (the internal hop, the drain hand-off), not at the floating IP.
 */
export async function ownInterfaceAddress(runner: CommandRunner, iface: string, vip: string): Promise<string | undefined> {
  const r = await runner.run('ip', ['-4', '-o', 'addr', 'show', 'dev', iface], 2000);
  if (r.code !== 0) return undefined;
  for (const line of r.stdout.split('\n')) {
    const m = /\binet\s+(\d+\.\d+\.\d+\.\d+)\//.exec(line);
    if (m !== null && m[1] !== vip) return m[1];
  }
  return undefined;
}

export class IpVipAddress implements VipAddress {
  readonly #o: IpVipAddressOptions;
  readonly #cidr: string;
  #arpingMissing = false;

  constructor(opts: IpVipAddressOptions) {
    this.#o = opts;
    this.#cidr = `${opts.address}/${opts.prefixLength}`;
  }

  async #ip(args: string[]): Promise<string> {
    const r = await this.#o.runner.run('ip', args, this.#o.timeoutMs ?? 2000);
    if (r.code !== 0) throw new Error(`ip ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
    return r.stdout;
  }

  async up(lifetimeS: number): Promise<void> {
    const lft = String(Math.max(1, Math.floor(lifetimeS)));
    await this.#ip(['-4', 'addr', 'replace', this.#cidr, 'dev', this.#o.interface, 'valid_lft', lft, 'preferred_lft', lft]);
  }

  async down(): Promise<void> {
    const r = await this.#o.runner.run('ip', ['-4', 'addr', 'del', this.#cidr, 'dev', this.#o.interface], this.#o.timeoutMs ?? 2000);
    if (r.code === 0) return;
    // Not there (already removed, or expired by its lifetime): that is what we wanted.
    if (/Cannot assign requested address|not found|does not exist/i.test(r.stderr) && !(await this.present())) return;
    throw new Error(`ip addr del ${this.#cidr} dev ${this.#o.interface} failed (${r.code}): ${r.stderr.trim()}`);
  }

  async present(): Promise<boolean> {
    const out = await this.#ip(['-4', '-o', 'addr', 'show', 'dev', this.#o.interface]);
    return out.split('\n').some((line) => line.split(/\s+/).some((tok) => tok.split('/')[0] === this.#o.address));
  }

  announce(count: number): void {
    if (count <= 0 || this.#arpingMissing) return;
    const args = ['-U', '-c', String(count), '-I', this.#o.interface, this.#o.address];
    this.#o.runner.run('arping', args, 1000 * count + 2000).then(
      (r) => {
        if (r.code === 127) {
          this.#arpingMissing = true;
          this.#o.logger.warn('arping not found (Debian: apt-get install iputils-arping): neighbours learn the moved address only when their ARP entries expire');
        } else if (r.code !== 0) {
          this.#o.logger.warn({ code: r.code, stderr: r.stderr.trim() }, 'gratuitous ARP failed');
        }
      },
      (err: unknown) => this.#o.logger.warn({ err }, 'gratuitous ARP failed'),
    );
  }
}
