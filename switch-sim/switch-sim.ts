/**
 * `startSwitchSim`: a SIP UAS standing in for a softswitch (see sim-uas.ts), with its own UDP/TCP
 * listeners and an optional HTTP control server. Built on shared/ only.
 */
import { ERROR_CODES, SipfleetError } from '../shared/errors.ts';
import { createLogger, type Logger } from '../shared/log.ts';
import { DEFAULT_BEHAVIOUR, applyBehaviour, type RtpMode, type SimBehaviour } from './behaviour.ts';
import { startControlServer, type ControlServer } from './control-server.ts';
import { formatListenUri, parseHostPort, parseListenUri, type ListenSpec, type SimTransportName } from './listen-uri.ts';
import type { RtpCallInfo, RtpStatus } from './rtp-media.ts';
import { DEFAULT_RTP_PORTS, checkRtpPorts, parseRtpPorts, type RtpPortRange } from './rtp-ports.ts';
import type { SimListener } from './sim-listener.ts';
import { DEFAULT_TIMERS, SimUas, type CallCounters, type SimTimerConfig } from './sim-uas.ts';
import { startTcpListener } from './tcp-listener.ts';
import { startUdpListener } from './udp-listener.ts';

export interface SwitchSimOptions {
  /** `udp://HOST:PORT` / `tcp://HOST:PORT` (or parsed specs); port 0 picks a free port. */
  listen: ReadonlyArray<string | ListenSpec>;
  /** Name in Contact, Server, logs and /status. Default `switch-sim`. */
  id?: string;
  /** Control server `HOST:PORT` (port 0 allowed); none when absent. */
  http?: string;
  /** Shortcuts for the matching behaviour fields (the CLI options). */
  channels?: number | null;
  cps?: number | null;
  ringMs?: number;
  answerMs?: number;
  holdMs?: number;
  /** RTP per answered call: off (default), echo or send. */
  rtp?: RtpMode;
  /** Ports for the per-call RTP sockets, `LO-HI` or a range (default 20000-29999); even ports only. */
  rtpPorts?: string | RtpPortRange;
  /** Any behaviour field; the shortcuts above win. */
  behaviour?: Partial<SimBehaviour>;
  /** RFC 3261 T1/T2/T4 in ms (defaults 500/4000/5000); shorten them in tests. */
  timers?: Partial<SimTimerConfig>;
  logger?: Logger;
  /** pino level when no logger is given (default: LOG_LEVEL, silent under vitest, else info). */
  logLevel?: string;
}

export interface SwitchSimListener {
  readonly transport: SimTransportName;
  readonly host: string;
  /** The bound port (the real one when 0 was asked for). */
  readonly port: number;
  /** `udp://127.0.0.21:5060` */
  readonly uri: string;
}

export interface SwitchSimStatus {
  id: string;
  channels: number;
  maxChannels: number | null;
  /** New calls admitted in the last second. */
  cps: number;
  maxCps: number | null;
  calls: CallCounters;
  behaviour: SimBehaviour;
  /** RTP totals over every call (and the live RTP sockets). */
  rtp: RtpStatus;
}

export interface SwitchSim {
  readonly id: string;
  readonly listeners: readonly SwitchSimListener[];
  /** The control server's bound address, when `http` was given. */
  readonly http: { host: string; port: number } | undefined;
  /** Live channels. */
  channels(): number;
  stats(): SwitchSimStatus;
  /** Per-call RTP counters: live calls, then recently ended ones (bounded); only calls that had a socket. */
  calls(callId?: string): RtpCallInfo[];
  behaviour(): SimBehaviour;
  /** Validated partial update (throws CFG_ERR_INVALID naming the field); returns the new behaviour. */
  setBehaviour(patch: Partial<SimBehaviour>): SimBehaviour;
  /** BYE every established call; returns how many. */
  hangupAll(): number;
  close(): Promise<void>;
}

