/**
 * ForkContext (RFC 3261 §16.7 parallel forking): TransactionLayer + FakeTransport + ManualClock.
 * An INVITE from the carrier makes the server transaction; each branch goes to a "phone".
 */
import { describe, expect, it } from 'vitest';
import type { SipResponse } from '../../shared/sip/index.ts';
import type { ServerTransaction } from '../transaction/server-transaction.ts';
import {
  CARRIER,
  layerHarness,
  logger,
  parseRequest,
  parseResponse,
  request,
  responseTo,
  settle,
  type LayerHarness,
} from '../transaction/transaction-test-kit.ts';
import type { SentRecord } from '../transport/fake-transport.ts';
import type { Target } from '../transport/transport.ts';
import { ForkContext } from './fork-context.ts';
import { isProxyContext } from './proxy-context.ts';
import { proxyHarness } from './proxy-test-kit.ts';
import { ResponseContext, type BranchPlan } from './response-context.ts';

const CARRIER_ADDR = { address: '198.51.100.7' };
const PHONES = ['203.0.113.1', '203.0.113.2', '203.0.113.3', '203.0.113.4'] as const;
const T1 = 500;
const TIMER_B = 64 * T1;
const TIMER_C = 181_000;

interface Fork {
  method: string;
  h: LayerHarness;
  server: ServerTransaction;
  ctx: ForkContext;
  finals: Array<{ status: number; relayed: boolean }>;
  twoxx: SipResponse[];
  localReplies: number[];
}

function fork(method = 'INVITE'): Fork {
  const h = layerHarness();
  h.transport.inject(request({ method }), CARRIER);
  const server = h.tu.requests[0];
  const finals: Fork['finals'] = [];
  const twoxx: SipResponse[] = [];
  const localReplies: number[] = [];
  const ctx = new ForkContext({
    layer: h.layer,
    server,
    log: logger,
    onLocalReply: (s) => localReplies.push(s),
    hooks: {
      onFinal: (res, relayed) => finals.push({ status: res.status, relayed }),
      on2xx: (res) => twoxx.push(res),
    },
  });
  server.context = ctx;
  h.transport.clear();
  return { method, h, server, ctx, finals, twoxx, localReplies };
}

let branchSeq = 0;

/** The forwarded copy for phone `i` (our Via with a fresh branch on top, Request-URI = contact). */
function plan(f: Fork, i: number): BranchPlan {
  const target: Target = { protocol: 'udp', address: PHONES[i], port: 5060 };
  const fwd = parseRequest(request({ method: f.method, uri: `sip:alice@${PHONES[i]}:5060` }));
  fwd.prepend('Via', `SIP/2.0/UDP 192.0.2.100:5060;branch=z9hG4bK-fork${++branchSeq}-${i}`);
  return { request: fwd, target };
}

/** The first request with `method` sent to phone `i` (retransmissions ignored). */
function sentTo(f: Fork, i: number, method = f.method): SentRecord | undefined {
  return f.h.transport.sentTo({ address: PHONES[i] }).find((s) => s.text.startsWith(`${method} `));
}

function countTo(f: Fork, i: number, method: string): number {
  return f.h.transport.sentTo({ address: PHONES[i] }).filter((s) => s.text.startsWith(`${method} `)).length;
}

/** Phone `i` answers the INVITE it got (or, with `method`, the CANCEL). */
function phoneAnswers(
  f: Fork,
  i: number,
  status: number,
  reason?: string,
  headers: ReadonlyArray<readonly [string, string]> = [],
  method = f.method,
): void {
  const rec = sentTo(f, i, method);
  if (rec === undefined) throw new Error(`nothing sent to phone ${i}`);
  f.h.transport.inject(responseTo(rec, status, reason, { toTag: `tag-${i}`, headers }), { protocol: 'udp', remoteAddress: PHONES[i], remotePort: 5060 });
}

function upstream(f: Fork): SipResponse[] {
  return f.h.transport.sentTo(CARRIER_ADDR).filter((s) => s.text.startsWith('SIP/2.0 ')).map((s) => parseResponse(s));
}

function upstreamStatuses(f: Fork): number[] {
  return upstream(f).map((r) => r.status);
}

