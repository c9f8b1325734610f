/**
 * Dialogs the proxy has set up, by Call-ID: which switch holds the call and how to reach the
 * caller. It lets in-dialog requests that arrive without a Route set (SIPp's built-in `uac`
 * sends its ACK and BYE that way) reach the switch that holds the dialog, and it carries the
 * admission release so that a call is released exactly once, whichever way it ends.
 *
 * Bounded: at most `maxDialogs` entries; early dialogs expire with their INVITE, confirmed ones
 * after `maxAgeMs` (a safety net for calls whose BYE never came).
 *
 * Memory: a confirmed dialog lives as long as its call. Its max-age deadline is not a Node timer
 * of its own (a `Timeout`, its closure and handle per call) but a place in one list of the
 * confirmed dialogs, oldest first (every dialog has the same maximum age, so confirming appends);
 * one clock timer waits for the list's head, and ending a dialog unlinks it in O(1).
 */
import type { CallEndReason } from '../admission/admission.ts';
import type { Flow, Target } from '../transport/transport.ts';
import { monotonicNow, type Clock, type TimerHandle } from '../transaction/clock.ts';
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

/** A leg as the table holds it: its place in the max-age list once confirmed. */
type Entry = DialogRecord & { expiresAt?: number | undefined; older?: Entry | undefined; newer?: Entry | undefined };

export class DialogTable {
  /** Call-ID → its legs. Usually one; a call that spirals back through this node has several. */
  readonly #dialogs = new Map<string, Entry[]>();
  readonly #clock: Clock;
  readonly #maxDialogs: number;
  readonly #maxAgeMs: number;
  #size = 0;
  /** Confirmed legs by max-age deadline, oldest first (a doubly linked list through the entries). */
  #oldest: Entry | undefined;
  #newest: Entry | undefined;
  /** Armed for `#oldest`'s deadline while the list is not empty. */
  #timer: TimerHandle | undefined;
  readonly #fire = (): void => this.#expire();

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
    d.expiresAt = this.#now() + this.#maxAgeMs;
    d.older = this.#newest;
    d.newer = undefined;
    if (this.#newest === undefined) this.#oldest = d;
    else this.#newest.newer = d;
    this.#newest = d;
    if (this.#timer === undefined) this.#arm();
  }

  /** End the leg and release its call exactly once; later calls are no-ops. */
  end(record: DialogRecord, reason: CallEndReason): void {
    const legs = this.#dialogs.get(record.callId);
    const i = legs === undefined ? -1 : legs.indexOf(record);
    if (legs === undefined || i < 0) return;
    const [d] = legs.splice(i, 1);
    if (legs.length === 0) this.#dialogs.delete(record.callId);
    this.#size--;
    if (d.expiresAt !== undefined) this.#unlink(d);
    d.release(reason);
  }

  endAll(reason: CallEndReason): void {
    for (const legs of [...this.#dialogs.values()]) for (const d of [...legs]) this.end(d, reason);
  }

  /** Deadlines run on the clock's monotonic time (a wall-clock step must not end calls). */
  #now(): number {
    return monotonicNow(this.#clock);
  }

  #entry(record: DialogRecord): Entry | undefined {
    return this.#dialogs.get(record.callId)?.find((d) => d === record);
  }

  #unlink(d: Entry): void {
    if (d.older === undefined) this.#oldest = d.newer;
    else d.older.newer = d.newer;
    if (d.newer === undefined) this.#newest = d.older;
    else d.newer.older = d.older;
    d.older = undefined;
    d.newer = undefined;
    d.expiresAt = undefined;
    if (this.#oldest === undefined) {
      this.#timer?.cancel();
      this.#timer = undefined;
    }
  }

  #arm(): void {
    const head = this.#oldest;
    if (head === undefined || head.expiresAt === undefined) return;
    this.#timer = this.#clock.setTimer(Math.max(0, Math.ceil(head.expiresAt - this.#now())), this.#fire);
  }

  /** Ends every leg past its max age (they lead the list), then waits for the next one. */
  #expire(): void {
    this.#timer = undefined;
    const now = this.#now();
    try {
      for (let d = this.#oldest; d !== undefined && (d.expiresAt ?? Infinity) <= now; d = this.#oldest) {
        this.end(d, 'max-age');
        if (this.#oldest === d) this.#unlink(d); // not in the table any more: never loop on it
      }
    } finally {
      if (this.#timer === undefined && this.#oldest !== undefined) this.#arm();
    }
  }
}

/** Whether a flow comes from a target: same address, and same port for UDP. */
export function sameSide(target: Target, flow: Flow): boolean {
  return flow.remoteAddress === target.address && (flow.protocol !== 'udp' || flow.remotePort === target.port);
}