const ID_PATTERN = /^[A-Za-z0-9._~-]{1,64}$/;

function invalid(field: string, message: string): SipfleetError {
  return new SipfleetError(ERROR_CODES.CFG_ERR_INVALID, `${field}: ${message}`, { detail: { field } });
}

export async function startSwitchSim(options: SwitchSimOptions): Promise<SwitchSim> {
  const id = options.id ?? 'switch-sim';
  if (!ID_PATTERN.test(id)) throw invalid('id', `"${id}" must be 1-64 of A-Z a-z 0-9 . _ ~ -`);
  if (options.listen.length === 0) throw invalid('listen', 'at least one listener is required');
  const specs = options.listen.map((l) => {
    if (typeof l !== 'string') return l;
    const spec = parseListenUri(l);
    if (typeof spec === 'string') throw invalid('listen', spec);
    return spec;
  });
  const httpSpec = options.http === undefined ? undefined : parseHostPort(options.http);
  if (typeof httpSpec === 'string') throw invalid('http', httpSpec);
  const rtpPorts = options.rtpPorts === undefined ? DEFAULT_RTP_PORTS : typeof options.rtpPorts === 'string' ? parseRtpPorts(options.rtpPorts) : checkRtpPorts(options.rtpPorts);
  if (typeof rtpPorts === 'string') throw invalid('rtpPorts', rtpPorts);
  const shortcuts = Object.fromEntries(
    (['channels', 'cps', 'ringMs', 'answerMs', 'holdMs', 'rtp'] as const).filter((k) => options[k] !== undefined).map((k) => [k, options[k]]),
  );
  const behaviour = applyBehaviour(applyBehaviour(DEFAULT_BEHAVIOUR, options.behaviour ?? {}), shortcuts);
  const timers: SimTimerConfig = { ...DEFAULT_TIMERS, ...options.timers };
  const log = options.logger ?? createLogger({ component: 'switch-sim', id }, options.logLevel === undefined ? {} : { level: options.logLevel });

  const listeners: SimListener[] = [];
  const uas = new SimUas({ id, log, timers, behaviour, listeners: () => listeners, rtpPorts });
  let control: ControlServer | undefined;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      await Promise.all([uas.close(), ...listeners.map((l) => l.close()), control?.close()]);
    })();
    return closing;
  };

  const stats = (): SwitchSimStatus => {
    const b = uas.behaviour;
    return { id, channels: uas.channels, maxChannels: b.channels, cps: uas.cps, maxCps: b.cps, calls: { ...uas.counters }, behaviour: b, rtp: uas.media.status() };
  };
  const calls = (callId?: string): RtpCallInfo[] => uas.media.calls(callId);
  try {
    for (const spec of specs) {
      const start = spec.transport === 'udp' ? startUdpListener : startTcpListener;
      listeners.push(await start(spec.host, spec.port, uas.handle, log));
    }
    if (httpSpec !== undefined) {
      control = await startControlServer(
        httpSpec.host,
        httpSpec.port,
        { status: stats, calls, behaviour: () => uas.behaviour, setBehaviour: (p) => uas.setBehaviour(p), hangupAll: () => uas.hangupAll() },
        log,
      );
    }
  } catch (err) {
    await close();
    throw err;
  }

  const listenerInfo = listeners.map((l) => {
    const spec = { transport: l.transport, host: l.host, port: l.port };
    return { ...spec, uri: formatListenUri(spec) };
  });
  log.info({ listeners: listenerInfo.map((l) => l.uri), http: control && `${control.host}:${control.port}` }, 'switch-sim listening');
  return {
    id,
    listeners: listenerInfo,
    http: control === undefined ? undefined : { host: control.host, port: control.port },
    channels: () => uas.channels,
    stats,
    calls,
    behaviour: () => uas.behaviour,
    setBehaviour: (patch) => uas.setBehaviour(patch),
    hangupAll: () => uas.hangupAll(),
    close,
  };
}
