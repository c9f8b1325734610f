import { createHash } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import type { RegistrarConfig } from '../../shared/config/config-types.ts';
import { digestHa1 } from '../../shared/config/digest-ha1.ts';
import { SipfleetError } from '../../shared/errors.ts';
import { createLogger } from '../../shared/log.ts';
import { MemoryRegistrarStore } from '../../shared/registrar-store/memory-registrar-store.ts';
import type { Binding, BindingRef, RegistrarStore } from '../../shared/registrar-store/registrar-store.ts';
import { parseMessage, serializeMessage, type SipRequest, type SipResponse } from '../../shared/sip/index.ts';
import { ManualClock } from '../transaction/manual-clock.ts';
import type { ServerTransaction } from '../transaction/server-transaction.ts';
import type { Flow } from '../transport/transport.ts';
import { AbuseGuard } from './abuse-guard.ts';
import { DigestAuthenticator } from './digest-authenticator.ts';
import { Registrar } from './registrar.ts';

const logger = createLogger({ test: true });
const REALM = 'sipfleet';
const URI = 'sip:sipfleet.test';
const OWNER = 'sip:192.0.2.100:5060';
const UDP: Flow = { protocol: 'udp', localAddress: '192.0.2.100', localPort: 5060, remoteAddress: '203.0.113.5', remotePort: 40000, connectionId: undefined };
const CONFIG: RegistrarConfig = {
  enabled: true,
  minExpires: 60,
  maxExpires: 3600,
  defaultExpires: 1800,
  maxContacts: 3,
  algorithms: ['SHA-256', 'MD5'],
  nonceTtl: 300_000,
  keepalive: { enabled: true, interval: 30_000, timeout: 5_000, misses: 3 },
  abuse: { threshold: 2, window: 60_000, banTime: 600_000, scanners: ['friendly-scanner'] },
};

/** A minimal server transaction: records responses. */
class FakeTxn implements ServerTransaction {
  readonly key = 'k';
  readonly isInvite = false;
  readonly localTag: string;
  readonly state = 'trying';
  readonly terminated = false;
  readonly lastResponse = undefined;
  readonly responses: SipResponse[] = [];
  context: unknown;
  readonly request: SipRequest;
  readonly flow: Flow;
  constructor(request: SipRequest, flow: Flow, tag: string) {
    this.request = request;
    this.flow = flow;
    this.localTag = tag;
  }
  get lastStatus(): number {
    return this.responses.at(-1)?.status ?? 0;
  }
  get finalSent(): boolean {
    return this.lastStatus >= 200;
  }
  respond(res: SipResponse): void {
    this.responses.push(res);
  }
  receiveRetransmission(): void {}
  abort(): void {}
}

interface RegOpts {
  user?: string;
  toUser?: string;
  password?: string;
  callId?: string;
  cseq?: number;
  contacts?: string[];
  expires?: number | string;
  extra?: string[];
  vias?: number;
  authorization?: string | null;
}

function h256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

