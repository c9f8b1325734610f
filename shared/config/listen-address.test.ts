import { describe, expect, it } from 'vitest';
import { tryParseHostPort } from './host-port.ts';
import { parseListenAddress, tryParseListenAddress } from './listen-address.ts';

describe('listen addresses', () => {
  it('parses every transport', () => {
    expect(parseListenAddress('udp://127.0.0.11:5060')).toEqual({ transport: 'udp', host: '127.0.0.11', port: 5060, url: 'udp://127.0.0.11:5060' });
    expect(parseListenAddress('tls://[::1]:5061')).toEqual({ transport: 'tls', host: '::1', port: 5061, url: 'tls://[::1]:5061' });
    expect(parseListenAddress('ws://0.0.0.0:8080')).toMatchObject({ path: '/', url: 'ws://0.0.0.0:8080/' });
    expect(parseListenAddress('WSS://[2001:DB8::1]:8443/sip')).toMatchObject({ transport: 'wss', host: '2001:db8::1', path: '/sip' });
  });

  it('names the problem', () => {
    expect(tryParseListenAddress('sctp://1.2.3.4:5060')).toMatch(/scheme must be one of udp, tcp, tls, ws, wss/);
    expect(tryParseListenAddress('127.0.0.1:5060')).toMatch(/must be a URL/);
    expect(tryParseListenAddress('udp://127.0.0.1')).toMatch(/host:port/);
    expect(tryParseListenAddress('udp://127.0.0.1:0')).toMatch(/port must be from 1 to 65535/);
    expect(tryParseListenAddress('udp://127.0.0.1:70000')).toMatch(/port must be from 1 to 65535/);
    expect(tryParseListenAddress('udp://::1:5060')).toMatch(/brackets/);
    expect(tryParseListenAddress('udp://localhost:5060')).toMatch(/IPv4 or \[IPv6\]/);
    expect(tryParseListenAddress('tcp://1.2.3.4:5060/x')).toMatch(/path is only allowed on ws/);
    expect(tryParseListenAddress('ws://1.2.3.4:80/a?b')).toMatch(/no query/);
  });

  it('host:port accepts host names only where allowed', () => {
    expect(tryParseHostPort('sw1.example.net:5060', true)).toEqual({ host: 'sw1.example.net', port: 5060 });
    expect(tryParseHostPort('sw1.example.net:5060', false)).toMatch(/IPv4 or \[IPv6\]/);
    expect(tryParseHostPort('999.1.1.1:5060', true)).toMatch(/must be host:port/);
    expect(tryParseHostPort('[1.2.3.4]:5060', true)).toMatch(/not an IPv6 address/);
  });
});
