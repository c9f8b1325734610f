import { describe, expect, it } from 'vitest';
import { SipfleetError } from '../errors.ts';
import { parseConfig } from './load-config.ts';
import { parseSrvName, srvName, tryParseSwitchAddress } from './srv-name.ts';

function configWith(switches: string): string {
  return `node: { id: d1, listen: [udp://127.0.0.1:5060] }\ncluster:\n  name: main\n  switches:\n${switches}\n`;
}

function problems(text: string): string {
  try {
    parseConfig(text, { baseDir: '.' });
  } catch (err) {
    if (err instanceof SipfleetError) return err.message;
    throw err;
  }
  return '';
}

describe('SRV names', () => {
  it('map transports to the RFC 3263 service labels and back', () => {
    expect(srvName('Example.NET.', 'udp')).toBe('_sip._udp.example.net');
    expect(srvName('example.net', 'tcp')).toBe('_sip._tcp.example.net');
    expect(srvName('example.net', 'tls')).toBe('_sips._tcp.example.net');
    expect(parseSrvName('_SIPS._TCP.example.net')).toEqual({ transport: 'tls', domain: 'example.net' });
    expect(parseSrvName('_sip._sctp.example.net')).toBeUndefined();
    expect(parseSrvName('sw1.example.net')).toBeUndefined();
  });

  it('parse switch addresses: host:port as before, a name without a port as SRV', () => {
    expect(tryParseSwitchAddress('10.0.0.1:5080', undefined)).toEqual({ host: '10.0.0.1', port: 5080, transport: 'udp', srv: false });
    expect(tryParseSwitchAddress('sw1.example.net:5060', 'tcp')).toEqual({ host: 'sw1.example.net', port: 5060, transport: 'tcp', srv: false });
    expect(tryParseSwitchAddress('switches.example.net', 'tls')).toEqual({ host: '_sips._tcp.switches.example.net', port: 5061, transport: 'tls', srv: true });
    expect(tryParseSwitchAddress('_sip._tcp.switches.example.net', undefined)).toEqual({ host: '_sip._tcp.switches.example.net', port: 5060, transport: 'tcp', srv: true });
    expect(tryParseSwitchAddress('_sip._tcp.switches.example.net', 'udp')).toMatchObject({ field: 'transport' });
    expect(tryParseSwitchAddress('10.0.0.1', undefined)).toMatchObject({ field: 'address', problem: expect.stringMatching(/^must be host:port/) });
    expect(tryParseSwitchAddress('_sip._udp.x.example.net:5060', undefined)).toMatchObject({ field: 'address' });
  });

  it('are accepted in cluster.switches[].address, with the transport taken from the prefix', () => {
    const config = parseConfig(
      configWith(
        [
          '    - { id: a, address: _sips._tcp.switches.example.net }',
          '    - { id: b, address: switches.example.net, transport: tcp }',
          '    - { id: c, address: sw.example.net:5070 }',
        ].join('\n'),
      ),
      { baseDir: '.' },
    );
    expect(config.cluster.switches.map((s) => [s.id, s.address, s.host, s.port, s.transport])).toEqual([
      ['a', '_sips._tcp.switches.example.net', '_sips._tcp.switches.example.net', 5061, 'tls'],
      ['b', '_sip._tcp.switches.example.net', '_sip._tcp.switches.example.net', 5060, 'tcp'],
      ['c', 'sw.example.net:5070', 'sw.example.net', 5070, 'udp'],
    ]);
    expect(problems(configWith('    - { id: a, address: _sip._udp.switches.example.net, transport: tls }'))).toMatch(
      /cluster\.switches\[0\]\.transport: must be udp for an SRV name starting with _sip\._udp\./,
    );
    expect(problems(configWith('    - { id: a, address: "_x.example.net" }'))).toMatch(/cluster\.switches\[0\]\.address: must be host:port/);
  });
});
