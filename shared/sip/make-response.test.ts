/**
 * makeResponse (RFC 3261 §8.2.6.2): Via/From/To/Call-ID/CSeq copied byte for byte, a To tag
 * added for every response but 100.
 */
import { describe, expect, it } from 'vitest';
import { makeResponse } from './make-response.ts';
import { SipRequest, SipResponse } from './message.ts';
import { parseMessage } from './parse.ts';
import { serializeMessage } from './serialize.ts';

const REQUEST_LINES = [
  'INVITE sip:bob@example.com SIP/2.0',
  'v:  SIP/2.0/UDP  proxy.example.net;branch=z9hG4bKp1 ,SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKa1;rport=5060;received=192.0.2.1',
  'Via: SIP/2.0/TCP origin.example.com;branch=z9hG4bKo1',
  'Max-Forwards: 69',
  'f:"Alice  Smith"   <sip:alice@example.com>;tag=a1',
  'To:  Bob <sip:bob@example.com>',
  'i: call-77@example.com',
  'CSeq:   314159   INVITE',
  'Contact: <sip:alice@192.0.2.1>',
  'Record-Route: <sip:proxy.example.net;lr>',
  'Content-Type: application/sdp',
  'Content-Length: 4',
];

function request(lines = REQUEST_LINES, body = 'v=0\n'): SipRequest {
  const m = parseMessage(Buffer.from(lines.join('\r\n') + '\r\n\r\n' + body, 'latin1'));
  expect(m).toBeInstanceOf(SipRequest);
  return m as SipRequest;
}

function lines(res: SipResponse): string[] {
  const text = serializeMessage(res).toString('latin1');
  return text.slice(0, text.indexOf('\r\n\r\n')).split('\r\n');
}

describe('makeResponse', () => {
  it('copies Via (every value, in order), From, Call-ID and CSeq byte for byte', () => {
    const req = request();
    const res = makeResponse(req, 180);
    const out = lines(res);
    expect(out[0]).toBe('SIP/2.0 180 Ringing');
    expect(out.slice(1, 3)).toEqual([REQUEST_LINES[1], REQUEST_LINES[2]]);
    expect(out).toContain(REQUEST_LINES[4]);
    expect(out).toContain(REQUEST_LINES[6]);
    expect(out).toContain(REQUEST_LINES[7]);
    expect(res.vias().map((v) => v.host)).toEqual(['proxy.example.net', '192.0.2.1', 'origin.example.com']);
    expect(res.callId).toBe(req.callId);
    expect(res.cseq).toEqual({ seq: 314159, method: 'INVITE' });
    expect(res.from).toEqual(req.from);
  });

  it('copies nothing else (no Max-Forwards, Contact, Record-Route or request body)', () => {
    const res = makeResponse(request(), 486);
    expect(res.headers.map((h) => h.key)).toEqual(['via', 'via', 'from', 'to', 'call-id', 'cseq']);
    expect(res.body.length).toBe(0);
    expect(lines(res).at(-1)).toBe('Content-Length: 0');
  });

  it('does not add a To tag to a 100 Trying; the To line is copied unchanged', () => {
    const res = makeResponse(request(), 100, 'Trying', { toTag: 'never' });
    expect(res.toTag).toBeUndefined();
    expect(lines(res)).toContain(REQUEST_LINES[5]);
  });

  it.each([180, 183, 200, 302, 404, 486, 503, 603])('adds the given To tag to a %i', (status) => {
    const res = makeResponse(request(), status, undefined, { toTag: 'b2' });
    expect(res.toTag).toBe('b2');
    expect(res.to.uri).toBe('sip:bob@example.com');
    expect(res.to.displayName).toBe('Bob');
  });

  it('generates a To tag when none is given, different per call', () => {
    const req = request();
    const a = makeResponse(req, 200);
    const b = makeResponse(req, 200);
    expect(a.toTag).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(b.toTag).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(a.toTag).not.toBe(b.toTag);
    expect(req.toTag).toBeUndefined();
  });

  it('keeps an existing To tag (in-dialog request) byte for byte and adds no second one', () => {
    const withTag = REQUEST_LINES.map((l) => (l.startsWith('To:') ? 'To:  Bob <sip:bob@example.com>;tag=existing' : l));
    const res = makeResponse(request(withTag), 200, 'OK', { toTag: 'other' });
    expect(res.toTag).toBe('existing');
    expect(lines(res)).toContain('To:  Bob <sip:bob@example.com>;tag=existing');
    expect(res.to.params.size).toBe(1);
  });

  it('uses the default reason phrase, or the given one', () => {
    expect(makeResponse(request(), 404).reason).toBe('Not Found');
    expect(makeResponse(request(), 483).reason).toBe('Too Many Hops');
    expect(makeResponse(request(), 403, 'Forbidden (blocked)').reason).toBe('Forbidden (blocked)');
    expect(makeResponse(request(), 499).reason).toBe('Failure');
  });

  it('appends extra headers, a body with its Content-Type, and a right Content-Length', () => {
    const body = Buffer.from('v=0\r\no=- 1 1 IN IP4 192.0.2.9\r\n');
    const res = makeResponse(request(), 200, 'OK', {
      toTag: 't',
      headers: [
        ['Contact', '<sip:bob@192.0.2.9>'],
        ['Allow', 'INVITE, ACK, BYE'],
      ],
      body,
      contentType: 'application/sdp',
    });
    const out = serializeMessage(res);
    const again = parseMessage(out);
    expect(again).toBeInstanceOf(SipResponse);
    expect(again.get('content-type')).toBe('application/sdp');
    expect(again.get('content-length')).toBe(String(body.length));
    expect(again.body.equals(body)).toBe(true);
    expect(again.values('allow')).toEqual(['INVITE', 'ACK', 'BYE']);
    expect(again.toTag).toBe('t');
    // Whatever we build parses back to the same thing and re-serializes identically.
    expect(serializeMessage(again).equals(out)).toBe(true);
  });

  it('works for a response to a request that has no To display name and compact To', () => {
    const compact = REQUEST_LINES.map((l) => (l.startsWith('To:') ? 't: sip:bob@example.com' : l));
    const res = makeResponse(request(compact), 404, undefined, { toTag: 'x' });
    expect(res.get('to')).toBe('sip:bob@example.com;tag=x');
    // An addr-spec To: the tag is a header param, not a URI param.
    expect(res.to.uri).toBe('sip:bob@example.com');
    expect(res.toTag).toBe('x');
  });
});
