/**
 * Server lifecycle for the ops API: deploy, start, stop, restart, drain and delete of the servers
 * the orchestrator runs, each as a background operation (`operations.ts`). The orchestrator only
 * runs processes; the cluster side is done here, the same for every backend:
 *
 * - deploy a switch: start a switch-sim on its address → ready → put it in the registry → wait
 *   until every live dispatcher's probe reports it up. Deploy a dispatcher: generate its config
 *   (the ops API's store and cluster sections) → start → `/readyz` → its lease appears.
 * - stop a switch: registry `disabled` first (no new calls within 1 s), then the process;
 *   start puts it back to `active` when stop disabled it.
 * - restart a dispatcher: drain (SIGUSR2) → its calls reach 0 or the deadline → stop → start →
 *   `/readyz` → lease. Restart a switch: registry `draining` → its channels reach 0 or the deadline
 *   → restart the process → the admin state it had → probed up.
 * - delete: stop, forget, and for a switch remove it from the registry.
 */
import { createServer } from 'node:net';
import { levelKey, type ClusterStore, type SwitchAdminState, type SwitchRecord } from '../../shared/cluster-store/cluster-store.ts';
import type { ClusterConfig } from '../../shared/config/config-types.ts';
import { formatHostPort, tryParseHostPort } from '../../shared/config/host-port.ts';
import type { Logger } from '../../shared/log.ts';
import { OpsError } from '../errors.ts';
import type { CreateServerBody } from '../schemas.ts';
import { dispatcherConfigText } from './dispatcher-config.ts';
import { switchRecordFromBody } from '../switch-record-from-body.ts';
import { OperationStore, type Operation, type OperationContext } from './operations.ts';
import { isOrchestratorError, type Orchestrator, type ServerInstance, type ServerSpec } from './orchestrator.ts';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** Most calls read when counting a dispatcher's (beyond this the count is a floor). */
const CALL_SCAN = 100_000;

export interface ServerLifecycleOptions {
  store: ClusterStore;
  orchestrator: Orchestrator;
  cluster: ClusterConfig;
  /** The store is shared (Redis, Sentinel): a deployed dispatcher can join the cluster. */
  sharedStore: boolean;
  /**
   * The ops API's config file text: a deployed dispatcher gets its `store` and `cluster` sections.
   * Without it, dispatcher deploy answers 501.
   */
  configText?: string | undefined;
  operations?: OperationStore;
  logger?: Logger;
  /** Poll period while waiting for calls, probes and leases. Default 250 ms. */
  pollMs?: number;
  /** After a registry change, before acting on the process: every node applies it within 1 s. Default 1000 ms. */
  settleMs?: number;
  /** Longest wait for a started dispatcher's lease. Default 15 s. */
  joinTimeoutMs?: number;
  /** Longest wait for every dispatcher to probe a new switch up. Default from `cluster.probe`. */
  probeTimeoutMs?: number;
}

