import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isSipfleetError, type ErrorCode } from '../../shared/errors.ts';
import { bdecode, bdecodeDict, bencode, isBencodeDict, type BencodeValue } from './bencode.ts';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const text = (v: Buffer): string => v.toString('latin1');

function failure(fn: () => unknown): { code: ErrorCode; detail: Record<string, unknown> | undefined; message: string } {
  try {
    fn();
  } catch (err) {
    if (!isSipfleetError(err)) throw err;
    return { code: err.code, detail: err.detail, message: err.message };
  }
  throw new Error('expected a SipfleetError');
}

describe('bencode', () => {
  it('encodes the four types canonically', () => {
    expect(text(bencode('spam'))).toBe('4:spam');
    expect(text(bencode(''))).toBe('0:');
    expect(text(bencode(0))).toBe('i0e');
    expect(text(bencode(-42))).toBe('i-42e');
    expect(text(bencode(2n ** 70n))).toBe(`i${(2n ** 70n).toString()}e`);
    expect(text(bencode(1e21))).toBe('i1000000000000000000000e');
    expect(text(bencode(['a', 1, []]))).toBe('l1:ai1elee');
    expect(text(bencode({}))).toBe('de');
  });

  it('sorts dictionary keys by their bytes and leaves undefined values out', () => {
    expect(text(bencode({ sdp: 'x', command: 'offer', 'call-id': 'c', 'from-tag': undefined }))).toBe('d7:call-id1:c7:command5:offer3:sdp1:xe');
    // Byte order, not JS string order: 'Z' (0x5a) < 'a' (0x61) < 'é' (0xc3 0xa9).
    expect(text(bencode({ é: 1, a: 2, Z: 3 }))).toBe('d1:Zi3e1:ai2e2:\xc3\xa9i1ee');
  });

  it('writes strings as UTF-8 and Buffers byte for byte', () => {
    expect(bencode('é')).toEqual(Buffer.from([0x32, 0x3a, 0xc3, 0xa9]));
    expect(bencode(Buffer.from([0xff, 0x00]))).toEqual(Buffer.from([0x32, 0x3a, 0xff, 0x00]));
    // A plain Uint8Array (not typed as a BencodeValue) encodes like a Buffer.
    expect(bencode(new Uint8Array([1, 2, 3]) as unknown as Buffer)).toEqual(b('3:\x01\x02\x03'));
  });

  it('decodes what rtpengine sends, keys unsorted', () => {
    const reply = bdecodeDict(b('d6:result2:ok3:sdp9:v=0\r\nc=IN6:totalsd3:RTPd7:packetsi0eeee'));
    expect(reply).toEqual({ result: 'ok', sdp: 'v=0\r\nc=IN', totals: { RTP: { packets: 0 } } });
    expect(bdecodeDict(b('d6:result2:ok7:command4:pinge'))).toEqual({ result: 'ok', command: 'ping' });
  });

  it('keeps SDP bytes intact: UTF-8 text comes back as a string, anything else as a Buffer', () => {
    const sdp = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=Café ☕\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n';
    const utf8 = bdecodeDict(bencode({ sdp }));
    expect(utf8.sdp).toBe(sdp);
    expect(bencode(utf8)).toEqual(bencode({ sdp }));

    const latin1 = Buffer.from('s=Caf\xe9\r\n', 'latin1');
    const decoded = bdecodeDict(bencode({ sdp: latin1 }));
    expect(Buffer.isBuffer(decoded.sdp)).toBe(true);
    expect(decoded.sdp).toEqual(latin1);

    // A leading BOM is data, not stripped.
    expect(bdecode(bencode('\ufeffx'))).toBe('\ufeffx');
  });

  it('decodes every byte string as a Buffer with bytes: "buffer" (keys stay text)', () => {
    expect(bdecode(b('d3:sdp3:v=0e'), { bytes: 'buffer' })).toEqual({ sdp: b('v=0') });
  });

  it('does not alias the input: decoded Buffers are copies', () => {
    const input = b('2:\xff\xfe');
    const out = bdecode(input) as Buffer;
    input[2] = 0x41;
    expect(out).toEqual(Buffer.from([0xff, 0xfe]));
  });

  it('returns numbers when safe and bigints beyond', () => {
    expect(bdecode(b(`i${Number.MAX_SAFE_INTEGER}e`))).toBe(Number.MAX_SAFE_INTEGER);
    expect(bdecode(b('i-9007199254740993e'))).toBe(-9007199254740993n);
  });

  it('treats __proto__ as an ordinary key', () => {
    const dict = bdecodeDict(b('d9:__proto__d1:xi1eee'));
    expect(Object.keys(dict)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).x).toBeUndefined();
    expect(bencode(dict)).toEqual(b('d9:__proto__d1:xi1eee'));
  });

  it.each([
    ['', 0],
    ['x', 0],
    ['i03e', 0],
    ['i-0e', 0],
    ['ie', 0],
    ['i-e', 0],
    ['i12', 0],
    ['i1.5e', 2],
    ['03:abc', 0],
    ['5:abc', 0],
    ['3abc', 1],
    ['4:', 0],
    ['l', 1],
    ['li1e', 4],
    ['d', 1],
    ['d3:foo', 6],
    ['di1ei2ee', 1],
    ['d1:ai1e1:ai2ee', 7],
    ['i1ei2e', 3],
    ['de ', 2],
    ['d2:\xff\xfei1ee', 1],
  ])('rejects %j with BENCODE_ERR_DECODE at byte %i', (input, offset) => {
    const err = failure(() => bdecode(b(input)));
    expect(err.code).toBe('BENCODE_ERR_DECODE');
    expect(err.detail?.offset).toBe(offset);
  });

  it('rejects a non-dictionary top level in bdecodeDict', () => {
    expect(failure(() => bdecodeDict(b('le'))).code).toBe('BENCODE_ERR_DECODE');
    expect(isBencodeDict(bdecode(b('de')))).toBe(true);
    expect(isBencodeDict(b('x'))).toBe(false);
  });

  it('enforces maxLength and maxDepth', () => {
    expect(failure(() => bdecode(b('4:spam'), { maxLength: 5 }))).toMatchObject({ code: 'BENCODE_ERR_LIMIT', detail: { limit: 'maxLength' } });
    expect(bdecode(b('4:spam'), { maxLength: 6 })).toBe('spam');

    const nested = (n: number): Buffer => b(`${'l'.repeat(n)}${'e'.repeat(n)}`);
    expect(bdecode(nested(3), { maxDepth: 3 })).toEqual([[[]]]);
    expect(failure(() => bdecode(nested(4), { maxDepth: 3 }))).toMatchObject({ code: 'BENCODE_ERR_LIMIT', detail: { limit: 'maxDepth' } });
    // The default depth stops a pathological input without blowing the stack.
    expect(failure(() => bdecode(nested(100_000))).code).toBe('BENCODE_ERR_LIMIT');
    expect(failure(() => bdecode(b('d1:ad1:ad1:adeeee'), { maxDepth: 3 })).code).toBe('BENCODE_ERR_LIMIT');
  });

  it.each<[string, unknown]>([
    ['a fraction', 1.5],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['a boolean', true],
    ['null', null],
    ['undefined at the top', undefined],
    ['undefined in a list', [1, undefined]],
    ['a lone surrogate', 'a\ud800'],
    ['a lone surrogate in a key', { '\udc00': 1 }],
    ['a Date', new Date(0)],
    ['a Map', new Map()],
    ['a function', () => 1],
  ])('refuses to encode %s with BENCODE_ERR_ENCODE', (_what, value) => {
    expect(failure(() => bencode(value as BencodeValue)).code).toBe('BENCODE_ERR_ENCODE');
  });

  it('names the path of an unencodable value', () => {
    expect(failure(() => bencode({ flags: ['ok', 2.5] })).detail).toEqual({ path: '.flags[1]' });
  });

  it('stops a cycle with BENCODE_ERR_LIMIT', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(failure(() => bencode(cyclic as BencodeValue)).code).toBe('BENCODE_ERR_LIMIT');
  });
});

