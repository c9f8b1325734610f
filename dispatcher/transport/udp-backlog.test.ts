import { execFileSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { describe, expect, it } from 'vitest';
import { expandAddress, parseProcNetUdp, UdpBacklog } from './udp-backlog.ts';

// Lines as Linux prints them (/proc/net/udp, /proc/net/udp6): addresses in host byte order hex.
const UDP = `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
 1125: 1500007F:D3BF 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 59172 2 0000000067e4f1b3 0
 1130: 0B00007F:13C4 00000000:0000 07 00000000:0001F400 00:00000000 00000000     0        0 59666 2 000000004eaf10bb 12
`;
const UDP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  300: 00000000000000000000000001000000:13C4 00000000000000000000000000000000:0000 07 00000000:00000A00 00:00000000 00000000     0        0 1 2 0 0
`;

describe('parseProcNetUdp', () => {
  it('reads rx_queue bytes per local address:port, IPv4 and IPv6', () => {
    expect(Object.fromEntries(parseProcNetUdp(UDP))).toEqual({ '127.0.0.21:54207': 0, '127.0.0.11:5060': 0x1f400 });
    expect(Object.fromEntries(parseProcNetUdp(UDP6))).toEqual({ '0:0:0:0:0:0:0:1:5060': 0xa00 });
  });

  it('expands IPv6 addresses as the parser writes them', () => {
    expect(expandAddress('::1')).toBe('0:0:0:0:0:0:0:1');
    expect(expandAddress('2001:db8::10')).toBe('2001:db8:0:0:0:0:0:10');
    expect(expandAddress('127.0.0.1')).toBe('127.0.0.1');
  });
});

describe('UdpBacklog', () => {
  it('reports the fullest of its sockets, and 0 where /proc is missing', () => {
    const files: Record<string, string> = { '/proc/net/udp': UDP, '/proc/net/udp6': UDP6 };
    const b = new UdpBacklog([{ address: '127.0.0.11', port: 5060 }, { address: '::1', port: 5060 }], (p) => files[p]);
    expect(b.bytes()).toBe(0x1f400);
    const none = new UdpBacklog([{ address: '127.0.0.11', port: 5060 }], () => {
      throw new Error('ENOENT');
    });
    expect(none.bytes()).toBe(0);
  });

  it('sees datagrams queued on a real socket while the event loop is busy', async () => {
    const sock = createSocket('udp4');
    sock.on('message', () => undefined);
    await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
    const { port } = sock.address();
    const backlog = new UdpBacklog([{ address: '127.0.0.1', port }]);
    try {
      expect(backlog.bytes()).toBe(0);
      // Another process sends while this one is blocked in execFileSync: the datagrams wait in
      // the kernel queue, unread, until the loop turns again.
      const script = `const s=require('dgram').createSocket('udp4');let n=0;const b=Buffer.alloc(500,65);(function f(){if(n++===100)return s.close();s.send(b,${port},'127.0.0.1',f)})()`;
      execFileSync(process.execPath, ['-e', script]);
      expect(backlog.bytes()).toBeGreaterThanOrEqual(100 * 500);
    } finally {
      sock.close();
    }
  });
});