/** The 202 answer of a long action. */
export interface Accepted {
  operationId: string;
  href: string;
  operation: Operation;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

const CLOSING = 'the ops API is shutting down';

/** A TCP port free on `host` right now (for a control/metrics address nobody named). */
function freeTcpPort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen({ host, port: 0, exclusive: true }, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function describeExit(i: ServerInstance): string {
  if (i.signal !== undefined) return `signal ${i.signal}`;
  if (i.exitCode !== undefined) return `exit code ${i.exitCode}`;
  return 'not running';
}

export class ServerLifecycle {
  readonly orchestrator: Orchestrator;
  readonly operations: OperationStore;
  readonly #o: ServerLifecycleOptions;
  readonly #store: ClusterStore;
  readonly #pollMs: number;
  readonly #settleMs: number;
  /** Switches whose `disabled` admin state a stop set (start sets them `active` again). */
  readonly #disabledByStop = new Set<string>();
  #closed = false;

  constructor(o: ServerLifecycleOptions) {
    this.#o = o;
    this.#store = o.store;
    this.orchestrator = o.orchestrator;
    this.operations = o.operations ?? new OperationStore();
    this.#pollMs = o.pollMs ?? 250;
    this.#settleMs = o.settleMs ?? 1_000;
  }

  /**
   * The ops API is closing: no new operation starts, running ones stop waiting (and fail); resolves
   * once they have ended. The orchestrator is closed by its owner.
   */
  async close(): Promise<void> {
    this.#closed = true;
    await this.operations.idle();
  }

  /** Every server the orchestrator runs. */
  instances(): Promise<ServerInstance[]> {
    return this.orchestrator.list();
  }

  async isManaged(id: string): Promise<boolean> {
    return (await this.orchestrator.get(id)) !== undefined;
  }

  // ---- actions (each validates, then answers with the operation it started) ----

  /** `POST /v1/servers` with `deploy` (or `type: dispatcher`). */
  async deploy(b: CreateServerBody): Promise<Accepted> {
    const hp = tryParseHostPort(b.address, true);
    if (typeof hp === 'string') throw new OpsError('OPS_ERR_VALIDATION', `body.address: ${hp}`);
    await this.#assertNew(b.id);
    this.#assertIdle(b.id);
    return b.type === 'dispatcher' ? this.#deployDispatcher(b, hp) : this.#deploySwitch(b, hp);
  }

  async start(id: string): Promise<Accepted> {
    const inst = await this.#managed(id);
    return this.#begin('start', id, async (op) => {
      op.step(`starting ${inst.kind} ${id}`);
      const i = await this.orchestrator.start(id);
      op.step(`process ${i.pid ?? '?'} ready (${inst.kind === 'switch' ? 'GET /status' : 'GET /readyz'} 200)`);
      if (inst.kind === 'dispatcher') await this.#waitLease(id, op);
      else if (this.#disabledByStop.delete(id)) await this.#setAdminState(id, 'active', op);
    });
  }

  async stop(id: string, graceS = 10): Promise<Accepted> {
    const inst = await this.#managed(id);
    return this.#begin('stop', id, async (op) => {
      if (inst.kind === 'switch') {
        const sw = await this.#switch(id);
        if (sw !== undefined && sw.state !== 'disabled') {
          await this.#setAdminState(id, 'disabled', op);
          this.#disabledByStop.add(id);
          await this.#pause(this.#settleMs);
        }
      }
      op.step(`stopping (SIGTERM, SIGKILL after ${graceS} s)`);
      const i = await this.orchestrator.stop(id, { graceMs: graceS * 1000 });
      op.step(`stopped (${describeExit(i)})`);
    });
  }

  async restart(id: string, opts: { deadlineS?: number | undefined; graceS?: number | undefined } = {}): Promise<Accepted> {
    const inst = await this.#managed(id);
    const deadlineS = opts.deadlineS ?? 30;
    const graceMs = (opts.graceS ?? 10) * 1000;
    return this.#begin('restart', id, async (op) => {
      if (inst.kind === 'dispatcher') return this.#restartDispatcher(id, deadlineS, graceMs, op);
      return this.#restartSwitch(id, deadlineS, graceMs, op);
    });
  }

  /**
   * `POST /v1/servers/:id/drain` for a dispatcher this orchestrator runs. Undefined when `id` is
   * not a dispatcher (a switch drains through the registry); 409 for a live dispatcher it does not run.
   */
  async drainDispatcher(id: string): Promise<Accepted | undefined> {
    const inst = await this.orchestrator.get(id);
    if (inst === undefined) {
      const isSwitch = (await this.#store.listSwitches()).some((s) => s.id === id);
      if (!isSwitch && (await this.#store.liveNodes()).some((n) => n.nodeId === id)) throw this.#notManaged(id);
      return undefined;
    }
    if (inst.kind !== 'dispatcher') return undefined;
    if (inst.state !== 'running') throw new OpsError('OPS_ERR_CONFLICT', `dispatcher ${id} is not running (${inst.state})`);
    this.#assertIdle(id);
    return this.#begin('drain', id, async (op) => {
      await this.orchestrator.drain(id);
      op.step('asked to drain (SIGUSR2): new calls go to a live peer (or get 503 Draining), calls in progress continue');
      await this.#waitUnready(inst, op);
      op.step(`${await this.#nodeCalls(id)} calls in progress`);
    });
  }

  /**
   * `DELETE /v1/servers/:id`: the operation for a server this orchestrator runs; undefined for a
   * registry-only switch (deleted from the registry as before); 409 for a live dispatcher it does not run.
   */
  async removeManaged(id: string): Promise<Accepted | undefined> {
    if (await this.isManaged(id)) return this.remove(id);
    const isSwitch = (await this.#store.listSwitches()).some((s) => s.id === id);
    if (!isSwitch && (await this.#store.liveNodes()).some((n) => n.nodeId === id)) throw this.#notManaged(id);
    return undefined;
  }

  /** Stop, forget and (a switch) remove from the registry a server this orchestrator runs. */
  async remove(id: string): Promise<Accepted> {
    const inst = await this.#managed(id);
    return this.#begin('delete', id, async (op) => {
      const sw = inst.kind === 'switch' ? await this.#switch(id) : undefined;
      if (sw !== undefined && sw.state !== 'disabled') {
        await this.#setAdminState(id, 'disabled', op);
        await this.#pause(this.#settleMs);
      }
      op.step('stopping and removing the process');
      await this.orchestrator.remove(id);
      op.step(`removed from the orchestrator (its log is kept: ${inst.logFile})`);
      this.#disabledByStop.delete(id);
      if (sw !== undefined) {
        await this.#store.removeSwitch(id);
        op.step('removed from the switch registry');
      }
    });
  }

  /** The last lines of a managed server's log. */
  async logs(id: string, lines: number): Promise<{ id: string; logFile: string; lines: string[] }> {
    const inst = await this.#managed(id);
    return { id, logFile: inst.logFile, lines: await this.orchestrator.logs(id, lines) };
  }

  // ---- deploy ----

  async #deploySwitch(b: CreateServerBody, hp: { host: string; port: number }): Promise<Accepted> {
    if (b.transport === 'tls') throw new OpsError('OPS_ERR_VALIDATION', 'body.transport: a deployed switch-sim speaks udp and tcp, not tls');
    if (b.node !== undefined) throw new OpsError('OPS_ERR_VALIDATION', 'body.node: is for a dispatcher; a switch takes body.sim');
    const http = await this.#httpAddress(b.sim?.http, hp.host, 'body.sim.http');
    const at = formatHostPort(hp);
    const sim = b.sim ?? {};
    const spec: ServerSpec = {
      kind: 'switch',
      id: b.id,
      listen: [`udp://${at}`, `tcp://${at}`],
      http,
      channels: sim.channels ?? b.channels,
      cps: sim.cps ?? b.cps,
      args: sim.answerMs === undefined ? [] : ['--answer-ms', String(sim.answerMs)],
    };
    const record = switchRecordFromBody(b, hp);
    return this.#begin('deploy', b.id, async (op) => {
      op.step(`starting switch-sim ${b.id} on ${spec.listen.join(' ')} (control http://${http})`);
      const inst = await this.orchestrator.deploy(spec);
      op.step(`process ${inst.pid ?? '?'} ready (GET /status 200); log ${inst.logFile}`);
      const since = await this.#store.now();
      await this.#store.putSwitch(record);
      op.step(`registered in the switch registry (state ${record.state}); every dispatcher picks it up within 1 s`);
      if (record.state !== 'disabled') await this.#waitProbedUp(b.id, since, op);
    });
  }

  async #deployDispatcher(b: CreateServerBody, hp: { host: string; port: number }): Promise<Accepted> {
    if (!this.#o.sharedStore) {
      throw new OpsError('OPS_ERR_CONFLICT', 'a deployed dispatcher needs the shared store (store: redis://...); this ops API runs on the memory store');
    }
    const template = this.#o.configText;
    if (template === undefined) throw new OpsError('OPS_ERR_NOT_IMPLEMENTED', 'dispatcher deploy needs the ops API config file text (run it as sipfleet ops-api --config FILE)');
    if (b.sim !== undefined) throw new OpsError('OPS_ERR_VALIDATION', 'body.sim: is for a switch; a dispatcher takes body.node');
    const at = formatHostPort(hp);
    const listen = b.node?.listen ?? [`udp://${at}`, `tcp://${at}`];
    const http = await this.#httpAddress(b.node?.http, hp.host, 'body.node.http');
    const configText = dispatcherConfigText(template, { id: b.id, listen, http });
    const spec: ServerSpec = { kind: 'dispatcher', id: b.id, listen, http, configText };
    return this.#begin('deploy', b.id, async (op) => {
      op.step(`starting dispatcher ${b.id} on ${listen.join(' ')} (node.http ${http})`);
      const inst = await this.orchestrator.deploy(spec);
      op.step(`process ${inst.pid ?? '?'} ready (GET /readyz 200); log ${inst.logFile}`);
      await this.#waitLease(b.id, op);
    });
  }

  async #httpAddress(given: string | undefined, host: string, field: string): Promise<string> {
    if (given !== undefined) {
      const hp = tryParseHostPort(given, true);
      if (typeof hp === 'string') throw new OpsError('OPS_ERR_VALIDATION', `${field}: ${hp}`);
      return formatHostPort(hp);
    }
    try {
      return formatHostPort({ host, port: await freeTcpPort(host) });
    } catch (err) {
      throw new OpsError('OPS_ERR_VALIDATION', `${field}: no free port on ${host} (${(err as Error).message}); name one`);
    }
  }

  // ---- restart ----

  async #restartDispatcher(id: string, deadlineS: number, graceMs: number, op: OperationContext): Promise<void> {
    const now = await this.orchestrator.get(id);
    if (now?.state === 'running') {
      await this.orchestrator.drain(id);
      op.step('draining (SIGUSR2): new calls go to a live peer (or get 503 Draining), calls in progress continue');
      await this.#waitCalls(() => this.#nodeCalls(id), deadlineS, op);
    } else {
      op.step(`not running (${now?.state ?? 'unknown'}): nothing to drain`);
    }
    op.step(`restarting (SIGTERM, SIGKILL after ${graceMs / 1000} s)`);
    const i = await this.orchestrator.restart(id, { graceMs });
    op.step(`process ${i.pid ?? '?'} ready (GET /readyz 200)`);
    await this.#waitLease(id, op);
  }

  async #restartSwitch(id: string, deadlineS: number, graceMs: number, op: OperationContext): Promise<void> {
    const sw = await this.#switch(id);
    const prior: SwitchAdminState | undefined = sw?.state;
    if (prior === 'active') {
      await this.#setAdminState(id, 'draining', op);
      await this.#pause(this.#settleMs);
    }
    let restarted = false;
    try {
      await this.#waitCalls(async () => (await this.#store.levelStats([levelKey('switch', id)]))[0]?.channels ?? 0, deadlineS, op);
      op.step(`restarting the process (SIGTERM, SIGKILL after ${graceMs / 1000} s)`);
      const i = await this.orchestrator.restart(id, { graceMs });
      op.step(`process ${i.pid ?? '?'} ready (GET /status 200)`);
      restarted = true;
    } finally {
      // Back to the admin state it had, even when the restart failed (probes then take it down).
      if (prior === 'active') await this.#setAdminState(id, 'active', op);
    }
    if (restarted && prior === 'active') await this.#waitProbedUp(id, await this.#store.now(), op);
  }

  // ---- waiting ----

  /** Until `count()` is 0 or `deadlineS` has passed (then it goes on anyway, and says so). */
  async #waitCalls(count: () => Promise<number>, deadlineS: number, op: OperationContext): Promise<void> {
    const started = Date.now();
    const deadline = started + deadlineS * 1000;
    let n = await count();
    op.step(`${n} calls in progress; waiting up to ${deadlineS} s for them to end`);
    while (n > 0 && Date.now() < deadline) {
      await this.#pause(Math.min(this.#pollMs, Math.max(0, deadline - Date.now())));
      n = await count();
    }
    const took = ((Date.now() - started) / 1000).toFixed(1);
    op.step(n === 0 ? `no calls left after ${took} s` : `deadline of ${deadlineS} s reached with ${n} calls still up: going on`);
  }

  /** Until a live lease with `id` exists (the node registered in the store). */
  async #waitLease(id: string, op: OperationContext): Promise<void> {
    const deadline = Date.now() + (this.#o.joinTimeoutMs ?? 15_000);
    for (;;) {
      const lease = (await this.#store.liveNodes()).find((n) => n.nodeId === id);
      if (lease !== undefined) {
        op.step(`joined the cluster (lease epoch ${lease.epoch})`);
        return;
      }
      if (Date.now() >= deadline) throw new Error(`${id} is ready but did not register in the cluster store within ${(this.#o.joinTimeoutMs ?? 15_000) / 1000} s`);
      await this.#pause(this.#pollMs);
    }
  }

  /** Until every live dispatcher has reported the switch up in a probe written after `sinceMs` (store clock). */
  async #waitProbedUp(id: string, sinceMs: number, op: OperationContext): Promise<void> {
    const p = this.#o.cluster.probe;
    const timeoutMs = this.#o.probeTimeoutMs ?? p.interval * (p.rise + 3) + p.timeout + 5_000;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const [nodes, reports] = await Promise.all([this.#store.liveNodes(), this.#store.probeReports(id)]);
      const up = new Set(reports.filter((r) => r.up && r.atMs >= sinceMs).map((r) => r.nodeId));
      const ids = nodes.map((n) => n.nodeId).sort();
      const missing = ids.filter((n) => !up.has(n));
      if (ids.length === 0) {
        op.step('no live dispatcher to probe it yet');
        return;
      }
      if (missing.length === 0) {
        op.step(`probed up by ${ids.join(', ')}`);
        return;
      }
      if (Date.now() >= deadline) {
        throw new Error(`${id} runs and is registered, but ${missing.join(', ')} did not probe it up within ${Math.round(timeoutMs / 1000)} s`);
      }
      await this.#pause(this.#pollMs);
    }
  }

  /** Until the dispatcher's `/readyz` says draining (a few seconds at most; a step says if not). */
  async #waitUnready(inst: ServerInstance, op: OperationContext): Promise<void> {
    const deadline = Date.now() + 5_000;
    while (Date.now() < deadline) {
      try {
        const res = await fetch(`http://${inst.http}/readyz`, { signal: AbortSignal.timeout(1_000) });
        const body = (await res.json().catch(() => ({}))) as { draining?: boolean };
        if (res.status === 503 && body.draining === true) {
          op.step('GET /readyz answers 503 (draining): load balancers stop sending it calls');
          return;
        }
      } catch {
        // try again
      }
      await this.#pause(this.#pollMs);
    }
    throw new Error(`${inst.id} did not report draining on /readyz within 5 s`);
  }

  // ---- helpers ----

  /** A pause in an operation; throws once the ops API is closing. */
  async #pause(ms: number): Promise<void> {
    if (this.#closed) throw new Error(CLOSING);
    await sleep(ms);
    if (this.#closed) throw new Error(CLOSING);
  }

  async #nodeCalls(id: string): Promise<number> {
    return (await this.#store.calls(undefined, CALL_SCAN)).filter((c) => c.nodeId === id).length;
  }

  async #switch(id: string): Promise<SwitchRecord | undefined> {
    return (await this.#store.listSwitches()).find((s) => s.id === id);
  }

  async #setAdminState(id: string, state: SwitchAdminState, op: OperationContext): Promise<void> {
    const sw = await this.#switch(id);
    if (sw === undefined) {
      op.step(`not in the switch registry: admin state ${state} not set`);
      return;
    }
    if (sw.state !== state) await this.#store.putSwitch({ ...sw, state });
    op.step(`registry: ${id} ${state}${state === 'active' ? '' : state === 'draining' ? ' (no new calls, calls in progress continue)' : ' (no new calls)'}`);
  }

  /** The managed server `id`: 404 when nobody has it, 409 when it exists but is not ours. */
  async #managed(id: string): Promise<ServerInstance> {
    const inst = await this.orchestrator.get(id);
    if (inst !== undefined) return inst;
    const [switches, nodes] = await Promise.all([this.#store.listSwitches(), this.#store.liveNodes()]);
    if (switches.some((s) => s.id === id) || nodes.some((n) => n.nodeId === id)) throw this.#notManaged(id);
    throw new OpsError('OPS_ERR_NOT_FOUND', `no server ${id}`);
  }

  #notManaged(id: string): OpsError {
    return new OpsError('OPS_ERR_CONFLICT', `server ${id} is not managed by this ops API's orchestrator (${this.orchestrator.backend}): it was started elsewhere`);
  }

  async #assertNew(id: string): Promise<void> {
    const [switches, nodes, relays, inst] = await Promise.all([this.#store.listSwitches(), this.#store.liveNodes(), this.#store.listRelays(), this.orchestrator.get(id)]);
    if (inst !== undefined || switches.some((s) => s.id === id) || nodes.some((n) => n.nodeId === id) || relays.some((r) => r.id === id)) {
      throw new OpsError('OPS_ERR_CONFLICT', `server ${id} already exists`);
    }
  }

  #assertIdle(id: string): void {
    const running = this.operations.running(id);
    if (running !== undefined) throw new OpsError('OPS_ERR_CONFLICT', `operation ${running.id} (${running.action}) is still running on ${id}`);
  }

  #begin(action: string, server: string, body: (op: OperationContext) => Promise<void>): Accepted {
    if (this.#closed) throw new OpsError('OPS_ERR_CONFLICT', CLOSING);
    this.#assertIdle(server);
    const log = this.#o.logger;
    const operation = this.operations.start(action, server, async (op) => {
      try {
        await body(op);
        log?.info({ operation: op.id, action, server }, 'operation succeeded');
      } catch (err) {
        const message = isOrchestratorError(err) || err instanceof Error ? err.message : String(err);
        op.step(`failed: ${message}`);
        log?.warn({ err, operation: op.id, action, server }, 'operation failed');
        throw err;
      }
    });
    return { operationId: operation.id, href: `/v1/operations/${operation.id}`, operation };
  }
}