describe('ForkContext: parallel branches within a q group (RFC 3261 §16.7)', () => {
  it('every branch of the group is sent at once, one client transaction each, with its own branch', () => {
    const f = fork();
    f.ctx.start([[plan(f, 0), plan(f, 1), plan(f, 2)]]);
    const sent = [0, 1, 2].map((i) => sentTo(f, i));
    expect(sent.every((s) => s !== undefined)).toBe(true);
    const branches = sent.map((s) => parseRequest(s as SentRecord).via.branch);
    expect(new Set(branches).size).toBe(3);
    expect(f.h.layer.stats().clientTransactions).toBe(3);
    expect(f.ctx.finished).toBe(false);
  });

  it('486 on one branch, 200 on the other → only the 200 goes upstream; the 486 branch is not CANCELled', () => {
    const f = fork();
    f.ctx.start([[plan(f, 0), plan(f, 1)]]);
    phoneAnswers(f, 0, 486, 'Busy Here');
    expect(upstreamStatuses(f)).toEqual([]);
    expect(f.ctx.finished).toBe(false);
    phoneAnswers(f, 1, 200, 'OK');
    const up = upstream(f);
    expect(up.map((r) => r.status)).toEqual([200]);
    expect(up[0].toTag).toBe('tag-1');
    // Our Via is stripped (§16.7 step 3): only the carrier's is left.
    expect(up[0].getAll('via')).toEqual(['SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-c1']);
    expect(f.ctx.finished).toBe(true);
    expect(f.finals).toEqual([{ status: 200, relayed: true }]);
    expect(f.twoxx).toHaveLength(1);
    expect(countTo(f, 0, 'CANCEL')).toBe(0);
    expect(countTo(f, 1, 'CANCEL')).toBe(0);
  });

  it('§16.7 step 10 the first 200 CANCELs pending branches: at once after a provisional, on the first provisional otherwise (§9.1); their 487s are not relayed', () => {
    const f = fork();
    f.ctx.start([[plan(f, 0), plan(f, 1), plan(f, 2)]]);
    phoneAnswers(f, 1, 180, 'Ringing');
    phoneAnswers(f, 0, 200, 'OK');
    expect(upstreamStatuses(f)).toEqual([180, 200]);
    // Branch 1 had a provisional: CANCEL on its INVITE's branch, CSeq number, Request-URI.
    const cancelRec = sentTo(f, 1, 'CANCEL');
    expect(cancelRec).toBeDefined();
    const cancel = parseRequest(cancelRec as SentRecord);
    const inv = parseRequest(sentTo(f, 1) as SentRecord);
    expect(cancel.via.branch).toBe(inv.via.branch);
    expect(cancel.uri).toBe(inv.uri);
    expect(cancel.get('cseq')).toBe('1 CANCEL');
    expect(cancel.getAll('via')).toHaveLength(1);
    // Branch 2 had nothing yet: no CANCEL until it sends a provisional.
    expect(countTo(f, 2, 'CANCEL')).toBe(0);
    phoneAnswers(f, 2, 100, 'Trying');
    expect(countTo(f, 2, 'CANCEL')).toBe(1);
    phoneAnswers(f, 1, 487, 'Request Terminated');
    phoneAnswers(f, 2, 487, 'Request Terminated');
    expect(upstreamStatuses(f)).toEqual([180, 200]);
    expect(f.finals).toEqual([{ status: 200, relayed: true }]);
  });

  it('§16.7 step 5 a second 2xx (another branch, CANCEL crossed it) is relayed too; onFinal once, on2xx for each', () => {
    const f = fork();
    f.ctx.start([[plan(f, 0), plan(f, 1)]]);
    phoneAnswers(f, 0, 180, 'Ringing');
    phoneAnswers(f, 1, 180, 'Ringing');
    phoneAnswers(f, 0, 200, 'OK');
    expect(countTo(f, 1, 'CANCEL')).toBe(1);
    phoneAnswers(f, 1, 200, 'OK');
    const up = upstream(f);
    expect(up.map((r) => r.status)).toEqual([180, 180, 200, 200]);
    expect(up.slice(2).map((r) => r.toTag)).toEqual(['tag-0', 'tag-1']);
    expect(f.finals).toEqual([{ status: 200, relayed: true }]);
    expect(f.twoxx.map((r) => r.toTag)).toEqual(['tag-0', 'tag-1']);
  });

  it('§16.7 step 5 each branch’s 180 is relayed once, with its own To tag; 100 never', () => {
    const f = fork();
    f.ctx.start([[plan(f, 0), plan(f, 1)]]);
    phoneAnswers(f, 0, 100, 'Trying');
    phoneAnswers(f, 1, 100, 'Trying');
    expect(upstreamStatuses(f)).toEqual([]);
    phoneAnswers(f, 0, 180, 'Ringing');
    phoneAnswers(f, 1, 180, 'Ringing');
    const up = upstream(f);
    expect(up.map((r) => r.status)).toEqual([180, 180]);
    expect(up.map((r) => r.toTag)).toEqual(['tag-0', 'tag-1']);
  });

  it('a non-2xx final after the 2xx (a CANCELled branch) is neither relayed nor reported', () => {
    const f = fork();
    f.ctx.start([[plan(f, 0), plan(f, 1)]]);
    phoneAnswers(f, 1, 183, 'Session Progress');
    phoneAnswers(f, 0, 200, 'OK');
    phoneAnswers(f, 1, 603, 'Decline');
    expect(upstreamStatuses(f)).toEqual([183, 200]);
    expect(f.finals).toEqual([{ status: 200, relayed: true }]);
  });
});

