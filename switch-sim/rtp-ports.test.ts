import { describe, expect, it } from 'vitest';
import { buildRtpPacket, parseRtpHeader, silenceFrame } from './rtp-packet.ts';
import { RtpPortPool, parseRtpPorts } from './rtp-ports.ts';

describe('parseRtpPorts', () => {
  it('reads LO-HI', () => {
    expect(parseRtpPorts('20000-20999')).toEqual({ min: 20000, max: 20999 });
    expect(parseRtpPorts('30000-30000')).toEqual({ min: 30000, max: 30000 });
  });

  it.each(['20000', '20000-', 'a-b', '21000-20000', '80-90', '20000-70000', '30001-30001'])('rejects %s', (text) => {
    expect(typeof parseRtpPorts(text)).toBe('string');
  });
});

describe('RtpPortPool', () => {
  it('hands out even ports next-fit, refuses when all are leased, reuses released ones later', () => {
    const pool = new RtpPortPool({ min: 30001, max: 30007 });
    expect(pool.size).toBe(3);
    expect([pool.acquire(), pool.acquire(), pool.acquire()]).toEqual([30002, 30004, 30006]);
    expect(pool.acquire()).toBeUndefined();
    expect(pool.free).toBe(0);
    pool.release(30004);
    expect(pool.acquire()).toBe(30004);
    pool.release(30002);
    pool.release(30006);
    // The cursor moved on: 30006 comes before 30002.
    expect(pool.acquire()).toBe(30006);
    expect(pool.inUse).toBe(2);
  });
});

describe('RTP packets', () => {
  it('builds a V=2 header and reads it back', () => {
    const packet = buildRtpPacket({ marker: true, payloadType: 0, sequence: 0x1_0001, timestamp: 2 ** 32 + 5, ssrc: 0xdeadbeef }, silenceFrame(0));
    expect(packet.length).toBe(172);
    expect(packet[0]).toBe(0x80);
    expect(parseRtpHeader(packet)).toEqual({ version: 2, marker: true, payloadType: 0, sequence: 1, timestamp: 5, ssrc: 0xdeadbeef });
    expect(packet.subarray(12).every((b) => b === 0xff)).toBe(true);
    expect(silenceFrame(8)[0]).toBe(0xd5);
    expect(parseRtpHeader(Buffer.from('hello, world!'))).toBeUndefined();
    expect(parseRtpHeader(Buffer.alloc(8))).toBeUndefined();
  });
});
