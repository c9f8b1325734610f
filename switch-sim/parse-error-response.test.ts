import { describe, expect, it } from 'vitest';
import { SipParseError } from '../shared/errors.ts';
import { parseErrorResponse } from './parse-error-response.ts';

const HEAD = [
  'INVITE sip:a@127.0.0.21 SIP/2.0',
  'v: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1',
  'Via: SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bK2',
  'f: <sip:b@x>;tag=1',
  'To: <sip:a@127.0.0.21>',
  'Call-ID: abc',
  'CSeq: 1 INVITE',
  'Max-Forwards: nope',
];

describe('parseErrorResponse', () => {
  it('builds the response from the raw header lines', () => {
    const text = [...HEAD, '', ''].join('\r\n');
    const out = parseErrorResponse(Buffer.from(text), new SipParseError('bad', 400, 'Bad Max-Forwards'))!.toString();
    const lines = out.split('\r\n');
    expect(lines[0]).toBe('SIP/2.0 400 Bad Max-Forwards');
    expect(lines.slice(1, 3)).toEqual([HEAD[1], HEAD[2]]);
    expect(lines[3]).toBe(HEAD[3]);
    expect(lines[4]).toMatch(/^To: <sip:a@127\.0\.0\.21>;tag=.+/);
    expect(out).toContain('Call-ID: abc\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n');
  });

  it('keeps the SIP status of the error (505)', () => {
    const out = parseErrorResponse(Buffer.from([...HEAD, '', ''].join('\r\n')), new SipParseError('v', 505, 'Version Not Supported'));
    expect(out!.toString()).toMatch(/^SIP\/2\.0 505 Version Not Supported\r\n/);
  });

  it('drops what it cannot answer: responses, ACK, missing headers, garbage', () => {
    const err = new SipParseError('x');
    expect(parseErrorResponse(Buffer.from('SIP/2.0 200 OK\r\nVia: x\r\n\r\n'), err)).toBeUndefined();
    expect(parseErrorResponse(Buffer.from([...HEAD, '', ''].join('\r\n').replace('INVITE sip', 'ACK sip')), err)).toBeUndefined();
    expect(parseErrorResponse(Buffer.from([...HEAD.filter((l) => !l.startsWith('Call-ID')), '', ''].join('\r\n')), err)).toBeUndefined();
    expect(parseErrorResponse(Buffer.from([0, 1, 2, 0xff]), err)).toBeUndefined();
  });
});
