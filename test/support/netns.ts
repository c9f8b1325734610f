/**
 * Network namespaces for end-to-end tests that need real routing: NAT, several hosts, addresses
 * that are not loopback. Root only (`ip netns`, `iptables` in the namespaces).
 *
 * Everything a test creates carries its `prefix` (namespaces `<prefix>-<name>`, veths named by the
 * caller, at most 15 characters): `NetnsLab.remove()` deletes them in `afterAll`, and
 * `removeNetnsWithPrefix(prefix)` at the start deletes the leftovers of a crashed run. Deleting a
 * namespace deletes its interfaces (a veth pair goes with either end), its routes and its iptables
 * rules, so nothing of it is left in the host namespace; a host-side veth end goes with its peer.
 *
 * Processes are started in a namespace with the `netns` option of `startProcess` and the
 * starters built on it (sipfleet-processes.ts, sipp.ts).
 */
import { execFileSync } from 'node:child_process';
import { requireTool } from './require-tool.ts';

const COMMAND_TIMEOUT_MS = 10_000;
/** Debian packages of the tools a lab runs, for `requireTool`'s message. */
const TOOL_PACKAGES: Record<string, string> = { ip: 'iproute2', iptables: 'iptables', sysctl: 'procps' };

function ipPath(): string {
  return requireTool('ip', 'iproute2');
}

/** Runs `ip <args>`; throws with its stderr on failure. */
export function ip(...args: string[]): string {
  return run(ipPath(), args);
}

/** Runs a command inside namespace `ns` (`ip netns exec`); throws with its stderr on failure. */
export function inNetns(ns: string, command: string, ...args: string[]): string {
  return run(ipPath(), ['netns', 'exec', ns, command, ...args]);
}

function run(command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { encoding: 'utf8', timeout: COMMAND_TIMEOUT_MS, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${command} ${args.join(' ')} failed: ${(e.stderr ?? '').trim() || e.message}`, { cause: err });
  }
}

/** Names of the network namespaces that exist now. */
export function listNetns(): string[] {
  return ip('netns', 'list')
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[0])
    .filter((name) => name !== undefined && name !== '');
}

/** Deletes every namespace whose name starts with `prefix` (leftovers of a crashed run). */
export function removeNetnsWithPrefix(prefix: string): string[] {
  const gone = listNetns().filter((n) => n.startsWith(prefix));
  for (const ns of gone) {
    try {
      ip('netns', 'del', ns);
    } catch {
      // raced with another deletion
    }
  }
  return gone;
}

/** Deletes host-namespace links whose name starts with `prefix` (a veth end left behind). */
export function removeLinksWithPrefix(prefix: string): string[] {
  const names = ip('-o', 'link', 'show')
    .split('\n')
    .map((line) => /^\d+:\s+([^:@\s]+)/.exec(line)?.[1])
    .filter((n): n is string => n !== undefined && n.startsWith(prefix));
  for (const name of names) {
    try {
      ip('link', 'del', name);
    } catch {
      // went with its peer
    }
  }
  return names;
}

/** A set of namespaces owned by one test file. */
export class NetnsLab {
  readonly prefix: string;
  readonly #created: string[] = [];

  /**
   * `prefix` names everything the lab creates; what a previous run left under it is deleted now.
   * Keep it short: veth names (`<prefix>…`) must fit in 15 characters.
   */
  constructor(prefix: string) {
    requireTool('ip', 'iproute2');
    this.prefix = prefix;
    removeNetnsWithPrefix(`${prefix}-`);
    removeLinksWithPrefix(prefix);
  }

  /** `<prefix>-<name>` */
  ns(name: string): string {
    return `${this.prefix}-${name}`;
  }

  /** Creates namespace `<prefix>-<name>` with `lo` up; returns its full name. */
  add(name: string): string {
    const ns = this.ns(name);
    ip('netns', 'add', ns);
    this.#created.push(ns);
    inNetns(ns, 'ip', 'link', 'set', 'lo', 'up');
    return ns;
  }

  /**
   * A veth pair: end `a` in namespace `nsA`, end `b` in `nsB` (`undefined` = the host namespace),
   * both up.
   */
  veth(a: string, nsA: string | undefined, b: string, nsB: string | undefined): void {
    for (const n of [a, b]) if (n.length > 15) throw new Error(`interface name ${n} is longer than 15 characters`);
    ip('link', 'add', a, ...(nsA === undefined ? [] : ['netns', nsA]), 'type', 'veth', 'peer', 'name', b, ...(nsB === undefined ? [] : ['netns', nsB]));
    this.exec(nsA, 'ip', 'link', 'set', a, 'up');
    this.exec(nsB, 'ip', 'link', 'set', b, 'up');
  }

  /** Runs a command in `ns` (`undefined` = the host namespace). */
  exec(ns: string | undefined, command: string, ...args: string[]): string {
    const path = command.includes('/') ? command : requireTool(command, TOOL_PACKAGES[command] ?? command);
    return ns === undefined ? run(path, args) : inNetns(ns, path, ...args);
  }

  /** Deletes every namespace the lab created (and with them their links and rules). Never throws. */
  remove(): void {
    for (const ns of this.#created.splice(0).reverse()) {
      try {
        ip('netns', 'del', ns);
      } catch {
        // already gone
      }
    }
    removeNetnsWithPrefix(`${this.prefix}-`);
    try {
      removeLinksWithPrefix(this.prefix);
    } catch {
      // nothing left to list
    }
  }
}
