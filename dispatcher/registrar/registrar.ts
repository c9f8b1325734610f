/**
 * The registrar (RFC 3261 §10.3): answers REGISTER requests itself, with the location kept in
 * the registrar store so every node sees a binding as soon as the 200 OK is sent.
 *
 * Steps, in order (§10.3 numbering):
 *   2. Require: option tags other than `path` and `outbound` → 420 with Unsupported.
 *   3-4. Digest authentication (registrar mode, 401). A failed authentication is counted by the
 *      abuse guard. The authenticated user must be the AOR → else 403.
 *   5. The AOR is the user part of the To URI. One domain per cluster: any host is accepted (the
 *      realm, not the host, names the domain); a To URI without a user part → 404.
 *   6. Contacts: `*` only alone and with `Expires: 0` (else 400). Each contact's expiry is its
 *      `expires` param, else the Expires header, else `defaultExpires` (a malformed value counts
 *      as absent); 0 removes the binding; 0 < e < minExpires → 423 with Min-Expires; above
 *      maxExpires it is lowered. `q` must be 0..1 with at most 3 decimals (else 400). No Contact at
 *      all is a query: 200 with the current bindings.
 *   7. The change is applied atomically by the store with the Call-ID/CSeq rule: an out-of-order
 *      CSeq fails the request (§10.3 step 7 "the update MUST be aborted and the request fails";
 *      no code is given, we answer 500 "Out of Order" like common registrars); more bindings than
 *      `maxContacts` → 403 "Too Many Contacts".
 *   8. 200 OK with every current binding (`;expires=` remaining seconds, `;q=` when below 1) and a
 *      Date header.
 *
 * Binding keys: RFC 5626 outbound contacts (`+sip.instance` and `reg-id`, with `outbound` in
 * Supported) are keyed `<instance>;reg-id=<n>`, so a new flow replaces the old one; others by their
 * Contact URI with scheme and host lower-cased. Path (RFC 3327): the values are stored in order and
 * echoed in the 200; a Path without `Supported: path` is refused with 420 (RFC 3327 §5.3, the
 * policy it recommends). Outbound (RFC 5626 §6): the first hop must support outbound, i.e. the
 * first Path value has `;ob`, or there is no Path and the registrar is the first hop (one Via),
 * else 439; when honoured the 200 has `Require: outbound`. More than one non-zero-expiry Contact
 * with a reg-id → 400 (RFC 5626 §6). A reg-id without `+sip.instance` or without `outbound` in
 * Supported is ignored (the binding is keyed by its URI; RFC 3261 §8.2.4: no Require for an
 * extension the client did not list).
 *
 * A store failure answers 503 with Retry-After; anything unexpected 500. `handle` never throws.
 * Banned sources and scanners are dropped by the proxy before a REGISTER gets here.
 */
