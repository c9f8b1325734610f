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
 * A copy of `s` that does not share storage with the string it may have been sliced from (V8
 * keeps a whole parent string alive for a sliced or cons string that points into it): slicing a
 * fresh concatenation makes V8 flatten that into a new string of its own.
 */
export function ownString(s: string): string {
  return (' ' + s).slice(1);
}
