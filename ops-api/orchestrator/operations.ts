/**
 * Long lifecycle actions (deploy, start, stop, restart, drain, delete) run in the background as
 * operations: the request answers `202 { operationId, href }` at once and `GET /v1/operations/:id`
 * shows the steps as they happen, then `succeeded` or `failed` (with the error). Kept in memory,
 * the latest `max` (default 1000); finished ones are forgotten first. One operation at a time per
 * server.
 */
import { randomUUID } from 'node:crypto';

export type OperationState = 'running' | 'succeeded' | 'failed';

export interface OperationStep {
  /** ISO 8601. */
  at: string;
  message: string;
}

export interface Operation {
  id: string;
  /** `deploy`, `start`, `stop`, `restart`, `drain`, `delete`. */
  action: string;
  /** The server's id. */
  server: string;
  state: OperationState;
  startedAt: string;
  finishedAt?: string | undefined;
  steps: OperationStep[];
  error?: string | undefined;
}

/** What an operation's body gets: `step()` records progress. */
export interface OperationContext {
  readonly id: string;
  step(message: string): void;
}

export interface OperationStoreOptions {
  /** Operations kept (default 1000). */
  max?: number;
  /** Most steps kept per operation (default 200; the first and the latest are kept). */
  maxSteps?: number;
}

interface Entry {
  op: Operation;
  done: Promise<void>;
}

export class OperationStore {
  readonly #ops = new Map<string, Entry>();
  readonly #max: number;
  readonly #maxSteps: number;

  constructor(opts: OperationStoreOptions = {}) {
    this.#max = Math.max(1, opts.max ?? 1000);
    this.#maxSteps = Math.max(2, opts.maxSteps ?? 200);
  }

  /**
   * Starts `body` in the background and returns the operation (a snapshot, `running`). Its
   * resolution makes it `succeeded`, a throw `failed` with the error's message.
   */
  start(action: string, server: string, body: (ctx: OperationContext) => Promise<void>): Operation {
    const op: Operation = { id: randomUUID(), action, server, state: 'running', startedAt: new Date().toISOString(), steps: [] };
    const ctx: OperationContext = {
      id: op.id,
      step: (message: string) => {
        op.steps.push({ at: new Date().toISOString(), message });
        // Keep the first step (what was asked) and the latest ones.
        if (op.steps.length > this.#maxSteps) op.steps.splice(1, 1);
      },
    };
    const done = Promise.resolve()
      .then(() => body(ctx))
      .then(
        () => {
          op.state = 'succeeded';
        },
        (err: unknown) => {
          op.state = 'failed';
          op.error = err instanceof Error ? err.message : String(err);
        },
      )
      .finally(() => {
        op.finishedAt = new Date().toISOString();
      });
    this.#ops.set(op.id, { op, done });
    this.#evict();
    return this.#copy(op);
  }

  get(id: string): Operation | undefined {
    const e = this.#ops.get(id);
    return e === undefined ? undefined : this.#copy(e.op);
  }

  /** Newest first. */
  list(limit = 100, server?: string): Operation[] {
    const all = [...this.#ops.values()].map((e) => e.op).filter((op) => server === undefined || op.server === server);
    return all.slice(-limit).reverse().map((op) => this.#copy(op));
  }

  /** The operation running on `server`, if any. */
  running(server: string): Operation | undefined {
    for (const e of this.#ops.values()) if (e.op.server === server && e.op.state === 'running') return this.#copy(e.op);
    return undefined;
  }

  /** Resolves once operation `id` has finished (at once when unknown). */
  async settled(id: string): Promise<Operation | undefined> {
    await this.#ops.get(id)?.done;
    return this.get(id);
  }

  /** Resolves once every running operation has finished. */
  async idle(): Promise<void> {
    await Promise.all([...this.#ops.values()].map((e) => e.done));
  }

  #evict(): void {
    if (this.#ops.size <= this.#max) return;
    // Finished ones first, oldest first; running ones only when nothing else is left.
    for (const [id, e] of this.#ops) {
      if (this.#ops.size <= this.#max) return;
      if (e.op.state !== 'running') this.#ops.delete(id);
    }
    for (const id of this.#ops.keys()) {
      if (this.#ops.size <= this.#max) return;
      this.#ops.delete(id);
    }
  }

  #copy(op: Operation): Operation {
    return { ...op, steps: op.steps.map((s) => ({ ...s })) };
  }
}
