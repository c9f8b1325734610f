/**
 * Dialogs the proxy has set up, by Call-ID: which switch holds the call and how to reach the
 * caller. It lets in-dialog requests that arrive without a Route set (SIPp's built-in `uac`
 * sends its ACK and BYE that way) reach the switch that holds the dialog, and it carries the
 * admission release so that a call is released exactly once, whichever way it ends.
 *
 * Bounded: at most `maxDialogs` entries; early dialogs expire with their INVITE, confirmed ones
 * after `maxAgeMs` (a safety net for calls whose BYE never came).
 */
import type { CallEndReason } from '../admission/admission.ts';
import type { Flow, Target } from '../transport/transport.ts';
import type { Clock, TimerHandle } from '../transaction/clock.ts';
import { ownString } from '../transaction/own-copy.ts';

export interface DialogRecord {
  // One leg of a call through this node.
  readonly callId: string;
  readonly fromTag: string | undefined;
  toTag: string | undefined;
  state: 'early' | 'confirmed';
  /** The switch side. */
  readonly switchTarget: Target;
  readonly switchId: string;
  /** The caller side, as the INVITE arrived (symmetric: source address and port, connection). */
  readonly callerTarget: Target;
  readonly createdAt: number;
  /** The admission key of the call's record in the cluster store (`Call-ID|source`), when admitted there. */
  readonly callKey?: string | undefined;
  /** The media relay of the call, if any. */
  readonly relayId?: string | undefined;
  /** Its dialog state was written to the cluster store (dialog-state.ts): removed when it ends. */
  stored?: boolean | undefined;
  /** Release the call's admission; idempotent through `DialogTable.end`. */
  readonly release: (reason: CallEndReason) => void;
}

export class DialogTable {
  /** Call-ID → its legs. Usually one; a call that spirals back through this node has several. */
  readonly #dialogs = new Map<string, Array<DialogRecord & { expiry?: TimerHandle | undefined }>>();
  readonly #clock: Clock;
  readonly #maxDialogs: number;
  readonly #maxAgeMs: number;
  #size = 0;

  constructor(clock: Clock, maxDialogs = 200_000, maxAgeMs = 6 * 3600_000) {
    this.#clock = clock;
    this.#maxDialogs = maxDialogs;
    this.#maxAgeMs = maxAgeMs;
  }

  get size(): number {
    return this.#size;
  }

  /** False when the table is full (the caller answers 503). */
  add(record: DialogRecord): boolean {
    if (this.#size >= this.#maxDialogs) return false;
    const legs = this.#dialogs.get(record.callId);
    if (legs === undefined) this.#dialogs.set(record.callId, [record]);
    else legs.push(record);
    this.#size++;
    return true;
  }

  /** The first leg of a Call-ID. */
  get(callId: string): DialogRecord | undefined {
    return this.#dialogs.get(callId)?.[0];
  }

  /**
   * The leg an in-dialog request belongs to: the one whose caller or switch side sent it.
   * With a single leg, that leg (a caller may send from another port than its INVITE's).
   */
  find(callId: string, flow: Flow): DialogRecord | undefined {
    const legs = this.#dialogs.get(callId);
    if (legs === undefined) return undefined;
    if (legs.length === 1) return legs[0];
    return legs.find((d) => sameSide(d.callerTarget, flow) || sameSide(d.switchTarget, flow));
  }

  /** The 2xx arrived: the dialog is confirmed and lives until BYE or max age. */
  confirm(record: DialogRecord, toTag: string | undefined): void {
    const d = this.#entry(record);
    if (d === undefined || d.state === 'confirmed') return;
    d.state = 'confirmed';
    // A copy of its own: as a slice of the 2xx's decoded text it would keep that alive for the call.
    d.toTag = toTag === undefined ? undefined : ownString(toTag);
    d.expiry = this.#clock.setTimer(this.#maxAgeMs, () => this.end(record, 'max-age'));
  }

  /** End the leg and release its call exactly once; later calls are no-ops. */
  end(record: DialogRecord, reason: CallEndReason): void {
    const legs = this.#dialogs.get(record.callId);
    const i = legs === undefined ? -1 : legs.indexOf(record);
    if (legs === undefined || i < 0) return;
    const [d] = legs.splice(i, 1);
    if (legs.length === 0) this.#dialogs.delete(record.callId);
    this.#size--;
    d.expiry?.cancel();
    d.release(reason);
  }

  endAll(reason: CallEndReason): void {
    for (const legs of [...this.#dialogs.values()]) for (const d of [...legs]) this.end(d, reason);
  }

  #entry(record: DialogRecord): (DialogRecord & { expiry?: TimerHandle | undefined }) | undefined {
    return this.#dialogs.get(record.callId)?.find((d) => d === record);
  }
}

/** Whether a flow comes from a target: same address, and same port for UDP. */
export function sameSide(target: Target, flow: Flow): boolean {
  return flow.remoteAddress === target.address && (flow.protocol !== 'udp' || flow.remotePort === target.port);
}
