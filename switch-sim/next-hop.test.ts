import { describe, expect, it } from 'vitest';
import { nextHop } from './next-hop.ts';

describe('nextHop (RFC 3261 §12.2.1.1)', () => {
  it('no route set: straight to the remote target', () => {
    expect(nextHop([], 'sip:caller@127.0.0.1:5070;transport=tcp', 'udp')).toEqual({
      requestUri: 'sip:caller@127.0.0.1:5070;transport=tcp',
      routes: [],
      host: '127.0.0.1',
      port: 5070,
      transport: 'tcp',
    });
  });

  it('loose router: Request-URI = remote target, every route in Route, sent to the first', () => {
    const rs = ['<sip:127.0.0.10;lr>', '<sip:[2001:db8::1]:5080;lr>'];
    expect(nextHop(rs, 'sip:caller@192.0.2.1', 'tcp')).toEqual({
      requestUri: 'sip:caller@192.0.2.1',
      routes: rs,
      host: '127.0.0.10',
      port: 5060,
      transport: 'tcp',
    });
  });

  it('strict router: Request-URI = first route, remote target last in Route', () => {
    expect(nextHop(['<sip:127.0.0.10:5062>', '<sip:127.0.0.11;lr>'], 'sip:caller@192.0.2.1', 'udp')).toEqual({
      requestUri: 'sip:127.0.0.10:5062',
      routes: ['<sip:127.0.0.11;lr>', '<sip:caller@192.0.2.1>'],
      host: '127.0.0.10',
      port: 5062,
      transport: 'udp',
    });
  });

  it('undefined for a non-SIP target', () => {
    expect(nextHop([], 'tel:+15551234', 'udp')).toBeUndefined();
  });
});
