/**
 * Copies for data kept long after the message it came from (finished transactions for 32 s,
 * dialogs for the length of a call): they must not keep that message's storage alive.
 */

/**
 * `b` in an ArrayBuffer of its own. Node serves small `Buffer.allocUnsafe` calls (serializeMessage)
 * from shared 8 KB pool slabs, so a 400-byte message kept for 32 s would keep the whole slab, and
 * everything else cut from it, alive. Bytes a finished transaction keeps are copied out once.
 */
export function ownBytes(b: Buffer): Buffer {
  if (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength) return b;
  const copy = Buffer.allocUnsafeSlow(b.length);
  b.copy(copy);
  return copy;
}

/**
 * Bytes kept for a retransmission that may never come (a finished transaction's final response,
 * for Timer J's 32 s): held as a latin1 string, one heap object of the bytes' length, rather than
 * a Buffer of its own (a typed array, an ArrayBuffer and an off-heap block the GC tracks and sweeps
 * separately, ≈ 200 bytes more per finished call; BENCHMARKS.md, Session 10). latin1 maps each
 * byte to one char and back, so `sendable` gives the same octets.
 */
export function keepBytes(b: Buffer): string {
  return b.toString('latin1');
}

/** The bytes of what `keepBytes` kept; a Buffer still held as one is returned as is. */
export function sendable(kept: Buffer | string): Buffer {
  return typeof kept === 'string' ? Buffer.from(kept, 'latin1') : kept;
}

/**
 * A copy of `s` that does not share storage with the string it may have been sliced from (V8
 * keeps a whole parent string alive for a sliced or cons string that points into it): slicing a
 * fresh concatenation makes V8 flatten that into a new string of its own. The result is itself a
 * sliced string (32 bytes) over that new parent: strings kept per finished transaction are built
 * flat instead (transaction-key.ts joins its pieces).
 */
export function ownString(s: string): string {
  return (' ' + s).slice(1);
}
