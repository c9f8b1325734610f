/**
 * Property-based tests for the SIP message layer (fast-check).
 *
 * - Garbage and mutated torture messages: parseMessage returns a message or throws SipParseError,
 *   never anything else, never slowly; whatever it returns serializes and re-parses to the same
 *   start line, Call-ID and CSeq, and every accessor returns or throws SipParseError.
 * - StreamFramer: valid messages cut into random chunks come out as exactly the same frames;
 *   garbage yields frames or SipParseError only.
 * - Generated valid requests (random tokens, display names, params, multi-value Via lines, compact
 *   names, folding) parse to the values they were built from and round-trip byte for byte.
 * - The fast paths agree with the plain ones: serializeMessage (copies of received octets) with a
 *   string-building serializer after random edits; the in-place value parsers (`parseViaIn`…)
 *   with parsing the value on its own.
 *
 * Runs are seeded: FC_SEED=<n> reproduces a run (the seed is printed), FC_RUNS=<n> changes the
 * number of runs per property (default 2000).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SipParseError } from '../errors.ts';
import { makeResponse } from './make-response.ts';
import { SipRequest, SipResponse, type SipMessage } from './message.ts';
import { formatNameAddr, nameAddrParamIn, parseNameAddr, parseNameAddrIn } from './name-addr.ts';
import { parseMessage } from './parse.ts';
import { serializeMessage } from './serialize.ts';
import { StreamFramer } from './stream-framer.ts';
import { paramValue as paramValueIn, parseParams } from './syntax.ts';
import { formatUri, parseUri, parseUriIn } from './uri.ts';
import { formatVia, parseVia, parseViaIn } from './via.ts';

const SEED = process.env.FC_SEED !== undefined ? Number(process.env.FC_SEED) : 20_261_123;
const RUNS = process.env.FC_RUNS !== undefined ? Number(process.env.FC_RUNS) : 2000;
/** Slowest single parse (+ accessors + serialize + re-parse) we accept: anything near this is a hang. */
const MAX_MS = 50;

function params(offset: number): fc.Parameters<unknown> {
  return { seed: SEED + offset, numRuns: RUNS };
}

// ---------------------------------------------------------------------------------------------
// Corpus: every torture message that must parse, in wire form.

const VALID_4475 = [
  'wsinv', 'intmeth', 'esc01', 'escnull', 'esc02', 'lwsdisp', 'longreq', 'dblreq', 'semiuri', 'transports',
  'mpart01', 'unreason', 'noreason', 'badbranch', 'baddate', 'unkscm', 'novelsc', 'unksm2', 'bext01', 'invut',
  'regaut01', 'bcast', 'zeromf', 'cparam01', 'cparam02', 'regescrt', 'sdp01', 'inv2543',
];
const DIR_4475 = new URL('./fixtures/rfc4475/', import.meta.url);
const DIR_5118 = new URL('./fixtures/rfc5118/', import.meta.url);
const CORPUS: Buffer[] = [
  ...VALID_4475.map((n) => readFileSync(new URL(`${n}.dat`, DIR_4475))),
  ...readdirSync(DIR_5118)
    .filter((f) => f.endsWith('.dat') && f !== 'ipv6-bad.dat')
    .map((f) => readFileSync(new URL(f, DIR_5118))),
];
/** The same messages as stream frames: serialized, so each carries a right Content-Length. */
const FRAMES: Buffer[] = CORPUS.map((b) => serializeMessage(parseMessage(b)));

// ---------------------------------------------------------------------------------------------
// The robustness oracle.

const stats: { slowestMs: number; slowestInput: Buffer; parsed: number; refused: number } = {
  slowestMs: 0,
  slowestInput: Buffer.alloc(0),
  parsed: 0,
  refused: 0,
};
/** parsed / refused counts per property, to show the inputs reach both outcomes. */
const outcomes = new Map<string, { parsed: number; refused: number }>();

function counted(name: string, fn: (buf: Buffer) => void): (buf: Buffer) => void {
  const o = { parsed: 0, refused: 0 };
  outcomes.set(name, o);
  return (buf) => {
    const [p, r] = [stats.parsed, stats.refused];
    fn(buf);
    o.parsed += stats.parsed - p;
    o.refused += stats.refused - r;
  };
}

function onlySipParseError(what: string, fn: () => unknown): unknown {
  try {
    return fn();
  } catch (err) {
    if (!(err instanceof SipParseError)) {
      throw new Error(`${what} threw a non-SipParseError: ${String(err)}`, { cause: err });
    }
    return undefined;
  }
}

