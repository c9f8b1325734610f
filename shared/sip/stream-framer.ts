/**
 * Cuts a byte stream (TCP, TLS) into SIP messages by Content-Length (RFC 3261 §18.3), and
 * recognises RFC 5626 §4.4.1 keep-alives: a double CRLF "ping" (answer with a single CRLF "pong")
 * and a single CRLF "pong".
 *
 * On a stream, a missing, malformed or conflicting Content-Length leaves no way to find the next
 * message, so `push` throws a `SipParseError` with code SIP_ERR_FRAMING and the transport closes
 * the connection (RFC 4475 ncl, mcl01). Oversized input throws SIP_ERR_LIMIT. A message that
 * never completes (RFC 4475 clerr) is the transport's header/idle timer's job: `hasPartial` says
 * bytes are waiting.
 */
import { ERROR_CODES, SipParseError } from '../errors.ts';
import { DEFAULT_LIMITS, type ParseLimits } from './limits.ts';

const CRLFCRLF = Buffer.from('\r\n\r\n');
const CONTENT_LENGTH = /\r\n(?:content-length|l)[ \t]*:[ \t]*([^\r\n]*)/gi;

export interface StreamFramerEvents {
  /** One whole message: header block + exactly Content-Length body bytes. */
  onMessage(frame: Buffer): void;
  /** A CRLFCRLF keep-alive ping arrived; RFC 5626 says answer with CRLF. */
  onPing(): void;
}

function framingError(message: string): SipParseError {
  return new SipParseError(message, 400, `Bad Request (${message})`, ERROR_CODES.SIP_ERR_FRAMING);
}

export class StreamFramer {
  #pending: Buffer | undefined;
  readonly #limits: ParseLimits;
  readonly #events: StreamFramerEvents;

  constructor(events: StreamFramerEvents, limits: ParseLimits = DEFAULT_LIMITS) {
    this.#events = events;
    this.#limits = limits;
  }

  /**
   * True while part of a message is buffered. A held-back CRLF (a pong, or the first half of a
   * ping) is not part of a message: it must not start the transport's header timer.
   */
  get hasPartial(): boolean {
    const p = this.#pending;
    return p !== undefined && p.length > 0 && !(p.length < 4 && isCrlfPrefix(p, 0));
  }

  push(chunk: Buffer): void {
    let buf = this.#pending === undefined ? chunk : Buffer.concat([this.#pending, chunk]);
    this.#pending = undefined;
    let offset = 0;
    while (offset < buf.length) {
      // Keep-alives between messages.
      if (buf[offset] === 0x0d) {
        if (buf.length - offset < 4 && isCrlfPrefix(buf, offset)) break; // maybe a ping split in two
        if (buf[offset + 1] === 0x0a && buf[offset + 2] === 0x0d && buf[offset + 3] === 0x0a) {
          offset += 4;
          this.#events.onPing();
          continue;
        }
        if (buf[offset + 1] === 0x0a) {
          offset += 2; // a pong, or a stray line break before a start line (RFC 3261 §7.5)
          continue;
        }
      }
      const headEnd = buf.indexOf(CRLFCRLF, offset);
      if (headEnd < 0) {
        if (buf.length - offset > this.#limits.maxMessageBytes) {
          throw new SipParseError('header block exceeds the message size limit', 513, 'Message Too Large', ERROR_CODES.SIP_ERR_LIMIT);
        }
        break;
      }
      const bodyLength = this.#contentLength(buf, offset, headEnd);
      const total = headEnd + 4 - offset + bodyLength;
      if (total > this.#limits.maxMessageBytes) {
        throw new SipParseError(`message of ${total} bytes exceeds ${this.#limits.maxMessageBytes}`, 513, 'Message Too Large', ERROR_CODES.SIP_ERR_LIMIT);
      }
      if (buf.length - offset < total) break;
      this.#events.onMessage(buf.subarray(offset, offset + total));
      offset += total;
    }
    if (offset < buf.length) this.#pending = offset === 0 ? buf : buf.subarray(offset);
  }

  #contentLength(buf: Buffer, start: number, headEnd: number): number {
    // Prefix CRLF so the regex can anchor every header line, the first included.
    const head = '\r\n' + buf.toString('latin1', start, headEnd);
    let value: number | undefined;
    for (const m of head.matchAll(CONTENT_LENGTH)) {
      const text = m[1].trim();
      if (!/^\d{1,10}$/.test(text)) throw framingError('invalid Content-Length');
      const n = Number(text);
      if (value !== undefined && value !== n) throw framingError('conflicting Content-Length');
      value = n;
    }
    if (value === undefined) throw framingError('missing Content-Length on a stream');
    return value;
  }
}

function isCrlfPrefix(buf: Buffer, offset: number): boolean {
  const pattern = [0x0d, 0x0a, 0x0d, 0x0a];
  for (let i = offset; i < buf.length; i++) if (buf[i] !== pattern[i - offset]) return false;
  return true;
}