describe('ForkContext: choosing the best response (§16.7 steps 6 and 7)', () => {
  it('486 and 404 → the lowest code of the class (404), only once every branch answered', () => {
    const f = fork();
    f.ctx.start([[plan(f, 0), plan(f, 1)]]);
    phoneAnswers(f, 0, 486, 'Busy Here');
    expect(upstreamStatuses(f)).toEqual([]);
    phoneAnswers(f, 1, 404, 'Not Found');
    const up = upstream(f);
    expect(up.map((r) => r.status)).toEqual([404]);
    expect(up[0].toTag).toBe('tag-1');
    expect(f.finals).toEqual([{ status: 404, relayed: true }]);
    expect(f.localReplies).toEqual([]);
  });

  it('the lowest class wins: 302 over 486 over 500', () => {
    const f = fork();
    f.ctx.start([[plan(f, 0), plan(f, 1), plan(f, 2)]]);
    phoneAnswers(f, 0, 500, 'Oops');
    phoneAnswers(f, 1, 302, 'Moved', [['Contact', '<sip:alice@198.51.100.50>']]);
    phoneAnswers(f, 2, 486, 'Busy Here');
    const [res] = upstream(f);
    expect(res.status).toBe(302);
    expect(res.get('contact')).toBe('<sip:alice@198.51.100.50>');
  });

  it('in 4xx a resubmission response (484) beats a lower code (404)', () => {
    const f = fork();
    f.ctx.start([[plan(f, 0), plan(f, 1)]]);
    phoneAnswers(f, 0, 404, 'Not Found');
    phoneAnswers(f, 1, 484, 'Address Incomplete');
    expect(upstreamStatuses(f)).toEqual([484]);
  });

  it('a 503 is not forwarded: only 503s → a 500 of our own; a 500 from a phone is preferred over a 503', () => {
    const f = fork();
    f.ctx.start([[plan(f, 0), plan(f, 1)]]);
    phoneAnswers(f, 0, 503, 'Service Unavailable', [['Retry-After', '60']]);
    phoneAnswers(f, 1, 503, 'Service Unavailable');
    const [res] = upstream(f);
    expect(res.status).toBe(500);
    expect(res.has('retry-after')).toBe(false);
    expect(res.toTag).toBe(f.server.localTag);
    expect(f.localReplies).toEqual([500]);
    expect(f.finals).toEqual([{ status: 500, relayed: false }]);

    const g = fork();
    g.ctx.start([[plan(g, 0), plan(g, 1)]]);
    phoneAnswers(g, 0, 503, 'Service Unavailable');
    phoneAnswers(g, 1, 500, 'Phone Broken');
    const [res2] = upstream(g);
    expect(res2.status).toBe(500);
    expect(res2.reason).toBe('Phone Broken');
    expect(res2.toTag).toBe('tag-1');
  });

  it('§16.7 step 7 the chosen 401 carries every WWW-Authenticate and Proxy-Authenticate of the other 401/407s, unmodified', () => {
    const f = fork();
    f.ctx.start([[plan(f, 0), plan(f, 1), plan(f, 2), plan(f, 3)]]);
    phoneAnswers(f, 0, 407, 'Proxy Authentication Required', [['Proxy-Authenticate', 'Digest realm="b", nonce="n2"']]);
    phoneAnswers(f, 1, 401, 'Unauthorized', [['WWW-Authenticate', 'Digest realm="a", nonce="n1"']]);
    phoneAnswers(f, 2, 486, 'Busy Here');
    phoneAnswers(f, 3, 401, 'Unauthorized', [['WWW-Authenticate', 'Digest realm="c",  nonce="n3", qop="auth"']]);
    const up = upstream(f);
    expect(up.map((r) => r.status)).toEqual([401]);
    expect(up[0].toTag).toBe('tag-1');
    expect(up[0].getAll('www-authenticate')).toEqual(['Digest realm="a", nonce="n1"', 'Digest realm="c",  nonce="n3", qop="auth"']);
    expect(up[0].getAll('proxy-authenticate')).toEqual(['Digest realm="b", nonce="n2"']);
  });

  it('a real 486 is preferred over a timed-out branch (its 408); every branch timing out → 408 of our own', () => {
    const f = fork();
    f.ctx.start([[plan(f, 0), plan(f, 1)]]);
    phoneAnswers(f, 0, 486, 'Busy Here');
    f.h.clock.advance(TIMER_B - 1);
    expect(upstreamStatuses(f)).toEqual([]);
    f.h.clock.advance(1); // Timer B of branch 1
    expect(upstreamStatuses(f)).toEqual([486]);

    const g = fork();
    g.ctx.start([[plan(g, 0), plan(g, 1)]]);
    g.h.clock.advance(TIMER_B);
    const [res] = upstream(g);
    expect(res.status).toBe(408);
    expect(g.localReplies).toEqual([408]);
  });
});

