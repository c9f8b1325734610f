/**
 * Test-only helpers for the transaction and proxy tests: SIP text builders, recording transaction
 * users and a harness wiring FakeTransport + ManualClock + TransactionLayer.
 */
import { createLogger } from '../../shared/log.ts';
import {
  makeResponse,
  parseMessage,
  serializeMessage,
  type SipMessage,
  type SipRequest,
  type SipResponse,
} from '../../shared/sip/index.ts';
import { FakeTransport, type FlowOptions, type SentRecord } from '../transport/fake-transport.ts';
import type { Flow, ListenerInfo } from '../transport/transport.ts';
import { ManualClock } from './manual-clock.ts';
import type { ServerTransaction } from './server-transaction.ts';
import { TransactionLayer, type TransactionLayerOptions } from './transaction-layer.ts';
import type { ClientTransactionUser, ServerTransactionUser } from './transaction-user.ts';

export const logger = createLogger({ test: true });

/** Our node: 192.0.2.100:5060 on UDP and TCP. */
export const LISTENERS: readonly ListenerInfo[] = [
  { protocol: 'udp', address: '192.0.2.100', port: 5060, advertisedHost: '192.0.2.100' },
  { protocol: 'tcp', address: '192.0.2.100', port: 5060, advertisedHost: '192.0.2.100' },
];

export const CARRIER: FlowOptions = { protocol: 'udp', remoteAddress: '198.51.100.7', remotePort: 5060 };

/** Join header lines into a message; Content-Length is added unless a line already has one. */
export function sip(lines: readonly string[], body = ''): string {
  const hasLength = lines.some((l) => /^(content-length|l)\s*:/i.test(l));
  const all = hasLength ? lines : [...lines, `Content-Length: ${Buffer.byteLength(body, 'latin1')}`];
  return `${all.join('\r\n')}\r\n\r\n${body}`;
}

export interface RequestOptions {
  method?: string;
  uri?: string;
  branch?: string;
  /** Full Via value; overrides branch/viaHost. */
  via?: string;
  viaHost?: string;
  viaTransport?: string;
  callId?: string;
  cseq?: number;
  /** CSeq method when it differs from the request method (ACK/CANCEL of an INVITE use their own). */
  cseqMethod?: string;
  fromTag?: string;
  toTag?: string;
  toUri?: string;
  /** undefined → 70; null → no Max-Forwards header. */
  maxForwards?: number | null;
  extra?: readonly string[];
  body?: string;
}

export function request(o: RequestOptions = {}): string {
  const method = o.method ?? 'INVITE';
  const uri = o.uri ?? 'sip:+15551234567@192.0.2.100:5060';
  const via = o.via ?? `SIP/2.0/${o.viaTransport ?? 'UDP'} ${o.viaHost ?? '198.51.100.7:5060'};branch=${o.branch ?? 'z9hG4bK-c1'}`;
  const toUri = o.toUri ?? '<sip:+15551234567@192.0.2.100>';
  const lines = [
    `${method} ${uri} SIP/2.0`,
    `Via: ${via}`,
    ...(o.maxForwards === null ? [] : [`Max-Forwards: ${o.maxForwards ?? 70}`]),
    `From: "Carrier" <sip:+15550001111@198.51.100.7>;tag=${o.fromTag ?? 'from-1'}`,
    `To: ${toUri}${o.toTag === undefined ? '' : `;tag=${o.toTag}`}`,
    `Call-ID: ${o.callId ?? 'call-1@198.51.100.7'}`,
    `CSeq: ${o.cseq ?? 1} ${o.cseqMethod ?? method}`,
    ...(o.extra ?? []),
  ];
  return sip(lines, o.body ?? '');
}