describe('Registrar', () => {
  let clock: ManualClock;
  let store: MemoryRegistrarStore;
  let guard: AbuseGuard;
  let bound: Binding[][];
  let unbound: BindingRef[][];
  let txnCount: number;
  let nonce: string;
  let nc: number;
  let registrar: Registrar;

  function makeRegistrar(s: RegistrarStore = store, config: RegistrarConfig = CONFIG): Registrar {
    const auth = new DigestAuthenticator({ store: s, realm: REALM, algorithms: config.algorithms, nonceTtlMs: config.nonceTtl, clock });
    return new Registrar({
      store: s,
      config,
      nodeId: 'node-a',
      auth,
      guard,
      ownerUri: OWNER,
      clock,
      logger,
      onBound: (b) => bound.push([...b]),
      onUnbound: (r) => unbound.push([...r]),
    });
  }

  beforeEach(async () => {
    clock = new ManualClock(1_700_000_000_000);
    store = new MemoryRegistrarStore({ now: () => clock.now() });
    guard = new AbuseGuard({ store, policy: CONFIG.abuse, isCarrier: () => false, clock, logger });
    await guard.start();
    await store.putUser({ username: 'alice', realm: REALM, ha1Md5: digestHa1('md5', 'alice', REALM, 'secret'), ha1Sha256: digestHa1('sha256', 'alice', REALM, 'secret') });
    bound = [];
    unbound = [];
    txnCount = 0;
    nc = 0;
    registrar = makeRegistrar();
    // One challenge to learn a nonce; later requests reuse it with increasing nc.
    const first = await send({ authorization: null });
    nonce = /nonce="([^"]+)"/.exec(first.get('www-authenticate') ?? '')?.[1] ?? '';
  });

  function authorization(o: RegOpts): string {
    const user = o.user ?? 'alice';
    const ncText = (++nc).toString(16).padStart(8, '0');
    const ha1 = h256(`${user}:${REALM}:${o.password ?? 'secret'}`);
    const response = h256(`${ha1}:${nonce}:${ncText}:cn:auth:${h256(`REGISTER:${URI}`)}`);
    return `Digest username="${user}", realm="${REALM}", nonce="${nonce}", uri="${URI}", response="${response}", algorithm=SHA-256, qop=auth, nc=${ncText}, cnonce="cn"`;
  }

  function build(o: RegOpts): SipRequest {
    const cseq = o.cseq ?? ++txnCount;
    const vias = Array.from({ length: o.vias ?? 1 }, (_v, i) => `Via: SIP/2.0/UDP 203.0.113.${5 + i}:40000;branch=z9hG4bK-${cseq}-${i};rport`);
    const lines = [
      `REGISTER ${URI} SIP/2.0`,
      ...vias,
      'Max-Forwards: 70',
      `From: <sip:${o.toUser ?? 'alice'}@sipfleet.test>;tag=ft`,
      `To: <sip:${o.toUser ?? 'alice'}@sipfleet.test>`,
      `Call-ID: ${o.callId ?? 'reg-1@203.0.113.5'}`,
      `CSeq: ${cseq} REGISTER`,
      ...(o.contacts ?? ['<sip:alice@203.0.113.5:40000>']).map((c) => `Contact: ${c}`),
      ...(o.expires === undefined ? [] : [`Expires: ${o.expires}`]),
      ...(o.authorization === null ? [] : [`Authorization: ${o.authorization ?? authorization(o)}`]),
      ...(o.extra ?? []),
      'Content-Length: 0',
      '',
      '',
    ];
    return parseMessage(Buffer.from(lines.join('\r\n'), 'latin1')) as SipRequest;
  }

  async function send(o: RegOpts = {}, flow: Flow = UDP, r: Registrar = registrar): Promise<SipResponse> {
    const txn = new FakeTxn(build(o), flow, `tag-${txnCount}-${Math.random()}`);
    await r.handle(txn);
    expect(txn.responses).toHaveLength(1);
    return txn.responses[0];
  }

  const contactsOf = (res: SipResponse): string[] => res.getAll('contact');

  it('challenges, then registers with the flow, the granted expiry and a Date header', async () => {
    const res = await send({ expires: 600 });
    expect(res.status).toBe(200);
    expect(contactsOf(res)).toEqual(['<sip:alice@203.0.113.5:40000>;expires=600']);
    expect(res.get('date')).toBe(new Date(clock.now()).toUTCString());
    const [b] = await store.lookup('alice');
    expect(b).toMatchObject({ key: 'sip:alice@203.0.113.5:40000', contact: 'sip:alice@203.0.113.5:40000', q: 1, path: [] });
    expect(b.flow).toEqual({ nodeId: 'node-a', protocol: 'udp', address: '203.0.113.5', port: 40000, localAddress: '192.0.2.100', localPort: 5060, ownerUri: OWNER });
    expect(bound.at(-1)?.map((x) => x.key)).toEqual(['sip:alice@203.0.113.5:40000']);
    expect(registrar.stats()).toMatchObject({ registers: 2, ok: 1, challenged: 1, failed: 0 });
  });

  it('records the connection of a stream flow', async () => {
    await send({}, { ...UDP, protocol: 'tcp', connectionId: 42 });
    const [b] = await store.lookup('alice');
    expect(b.flow).toMatchObject({ protocol: 'tcp', connectionId: 42 });
  });

  it('sends byte-identical 401s for an unknown user and a wrong password', async () => {
    const a = await send({ cseq: 50, user: 'mallory', toUser: 'alice' });
    const b = await send({ cseq: 50, password: 'wrong' });
    expect(a.status).toBe(401);
    expect(serializeMessage(a).equals(serializeMessage(b))).toBe(true);
    expect(registrar.stats().failed).toBe(2);
  });

  it('counts failed authentications with the abuse guard (ban at the threshold)', async () => {
    await send({ password: 'wrong' });
    expect(guard.isBanned('203.0.113.5')).toBe(false);
    await send({ password: 'wrong' });
    expect(guard.isBanned('203.0.113.5')).toBe(true);
  });

  it('answers 400 for a malformed Authorization without counting a failure', async () => {
    const res = await send({ authorization: 'Digest username="alice"' });
    expect(res.status).toBe(400);
    expect(guard.stats().authFailures).toBe(0);
  });

  it('refuses a user registering another AOR (403)', async () => {
    await store.putUser({ username: 'bob', realm: REALM, ha1Md5: digestHa1('md5', 'bob', REALM, 'pw') });
    const res = await send({ toUser: 'bob' });
    expect(res.status).toBe(403);
    expect(await store.lookup('bob')).toEqual([]);
  });

  it('refuses an expiry below minExpires with 423 and Min-Expires', async () => {
    const res = await send({ expires: 30 });
    expect(res.status).toBe(423);
    expect(res.get('min-expires')).toBe('60');
    const perContact = await send({ contacts: ['<sip:alice@203.0.113.5:40000>;expires=10'], expires: 600 });
    expect(perContact.status).toBe(423);
  });

  it('lowers an expiry above maxExpires, and grants defaultExpires when none is given', async () => {
    expect(contactsOf(await send({ expires: 999_999 }))).toEqual(['<sip:alice@203.0.113.5:40000>;expires=3600']);
    expect(contactsOf(await send({}))).toEqual(['<sip:alice@203.0.113.5:40000>;expires=1800']);
    // The contact's own expires param wins over the header.
    expect(contactsOf(await send({ contacts: ['<sip:alice@203.0.113.5:40000>;expires=120'], expires: 600 }))).toEqual(['<sip:alice@203.0.113.5:40000>;expires=120']);
  });

  it('answers a query (no Contact) with the current bindings', async () => {
    await send({ expires: 600 });
    clock.advance(100_000);
    const res = await send({ contacts: [] });
    expect(res.status).toBe(200);
    expect(contactsOf(res)).toEqual(['<sip:alice@203.0.113.5:40000>;expires=500']);
  });

  it('lists bindings highest q first with their q', async () => {
    const res = await send({ contacts: ['<sip:a@203.0.113.5:1>;q=0.1', '<sip:b@203.0.113.5:2>;q=0.95', '<sip:c@203.0.113.5:3>'], expires: 600 });
    expect(contactsOf(res)).toEqual(['<sip:c@203.0.113.5:3>;expires=600', '<sip:b@203.0.113.5:2>;expires=600;q=0.95', '<sip:a@203.0.113.5:1>;expires=600;q=0.1']);
    expect((await send({ contacts: ['<sip:d@203.0.113.5:4>;q=1.5'] })).status).toBe(400);
  });

  it('removes one binding with expires=0 and reports it unbound', async () => {
    await send({ contacts: ['<sip:a@203.0.113.5:1>', '<sip:b@203.0.113.5:2>'], expires: 600 });
    const res = await send({ contacts: ['<sip:a@203.0.113.5:1>;expires=0'] });
    expect(contactsOf(res)).toEqual(['<sip:b@203.0.113.5:2>;expires=600']);
    expect(unbound.at(-1)).toEqual([{ aor: 'alice', key: 'sip:a@203.0.113.5:1' }]);
  });

  it('keys contacts by URI with scheme and host case-insensitive', async () => {
    await send({ contacts: ['<sip:a@Phone.Example:1>'], expires: 600 });
    await send({ contacts: ['<SIP:a@phone.example:1>'], expires: 900 });
    const all = await store.lookup('alice');
    expect(all).toHaveLength(1);
    expect(all[0].key).toBe('sip:a@phone.example:1');
  });

  it('applies Contact: * only alone and with Expires: 0', async () => {
    await send({ contacts: ['<sip:a@203.0.113.5:1>', '<sip:b@203.0.113.5:2>'], expires: 600 });
    expect((await send({ contacts: ['*'] })).status).toBe(400);
    expect((await send({ contacts: ['*'], expires: 600 })).status).toBe(400);
    expect((await send({ contacts: ['*', '<sip:a@203.0.113.5:1>'], expires: 0 })).status).toBe(400);
    expect(await store.lookup('alice')).toHaveLength(2);
    const res = await send({ contacts: ['*'], expires: 0 });
    expect(res.status).toBe(200);
    expect(contactsOf(res)).toEqual([]);
    expect(await store.lookup('alice')).toEqual([]);
    expect(unbound.at(-1)?.map((r) => r.key).sort()).toEqual(['sip:a@203.0.113.5:1', 'sip:b@203.0.113.5:2']);
  });

  it('stores Path values in order and echoes them when the phone supports path', async () => {
    const path = ['<sip:edge1.example;lr>', '<sip:edge2.example;lr>'];
    const res = await send({ extra: ['Supported: path', `Path: ${path[0]}`, `Path: ${path[1]}`] });
    expect(res.status).toBe(200);
    expect(res.getAll('path')).toEqual(path);
    expect((await store.lookup('alice'))[0].path).toEqual(path);
  });

  it('refuses a Path without Supported: path (RFC 3327 §5.3: 420)', async () => {
    const res = await send({ extra: ['Path: <sip:edge1.example;lr>'] });
    expect(res.status).toBe(420);
    expect(await store.lookup('alice')).toEqual([]);
  });

  it('refuses an unsupported Require option tag with 420 and Unsupported', async () => {
    const res = await send({ extra: ['Require: path, foo'] });
    expect(res.status).toBe(420);
    expect(res.get('unsupported')).toBe('foo');
  });

  describe('outbound (RFC 5626)', () => {
    const INSTANCE = '"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"';
    const ob = (port: number, regId = 1): string => `<sip:alice@203.0.113.5:${port};transport=tcp;ob>;+sip.instance=${INSTANCE};reg-id=${regId}`;

    it('keys by instance and reg-id: a new flow replaces the old one', async () => {
      const first = await send({ contacts: [ob(40000)], extra: ['Supported: outbound, path'], expires: 600 }, { ...UDP, protocol: 'tcp', connectionId: 1 });
      expect(first.status).toBe(200);
      expect(first.get('require')).toBe('outbound');
      expect(contactsOf(first)[0]).toContain(';+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>";reg-id=1');
      const second = await send({ contacts: [ob(40002)], extra: ['Supported: outbound, path'], expires: 600 }, { ...UDP, protocol: 'tcp', remotePort: 40002, connectionId: 2 });
      expect(second.status).toBe(200);
      const all = await store.lookup('alice');
      expect(all).toHaveLength(1);
      expect(all[0]).toMatchObject({ key: '<urn:uuid:00000000-0000-1000-8000-000a95a0e128>;reg-id=1', regId: 1, contact: 'sip:alice@203.0.113.5:40002;transport=tcp;ob' });
      expect(all[0].flow.connectionId).toBe(2);
    });

    it('answers 439 when the first Path hop lacks ;ob, or a non-first-hop request has no Path', async () => {
      const viaPath = await send({ contacts: [ob(40000)], extra: ['Supported: outbound, path', 'Path: <sip:edge.example;lr>'] });
      expect(viaPath.status).toBe(439);
      const twoVias = await send({ contacts: [ob(40000)], extra: ['Supported: outbound, path'], vias: 2 });
      expect(twoVias.status).toBe(439);
      const ok = await send({ contacts: [ob(40000)], extra: ['Supported: outbound, path', 'Path: <sip:edge.example;lr;ob>'], vias: 2 });
      expect(ok.status).toBe(200);
      expect(ok.get('require')).toBe('outbound');
    });

    it('ignores reg-id without Supported: outbound (keyed by URI, no Require)', async () => {
      const res = await send({ contacts: [ob(40000)], expires: 600 });
      expect(res.status).toBe(200);
      expect(res.get('require')).toBeUndefined();
      expect((await store.lookup('alice'))[0].key).toBe('sip:alice@203.0.113.5:40000;transport=tcp;ob');
    });

    it('refuses two contacts with reg-id in one REGISTER (400)', async () => {
      const res = await send({ contacts: [ob(40000, 1), ob(40001, 2)], extra: ['Supported: outbound, path'] });
      expect(res.status).toBe(400);
    });
  });

  it('fails an out-of-order CSeq on the same Call-ID with 500', async () => {
    expect((await send({ cseq: 10, expires: 600 })).status).toBe(200);
    const res = await send({ cseq: 5, expires: 600 });
    expect(res.status).toBe(500);
    expect(res.reason).toBe('Out of Order');
  });

  it('refuses more than maxContacts bindings with 403 Too Many Contacts', async () => {
    const res = await send({ contacts: ['<sip:a@203.0.113.5:1>', '<sip:b@203.0.113.5:2>', '<sip:c@203.0.113.5:3>', '<sip:d@203.0.113.5:4>'] });
    expect(res.status).toBe(403);
    expect(res.reason).toBe('Too Many Contacts');
  });

  it('answers 503 with Retry-After when the store is down', async () => {
    const failing = new Set<string | symbol>(['register']);
    const down = new Proxy(store, {
      get(target, prop, receiver) {
        if (failing.has(prop)) return () => Promise.reject(new SipfleetError('STORE_ERR_UNAVAILABLE', 'registrar store: down'));
        const v = Reflect.get(target, prop, receiver) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    }) as RegistrarStore;
    const r = makeRegistrar(down);
    const res = await send({}, UDP, r);
    expect(res.status).toBe(503);
    expect(res.get('retry-after')).toBe('5');
    failing.add('getUser');
    expect((await send({}, UDP, r)).status).toBe(503);
    expect(r.stats().storeErrors).toBe(2);
  });

  it('answers 500 for an unexpected error and 400 for a malformed Contact', async () => {
    const broken = new Proxy(store, {
      get(target, prop, receiver) {
        if (prop === 'register') return () => Promise.reject(new Error('boom'));
        const v = Reflect.get(target, prop, receiver) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    }) as RegistrarStore;
    expect((await send({}, UDP, makeRegistrar(broken))).status).toBe(500);
    expect((await send({ contacts: ['<sip:a@203.0.113.5:1'] })).status).toBe(400);
    expect((await send({ contacts: ['<tel:+15551234567>'] })).status).toBe(400);
  });
});
