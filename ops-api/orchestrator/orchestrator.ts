/**
 * The orchestrator: what runs the cluster's servers (dispatchers and switches) for the ops API.
 * One interface, several backends:
 *
 * - `LocalOrchestrator` (the embedded default): child processes of the ops API on this host
 *   (`node bin/sipfleet.ts switch-sim|dispatcher ...`), a log file each, exit codes, restarts.
 * - A Docker or Kubernetes backend implements the same interface (docs/ops-api.md, "Orchestrator
 *   backends"): deploy → create and start a container / apply a Deployment, stop → stop the
 *   container / scale to 0, logs → `docker logs` / pod logs, readiness → the same HTTP endpoints.
 *
 * The ops API (`ServerLifecycle`) drives it: registry changes, draining and waiting for calls to
 * end are done there, the same for every backend; the orchestrator only runs processes.
 */

export type ServerKind = 'dispatcher' | 'switch';

/**
 * - `starting`: launched, not ready yet (switch-sim: `GET /status` 200; dispatcher: `GET /readyz` 200)
 * - `running`: ready once (it may since have become unready, e.g. draining)
 * - `stopping`: asked to stop (SIGTERM), not gone yet
 * - `stopped`: stopped on request
 * - `exited`: ended on its own with code 0
 * - `failed`: ended on its own otherwise (non-zero code, signal), or never became ready
 */
export type InstanceState = 'starting' | 'running' | 'stopping' | 'stopped' | 'exited' | 'failed';

interface SpecBase {
  /** The server id: the switch id in the registry, or the dispatcher's `node.id`. */
  id: string;
  /**
   * SIP listen URLs (`udp://127.0.0.23:5060`, `tcp://...`); for a dispatcher they must match
   * `node.listen` in `configText`.
   */
  listen: string[];
  /**
   * The HTTP address the backend checks readiness on, `host:port` (`[v6]:port`): the switch-sim's
   * control server (`--http`, `GET /status`), the dispatcher's `node.http` (`GET /readyz`).
   */
  http: string;
}

export interface SwitchSpec extends SpecBase {
  kind: 'switch';
  /** switch-sim `--channels` / `--cps`; absent = unlimited. */
  channels?: number | undefined;
  cps?: number | undefined;
  /** More switch-sim options (`--answer-ms 100`, `--rtp echo`...). */
  args?: string[] | undefined;
}

export interface DispatcherSpec extends SpecBase {
  kind: 'dispatcher';
  /** The whole dispatcher config (YAML): its `node` section plus the cluster's `store` and `cluster`. */
  configText: string;
}

export type ServerSpec = SwitchSpec | DispatcherSpec;

export interface ServerInstance {
  id: string;
  kind: ServerKind;
  state: InstanceState;
  /** The backend's name (`local`, `docker`, `kubernetes`). */
  backend: string;
  /** Of the current (or last) process; absent before the first start. */
  pid?: number | undefined;
  /** ISO 8601 of the current (or last) start. */
  startedAt?: string | undefined;
  /** How the last process ended (exactly one of them), when it did. */
  exitCode?: number | undefined;
  signal?: string | undefined;
  /** Starts after the first: automatic (restart policy) and requested. */
  restarts: number;
  /** Asked to drain (dispatcher) since its last start. */
  draining: boolean;
  /** Where its stdout and stderr go (local); a backend without files names its log source. */
  logFile: string;
  listen: string[];
  http: string;
}

export interface StopOptions {
  /** How long SIGTERM (or the backend's graceful stop) gets before SIGKILL. Default 10 000 ms. */
  graceMs?: number;
}

/** What an orchestrator throws: `code` says why, for the ops API to answer 404/409/500. */
export type OrchestratorErrorCode = 'not-found' | 'exists' | 'not-ready' | 'unsupported' | 'closed' | 'failed';

export class OrchestratorError extends Error {
  readonly code: OrchestratorErrorCode;
  constructor(code: OrchestratorErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'OrchestratorError';
    this.code = code;
  }
}

export function isOrchestratorError(err: unknown, code?: OrchestratorErrorCode): err is OrchestratorError {
  return err instanceof OrchestratorError && (code === undefined || err.code === code);
}

export interface Orchestrator {
  /** `local`, `docker`, `kubernetes`... (shown with each managed server). */
  readonly backend: string;
  /**
   * Creates the server and starts it; resolves once it is ready. Rejects `exists` when the id is
   * taken, `not-ready` when it exited or did not become ready in time (the instance is then kept,
   * `failed`, with its log, until `remove`).
   */
  deploy(spec: ServerSpec): Promise<ServerInstance>;
  /** Starts a stopped (or exited/failed) server; resolves once ready. Already running: no-op. */
  start(id: string): Promise<ServerInstance>;
  /** Graceful stop: SIGTERM, SIGKILL after `graceMs`. No automatic restart afterwards. */
  stop(id: string, options?: StopOptions): Promise<ServerInstance>;
  /** Stop then start; resolves once ready again. */
  restart(id: string, options?: StopOptions): Promise<ServerInstance>;
  /**
   * Asks a dispatcher to drain: no new calls, dialogs continue, `/readyz` 503 (the local backend
   * sends SIGUSR2). `unsupported` for a switch (drain switches through the registry).
   */
  drain(id: string): Promise<ServerInstance>;
  /** Stops it (if running) and forgets it. Its log file is kept. */
  remove(id: string): Promise<void>;
  get(id: string): Promise<ServerInstance | undefined>;
  /** By id. */
  list(): Promise<ServerInstance[]>;
  /** The last `lines` lines of its log (stdout and stderr). */
  logs(id: string, lines?: number): Promise<string[]>;
  /** Stops every server it runs (the local backend's children die with it). */
  close(): Promise<void>;
}