describe('ForkContext: 6xx (§16.7 steps 5 and 10)', () => {
  it('a 603 CANCELs every pending branch, starts no further group, and goes upstream once they have answered', () => {
    const f = fork();
    f.ctx.start([[plan(f, 0), plan(f, 1), plan(f, 2)], [plan(f, 3)]]);
    phoneAnswers(f, 0, 180, 'Ringing');
    phoneAnswers(f, 1, 180, 'Ringing');
    phoneAnswers(f, 1, 603, 'Decline');
    expect(countTo(f, 0, 'CANCEL')).toBe(1);
    expect(countTo(f, 2, 'CANCEL')).toBe(0); // no provisional yet (§9.1)
    expect(upstreamStatuses(f)).toEqual([180, 180]);
    phoneAnswers(f, 2, 180, 'Ringing');
    expect(countTo(f, 2, 'CANCEL')).toBe(1);
    phoneAnswers(f, 0, 487, 'Request Terminated');
    expect(f.ctx.finished).toBe(false);
    phoneAnswers(f, 2, 487, 'Request Terminated');
    expect(upstreamStatuses(f)).toEqual([180, 180, 180, 603]);
    expect(f.finals).toEqual([{ status: 603, relayed: true }]);
    expect(sentTo(f, 3)).toBeUndefined();
  });

  it('a 2xx from a branch the 6xx CANCELled still wins: the 603 never goes upstream', () => {
    const f = fork();
    f.ctx.start([[plan(f, 0), plan(f, 1)]]);
    phoneAnswers(f, 0, 180, 'Ringing');
    phoneAnswers(f, 1, 600, 'Busy Everywhere');
    expect(countTo(f, 0, 'CANCEL')).toBe(1);
    phoneAnswers(f, 0, 200, 'OK');
    expect(upstreamStatuses(f)).toEqual([180, 200]);
    expect(f.finals).toEqual([{ status: 200, relayed: true }]);
  });
});

describe('ForkContext: q groups, one after another (§16.6, §16.7)', () => {
  it('group 1 all fail (480, timeout) → group 2 starts; its 200 goes upstream', () => {
    const f = fork();
    f.ctx.start([[plan(f, 0), plan(f, 1)], [plan(f, 2)]]);
    phoneAnswers(f, 0, 480, 'Temporarily Unavailable');
    expect(sentTo(f, 2)).toBeUndefined();
    f.h.clock.advance(TIMER_B - 1);
    expect(sentTo(f, 2)).toBeUndefined();
    f.h.clock.advance(1);
    expect(sentTo(f, 2)).toBeDefined();
    expect(upstreamStatuses(f)).toEqual([]);
    phoneAnswers(f, 2, 200, 'OK');
    expect(upstreamStatuses(f)).toEqual([200]);
  });

  it('the best response is chosen over every group: 486 in group 1, 480 in group 2 → 480', () => {
    const f = fork();
    f.ctx.start([[plan(f, 0)], [], [plan(f, 1)]]);
    phoneAnswers(f, 0, 486, 'Busy Here');
    phoneAnswers(f, 1, 480, 'Temporarily Unavailable');
    expect(upstreamStatuses(f)).toEqual([480]);
  });

  it('a 2xx in group 1 means group 2 is never tried', () => {
    const f = fork();
    f.ctx.start([[plan(f, 0)], [plan(f, 1)]]);
    phoneAnswers(f, 0, 200, 'OK');
    f.h.clock.advance(TIMER_C * 2);
    expect(sentTo(f, 1)).toBeUndefined();
  });
});

