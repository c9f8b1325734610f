/**
 * What the proxy core needs from the registrar layer to serve softphones (the registrar,
 * digest authentication of calls, the abuse guard and the shared location). The proxy sees this
 * interface only; dispatcher-node.ts wires the concrete parts (dispatcher/registrar/).
 */
import type { Binding } from '../../shared/registrar-store/registrar-store.ts';
import type { SipRequest } from '../../shared/sip/index.ts';
import type { PhoneFlowTokens } from '../registrar/owner-hop.ts';
import type { ServerTransaction } from '../transaction/server-transaction.ts';

/** An authenticated phone user and its account limits (admission level `user:<id>`). */
export interface PhoneUser {
  readonly id: string;
  readonly cps?: number | undefined;
  readonly channels?: number | undefined;
  /** The user's media zone, when its record names one. */
  readonly zone?: string | undefined;
}

export type PhoneAuthResult =
  | { readonly ok: true; readonly user: PhoneUser }
  /** Answer with this (a 407 challenge, 403, 400); failures were counted by the abuse guard. */
  | {
      readonly ok: false;
      readonly status: number;
      readonly reason: string;
      readonly headers: ReadonlyArray<readonly [string, string]>;
      /** The To tag to answer with: derived from the request, so challenges reveal nothing (docs/registrar.md). */
      readonly toTag: string;
    };

export interface PhoneServices {
  /** This node's id: bindings it owns are reached over their flow directly. */
  readonly nodeId: string;
  readonly tokens: PhoneFlowTokens;
  /** Drop silently: a banned source or a scanner (counted). */
  shouldDrop(req: SipRequest, sourceIp: string): boolean;
  /** Answer a REGISTER (RFC 3261 §10.3). */
  register(txn: ServerTransaction): void;
  /** Digest-authenticate a phone's new request (Proxy-Authorization, 407). */
  authenticate(req: SipRequest, sourceIp: string): Promise<PhoneAuthResult>;
  /** The AOR's bindings, highest q first; undefined when no such user exists. */
  lookup(aor: string): Promise<readonly Binding[] | undefined>;
}