function touchAccessors(m: SipMessage): void {
  onlySipParseError('via', () => formatVia(m.via));
  onlySipParseError('vias()', () => m.vias().map(formatVia));
  onlySipParseError('from', () => formatNameAddr(m.from));
  onlySipParseError('to', () => formatNameAddr(m.to));
  onlySipParseError('fromTag/toTag', () => [m.fromTag, m.toTag]);
  onlySipParseError('routes()', () => m.routes().map(formatNameAddr));
  onlySipParseError('recordRoutes()', () => m.recordRoutes().map(formatNameAddr));
  onlySipParseError('contacts()', () => {
    const c = m.contacts();
    return c === '*' ? c : c.map(formatNameAddr);
  });
  onlySipParseError('callId/cseq/maxForwards', () => [m.callId, m.cseq, m.maxForwards]);
  onlySipParseError('credentials()', () => m.credentials());
  onlySipParseError('values()', () => m.values('supported'));
  onlySipParseError('expires/contentType', () => [m.expires, m.contentType]);
  if (m instanceof SipRequest) onlySipParseError('requestUri', () => formatUri(m.requestUri));
}

function startLineOf(m: SipMessage): string {
  return m instanceof SipRequest ? `${m.method} ${m.uri}` : `${(m as SipResponse).status}`;
}

/**
 * A slow run is timed again: a real hang reproduces, a GC pause or the scheduler (vitest runs test
 * files in parallel, the machine may be busy) does not. Returns the fastest of three re-runs.
 */
function retime(buf: Buffer): number {
  let best = Infinity;
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    try {
      const m = parseMessage(buf);
      touchAccessors(m);
      parseMessage(serializeMessage(m));
    } catch {
      // Outcomes were checked on the first run; only the time matters here.
    }
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

/** parseMessage(buf) must return a message or throw SipParseError; a message must survive the rest. */
function checkRobust(buf: Buffer): void {
  const t0 = performance.now();
  let m: SipMessage | undefined;
  try {
    m = parseMessage(buf);
  } catch (err) {
    if (!(err instanceof SipParseError)) throw new Error(`parseMessage threw a non-SipParseError: ${String(err)}`, { cause: err });
    expect(typeof err.status).toBe('number');
    expect(err.status).toBeGreaterThanOrEqual(400);
    stats.refused++;
  }
  if (m !== undefined) {
    stats.parsed++;
    touchAccessors(m);
    const out = serializeMessage(m);
    const again = parseMessage(out);
    expect(startLineOf(again)).toBe(startLineOf(m));
    expect(again.callId).toBe(m.callId);
    expect(again.cseq).toEqual(m.cseq);
    expect(again.body.equals(m.body)).toBe(true);
    // Serializing what we re-parsed is a fixed point.
    expect(serializeMessage(again).equals(out)).toBe(true);
    // The proxy's mutations keep a message whose Vias parse well-formed.
    const top = onlySipParseError('via', () => m.via) as SipMessage['via'] | undefined;
    const all = onlySipParseError('vias()', () => m.vias());
    if (top !== undefined && all !== undefined) {
      m.setTopVia({ ...top, params: new Map([...top.params, ['received', '192.0.2.1']]) });
      m.prepend('Via', 'SIP/2.0/UDP proxy.invalid;branch=z9hG4bKprop');
      const fwd = parseMessage(serializeMessage(m));
      expect(fwd.via.host).toBe('proxy.invalid');
      expect(fwd.vias()[1].received).toBe('192.0.2.1');
      expect(fwd.vias()[1].host).toBe(top.host);
      fwd.removeFirstValue('via');
      expect(fwd.via.host).toBe(top.host);
    }
  }
  let ms = performance.now() - t0;
  if (ms > MAX_MS / 10) ms = Math.min(ms, retime(buf));
  if (ms > stats.slowestMs) {
    stats.slowestMs = ms;
    stats.slowestInput = buf;
  }
}

// ---------------------------------------------------------------------------------------------
// Input arbitraries.

/** Pieces that matter to a SIP lexer, to make "structured garbage". */
const SIP_PIECES = [
  '\r\n', '\r\n ', '\r\n\r\n', ' ', '\t', ':', ';', ',', '"', '\\', '<', '>', '%', '@', '=', '/', '[', ']', '?',
  'SIP/2.0', 'INVITE', 'sip:', 'Via', 'v', 'From', 'To', 't', 'f', 'Call-ID', 'i', 'CSeq', 'Contact', 'm',
  'Content-Length', 'l', 'Max-Forwards', 'Route', 'Record-Route', 'branch', 'z9hG4bK', 'tag', 'rport', 'received',
  'SIP/2.0/UDP', '192.0.2.1', '[2001:db8::1]', ':5060', '0', '1', '4294967296', '\x00', '\xa0', '\xff', 'a', 'Z',
];

const structuredGarbage = fc
  .tuple(
    fc.constantFrom('', 'INVITE sip:a@b SIP/2.0\r\n', 'SIP/2.0 200 OK\r\n', '\r\n\r\n'),
    fc.array(fc.oneof(fc.constantFrom(...SIP_PIECES), fc.string({ maxLength: 8, unit: 'binary-ascii' })), { maxLength: 300 }),
  )
  .map(([start, pieces]) => Buffer.from(start + pieces.join(''), 'latin1').subarray(0, 4096));

type Mutation =
  | { op: 'flip'; pos: number; xor: number }
  | { op: 'delete'; pos: number; len: number }
  | { op: 'dup'; pos: number; len: number }
  | { op: 'insert'; pos: number; text: string }
  | { op: 'truncate'; pos: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), pos: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ op: fc.constant('delete' as const), pos: fc.nat(), len: fc.integer({ min: 1, max: 64 }) }),
  fc.record({ op: fc.constant('dup' as const), pos: fc.nat(), len: fc.integer({ min: 1, max: 200 }) }),
  fc.record({
    op: fc.constant('insert' as const),
    pos: fc.nat(),
    text: fc.constantFrom('\r\n', ' ', ';', ',', '"', '<', '%', '\r\n ', '\r\n\r\n', '>', ':', '\\', '\x00', '=', '@', '[', '\xc3\xa0'),
  }),
  fc.record({ op: fc.constant('truncate' as const), pos: fc.nat() }),
);