describe('ForkContext: CANCEL from upstream (§16.10) and Timer C (§16.8)', () => {
  it('CANCEL goes at once on branches with a provisional, on the others at their first provisional; the 487 goes upstream; no new group', () => {
    const f = fork();
    f.ctx.start([[plan(f, 0), plan(f, 1)], [plan(f, 2)]]);
    phoneAnswers(f, 0, 180, 'Ringing');
    f.ctx.cancel();
    expect(f.ctx.cancelled).toBe(true);
    expect(countTo(f, 0, 'CANCEL')).toBe(1);
    expect(countTo(f, 1, 'CANCEL')).toBe(0);
    phoneAnswers(f, 1, 183, 'Session Progress');
    expect(countTo(f, 1, 'CANCEL')).toBe(1);
    phoneAnswers(f, 0, 200, 'OK', [], 'CANCEL'); // the CANCEL's own 200: absorbed by its transaction
    phoneAnswers(f, 0, 487, 'Request Terminated');
    phoneAnswers(f, 1, 487, 'Request Terminated');
    const up = upstream(f);
    expect(up.map((r) => r.status)).toEqual([180, 183, 487]);
    expect(f.ctx.finished).toBe(true);
    expect(sentTo(f, 2)).toBeUndefined();
  });

  it('§9.1 a branch that never answers its CANCEL is given up 64*T1 later: 487 upstream', () => {
    const f = fork();
    f.ctx.start([[plan(f, 0)]]);
    phoneAnswers(f, 0, 180, 'Ringing');
    f.ctx.cancel();
    expect(countTo(f, 0, 'CANCEL')).toBe(1);
    f.h.clock.advance(TIMER_B - 1);
    expect(f.ctx.finished).toBe(false);
    f.h.clock.advance(1);
    expect(upstreamStatuses(f)).toEqual([180, 487]);
    expect(f.localReplies).toEqual([487]);
  });

  it('cancel() before start: nothing is sent and start answers 487', () => {
    const f = fork();
    f.ctx.cancel();
    f.ctx.start([[plan(f, 0)]]);
    expect(sentTo(f, 0)).toBeUndefined();
    expect(upstreamStatuses(f)).toEqual([487]);
  });

  it('the proxy core’s CANCEL handling reaches a ForkContext (isProxyContext)', () => {
    const f = fork();
    f.ctx.start([[plan(f, 0)]]);
    phoneAnswers(f, 0, 180, 'Ringing');
    const core = proxyHarness().proxy;
    const replies: SipResponse[] = [];
    const cancelTxn = {
      request: parseRequest(request({ method: 'CANCEL' })),
      localTag: 'l',
      respond: (res: SipResponse) => replies.push(res),
    } as unknown as ServerTransaction;
    core.onCancel(cancelTxn, f.server);
    expect(replies.map((r) => r.status)).toEqual([200]);
    expect(f.ctx.cancelled).toBe(true);
    expect(countTo(f, 0, 'CANCEL')).toBe(1);
    expect(isProxyContext(f.ctx)).toBe(true);
    expect(isProxyContext({ cancel() {}, respond() {}, finished: false, cancelled: false })).toBe(false);
    const rc = new ResponseContext({ layer: f.h.layer, log: logger, failoverCodes: new Set(), retryAfter: 5 }, f.server, {});
    expect(isProxyContext(rc)).toBe(true);
  });

  it('Timer C: a branch with a provisional is CANCELled when it fires; a later 180 restarts it', () => {
    const f = fork();
    f.ctx.start([[plan(f, 0), plan(f, 1)]]);
    phoneAnswers(f, 0, 180, 'Ringing');
    phoneAnswers(f, 1, 180, 'Ringing');
    f.h.clock.advance(100_000);
    phoneAnswers(f, 1, 180, 'Ringing'); // branch 1's Timer C restarts
    f.h.clock.advance(TIMER_C - 100_000);
    expect(countTo(f, 0, 'CANCEL')).toBe(1);
    expect(countTo(f, 1, 'CANCEL')).toBe(0);
    expect(f.ctx.finished).toBe(false);
    f.h.clock.advance(100_000);
    expect(countTo(f, 1, 'CANCEL')).toBe(1);
    phoneAnswers(f, 0, 487, 'Request Terminated');
    phoneAnswers(f, 1, 487, 'Request Terminated');
    expect(upstreamStatuses(f)).toEqual([180, 180, 180, 487]);
  });
});

