/**
 * Test-only harness for the proxy core: ProxyCore + TransactionLayer + FakeTransport + ManualClock
 * + StaticRouter over two UDP switches + a recording Admission.
 */
import type { SwitchConfig } from '../../shared/config/config-types.ts';
import type { Admission, AdmissionDecision, AdmissionRequest, CallEndReason } from '../admission/admission.ts';
import { StaticRouter } from '../routing/static-router.ts';
import type { Router } from '../routing/router.ts';
import type { Clock } from '../transaction/clock.ts';
import { ManualClock } from '../transaction/manual-clock.ts';
import { TransactionLayer } from '../transaction/transaction-layer.ts';
import { LISTENERS, logger, responseTo, type RecordingClientUser } from '../transaction/transaction-test-kit.ts';
import { FakeTransport, type FlowOptions, type SentRecord } from '../transport/fake-transport.ts';
import { DialogTable } from './dialog-table.ts';
import { LocalIdentity } from './local-identity.ts';
import { ProxyCore, type ProxyCoreOptions } from './proxy-core.ts';

export type { RecordingClientUser };

function switchConfig(id: string, host: string): SwitchConfig {
  return { id, address: `${host}:5060`, host, port: 5060, transport: 'udp', weight: 1, priority: 1, state: 'active' };
}

export const SWITCHES: readonly SwitchConfig[] = [switchConfig('sw1', '192.0.2.21'), switchConfig('sw2', '192.0.2.22')];
export const SW1 = { address: '192.0.2.21', port: 5060 } as const;
export const SW2 = { address: '192.0.2.22', port: 5060 } as const;
export const SW1_FLOW: FlowOptions = { protocol: 'udp', remoteAddress: '192.0.2.21', remotePort: 5060 };
export const SW2_FLOW: FlowOptions = { protocol: 'udp', remoteAddress: '192.0.2.22', remotePort: 5060 };
export const CARRIER_TARGET = { address: '198.51.100.7', port: 5060 } as const;

/** Admits everything unless `decide` says otherwise; records every admit and release. */
export class TestAdmission implements Admission {
  readonly admits: AdmissionRequest[] = [];
  readonly releases: Array<{ switchId: string; callId: string; reason: CallEndReason }> = [];
  decide: ((req: AdmissionRequest) => AdmissionDecision | undefined) | undefined;

  admit(req: AdmissionRequest): Promise<AdmissionDecision> {
    this.admits.push(req);
    const d = this.decide?.(req);
    if (d !== undefined) return Promise.resolve(d);
    return Promise.resolve({
      admitted: true,
      release: (reason: CallEndReason) => {
        this.releases.push({ switchId: req.switchId, callId: req.callId, reason });
      },
    });
  }
}

/** `C`: the harness's clock, a ManualClock unless a bench runs it on the system clock. */
export interface ProxyHarness<C extends Clock = ManualClock> {
  clock: C;
  transport: FakeTransport;
  layer: TransactionLayer;
  proxy: ProxyCore;
  dialogs: DialogTable;
  admission: TestAdmission;
  router: Router;
  identity: LocalIdentity;
}

type HarnessOptions = Partial<Pick<ProxyCoreOptions, 'failoverCodes' | 'maxAttempts' | 'retryAfter' | 'carriers' | 'unknownSources' | 'phones' | 'media' | 'isDraining' | 'handoff' | 'router' | 'dialogState' | 'floatingIp'>>;

export function proxyHarness<C extends Clock>(opts: HarnessOptions, clock: C): ProxyHarness<C>;
export function proxyHarness(opts?: HarnessOptions): ProxyHarness;
export function proxyHarness(opts: HarnessOptions = {}, clock: Clock = new ManualClock()): ProxyHarness<Clock> {
  const transport = new FakeTransport(LISTENERS);
  const identity = new LocalIdentity(LISTENERS);
  const router = opts.router ?? new StaticRouter(SWITCHES);
  const admission = new TestAdmission();
  const dialogs = new DialogTable(clock);
  const proxy = new ProxyCore({ identity, router, admission, dialogs, logger, ...opts });
  const layer = new TransactionLayer({ transport, user: proxy, logger, clock });
  proxy.bind(layer);
  transport.delegate = layer;
  return { clock, transport, layer, proxy, dialogs, admission, router, identity };
}

/** Requests with `method` sent to a target. */
export function sentRequests(h: ProxyHarness, to: { address: string; port?: number }, method: string): SentRecord[] {
  return h.transport.sentTo({ address: to.address, ...(to.port === undefined ? {} : { port: to.port }) }).filter((s) => s.text.startsWith(`${method} `));
}

/** Responses sent to a target. */
export function sentResponses(h: ProxyHarness, to: { address: string; port?: number }): SentRecord[] {
  return h.transport.sentTo({ address: to.address, ...(to.port === undefined ? {} : { port: to.port }) }).filter((s) => s.text.startsWith('SIP/2.0 '));
}

/** Status codes of the responses sent to a target, in order. */
export function statusesTo(h: ProxyHarness, to: { address: string; port?: number }): number[] {
  return sentResponses(h, to).map((s) => Number(s.text.slice(8, 11)));
}

/** Inject a switch's response to a request we forwarded to it. */
export function switchAnswers(
  h: ProxyHarness,
  forwarded: SentRecord,
  status: number,
  reason?: string,
  opts: { toTag?: string; headers?: ReadonlyArray<readonly [string, string]>; body?: string } = {},
): Buffer {
  const flow: FlowOptions = { protocol: forwarded.target.protocol, remoteAddress: forwarded.target.address, remotePort: forwarded.target.port };
  const bytes = responseTo(forwarded, status, reason, { toTag: 'sw-tag', ...opts });
  h.transport.inject(bytes, flow);
  return bytes;
}
