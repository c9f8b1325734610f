import { describe, expect, it } from 'vitest';
import { configIssues } from './config-test-kit.ts';
import { parseConfig } from './load-config.ts';

function yaml(vip: string, opts: { listen?: string; store?: string; advertise?: string } = {}): string {
  return `
node:
  id: d1
  listen: [${opts.listen ?? 'udp://0.0.0.0:5080, udp://198.51.100.10:5060'}]${opts.advertise === undefined ? '' : `\n  advertise: ${opts.advertise}`}
  vip: ${vip}
store: ${opts.store ?? 'redis://127.0.0.1:6379'}
cluster: { name: main }
`;
}

const issues = configIssues;

describe('node.vip', () => {
  it('parses with defaults; the advertised host defaults to the floating IP; warmup defaults to 10s', () => {
    const cfg = parseConfig(yaml('{ address: 198.51.100.10/24, interface: eth0, priority: primary }'), { baseDir: '/tmp' });
    expect(cfg.node.vip).toEqual({
      address: '198.51.100.10',
      prefixLength: 24,
      cidr: '198.51.100.10/24',
      interface: 'eth0',
      priority: 200,
      rise: 3,
      fall: 3,
      autoReturn: true,
      leaseTtl: 3000,
      checkInterval: 1000,
      garp: 2,
    });
    expect(cfg.node.advertise).toBe('198.51.100.10');
    expect(cfg.node.warmup).toBe(10_000);
    const full = parseConfig(
      yaml('{ address: 198.51.100.10, interface: br-sip.1, priority: 150, rise: 5, fall: 2, autoReturn: false, leaseTtl: 6s, checkInterval: 500ms, garp: 0 }', { advertise: 'sip.example.net' }),
      { baseDir: '/tmp', env: { SIPFLEET_NODE__VIP__PRIORITY: 'backup', SIPFLEET_NODE__WARMUP: '0' } },
    );
    expect(full.node.vip).toMatchObject({ cidr: '198.51.100.10/32', interface: 'br-sip.1', priority: 100, rise: 5, fall: 2, autoReturn: false, leaseTtl: 6000, checkInterval: 500, garp: 0 });
    expect(full.node.advertise).toBe('sip.example.net');
    expect(full.node.warmup).toBe(0);
  });

  it('names every bad field', () => {
    const found = issues(
      yaml('{ address: 2001:db8::10/64, interface: "eth 0", priority: top, rise: 0, fall: 101, autoReturn: yes, leaseTtl: 500ms, checkInterval: 20s, garp: 11 }'),
    );
    expect(found.map((i) => i.field)).toEqual([
      'node.vip.address',
      'node.vip.interface',
      'node.vip.priority',
      'node.vip.rise',
      'node.vip.fall',
      'node.vip.autoReturn',
      'node.vip.leaseTtl',
      'node.vip.checkInterval',
      'node.vip.garp',
    ]);
    expect(found[0].problem).toMatch(/IPv4 address with an optional prefix length/);
    expect(found[2].problem).toMatch(/primary, backup or an integer from 1 to 255/);
    expect(issues(yaml('{ interface: eth0 }')).map((i) => i.field)).toEqual(['node.vip.address']);
    expect(issues(yaml('{ address: 198.51.100.10/33, interface: eth0 }')).map((i) => i.field)).toEqual(['node.vip.address']);
    const slow = issues(yaml('{ address: 198.51.100.10, interface: eth0, leaseTtl: 2s, checkInterval: 2s }'));
    expect(slow).toEqual([{ field: 'node.vip.checkInterval', problem: 'must be less than node.vip.leaseTtl (2s) (got "2s")' }]);
  });

  it('needs a listener on the address and a shared store', () => {
    expect(issues(yaml('{ address: 198.51.100.10/24, interface: eth0 }', { listen: 'udp://10.0.0.1:5060' }))).toEqual([
      { field: 'node.listen', problem: expect.stringMatching(/no listener binds the floating IP 198\.51\.100\.10/) },
    ]);
    expect(issues(yaml('{ address: 198.51.100.10/24, interface: eth0 }', { store: 'memory' }))).toEqual([
      { field: 'node.vip', problem: expect.stringMatching(/needs a shared store/) },
    ]);
    expect(issues(yaml('{ address: 198.51.100.10/24, interface: eth0 }').replace('vip:', 'warmup: 11m\n  vip:'))).toEqual([
      { field: 'node.warmup', problem: expect.stringMatching(/must be from 0ms to 10m/) },
    ]);
  });
});