export function parse(data: Buffer | string): SipMessage {
  return parseMessage(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
}

export function parseRequest(data: Buffer | string | SentRecord): SipRequest {
  const msg = parse(isSent(data) ? data.data : data);
  if (msg.kind !== 'request') throw new Error(`expected a request, got ${msg.startLine()}`);
  return msg as SipRequest;
}

export function parseResponse(data: Buffer | string | SentRecord): SipResponse {
  const msg = parse(isSent(data) ? data.data : data);
  if (msg.kind !== 'response') throw new Error(`expected a response, got ${msg.startLine()}`);
  return msg as SipResponse;
}

function isSent(x: unknown): x is SentRecord {
  return typeof x === 'object' && x !== null && 'target' in x && 'data' in x;
}

/** The wire bytes of a response to `req` (Vias, From, To, Call-ID, CSeq copied; To tag added). */
export function responseTo(
  req: SipRequest | Buffer | string | SentRecord,
  status: number,
  reason?: string,
  opts: { toTag?: string; headers?: ReadonlyArray<readonly [string, string]>; body?: string } = {},
): Buffer {
  const r = typeof req === 'object' && 'method' in req && !isSent(req) ? req : parseRequest(req as Buffer | string | SentRecord);
  const res = makeResponse(r, status, reason, {
    toTag: opts.toTag ?? 'uas-tag',
    ...(opts.headers === undefined ? {} : { headers: opts.headers }),
    ...(opts.body === undefined ? {} : { body: Buffer.from(opts.body, 'latin1'), contentType: 'application/sdp' }),
  });
  return serializeMessage(res);
}

/** The first line of each record (`SIP/2.0 180 Ringing`, `INVITE sip:... SIP/2.0`). */
export function startLines(records: readonly SentRecord[]): string[] {
  return records.map((r) => r.text.slice(0, r.text.indexOf('\r\n')));
}

/** Every header line of a message's head, start line excluded. */
export function headerLines(text: string): string[] {
  const head = text.slice(0, text.indexOf('\r\n\r\n'));
  return head.split('\r\n').slice(1);
}

/** Let promise chains and queued callbacks run (admission, routing, failed sends). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

export class RecordingTU implements ServerTransactionUser {
  readonly requests: ServerTransaction[] = [];
  readonly cancels: Array<{ txn: ServerTransaction; invite: ServerTransaction | undefined }> = [];
  readonly strayAcks: Array<{ ack: SipRequest; flow: Flow }> = [];
  readonly terminated: ServerTransaction[] = [];
  /** Optional reaction to a new request (e.g. answer it at once). */
  onNew: ((txn: ServerTransaction) => void) | undefined;

  onRequest(txn: ServerTransaction): void {
    this.requests.push(txn);
    this.onNew?.(txn);
  }

  onCancel(txn: ServerTransaction, invite: ServerTransaction | undefined): void {
    this.cancels.push({ txn, invite });
  }

  onStrayAck(ack: SipRequest, flow: Flow): void {
    this.strayAcks.push({ ack, flow });
  }

  onServerTransactionTerminated(txn: ServerTransaction): void {
    this.terminated.push(txn);
  }
}

export class RecordingClientUser implements ClientTransactionUser {
  readonly responses: SipResponse[] = [];
  timeouts = 0;
  readonly transportErrors: Error[] = [];

  onResponse(res: SipResponse): void {
    this.responses.push(res);
  }

  onTimeout(): void {
    this.timeouts++;
  }

  onTransportError(err: Error): void {
    this.transportErrors.push(err);
  }

  get statuses(): number[] {
    return this.responses.map((r) => r.status);
  }
}

export interface LayerHarness {
  clock: ManualClock;
  transport: FakeTransport;
  tu: RecordingTU;
  layer: TransactionLayer;
}

export function layerHarness(opts: Partial<Omit<TransactionLayerOptions, 'transport' | 'user' | 'logger' | 'clock'>> = {}): LayerHarness {
  const clock = new ManualClock();
  const transport = new FakeTransport(LISTENERS);
  const tu = new RecordingTU();
  const layer = new TransactionLayer({ transport, user: tu, logger, clock, ...opts });
  transport.delegate = layer;
  return { clock, transport, tu, layer };
}

/**
 * Advance the clock timer by timer up to `until` and return the time of each matching send.
 * Sends already recorded count as happening now (take() them first to leave them out).
 */
export function sendTimes(h: LayerHarness, until: number, pick: (s: SentRecord) => boolean): number[] {
  const times: number[] = [];
  let seen = 0;
  const step = (): void => {
    for (; seen < h.transport.sent.length; seen++) if (pick(h.transport.sent[seen])) times.push(h.clock.now());
  };
  step();
  while (h.clock.now() < until) {
    const next = h.clock.nextTimerAt();
    if (next === undefined || next > until) break;
    h.clock.advanceTo(next);
    step();
  }
  h.clock.advanceTo(Math.max(until, h.clock.now()));
  step();
  return times;
}
