/**
 * Batches the store calls made in one event-loop turn into one round trip per group.
 *
 * A dispatcher handles each datagram in its own callback; the admissions and releases of the
 * datagrams that one poll of the sockets delivered are issued one by one. Sent as they come,
 * each is a script call of its own: a command object, a timeout timer, a promise, a reply to
 * decode, on a client whose per-command cost is as large as the proxy's own work per call
 * (BENCHMARKS.md, "Hot path"). Collected until the turn's I/O is handled (`setImmediate` runs
 * after the poll phase) and sent as one batch script call per group (node and epoch), the cost
 * per call drops with the batch size, and nothing waits longer than the rest of the turn.
 *
 * Each entry gets its own result, in order; if the batch call fails, every entry of it fails
 * with that error (each caller then handles the store as unreachable, as for a single call).
 */

/** Largest batch sent in one call: a Lua script blocks Redis while it runs (~20 µs per admit). */
export const MAX_BATCH = 64;

export interface TurnBatcherOptions {
  /** Largest batch sent in one call (default MAX_BATCH). */
  readonly maxBatch?: number;
  /** Arranges one `flush()` after the turn's I/O (default `setImmediate`); see the constructor. */
  readonly schedule?: () => void;
}

interface Pending<Req, Res> {
  readonly req: Req;
  readonly resolve: (res: Res) => void;
  readonly reject: (err: unknown) => void;
}

export class TurnBatcher<Req, Res> {
  readonly #run: (group: string, reqs: readonly Req[]) => Promise<readonly Res[]>;
  readonly #maxBatch: number;
  readonly #schedule: () => void;
  readonly #groups = new Map<string, Array<Pending<Req, Res>>>();
  #scheduled = false;

  /**
   * `run` sends one batch of one group and resolves to one result per request, in order
   * (a reply of another length fails the batch). `schedule` arranges for `flush()` to be called
   * once the turn's I/O is handled; by default `setImmediate`. Batchers whose batches must go
   * out in a fixed order share one schedule that flushes them in that order.
   */
  constructor(run: (group: string, reqs: readonly Req[]) => Promise<readonly Res[]>, options: TurnBatcherOptions = {}) {
    const maxBatch = options.maxBatch ?? MAX_BATCH;
    if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new RangeError(`TurnBatcher: maxBatch must be a positive integer, got ${maxBatch}`);
    this.#run = run;
    this.#maxBatch = maxBatch;
    this.#schedule = options.schedule ?? (() => setImmediate(() => this.flush()));
  }

  /** Queue `req` for this turn's batch of `group`. */
  add(group: string, req: Req): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      let queue = this.#groups.get(group);
      if (queue === undefined) {
        queue = [];
        this.#groups.set(group, queue);
      }
      queue.push({ req, resolve, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        this.#schedule();
      }
    });
  }

  /** Requests queued and not yet sent. */
  get queued(): number {
    let n = 0;
    for (const q of this.#groups.values()) n += q.length;
    return n;
  }

  /** Send everything queued now, one batch per group (split at maxBatch). */
  flush(): void {
    this.#scheduled = false;
    if (this.#groups.size === 0) return;
    const groups = [...this.#groups];
    this.#groups.clear();
    for (const [group, queue] of groups) {
      for (let i = 0; i < queue.length; i += this.#maxBatch) this.#send(group, queue.slice(i, i + this.#maxBatch));
    }
  }

  #send(group: string, batch: Array<Pending<Req, Res>>): void {
    let sent: Promise<readonly Res[]>;
    try {
      sent = this.#run(
        group,
        batch.map((p) => p.req),
      );
    } catch (err) {
      sent = Promise.reject(err);
    }
    sent.then(
      (results) => {
        if (results.length !== batch.length) {
          const err = new Error(`batch of ${batch.length} got ${results.length} results`);
          for (const p of batch) p.reject(err);
          return;
        }
        for (let i = 0; i < batch.length; i++) batch[i].resolve(results[i]);
      },
      (err: unknown) => {
        for (const p of batch) p.reject(err);
      },
    );
  }
}
