import { describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/log.ts';
import { LocalIdentity } from '../proxy/local-identity.ts';
import type { CommandResult, CommandRunner } from './command-runner.ts';
import { ownHopUri } from './own-hop-uri.ts';
import { VipIdentity } from './vip-identity.ts';
import { IpVipAddress, ownInterfaceAddress } from './vip-address.ts';

const SHOW = [
  '2: eth0    inet 198.51.100.11/24 brd 198.51.100.255 scope global eth0\\       valid_lft forever preferred_lft forever',
  '2: eth0    inet 198.51.100.10/24 scope global secondary dynamic eth0\\       valid_lft 2sec preferred_lft 2sec',
].join('\n');

/** Records every command; answers from a script of results per command line prefix. */
class FakeRunner implements CommandRunner {
  readonly calls: string[] = [];
  readonly results = new Map<string, CommandResult>();

  async run(command: string, args: readonly string[]): Promise<CommandResult> {
    const line = [command, ...args].join(' ');
    this.calls.push(line);
    for (const [prefix, r] of this.results) if (line.startsWith(prefix)) return r;
    return { code: 0, stdout: '', stderr: '' };
  }
}

const ok = (stdout = ''): CommandResult => ({ code: 0, stdout, stderr: '' });
const logger = createLogger({ level: 'silent' });

describe('IpVipAddress', () => {
  it('adds with a kernel lifetime, removes, reads and announces through ip and arping', async () => {
    const runner = new FakeRunner();
    const addr = new IpVipAddress({ address: '198.51.100.10', prefixLength: 24, interface: 'eth0', runner, logger });
    await addr.up(2);
    runner.results.set('ip -4 -o addr show', ok(SHOW));
    expect(await addr.present()).toBe(true);
    await addr.down();
    addr.announce(2);
    addr.announce(0);
    await new Promise((resolve) => setImmediate(resolve));
    expect(runner.calls).toEqual([
      'ip -4 addr replace 198.51.100.10/24 dev eth0 valid_lft 2 preferred_lft 2',
      'ip -4 -o addr show dev eth0',
      'ip -4 addr del 198.51.100.10/24 dev eth0',
      'arping -U -c 2 -I eth0 198.51.100.10',
    ]);
  });

  it('a delete of an address that is already gone succeeds; other failures throw', async () => {
    const runner = new FakeRunner();
    const addr = new IpVipAddress({ address: '198.51.100.10', prefixLength: 24, interface: 'eth0', runner, logger });
    runner.results.set('ip -4 addr del', { code: 2, stdout: '', stderr: 'RTNETLINK answers: Cannot assign requested address' });
    runner.results.set('ip -4 -o addr show', ok(SHOW.split('\n')[0]));
    await addr.down();
    runner.results.set('ip -4 addr del', { code: 2, stdout: '', stderr: 'RTNETLINK answers: Operation not permitted' });
    await expect(addr.down()).rejects.toThrow(/Operation not permitted/);
    runner.results.set('ip -4 addr replace', { code: 1, stdout: '', stderr: 'Cannot find device "eth0"' });
    await expect(addr.up(2)).rejects.toThrow(/Cannot find device/);
  });

  it('without arping it warns once and stops trying', async () => {
    const runner = new FakeRunner();
    runner.results.set('arping', { code: 127, stdout: '', stderr: 'arping: not found' });
    const addr = new IpVipAddress({ address: '198.51.100.10', prefixLength: 24, interface: 'eth0', runner, logger });
    addr.announce(2);
    await new Promise((resolve) => setImmediate(resolve));
    addr.announce(2);
    expect(runner.calls.filter((c) => c.startsWith('arping'))).toHaveLength(1);
  });
});

describe('the node own address behind a floating IP', () => {
  it('is the first address of the interface that is not the floating IP', async () => {
    const runner = new FakeRunner();
    runner.results.set('ip -4 -o addr show dev eth0', ok([SHOW.split('\n')[1], SHOW.split('\n')[0]].join('\n')));
    expect(await ownInterfaceAddress(runner, 'eth0', '198.51.100.10')).toBe('198.51.100.11');
    runner.results.set('ip -4 -o addr show dev eth0', ok(SHOW.split('\n')[1]));
    expect(await ownInterfaceAddress(runner, 'eth0', '198.51.100.10')).toBeUndefined();
    runner.results.set('ip -4 -o addr show dev eth0', { code: 1, stdout: '', stderr: 'Device "eth0" does not exist.' });
    expect(await ownInterfaceAddress(runner, 'eth0', '198.51.100.10')).toBeUndefined();
  });

  it('names the internal hop: the first UDP listener port at the own address, not the advertised floating IP', () => {
    const listeners = [
      { protocol: 'udp' as const, address: '0.0.0.0', port: 5080, advertisedHost: '198.51.100.10' },
      { protocol: 'udp' as const, address: '198.51.100.10', port: 5060, advertisedHost: '198.51.100.10' },
    ];
    const identity = new LocalIdentity(listeners, ['198.51.100.11']);
    expect(ownHopUri(identity, '198.51.100.11')).toBe('sip:198.51.100.11:5080');
    expect(identity.isLocalHostPort('198.51.100.11', 5080)).toBe(true);
    expect(identity.isLocalHostPort('198.51.100.10', 5060)).toBe(true);
  });

  it('VipIdentity: Via at the own address, Record-Route at the floating IP, both ours', () => {
    const listeners = [
      { protocol: 'udp' as const, address: '0.0.0.0', port: 5080, advertisedHost: '198.51.100.10' },
      { protocol: 'udp' as const, address: '198.51.100.10', port: 5060, advertisedHost: '198.51.100.10' },
    ];
    const identity = new VipIdentity(listeners, '198.51.100.11');
    expect(identity.viaValue('udp', 'z9hG4bK1')).toBe('SIP/2.0/UDP 198.51.100.11:5080;branch=z9hG4bK1;rport');
    expect(identity.recordRouteValue(listeners[1])).toBe('<sip:198.51.100.10:5060;lr>');
    expect(identity.recordRouteValue(listeners[0])).toBe('<sip:198.51.100.10:5080;lr>');
    expect(identity.isLocalHostPort('198.51.100.11', 5080)).toBe(true);
    // A peer's own address is not ours: its Via is no loop here.
    expect(identity.isLocalHostPort('198.51.100.12', 5080)).toBe(false);
  });
});