function mutate(buf: Buffer, m: Mutation): Buffer {
  const pos = m.pos % (buf.length + 1);
  switch (m.op) {
    case 'flip': {
      if (buf.length === 0) return buf;
      const out = Buffer.from(buf);
      out[pos % buf.length] ^= m.xor;
      return out;
    }
    case 'delete':
      return Buffer.concat([buf.subarray(0, pos), buf.subarray(pos + m.len)]);
    case 'dup':
      return Buffer.concat([buf.subarray(0, pos + m.len), buf.subarray(pos, pos + m.len), buf.subarray(pos + m.len)]);
    case 'insert':
      return Buffer.concat([buf.subarray(0, pos), Buffer.from(m.text, 'latin1'), buf.subarray(pos)]);
    case 'truncate':
      return buf.subarray(0, pos);
  }
}

/** Mutations biased to the header block, where the parser's decisions are. */
const mutatedTorture = fc
  .tuple(fc.nat({ max: CORPUS.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 4 }), fc.boolean())
  .map(([i, ms, headOnly]) => {
    const src = CORPUS[i];
    const headLen = Math.max(1, src.indexOf('\r\n\r\n') + 4);
    return ms.reduce((b, m) => mutate(b, headOnly ? { ...m, pos: m.pos % headLen } : m), src);
  });

// ---------------------------------------------------------------------------------------------

describe('parseMessage robustness', () => {
  beforeAll(() => {
    console.log(`[parse-property] fast-check seed ${SEED}, ${RUNS} runs per property (FC_SEED / FC_RUNS to change)`);
  });
  afterAll(() => {
    console.log(
      `[parse-property] slowest parse ${stats.slowestMs.toFixed(2)} ms (${stats.slowestInput.length} bytes); ` +
        [...outcomes].map(([k, o]) => `${k}: ${o.parsed} parsed / ${o.refused} refused`).join(', '),
    );
  });

  it('random byte buffers (up to 4 KB): a message or a SipParseError, nothing else', () => {
    const check = counted('random', checkRobust);
    fc.assert(fc.property(fc.uint8Array({ maxLength: 4096 }), (bytes) => check(Buffer.from(bytes))), params(1));
  });

  it('structured garbage (SIP tokens and separators): a message or a SipParseError', () => {
    fc.assert(fc.property(structuredGarbage, counted('structured', checkRobust)), params(2));
  });

  it('mutated torture messages (flip, delete, duplicate, insert, truncate)', () => {
    fc.assert(fc.property(mutatedTorture, counted('mutated', checkRobust)), params(3));
  });

  it('no input took longer than the hang threshold', () => {
    expect(stats.parsed + stats.refused).toBeGreaterThanOrEqual(3 * RUNS);
    // Mutated messages must reach both outcomes, or that property tested little.
    const mutated = outcomes.get('mutated');
    expect(mutated?.parsed).toBeGreaterThan(RUNS / 20);
    expect(mutated?.refused).toBeGreaterThan(RUNS / 20);
    expect(stats.slowestMs).toBeLessThan(MAX_MS);
  });
});

// ---------------------------------------------------------------------------------------------
// StreamFramer

function runFramer(chunks: Buffer[]): { frames: Buffer[]; pings: number; error: unknown } {
  const frames: Buffer[] = [];
  let pings = 0;
  const framer = new StreamFramer({ onMessage: (f) => frames.push(Buffer.from(f)), onPing: () => pings++ });
  try {
    for (const c of chunks) framer.push(c);
  } catch (err) {
    return { frames, pings, error: err };
  }
  return { frames, pings, error: undefined };
}

