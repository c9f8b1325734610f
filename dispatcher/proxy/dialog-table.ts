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
import type { Target } from '../transport/transport.ts';
import type { Clock, TimerHandle } from '../transaction/clock.ts';

export interface DialogRecord {
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
  /** Release the call's admission; idempotent through `DialogTable.end`. */
  readonly release: (reason: CallEndReason) => void;
}

export class DialogTable {
  readonly #dialogs = new Map<string, DialogRecord & { expiry: TimerHandle | undefined }>();
  readonly #clock: Clock;
  readonly #maxDialogs: number;
  readonly #maxAgeMs: number;

  constructor(clock: Clock, maxDialogs = 200_000, maxAgeMs = 6 * 3600_000) {
    this.#clock = clock;
    this.#maxDialogs = maxDialogs;
    this.#maxAgeMs = maxAgeMs;
  }

  get size(): number {
    return this.#dialogs.size;
  }

  /** False when the table is full (the caller answers 503). */
  add(record: DialogRecord): boolean {
    if (this.#dialogs.size >= this.#maxDialogs) return false;
    this.end(record.callId, 'failover');
    this.#dialogs.set(record.callId, { ...record, expiry: undefined });
    return true;
  }

  get(callId: string): DialogRecord | undefined {
    return this.#dialogs.get(callId);
  }

  /** The 2xx arrived: the dialog is confirmed and lives until BYE or max age. */
  confirm(callId: string, toTag: string | undefined): void {
    const d = this.#dialogs.get(callId);
    if (d === undefined || d.state === 'confirmed') return;
    d.state = 'confirmed';
    d.toTag = toTag;
    d.expiry = this.#clock.setTimer(this.#maxAgeMs, () => this.end(callId, 'max-age'));
  }

  /** End the dialog and release its call exactly once; later calls are no-ops. */
  end(callId: string, reason: CallEndReason): void {
    const d = this.#dialogs.get(callId);
    if (d === undefined) return;
    this.#dialogs.delete(callId);
    d.expiry?.cancel();
    d.release(reason);
  }

  endAll(reason: CallEndReason): void {
    for (const id of [...this.#dialogs.keys()]) this.end(id, reason);
  }
}
