/**
 * StreamFramer: Content-Length framing on TCP/TLS, RFC 5626 keep-alives, framing and size errors.
 */
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, SipParseError } from '../errors.ts';
import { DEFAULT_LIMITS } from './limits.ts';
import { parseMessage } from './parse.ts';
import { StreamFramer } from './stream-framer.ts';

function message(callId: string, body = '', clHeader = 'Content-Length'): Buffer {
  const head = [
    'INVITE sip:bob@example.com SIP/2.0',
    'Via: SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bK' + callId,
    'Max-Forwards: 70',
    'From: <sip:alice@example.com>;tag=1',
    'To: <sip:bob@example.com>',
    `Call-ID: ${callId}`,
    'CSeq: 1 INVITE',
    `${clHeader}: ${body.length}`,
  ].join('\r\n');
  return Buffer.from(`${head}\r\n\r\n${body}`, 'latin1');
}

function collect(limits = DEFAULT_LIMITS) {
  const frames: Buffer[] = [];
  let pings = 0;
  const framer = new StreamFramer(
    {
      onMessage: (f) => frames.push(Buffer.from(f)),
      onPing: () => pings++,
    },
    limits,
  );
  return { framer, frames, pings: () => pings };
}

function framingError(fn: () => void): SipParseError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SipParseError);
    return err as SipParseError;
  }
  throw new Error('expected a SipParseError');
}

describe('StreamFramer framing', () => {
  it('emits a whole message pushed in one chunk', () => {
    const { framer, frames } = collect();
    const m = message('a', 'v=0\r\n');
    framer.push(m);
    expect(frames).toHaveLength(1);
    expect(frames[0].equals(m)).toBe(true);
    expect(framer.hasPartial).toBe(false);
    expect(parseMessage(frames[0]).callId).toBe('a');
  });

  it('emits several messages from one chunk, in order', () => {
    const { framer, frames } = collect();
    const ms = [message('a', 'x'), message('b'), message('c', 'hello world')];
    framer.push(Buffer.concat(ms));
    expect(frames.map((f) => f.toString('latin1'))).toEqual(ms.map((m) => m.toString('latin1')));
  });

  it('reassembles a message split byte by byte, and inside the header/body boundary', () => {
    const m = message('split', 'body-bytes');
    const { framer, frames } = collect();
    for (let i = 0; i < m.length; i++) {
      framer.push(m.subarray(i, i + 1));
      if (i < m.length - 1) {
        expect(frames).toHaveLength(0);
        expect(framer.hasPartial).toBe(true);
      }
    }
    expect(frames).toHaveLength(1);
    expect(frames[0].equals(m)).toBe(true);
    expect(framer.hasPartial).toBe(false);

    const cut = m.indexOf('\r\n\r\n') + 2;
    const two = collect();
    two.framer.push(m.subarray(0, cut));
    two.framer.push(m.subarray(cut, cut + 3));
    expect(two.frames).toHaveLength(0);
    two.framer.push(Buffer.concat([m.subarray(cut + 3), message('next')]));
    expect(two.frames.map((f) => parseMessage(f).callId)).toEqual(['split', 'next']);
  });

  it('recognises compact `l:` and LWS before the colon', () => {
    const { framer, frames } = collect();
    framer.push(Buffer.concat([message('a', 'abc', 'l'), message('b', 'de', 'content-length  '), message('c', 'f', 'L')]));
    expect(frames.map((f) => parseMessage(f).body.toString())).toEqual(['abc', 'de', 'f']);
  });

  it('does not take the body for headers: a Content-Length text in the body is ignored', () => {
    const { framer, frames } = collect();
    const body = 'Content-Length: 999\r\n';
    framer.push(message('a', body));
    expect(frames).toHaveLength(1);
    expect(parseMessage(frames[0]).body.toString()).toBe(body);
  });
});