function cut(buf: Buffer, sizes: number[]): Buffer[] {
  const out: Buffer[] = [];
  let pos = 0;
  let i = 0;
  while (pos < buf.length) {
    const n = sizes.length === 0 ? buf.length : sizes[i++ % sizes.length];
    out.push(buf.subarray(pos, pos + n));
    pos += n;
  }
  return out;
}

describe('StreamFramer properties', () => {
  it('valid messages, concatenated and cut anywhere, come out as exactly the same frames, in order', () => {
    const input = fc.record({
      picks: fc.array(fc.nat({ max: FRAMES.length - 1 }), { minLength: 1, maxLength: 12 }),
      pingsBefore: fc.array(fc.nat({ max: 2 }), { minLength: 12, maxLength: 12 }),
      sizes: fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 20 }),
    });
    fc.assert(
      fc.property(input, ({ picks, pingsBefore, sizes }) => {
        const parts: Buffer[] = [];
        let expectedPings = 0;
        picks.forEach((p, i) => {
          for (let k = 0; k < pingsBefore[i]; k++) parts.push(Buffer.from('\r\n\r\n'));
          expectedPings += pingsBefore[i];
          parts.push(FRAMES[p]);
        });
        const { frames, pings, error } = runFramer(cut(Buffer.concat(parts), sizes));
        expect(error).toBeUndefined();
        expect(pings).toBe(expectedPings);
        expect(frames.length).toBe(picks.length);
        frames.forEach((f, i) => expect(f.equals(FRAMES[picks[i]])).toBe(true));
      }),
      params(10),
    );
  });

  it('garbage and mutated streams only yield frames or a SipParseError', () => {
    const stream = fc.tuple(
      fc.oneof(
        fc.uint8Array({ maxLength: 4096 }).map((b) => Buffer.from(b)),
        structuredGarbage,
        fc
          .tuple(fc.array(fc.nat({ max: FRAMES.length - 1 }), { minLength: 1, maxLength: 4 }), fc.array(mutation, { maxLength: 6 }))
          .map(([picks, ms]) => ms.reduce(mutate, Buffer.concat(picks.map((p) => FRAMES[p])))),
      ),
      fc.array(fc.integer({ min: 1, max: 512 }), { maxLength: 10 }),
    );
    fc.assert(
      fc.property(stream, ([buf, sizes]) => {
        const chunks = cut(buf, sizes);
        let t0 = performance.now();
        const { frames, error } = runFramer(chunks);
        let ms = performance.now() - t0;
        if (error !== undefined) expect(error).toBeInstanceOf(SipParseError);
        for (const f of frames) checkRobust(f);
        if (ms > MAX_MS / 10) {
          // Same rule as retime(): only a slowness that reproduces counts.
          t0 = performance.now();
          runFramer(chunks);
          ms = Math.min(ms, performance.now() - t0);
        }
        expect(ms).toBeLessThan(MAX_MS);
      }),
      params(11),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// serializeMessage copies runs of untouched source octets; it must write exactly what writing each
// field's text would.

/** The plain serializer: start line, `raw ?? Name: value` per field, Content-Length once, body. */
function referenceSerialize(msg: SipMessage): Buffer {
  const body = msg.body;
  let head = msg.startLine() + '\r\n';
  let wroteLength = false;
  for (const h of msg.headers) {
    if (h.key === 'content-length') {
      if (wroteLength) continue;
      wroteLength = true;
      head += (h.raw !== undefined && Number(h.value) === body.length ? h.raw : `${h.name}: ${body.length}`) + '\r\n';
      continue;
    }
    head += (h.raw ?? `${h.name}: ${h.value}`) + '\r\n';
  }
  if (!wroteLength) head += `Content-Length: ${body.length}\r\n`;
  return Buffer.concat([Buffer.from(head + '\r\n', 'latin1'), body]);
}

type Edit = (m: SipMessage) => void;
const EDITS: Array<[string, Edit]> = [
  ['prepend Via', (m) => m.prepend('Via', 'SIP/2.0/UDP 192.0.2.99;branch=z9hG4bKedit')],
  ['append header', (m) => m.append('X-Edit', 'yes')],
  ['set Max-Forwards', (m) => m.set('Max-Forwards', '42')],
  ['remove Route', (m) => void m.remove('route')],
  ['remove Content-Length', (m) => void m.remove('content-length')],
  ['remove first Via value', (m) => void m.removeFirstValue('via')],
  ['setTopVia', (m) => onlySipParseError('setTopVia', () => m.setTopVia({ ...m.via, params: new Map([['branch', 'z9hG4bKx'], ['received', '192.0.2.7']]) }))],
  ['swap two fields', (m) => {
    if (m.headers.length > 2) [m.headers[0], m.headers[2]] = [m.headers[2], m.headers[0]];
  }],
  ['drop a middle field', (m) => void m.headers.splice(m.headers.length >> 1, 1)],
  ['new body', (m) => {
    m.body = Buffer.from('v=0\r\n');
  }],
  ['shorter body (same memory)', (m) => {
    m.body = m.body.subarray(0, m.body.length >> 1);
  }],
  ['body moved', (m) => {
    m.body = m.body.subarray(1);
  }],
  ['change start line', (m) => {
    if (m instanceof SipRequest) m.setUri('sip:edited@192.0.2.1');
    else (m as SipResponse).reason = 'Edited';
  }],
  ['same start line text, new strings', (m) => {
    if (m instanceof SipRequest) m.method = `${m.method}`.split('').join('');
    else (m as SipResponse).reason = (m as SipResponse).reason.split('').join('');
  }],
];

describe('serializeMessage source copies', () => {
  it('write exactly what the plain serializer writes, whatever was edited', () => {
    const input = fc.tuple(fc.nat({ max: CORPUS.length - 1 }), fc.array(fc.nat({ max: EDITS.length - 1 }), { maxLength: 6 }));
    fc.assert(
      fc.property(input, ([i, edits]) => {
        const m = parseMessage(CORPUS[i]);
        expect(serializeMessage(m).equals(referenceSerialize(m))).toBe(true);
        for (const e of edits) {
          EDITS[e][1](m);
          expect(serializeMessage(m).equals(referenceSerialize(m)), EDITS[e][0]).toBe(true);
        }
      }),
      params(30),
    );
  });

  it('also for parsed mutants and for responses built from requests', () => {
    fc.assert(
      fc.property(mutatedTorture, (buf) => {
        let m: SipMessage;
        try {
          m = parseMessage(buf);
        } catch {
          return;
        }
        expect(serializeMessage(m).equals(referenceSerialize(m))).toBe(true);
        if (m instanceof SipRequest) {
          // Copied request fields keep their source octets inside the response.
          const res = onlySipParseError('makeResponse', () => makeResponse(m, 180, 'Ringing', { toTag: 't1' })) as SipResponse | undefined;
          if (res !== undefined) expect(serializeMessage(res).equals(referenceSerialize(res))).toBe(true);
        }
      }),
      params(31),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Generated valid requests

const TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~";
const ALNUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const HEX = '0123456789abcdef';

const token = (max = 12) => fc.string({ unit: fc.constantFrom(...TOKEN_CHARS), minLength: 1, maxLength: max });
const alnum = (min: number, max: number) => fc.string({ unit: fc.constantFrom(...ALNUM), minLength: min, maxLength: max });

const label = fc
  .tuple(alnum(1, 8), fc.option(fc.tuple(fc.constantFrom('-', '--'), alnum(1, 6)), { nil: undefined }))
  .map(([a, b]) => (b === undefined ? a : a + b[0] + b[1]));
const hostname = fc.array(label, { minLength: 1, maxLength: 4 }).map((ls) => ls.join('.'));
const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((o) => o.join('.'));
const ipv6 = fc
  .array(fc.string({ unit: fc.constantFrom(...HEX), minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 4 })
  .map((g) => `[2001:db8::${g.join(':')}]`);
const host = fc.oneof(hostname, ipv4, ipv6);
const port = fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined });

/** User part: unreserved, a few user-unreserved, %HH escapes (no , ; ? so it also works without <>). */
const user = fc.array(
  fc.oneof(
    fc.constantFrom(...(ALNUM + "-_.!~*'&=+$")),
    fc.tuple(fc.constantFrom(...HEX), fc.constantFrom(...HEX)).map(([a, b]) => `%${a}${b}`),
  ),
  { minLength: 1, maxLength: 12 },
).map((cs) => cs.join(''));

/** Optional LWS: nothing, spaces, a tab, or a fold. */
const lws = fc.constantFrom('', '', ' ', '  ', '\t', '\r\n ', '\r\n\t');
const sp = fc.constantFrom(' ', '  ', '\t', '\r\n ');

const paramValue = fc.oneof(
  token(10),
  fc.string({ unit: fc.constantFrom(...(ALNUM + ' ,;:@<>')), maxLength: 10 }).map((s) => `"${s}"`),
);
/** Generic params (`;x-name[=value]`), named so they can't clash with branch/tag/received/rport. */
const genericParams = fc.array(fc.tuple(token(8), fc.option(paramValue, { nil: undefined }), lws, lws), { maxLength: 3 }).map((ps) =>
  ps.map(([n, v, w1, w2]) => `${w1};${w2}x-${n}${v === undefined ? '' : `${w2}=${w1}${v}`}`).join(''),
);

interface GenUri {
  text: string;
  host: string;
  port: number | undefined;
}
const sipUriArb: fc.Arbitrary<GenUri> = fc
  .tuple(fc.constantFrom('sip', 'sips', 'SIP'), fc.option(user, { nil: undefined }), host, port, fc.array(fc.tuple(token(6), fc.option(token(6), { nil: undefined })), { maxLength: 2 }))
  .map(([scheme, u, h, p, ps]) => ({
    text: `${scheme}:${u === undefined ? '' : `${u}@`}${h}${p === undefined ? '' : `:${p}`}${ps.map(([n, v]) => `;${n}${v === undefined ? '' : `=${v}`}`).join('')}`,
    host: h,
    port: p,
  }));

const quotedChar = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...(ALNUM + " ,;:<>@()!#$&'*+-./=?[]^_`{|}~")) },
  { weight: 1, arbitrary: fc.constantFrom('\\"', '\\\\', '\\a') },
  { weight: 1, arbitrary: fc.constantFrom('é', 'ü', 'я', '中').map((c) => Buffer.from(c, 'utf8').toString('latin1')) },
);
const displayName = fc.oneof(
  fc.constant(undefined),
  fc.array(quotedChar, { maxLength: 16 }).map((cs) => `"${cs.join('')}"`),
  fc.array(token(8), { minLength: 1, maxLength: 3 }).map((ts) => ts.join(' ')),
);

interface GenNameAddr {
  text: string;
  uri: string;
  displayName: string | undefined;
  tag: string | undefined;
}
function nameAddrArb(withTag: boolean): fc.Arbitrary<GenNameAddr> {
  return fc
    .tuple(displayName, sipUriArb, fc.boolean(), withTag ? fc.option(token(16), { nil: undefined }) : fc.constant(undefined), genericParams, lws, fc.constantFrom('', ' ', '\t ', '\r\n '))
    .map(([dn, uri, brackets, tag, gp, w, beforeLt]) => {
      // Without <> a URI's own params would become header params, so only param-less URIs go bare.
      const bare = !brackets && dn === undefined && !uri.text.includes(';');
      const tagText = tag === undefined ? '' : `${w};${w}tag${w}=${w}${tag}`;
      const head = bare ? uri.text : `${dn === undefined ? '' : dn + beforeLt}<${uri.text}>`;
      return { text: `${head}${tagText}${gp}`, uri: uri.text, displayName: dn, tag };
    });
}

interface GenVia {
  text: string;
  transport: string;
  host: string;
  port: number | undefined;
  branch: string;
}
const viaValue: fc.Arbitrary<GenVia> = fc
  .tuple(fc.constantFrom('UDP', 'TCP', 'TLS', 'SCTP', 'WS', 'udp', 'tls', 'UNKNOWN'), host, port, token(20), fc.boolean(), fc.option(ipv4, { nil: undefined }), genericParams, lws, lws, sp)
  .map(([transport, h, p, branch, rport, received, gp, w1, w2, s]) => ({
    text:
      `SIP${w1}/${w2}2.0${w1}/${w2}${transport}${s}${h}${p === undefined ? '' : `:${p}`}` +
      `${w1};${w2}branch${w1}=${w2}z9hG4bK${branch}` +
      (rport ? `${w1};rport` : '') +
      (received === undefined ? '' : `;received=${received}`) +
      gp,
    transport: transport.toUpperCase(),
    host: h,
    port: p,
    branch: `z9hG4bK${branch}`,
  }));

const headerName = (forms: string[]) => fc.constantFrom(...forms);
/** Spacing around the colon: `Name: v`, `Name :v`, `Name:\r\n v` (a fold before the value). */
const colon = fc.constantFrom(': ', ':', ' : ', '\t:  ', ':\r\n ', ':\r\n\t', ': \r\n  ');

const callIdArb = fc
  .tuple(fc.string({ unit: fc.constantFrom(...(ALNUM + "-.!%*_+`'~()<>:\\\"/[]?{}")), minLength: 1, maxLength: 24 }), fc.option(hostname, { nil: undefined }))
  .map(([w, h]) => (h === undefined ? w : `${w}@${h}`));

const extValue = fc
  .array(fc.oneof(fc.string({ unit: 'binary-ascii', maxLength: 8 }), fc.constantFrom(' ', ', ', ';', '\xc3\xa9', '\t')), { maxLength: 8 })
  .map((parts) => parts.join('').replace(/[\r\n]/g, ''));

interface GenRequest {
  bytes: Buffer;
  method: string;
  uri: GenUri;
  callId: string;
  seq: number;
  from: GenNameAddr;
  to: GenNameAddr;
  vias: GenVia[];
  contacts: number;
  maxForwards: number | undefined;
  body: Buffer;
  hasContentLength: boolean;
}

const genRequest: fc.Arbitrary<GenRequest> = fc
  .record({
    method: fc.oneof(fc.constantFrom('INVITE', 'OPTIONS', 'REGISTER', 'BYE', 'MESSAGE'), token(16)),
    uri: sipUriArb,
    viaLines: fc.array(fc.tuple(headerName(['Via', 'v', 'VIA', 'via', 'V']), colon, fc.array(viaValue, { minLength: 1, maxLength: 3 }), fc.constantFrom(',', ', ', ' ,', ',\r\n ')), {
      minLength: 1,
      maxLength: 4,
    }),
    from: fc.tuple(headerName(['From', 'f', 'FROM', 'F']), colon, nameAddrArb(true)),
    to: fc.tuple(headerName(['To', 't', 'tO']), colon, nameAddrArb(true)),
    callId: fc.tuple(headerName(['Call-ID', 'i', 'call-id', 'CALL-ID']), colon, callIdArb),
    cseq: fc.tuple(headerName(['CSeq', 'cseq', 'CSEQ']), colon, fc.integer({ min: 0, max: 0xffff_ffff }), fc.nat(3), sp),
    maxForwards: fc.option(fc.tuple(headerName(['Max-Forwards', 'max-forwards', 'MaX-fOrWaRdS']), colon, fc.nat(255), fc.nat(2)), { nil: undefined }),
    contactLines: fc.array(fc.tuple(headerName(['Contact', 'm', 'CONTACT']), colon, fc.array(nameAddrArb(false), { minLength: 1, maxLength: 3 })), { maxLength: 2 }),
    ext: fc.array(fc.tuple(token(16), colon, extValue), { maxLength: 5 }),
    body: fc.uint8Array({ maxLength: 300 }),
    contentLength: fc.constantFrom('Content-Length', 'l', 'content-length', 'L', undefined),
    order: fc.array(fc.nat(), { minLength: 32, maxLength: 32 }),
  })
  .map((r) => {
    type Entry = { line: string; via?: GenVia[]; contacts?: number };
    const entries: Entry[] = [];
    for (const [name, c, values, sep] of r.viaLines) entries.push({ line: `${name}${c}${values.map((v) => v.text).join(sep)}`, via: values });
    entries.push({ line: `${r.from[0]}${r.from[1]}${r.from[2].text}` });
    entries.push({ line: `${r.to[0]}${r.to[1]}${r.to[2].text}` });
    entries.push({ line: `${r.callId[0]}${r.callId[1]}${r.callId[2]}` });
    const seqText = String(r.cseq[2]);
    entries.push({ line: `${r.cseq[0]}${r.cseq[1]}${'0'.repeat(Math.min(r.cseq[3], 10 - seqText.length))}${seqText}${r.cseq[4]}${r.method}` });
    if (r.maxForwards !== undefined) {
      const [name, c, n, zeros] = r.maxForwards;
      entries.push({ line: `${name}${c}${'0'.repeat(zeros)}${n}` });
    }
    for (const [name, c, values] of r.contactLines) entries.push({ line: `${name}${c}${values.map((v) => v.text).join(', ')}`, contacts: values.length });
    for (const [name, c, value] of r.ext) entries.push({ line: `X-${name}${c}${value}` });
    if (r.contentLength !== undefined) entries.push({ line: `${r.contentLength}: ${r.body.length}` });
    // Shuffle (stable for equal keys), then read the expectations off the final order.
    const shuffled = entries.map((e, i) => ({ e, k: r.order[i % r.order.length], i })).sort((a, b) => a.k - b.k || a.i - b.i).map((x) => x.e);
    const body = Buffer.from(r.body);
    const head = `${r.method} ${r.uri.text} SIP/2.0\r\n${shuffled.map((e) => e.line).join('\r\n')}\r\n\r\n`;
    return {
      bytes: Buffer.concat([Buffer.from(head, 'latin1'), body]),
      method: r.method,
      uri: r.uri,
      callId: r.callId[2],
      seq: r.cseq[2],
      from: r.from[2],
      to: r.to[2],
      vias: shuffled.flatMap((e) => e.via ?? []),
      contacts: shuffled.reduce((n, e) => n + (e.contacts ?? 0), 0),
      maxForwards: r.maxForwards?.[2],
      body,
      hasContentLength: r.contentLength !== undefined,
    };
  });

describe('generated valid requests', () => {
  it('parse to the values they were built from and round-trip byte for byte', () => {
    fc.assert(
      fc.property(genRequest, (g) => {
        const m = parseMessage(g.bytes);
        expect(m).toBeInstanceOf(SipRequest);
        const r = m as SipRequest;
        expect(r.method).toBe(g.method);
        expect(r.uri).toBe(g.uri.text);
        expect(r.requestUri).toMatchObject({ host: g.uri.host, port: g.uri.port });
        expect(m.callId).toBe(g.callId);
        expect(m.cseq).toEqual({ seq: g.seq, method: g.method });
        expect(m.maxForwards).toBe(g.maxForwards);
        expect([m.from.uri, m.from.displayName, m.fromTag]).toEqual([g.from.uri, g.from.displayName, g.from.tag]);
        expect([m.to.uri, m.to.displayName, m.toTag]).toEqual([g.to.uri, g.to.displayName, g.to.tag]);
        expect(m.vias().map((v) => [v.transport, v.host, v.port, v.branch])).toEqual(g.vias.map((v) => [v.transport, v.host, v.port, v.branch]));
        expect([m.via.host, m.via.branch]).toEqual([g.vias[0].host, g.vias[0].branch]);
        const contacts = m.contacts();
        expect(contacts === '*' ? -1 : contacts.length).toBe(g.contacts);
        expect(m.body.equals(g.body)).toBe(true);
        const out = serializeMessage(m);
        if (g.hasContentLength) {
          expect(out.equals(g.bytes)).toBe(true);
        } else {
          // A datagram without Content-Length gains exactly one, just above the empty line.
          const end = g.bytes.indexOf('\r\n\r\n') + 2;
          const expected = Buffer.concat([g.bytes.subarray(0, end), Buffer.from(`Content-Length: ${g.body.length}\r\n`), g.bytes.subarray(end)]);
          expect(out.equals(expected)).toBe(true);
        }
      }),
      params(20),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// The parsers scan header values in place (`…In(text, start, end)`); the result must be what parsing
// the value on its own gives, whatever surrounds it.

function outcome(fn: () => unknown): unknown {
  try {
    return { ok: fn() };
  } catch (err) {
    if (!(err instanceof SipParseError)) throw err;
    return { error: err.message, status: err.status };
  }
}

describe('in-place parsing of header values', () => {
  const sipish = fc.array(fc.oneof(fc.constantFrom(...SIP_PIECES), fc.string({ maxLength: 4, unit: 'binary-ascii' })), { maxLength: 12 }).map((p) => p.join(''));
  const value = fc.oneof(
    sipish,
    viaValue.map((v) => v.text),
    nameAddrArb(true).map((n) => n.text),
    sipUriArb.map((u) => u.text),
  );
  /** Text around the value that would change the result if a parser looked past its bounds. */
  const around = fc.array(fc.constantFrom(';', ',', '>', '<', '"', '?', '@', ':', ' ', '\r\n', 'x', ';tag=1', ';lr', '\\'), { maxLength: 6 }).map((p) => p.join(''));

  it('parseViaIn / parseNameAddrIn / parseUriIn / parseParams(…, end) equal their whole-string forms', () => {
    fc.assert(
      fc.property(around, value, around, (before, v, after) => {
        const text = before + v + after;
        const a = before.length;
        const b = a + v.length;
        expect(outcome(() => parseViaIn(text, a, b))).toEqual(outcome(() => parseVia(v)));
        expect(outcome(() => parseNameAddrIn(text, a, b, 'To'))).toEqual(outcome(() => parseNameAddr(v, 'To')));
        expect(outcome(() => parseUriIn(text, a, b, 'Request-URI'))).toEqual(outcome(() => parseUri(v, 'Request-URI')));
        expect(outcome(() => parseParams(text, a, 'Contact', b))).toEqual(outcome(() => parseParams(v, 0, 'Contact')));
      }),
      params(40),
    );
  });

  it('nameAddrParamIn / paramValue (no Map) give what parseNameAddr / parseParams give, errors included', () => {
    const name = fc.constantFrom('tag', 'lr', 'expires', 'x');
    /** Repeated and upper-case names: the last occurrence wins, names are case-insensitive. */
    const more = fc.array(fc.constantFrom(';tag=a', ';TAG=b', ';Tag', ';x=1', ';x', ' ; x = "q;r" ', ';lr'), { maxLength: 3 }).map((p) => p.join(''));
    fc.assert(
      fc.property(around, value, more, around, name, (before, value0, extra, after, wanted) => {
        const v = value0 + extra;
        const text = before + v + after;
        const a = before.length;
        const b = a + v.length;
        expect(outcome(() => nameAddrParamIn(text, a, b, 'From', wanted))).toEqual(outcome(() => parseNameAddr(v, 'From').params.get(wanted)));
        expect(outcome(() => paramValueIn(text, a, 'Via', b, wanted))).toEqual(outcome(() => parseParams(v, 0, 'Via').get(wanted)));
      }),
      params(41),
    );
  });
});
