/**
 * Flow tokens (RFC 5626 §5.2 idea): the Record-Route we put on the side of a stream connection
 * carries the connection id in its user part, so an in-dialog request travelling back toward that
 * phone leaves over the same connection even though its Contact (e.g. `*.invalid` for WebSocket,
 * RFC 7118) is unreachable. HMAC-signed with a per-process key so a peer cannot aim requests at
 * another connection by guessing ids; connections die with the process, and so may the key.
 */
import { createHmac, createSecretKey, randomBytes } from 'node:crypto';

/** A KeyObject made once (a Buffer key is imported again on every HMAC). */
const KEY = createSecretKey(randomBytes(16));
const PREFIX = 'ft-';

function sign(id: string): string {
  return createHmac('sha256', KEY).update(id).digest('base64url').slice(0, 12);
}

export function encodeFlowToken(connectionId: number): string {
  const id = connectionId.toString(36);
  return `${PREFIX}${id}.${sign(id)}`;
}

/** The connection id in a token we made, or undefined for anything else. */
export function decodeFlowToken(user: string | undefined): number | undefined {
  if (user === undefined || !user.startsWith(PREFIX)) return undefined;
  const dot = user.indexOf('.', PREFIX.length);
  if (dot < 0) return undefined;
  const id = user.slice(PREFIX.length, dot);
  if (sign(id) !== user.slice(dot + 1)) return undefined;
  const n = parseInt(id, 36);
  return Number.isSafeInteger(n) ? n : undefined;
}