// ---- properties ----

/** Values that decode back to themselves exactly: text, safe integers, lists, dictionaries. */
const exactValue = fc.letrec<{ value: BencodeValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.string({ unit: 'grapheme', maxLength: 20 }),
    fc.string({ unit: 'binary', maxLength: 20 }),
    fc.maxSafeInteger(),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(fc.string({ unit: 'binary', maxLength: 8 }), tie('value'), { maxKeys: 5, noNullPrototype: false }),
  ),
})).value;

/** Anything encodable, raw bytes and bigints included. */
const anyValue = fc.letrec<{ value: BencodeValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.string({ unit: 'binary', maxLength: 20 }),
    fc.uint8Array({ maxLength: 20 }).map((u) => Buffer.from(u)),
    fc.bigInt(),
    fc.integer(),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(fc.string({ unit: 'binary', maxLength: 8 }), tie('value'), { maxKeys: 5 }),
  ),
})).value;

describe('bencode properties', () => {
  it('decode(encode(v)) equals v for text, integers, lists and dictionaries', () => {
    fc.assert(
      fc.property(exactValue, (v) => {
        expect(bdecode(bencode(v))).toEqual(v);
      }),
      { numRuns: 500 },
    );
  });

  it('encode(decode(encode(v))) is byte-identical for any value, raw bytes included', () => {
    fc.assert(
      fc.property(anyValue, (v) => {
        const once = bencode(v);
        expect(bencode(bdecode(once))).toEqual(once);
      }),
      { numRuns: 500 },
    );
  });

  it('throws only typed BENCODE_ERR_* errors on random and mutated input', () => {
    const check = (input: Uint8Array): void => {
      try {
        bdecode(input, { maxDepth: 16 });
      } catch (err) {
        if (!isSipfleetError(err) || !err.code.startsWith('BENCODE_ERR_')) throw err;
      }
    };
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), check), { numRuns: 1000 });
    fc.assert(
      fc.property(anyValue, fc.nat(), fc.integer({ min: 0, max: 255 }), (v, at, byte) => {
        const bytes = Buffer.from(bencode(v));
        if (bytes.length > 0) bytes[at % bytes.length] = byte;
        check(bytes);
        check(bytes.subarray(0, at % (bytes.length + 1)));
      }),
      { numRuns: 1000 },
    );
  });
});