import { isSipfleetError, SipParseError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/log.ts';
import type { RegistrarConfig } from '../../shared/config/config-types.ts';
import type { Binding, BindingFlow, BindingInput, BindingRef, RegistrarStore } from '../../shared/registrar-store/registrar-store.ts';
import { CSEQ_MAX, PATH_MAX, TEXT_MAX } from '../../shared/registrar-store/validate-registrar-args.ts';
import { formatUri, isSipUri, makeResponse, parseNameAddr, parseUri, unquote, type SipRequest, type SipUri } from '../../shared/sip/index.ts';
import type { Clock } from '../transaction/clock.ts';
import type { ServerTransaction } from '../transaction/server-transaction.ts';
import type { AbuseGuard } from './abuse-guard.ts';
import type { DigestAuthenticator } from './digest-authenticator.ts';

export interface RegistrarOptions {
  store: RegistrarStore;
  config: RegistrarConfig;
  nodeId: string;
  auth: DigestAuthenticator;
  guard: AbuseGuard;
  /** This node's internal-hop URI (owner-uri.ts), recorded in each binding's flow. */
  ownerUri: string;
  clock: Clock;
  logger: Logger;
  /** Bindings this REGISTER added or refreshed (keep-alive bookkeeping of the owner node). */
  onBound?(bindings: readonly Binding[]): void;
  /** Bindings this REGISTER removed. */
  onUnbound?(refs: readonly BindingRef[]): void;
  /** Retry-After (s) on a 503 when the store is unavailable; default 5. */
  retryAfter?: number;
}

export interface RegistrarStats {
  registers: number;
  /** 200 OK sent (registrations, refreshes, removals and queries). */
  ok: number;
  /** 401 without a failure: no credentials yet, or a stale nonce. */
  challenged: number;
  /** Failed authentications (wrong password, unknown user, forged nonce, replay...). */
  failed: number;
  /** Other 4xx: malformed, 403, 423, 439... */
  rejected: number;
  /** 503 for a store failure. */
  storeErrors: number;
  /** 500 for an unexpected error. */
  errors: number;
}

/** Option tags this registrar implements (RFC 3261 §8.2.2.3). */
const SUPPORTED = new Set(['path', 'outbound']);
const USER_AGENT_MAX = 256;
const REG_ID = /^\d{1,10}$/;

type Reply = { readonly status: number; readonly reason: string; readonly headers?: [string, string][] };
interface ContactPlan {
  readonly removeAll: boolean;
  readonly upserts: BindingInput[];
  readonly removals: string[];
  readonly outbound: boolean;
}

function reply(status: number, reason: string, headers?: [string, string][]): Reply {
  return headers === undefined ? { status, reason } : { status, reason, headers };
}

/** A Contact URI as a binding key: scheme and host lower-cased, the rest as written. */
export function contactKey(uri: SipUri): string {
  return formatUri({ ...uri, host: uri.host.toLowerCase() });
}

function formatQ(q: number): string {
  return String(Number(q.toFixed(3)));
}

export class Registrar {
  readonly #o: RegistrarOptions;
  readonly #retryAfter: number;
  readonly #stats: RegistrarStats = { registers: 0, ok: 0, challenged: 0, failed: 0, rejected: 0, storeErrors: 0, errors: 0 };

  constructor(opts: RegistrarOptions) {
    this.#o = opts;
    this.#retryAfter = opts.retryAfter ?? 5;
  }

  stats(): RegistrarStats {
    return { ...this.#stats };
  }

  /** Answer one REGISTER. Never throws. */
  async handle(txn: ServerTransaction): Promise<void> {
    this.#stats.registers++;
    let req: SipRequest;
    try {
      req = txn.request;
    } catch {
      return; // already answered
    }
    try {
      await this.#process(txn, req);
    } catch (err) {
      if (txn.finalSent) {
        this.#o.logger.warn({ err, callId: req.callId }, 'REGISTER failed after it was answered');
      } else if (err instanceof SipParseError) {
        this.#send(txn, req, reply(err.status, err.reason));
      } else if (isSipfleetError(err) && err.code === 'STORE_ERR_UNAVAILABLE') {
        this.#stats.storeErrors++;
        this.#o.logger.warn({ err, callId: req.callId }, 'registrar store unavailable');
        this.#send(txn, req, reply(503, 'Service Unavailable', [['Retry-After', String(this.#retryAfter)]]));
      } else {
        this.#stats.errors++;
        this.#o.logger.error({ err, callId: req.callId }, 'REGISTER failed');
        this.#send(txn, req, reply(500, 'Server Internal Error'));
      }
    }
  }

  async #process(txn: ServerTransaction, req: SipRequest): Promise<void> {
    const ip = txn.flow.remoteAddress;
    const unsupported = req.values('require').filter((tag) => !SUPPORTED.has(tag.toLowerCase()));
    if (unsupported.length > 0) return this.#send(txn, req, reply(420, 'Bad Extension', [['Unsupported', unsupported.join(', ')]]));

    const auth = await this.#o.auth.authenticate(req, ip, 'registrar');
    if (!auth.ok) {
      if (auth.failure) this.#stats.failed++;
      else if (auth.status === 401) this.#stats.challenged++;
      this.#send(txn, req, reply(auth.status, auth.reason, auth.headers), auth.toTag);
      if (auth.failure) await this.#o.guard.authFailed(ip);
      return;
    }

    const aor = aorOf(req);
    if (aor === undefined) return this.#send(txn, req, reply(404, 'Not Found'));
    if (aor !== auth.user.username) return this.#send(txn, req, reply(403, 'Forbidden'));

    const plan = this.#plan(req, txn);
    if ('status' in plan) return this.#send(txn, req, plan);
    const { store } = this.#o;
    if (!plan.removeAll && plan.upserts.length === 0 && plan.removals.length === 0) {
      return this.#sendBindings(txn, req, await store.lookup(aor), [], false);
    }
    const cseq = req.cseq.seq;
    if (cseq > CSEQ_MAX) return this.#send(txn, req, reply(400, 'Bad Request (CSeq Out of Range)'));
    // For `*`, learn what goes away (keep-alive bookkeeping), only when someone listens.
    const before = plan.removeAll && this.#o.onUnbound !== undefined ? await store.lookup(aor) : [];
    const result = await store.register({
      aor,
      callId: req.callId,
      cseq,
      removeAll: plan.removeAll,
      upserts: plan.upserts,
      removals: plan.removals,
      maxContacts: this.#o.config.maxContacts,
    });
    if (!result.ok) {
      if (result.reason === 'too-many-contacts') return this.#send(txn, req, reply(403, 'Too Many Contacts'));
      this.#stats.rejected++;
      return this.#send(txn, req, reply(500, 'Out of Order'));
    }
    this.#o.logger.debug({ aor, ip, upserts: plan.upserts.length, removals: plan.removeAll ? 'all' : plan.removals.length }, 'REGISTER applied');
    this.#sendBindings(txn, req, result.bindings, plan.upserts.length > 0 ? req.values('path') : [], plan.outbound);
    const bound = new Set(plan.upserts.map((u) => u.key));
    const unbound: BindingRef[] = plan.removeAll ? before.map((b) => ({ aor, key: b.key })) : plan.removals.map((key) => ({ aor, key }));
    this.#notify(
      result.bindings.filter((b) => bound.has(b.key)),
      unbound,
    );
  }

  /** Step 6: the request's contacts as a store change, or the reply refusing them. */
  #plan(req: SipRequest, txn: ServerTransaction): ContactPlan | Reply {
    const { config } = this.#o;
    const supported = new Set(req.values('supported').map((t) => t.toLowerCase()));
    const path = req.values('path');
    if (path.length > 0 && !supported.has('path')) return reply(420, 'Bad Extension (Path Requires Supported: path)');
    if (path.length > PATH_MAX || path.some((p) => p.length > TEXT_MAX)) return reply(400, 'Bad Request (Path Too Long)');
    const firstHop = path.length > 0 ? parseUri(parseNameAddr(path[0], 'Path').uri, 'Path') : undefined;
    for (const p of path.slice(1)) parseNameAddr(p, 'Path');

    const contacts = req.contacts();
    if (contacts === '*') {
      if (req.get('expires') === undefined || req.expires !== 0) return reply(400, 'Bad Request (Contact: * Needs Expires: 0)');
      return { removeAll: true, upserts: [], removals: [], outbound: false };
    }
    const headerExpires = req.expires;
    const flow = this.#flow(txn);
    const userAgent = req.get('user-agent')?.slice(0, USER_AGENT_MAX);
    const byKey = new Map<string, BindingInput | null>();
    let tooBrief = false;
    let outbound = false;
    let regIdContacts = 0;
    for (const c of contacts) {
      const uri = parseUri(c.uri, 'Contact');
      if (!isSipUri(uri)) return reply(400, 'Bad Request (Contact Not a SIP URI)');
      if (c.uri.length > TEXT_MAX) return reply(400, 'Bad Request (Contact Too Long)');
      if (c.params.has('q') && c.q === undefined) return reply(400, 'Bad Request (Invalid q)');
      let expires = c.expires ?? headerExpires ?? config.defaultExpires;
      const rawInstance = c.params.get('+sip.instance');
      const instanceId = rawInstance == null ? undefined : unquote(rawInstance);
      const rawRegId = c.params.get('reg-id');
      let key: string;
      let regId: number | undefined;
      if (instanceId !== undefined && instanceId.length > 0 && rawRegId != null && supported.has('outbound')) {
        regId = REG_ID.test(rawRegId) ? Number(rawRegId) : 0;
        if (regId < 1 || regId > CSEQ_MAX) return reply(400, 'Bad Request (Invalid reg-id)');
        key = `${instanceId.toLowerCase()};reg-id=${regId}`;
        outbound = true;
        if (expires !== 0) regIdContacts++;
      } else {
        key = contactKey(uri);
      }
      if (key.length > TEXT_MAX) return reply(400, 'Bad Request (Contact Too Long)');
      if (expires === 0) {
        byKey.set(key, null);
        continue;
      }
      if (expires < config.minExpires) tooBrief = true;
      expires = Math.min(expires, config.maxExpires);
      byKey.set(key, { key, contact: c.uri, q: c.q ?? 1, expires, instanceId, regId, path, flow, userAgent });
    }
    if (tooBrief) return reply(423, 'Interval Too Brief', [['Min-Expires', String(config.minExpires)]]);
    if (regIdContacts > 1) return reply(400, 'Bad Request (Several Contacts with reg-id)');
    if (outbound) {
      const firstHopOk = firstHop !== undefined ? isSipUri(firstHop) && firstHop.params.has('ob') : req.vias().length === 1;
      if (!firstHopOk) return reply(439, 'First Hop Lacks Outbound Support');
    }
    const upserts: BindingInput[] = [];
    const removals: string[] = [];
    for (const [key, input] of byKey) {
      if (input === null) removals.push(key);
      else upserts.push(input);
    }
    return { removeAll: false, upserts, removals, outbound };
  }

  #flow(txn: ServerTransaction): BindingFlow {
    const f = txn.flow;
    return {
      nodeId: this.#o.nodeId,
      protocol: f.protocol,
      address: f.remoteAddress,
      port: f.remotePort,
      connectionId: f.protocol === 'udp' ? undefined : f.connectionId,
      localAddress: f.localAddress,
      localPort: f.localPort,
      ownerUri: this.#o.ownerUri,
    };
  }

  /** Step 8: 200 OK listing every binding of the AOR. */
  #sendBindings(txn: ServerTransaction, req: SipRequest, bindings: readonly Binding[], path: readonly string[], outbound: boolean): void {
    const now = this.#o.clock.now();
    const headers: [string, string][] = [];
    // Highest q first (the store's order already; kept stable for equal q).
    for (const b of [...bindings].sort((x, y) => y.q - x.q)) {
      let value = `<${b.contact}>;expires=${Math.max(1, Math.round((b.expiresAtMs - now) / 1000))}`;
      if (b.q < 1) value += `;q=${formatQ(b.q)}`;
      if (b.instanceId !== undefined && b.regId !== undefined) {
        value += `;+sip.instance="${b.instanceId.replace(/[\\"]/g, (ch) => `\\${ch}`)}";reg-id=${b.regId}`;
      }
      headers.push(['Contact', value]);
    }
    for (const p of path) headers.push(['Path', p]);
    if (outbound) headers.push(['Require', 'outbound']);
    headers.push(['Supported', 'outbound, path'], ['Date', new Date(now).toUTCString()]);
    this.#send(txn, req, reply(200, 'OK', headers));
  }

  #send(txn: ServerTransaction, req: SipRequest, r: Reply, toTag = txn.localTag): void {
    if (r.status === 200) this.#stats.ok++;
    else if (r.status >= 400 && r.status < 500 && r.status !== 401) this.#stats.rejected++;
    try {
      txn.respond(makeResponse(req, r.status, r.reason, { toTag, headers: r.headers ?? [] }));
    } catch (err) {
      this.#o.logger.warn({ err, callId: req.callId, status: r.status }, 'could not answer a REGISTER');
    }
  }

  #notify(bound: readonly Binding[], unbound: readonly BindingRef[]): void {
    try {
      if (bound.length > 0) this.#o.onBound?.(bound);
      if (unbound.length > 0) this.#o.onUnbound?.(unbound);
    } catch (err) {
      this.#o.logger.error({ err }, 'registrar binding listener failed');
    }
  }
}

/** The AOR of a REGISTER: the To URI's user part (unescaped), or undefined. */
function aorOf(req: SipRequest): string | undefined {
  const to = parseUri(req.to.uri, 'To');
  if (!isSipUri(to) || to.user === undefined) return undefined;
  try {
    return decodeURIComponent(to.user);
  } catch {
    return to.user;
  }
}
