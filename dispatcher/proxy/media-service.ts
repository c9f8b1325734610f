/**
 * What the proxy core needs from the media layer (dispatcher/media/): a relay (rtpengine) chosen
 * once per call by zone, health and load, and the SDP of the call's offers and answers rewritten
 * through it. The proxy sees this interface only; dispatcher-node.ts wires the concrete service.
 *
 * rtpengine's tag rules (ng protocol): an `offer` carries the tag of the side that sends the SDP
 * offer as `from-tag`; the matching `answer` carries that same `from-tag` and the answering side's
 * tag as `to-tag`. For an initial INVITE that is From tag → To tag; for a re-INVITE from the callee
 * the roles swap, which the message's own From/To tags already say. A late offer (INVITE without
 * SDP) is offered by the callee in its 2xx (from-tag = the 2xx's To tag) and answered by the
 * caller in the ACK.
 */

/** Who a new call is for, so the service can pick its zone (carrier, user or source prefix). */
export interface MediaCallContext {
  readonly callId: string;
  readonly fromTag: string;
  readonly carrierId?: string | undefined;
  /** The authenticated phone user placing the call, or the user a call is delivered to. */
  readonly userId?: string | undefined;
  /** The authenticated user's zone from its record (the ops API may set it); wins over `cluster.users`. */
  readonly userZone?: string | undefined;
  /** Source address of the INVITE. */
  readonly sourceIp: string;
}

/** One call's media through its relay. Every method may reject with a MEDIA_ERR_* SipfleetError. */
export interface MediaCall {
  readonly relayId: string;
  /** SDP offered by the side whose tag is `fromTag`; returns the SDP to forward (the relay's). */
  offer(fromTag: string, toTag: string | undefined, sdp: Buffer): Promise<Buffer>;
  /** SDP answering the offer of `fromTag`, sent by `toTag`'s side; returns the SDP to forward. */
  answer(fromTag: string, toTag: string, sdp: Buffer): Promise<Buffer>;
  /** The call is over (BYE, CANCEL, failure, reap): delete the relay session, forget the call. Idempotent; never rejects. */
  end(reason: string): Promise<void>;
}

export interface MediaService {
  /**
   * A new call: choose its relay (or none: `media: none` for its carrier/user/zone, or no relay
   * configured) and record the choice with the call. Undefined when the call's media flows
   * directly, at once when that needs no lookup (no relay configured, a direct zone): a promise
   * per INVITE for nothing otherwise. Rejects (MEDIA_ERR_*) when a relay is required and none
   * could take it.
   */
  startCall(ctx: MediaCallContext): MediaCall | undefined | Promise<MediaCall | undefined>;
  /** The call's media on this node, if this node handles it (it started it). */
  find(callId: string): MediaCall | undefined;
}
