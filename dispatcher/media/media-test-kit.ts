/**
 * Fakes for the media layer's unit tests: an in-process stand-in for one rtpengine's ng client
 * (records every request, answers or fails on demand, keeps its own session table like the real
 * daemon), and the defaults of `cluster.media`.
 */
import type { RelayRecord } from '../../shared/cluster-store/cluster-store.ts';
import type { MediaConfig } from '../../shared/config/config-types.ts';
import { SipfleetError, type ErrorCode } from '../../shared/errors.ts';
import { createLogger } from '../../shared/log.ts';
import type { NgAnswerParams, NgDeleteParams, NgOfferParams, NgReply, NgSdpReply, NgStatisticsReply } from './ng-client.ts';
import type { RelayClient, RelayClientFactory } from './relay-pool.ts';

export const logger = createLogger({ test: 'media' });

export function mediaConfig(over: Partial<MediaConfig> = {}): MediaConfig {
  return { zones: [], required: true, probe: { interval: 2000, timeout: 1000, fall: 3, rise: 2 }, statsInterval: 5000, ...over };
}

export function relay(id: string, over: Partial<RelayRecord> = {}): RelayRecord {
  return { id, host: '127.0.0.1', port: 22222, weight: 1, state: 'active', ...over };
}

/** How the fake answers one command: ok, or fail with an error code. */
export type FakeMode = 'ok' | ErrorCode;
export type FakeCommand = 'ping' | 'offer' | 'answer' | 'delete' | 'statistics';

export class FakeRelayClient implements RelayClient {
  readonly id: string;
  readonly address: string;
  readonly port: number;
  readonly log: string[] = [];
  /** Live sessions: call-id → from tags seen. */
  readonly sessions = new Map<string, Set<string>>();
  mode: Partial<Record<FakeCommand, FakeMode>> = {};
  /** sessionstotal reported by statistics (default: the live session count). */
  reportedSessions: number | undefined;
  /** Held replies: resolve them with `release()`. */
  hold = false;
  readonly #held: Array<() => void> = [];
  closed = false;

  constructor(id: string, address = '127.0.0.1', port = 22222) {
    this.id = id;
    this.address = address;
    this.port = port;
  }

  async #reply<T>(command: FakeCommand, make: () => T): Promise<T> {
    if (this.hold) await new Promise<void>((r) => this.#held.push(r));
    if (this.closed) throw new SipfleetError('MEDIA_ERR_CLOSED', 'closed');
    const mode = this.mode[command] ?? 'ok';
    if (mode !== 'ok') throw new SipfleetError(mode, `${command} failed (fake ${mode})`, { detail: { command } });
    return make();
  }

  /** Let every held request go. */
  release(): void {
    this.hold = false;
    for (const r of this.#held.splice(0)) r();
  }

  ping(): Promise<NgReply> {
    this.log.push('ping');
    return this.#reply('ping', () => ({ result: 'pong' }));
  }

  offer(p: NgOfferParams): Promise<NgSdpReply> {
    this.log.push(`offer ${p.callId} ${p.fromTag} ${p.toTag ?? '-'} ice=${p.ice ?? '-'} replace=${(p.replace ?? []).join(',')}${p.transportProtocol === undefined ? '' : ` proto=${p.transportProtocol}`}`);
    return this.#reply('offer', () => {
      let tags = this.sessions.get(p.callId);
      if (tags === undefined) this.sessions.set(p.callId, (tags = new Set()));
      tags.add(p.fromTag);
      return { result: 'ok', sdp: Buffer.from(`${String(p.sdp)}a=relay:${this.id}\r\n`) };
    });
  }

  answer(p: NgAnswerParams): Promise<NgSdpReply> {
    this.log.push(`answer ${p.callId} ${p.fromTag} ${p.toTag} ice=${p.ice ?? '-'}`);
    return this.#reply('answer', () => {
      if (!this.sessions.has(p.callId)) throw new SipfleetError('MEDIA_ERR_RELAY', 'Unknown call-id', { detail: { reason: 'Unknown call-id' } });
      return { result: 'ok', sdp: Buffer.from(`${String(p.sdp)}a=relay:${this.id}\r\n`) };
    });
  }

  delete(p: NgDeleteParams): Promise<NgReply> {
    this.log.push(`delete ${p.callId} ${p.fromTag ?? '-'}`);
    return this.#reply('delete', () => {
      if (!this.sessions.delete(p.callId)) return { result: 'ok', warning: "Call-ID not found or tags didn't match" };
      return { result: 'ok' };
    });
  }

  statistics(): Promise<NgStatisticsReply> {
    this.log.push('statistics');
    return this.#reply('statistics', () => {
      const n = this.reportedSessions ?? this.sessions.size;
      return { result: 'ok', statistics: { currentstatistics: { sessionsown: n, sessionsforeign: 0, sessionstotal: n } } };
    });
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

/** A client factory that keeps every client it made, by relay id (the latest last). */
export class FakeRelays {
  readonly made: FakeRelayClient[] = [];
  readonly factory: RelayClientFactory = (r) => {
    const c = new FakeRelayClient(r.id, r.address, r.port);
    this.made.push(c);
    return c;
  };

  get(id: string): FakeRelayClient {
    const c = this.made.filter((m) => m.id === id).at(-1);
    if (c === undefined) throw new Error(`no fake client for ${id}`);
    return c;
  }
}

/** Lets pending promise callbacks run. */
export async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((r) => setImmediate(r));
}
