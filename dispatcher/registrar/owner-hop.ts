/**
 * Phone flow tokens: how a request finds its way to a phone that can only be reached over the
 * flow its REGISTER came in on (the NAT pinhole or the connection held by the owner node).
 *
 * A token names a flow (transport, source address and port as received, connection id) and is
 * signed with the cluster secret, so any node can make one and the owner can trust it. It travels
 * in the user part of one of our SIP URIs, two ways:
 * - `hop`: the internal hop. A node that is not the binding's owner sends the call to the owner
 *   with `Route: <sip:oh-h…@owner;lr>`; the owner removes that Route and relays the request over
 *   the flow. Hop tokens expire after `HOP_TOKEN_TTL_S` (they only ever cross between our nodes,
 *   and a copy sniffed off the wire stops working) and are the only thing that lets an
 *   out-of-dialog request bypass the source check, which the sending node already made.
 * - `rr`: in the Record-Route value the owner puts on the phone's side of a call it relays to
 *   the phone (RFC 5626 §5.3 idea, for UDP as well as streams), so in-dialog requests toward the
 *   phone (BYE, re-INVITE) leave over the same flow although the phone's Contact is a private
 *   address. They are honoured for in-dialog requests only.
 *
 * Why not Path (RFC 3327)? Path would make the owner insert itself into the registration, but the
 * owner *is* the registrar here; the hop is internal to the cluster and documented in
 * docs/registrar.md.
 */
import { createHmac, createSecretKey, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto';
import type { BindingFlow, FlowProtocol } from '../../shared/registrar-store/registrar-store.ts';

/** Seconds a hop token is accepted after it was made. */
export const HOP_TOKEN_TTL_S = 60;
const PREFIX = 'oh-';
const SIG_BYTES = 12;
const PROTOCOLS: ReadonlySet<string> = new Set(['udp', 'tcp', 'tls', 'ws', 'wss']);

export type PhoneTokenKind = 'hop' | 'rr';

/** The flow a token names. */
export interface PhoneFlow {
  readonly protocol: FlowProtocol;
  readonly address: string;
  readonly port: number;
  readonly connectionId?: number | undefined;
}

export class PhoneFlowTokens {
  /** Made once: an HMAC with a Buffer key imports the key again on every call. */
  #key: KeyObject;

  /** `secret`: the cluster secret; until `setSecret` a random per-process key (single node). */
  constructor(secret?: string) {
    this.#key = createSecretKey(secret === undefined ? randomBytes(32) : Buffer.from(`sipfleet-phone-flow:${secret}`));
  }

  setSecret(secret: string): void {
    this.#key = createSecretKey(Buffer.from(`sipfleet-phone-flow:${secret}`));
  }

  /** A token for `flow`; `nowS` (Unix seconds) stamps hop tokens. */
  encode(kind: PhoneTokenKind, flow: PhoneFlow | BindingFlow, nowS: number): string {
    const fields = [flow.protocol, flow.address, String(flow.port), flow.connectionId === undefined ? '' : flow.connectionId.toString(36)];
    if (kind === 'hop') fields.push(Math.floor(nowS).toString(36));
    const payload = Buffer.from(fields.join('|'), 'latin1').toString('base64url');
    const tag = kind === 'hop' ? 'h' : 'r';
    return `${PREFIX}${tag}${payload}.${this.#sign(tag + payload)}`;
  }

  /**
   * The flow in a token we (or another node of the cluster) made, when it is of `kind`, signed
   * with our secret and, for hop tokens, not older than HOP_TOKEN_TTL_S; else undefined.
   */
  decode(user: string | undefined, kind: PhoneTokenKind, nowS: number): PhoneFlow | undefined {
    if (user === undefined || !user.startsWith(PREFIX) || user.length > 256) return undefined;
    const tag = user[PREFIX.length];
    if (tag !== (kind === 'hop' ? 'h' : 'r')) return undefined;
    const dot = user.indexOf('.', PREFIX.length + 1);
    if (dot < 0) return undefined;
    const payload = user.slice(PREFIX.length + 1, dot);
    const sig = Buffer.from(user.slice(dot + 1), 'base64url');
    const expected = Buffer.from(this.#sign(tag + payload), 'base64url');
    if (sig.length !== expected.length || !timingSafeEqual(sig, expected)) return undefined;
    const fields = Buffer.from(payload, 'base64url').toString('latin1').split('|');
    if (fields.length !== (kind === 'hop' ? 5 : 4)) return undefined;
    const [protocol, address, portText, conn] = fields;
    if (!PROTOCOLS.has(protocol)) return undefined;
    const port = Number(portText);
    if (!Number.isInteger(port) || port < 1 || port > 65535 || address === '') return undefined;
    if (kind === 'hop') {
      const at = parseInt(fields[4], 36);
      if (!Number.isFinite(at) || nowS - at > HOP_TOKEN_TTL_S || at - nowS > HOP_TOKEN_TTL_S) return undefined;
    }
    const connectionId = conn === '' ? undefined : parseInt(conn, 36);
    if (connectionId !== undefined && !Number.isSafeInteger(connectionId)) return undefined;
    return { protocol: protocol as FlowProtocol, address, port, connectionId };
  }

  /** Whether a URI user part looks like one of these tokens (cheap pre-check). */
  static looksLike(user: string | undefined): boolean {
    return user !== undefined && user.startsWith(PREFIX);
  }

  #sign(text: string): string {
    return createHmac('sha256', this.#key).update(text, 'latin1').digest().subarray(0, SIG_BYTES).toString('base64url');
  }
}