describe('StreamFramer keep-alives (RFC 5626 §4.4.1)', () => {
  it('reports a CRLFCRLF ping and emits nothing', () => {
    const c = collect();
    c.framer.push(Buffer.from('\r\n\r\n'));
    expect(c.pings()).toBe(1);
    expect(c.frames).toHaveLength(0);
    expect(c.framer.hasPartial).toBe(false);
  });

  it('handles a ping split across two reads as one ping', () => {
    const c = collect();
    c.framer.push(Buffer.from('\r\n'));
    expect(c.pings()).toBe(0);
    c.framer.push(Buffer.from('\r\n'));
    expect(c.pings()).toBe(1);
    const d = collect();
    d.framer.push(Buffer.from('\r'));
    d.framer.push(Buffer.from('\n\r'));
    d.framer.push(Buffer.from('\n'));
    expect(d.pings()).toBe(1);
  });

  it('a lone CRLF (pong) is not a partial message: it must not start the header timer', () => {
    const c = collect();
    c.framer.push(Buffer.from('\r\n'));
    expect(c.framer.hasPartial).toBe(false);
    expect(c.pings()).toBe(0);
    // The next message still frames cleanly.
    c.framer.push(message('after-pong'));
    expect(c.frames.map((f) => parseMessage(f).callId)).toEqual(['after-pong']);
    expect(c.pings()).toBe(0);
    expect(c.framer.hasPartial).toBe(false);
  });

  it('handles pings and pongs between and before messages', () => {
    const c = collect();
    c.framer.push(Buffer.concat([Buffer.from('\r\n\r\n'), message('a'), Buffer.from('\r\n\r\n\r\n\r\n'), message('b'), Buffer.from('\r\n')]));
    expect(c.pings()).toBe(3);
    expect(c.frames.map((f) => parseMessage(f).callId)).toEqual(['a', 'b']);
    expect(c.framer.hasPartial).toBe(false);
  });

  it('a single CRLF before a start line is skipped (RFC 3261 §7.5)', () => {
    const c = collect();
    c.framer.push(Buffer.concat([Buffer.from('\r\n'), message('a')]));
    expect(c.pings()).toBe(0);
    expect(c.frames.map((f) => parseMessage(f).callId)).toEqual(['a']);
  });
});

describe('StreamFramer errors', () => {
  it('a message without Content-Length on a stream is a framing error', () => {
    const m = Buffer.from('OPTIONS sip:x@y SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nCall-ID: c\r\n\r\n');
    const err = framingError(() => collect().framer.push(m));
    expect(err.code).toBe(ERROR_CODES.SIP_ERR_FRAMING);
    expect(err.message).toMatch(/Content-Length/);
  });

  it.each(['-999', 'five', '', '1 2', '99999999999'])('Content-Length %j is a framing error', (v) => {
    const m = Buffer.from(`OPTIONS sip:x@y SIP/2.0\r\nCall-ID: c\r\nContent-Length: ${v}\r\n\r\n`);
    const err = framingError(() => collect().framer.push(m));
    expect(err.code).toBe(ERROR_CODES.SIP_ERR_FRAMING);
  });

  it('conflicting Content-Length headers are a framing error (RFC 4475 mcl01)', () => {
    const m = Buffer.from('OPTIONS sip:x@y SIP/2.0\r\nContent-Length: 3\r\nl: 5\r\n\r\nabcde');
    const err = framingError(() => collect().framer.push(m));
    expect(err.code).toBe(ERROR_CODES.SIP_ERR_FRAMING);
    expect(err.message).toMatch(/conflicting/);
    // Equal duplicates are fine.
    const ok = collect();
    ok.framer.push(Buffer.from('OPTIONS sip:x@y SIP/2.0\r\nContent-Length: 3\r\nl: 3\r\n\r\nabc'));
    expect(ok.frames).toHaveLength(1);
  });

  it('an unterminated header block beyond maxMessageBytes is SIP_ERR_LIMIT', () => {
    const limits = { ...DEFAULT_LIMITS, maxMessageBytes: 1000 };
    const c = collect(limits);
    c.framer.push(Buffer.from('OPTIONS sip:x@y SIP/2.0\r\n'));
    const err = framingError(() => {
      for (let i = 0; i < 100; i++) c.framer.push(Buffer.from(`X-Filler-${i}: ${'a'.repeat(20)}\r\n`));
    });
    expect(err.code).toBe(ERROR_CODES.SIP_ERR_LIMIT);
    expect(err.status).toBe(513);
  });

  it('a declared Content-Length that would exceed maxMessageBytes fails before the body arrives', () => {
    const limits = { ...DEFAULT_LIMITS, maxMessageBytes: 2000 };
    const c = collect(limits);
    const err = framingError(() => c.framer.push(Buffer.from('OPTIONS sip:x@y SIP/2.0\r\nContent-Length: 5000\r\n\r\n')));
    expect(err.code).toBe(ERROR_CODES.SIP_ERR_LIMIT);
    expect(err.status).toBe(513);
  });

  it('a large Content-Length within the limit just waits (RFC 4475 clerr on TCP)', () => {
    const c = collect();
    c.framer.push(Buffer.from('OPTIONS sip:x@y SIP/2.0\r\nContent-Length: 9999\r\n\r\nshort body'));
    expect(c.frames).toHaveLength(0);
    expect(c.framer.hasPartial).toBe(true);
  });
});