describe('ForkContext: transport errors (§16.9)', () => {
  it('one branch unreachable does not end the context while another is pending', async () => {
    const f = fork();
    f.h.transport.failSendsTo({ address: PHONES[0] });
    f.ctx.start([[plan(f, 0), plan(f, 1)]]);
    await settle();
    expect(f.ctx.finished).toBe(false);
    expect(upstreamStatuses(f)).toEqual([]);
    expect(f.ctx.retained().pending).toBe(1);
    phoneAnswers(f, 1, 486, 'Busy Here');
    expect(upstreamStatuses(f)).toEqual([486]);
  });

  it('every branch of every group unreachable → 480 of our own (after trying the next group)', async () => {
    const f = fork();
    f.h.transport.failSendsTo({ address: PHONES[0] });
    f.h.transport.failSendsTo({ address: PHONES[1] });
    f.ctx.start([[plan(f, 0)], [plan(f, 1)]]);
    await settle();
    expect(f.h.transport.sentTo({ address: PHONES[1] }, true).length).toBeGreaterThan(0);
    expect(upstreamStatuses(f)).toEqual([480]);
    expect(f.localReplies).toEqual([480]);
  });
});

describe('ForkContext: local answers and memory', () => {
  it('respond() before start answers upstream; start then sends nothing', () => {
    const f = fork();
    f.ctx.respond(404, 'Not Found', [['X-Why', 'no bindings']]);
    f.ctx.start([[plan(f, 0)]]);
    const [res] = upstream(f);
    expect(res.status).toBe(404);
    expect(res.get('x-why')).toBe('no bindings');
    expect(f.ctx.finished).toBe(true);
    expect(sentTo(f, 0)).toBeUndefined();
    expect(f.finals).toEqual([{ status: 404, relayed: false }]);
  });

  it('once finished no request is held: plans of later groups and done branches dropped; a CANCELled branch keeps its own until it answers', () => {
    const f = fork();
    f.ctx.start([[plan(f, 0), plan(f, 1), plan(f, 2)], [plan(f, 3)]]);
    expect(f.ctx.retained()).toEqual({ requests: 4, responses: 0, branches: 3, pending: 3 });
    phoneAnswers(f, 2, 486, 'Busy Here');
    expect(f.ctx.retained()).toEqual({ requests: 3, responses: 1, branches: 3, pending: 2 });
    phoneAnswers(f, 1, 180, 'Ringing');
    phoneAnswers(f, 0, 200, 'OK');
    // Branch 1 still needs its request for the CANCEL it got.
    expect(f.ctx.retained()).toEqual({ requests: 1, responses: 0, branches: 3, pending: 1 });
    phoneAnswers(f, 1, 487, 'Request Terminated');
    expect(f.ctx.retained()).toEqual({ requests: 0, responses: 0, branches: 3, pending: 0 });
  });

  it('a best response ends with nothing held either', () => {
    const f = fork();
    f.ctx.start([[plan(f, 0), plan(f, 1)]]);
    phoneAnswers(f, 0, 486, 'Busy Here');
    phoneAnswers(f, 1, 404, 'Not Found');
    expect(f.ctx.retained()).toEqual({ requests: 0, responses: 0, branches: 2, pending: 0 });
  });

  it('a non-INVITE is forked too, with no Timer C and no CANCEL', () => {
    const f = fork('MESSAGE');
    f.ctx.start([[plan(f, 0), plan(f, 1)]]);
    phoneAnswers(f, 0, 200, 'OK');
    expect(upstreamStatuses(f)).toEqual([200]);
    expect(countTo(f, 1, 'CANCEL')).toBe(0);
  });
});
