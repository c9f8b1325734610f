/**
 * Dialog state in the cluster store (issue 9 point 2): a call confirmed on one node is recorded;
 * another node (same floating address) carries the in-dialog requests of that call once the first
 * is gone, from the record, for callers that don't follow Record-Route (no Route, the node's own
 * address as Request-URI); the call stays counted (an orphan) until its BYE, then is released once.
 */
import { describe, expect, it } from 'vitest';
import { MemoryClusterStore } from '../../shared/cluster-store/memory-cluster-store.ts';
import { CARRIER, logger, parseRequest, request, responseTo, settle } from '../transaction/transaction-test-kit.ts';
import { StoreDialogState } from './dialog-state.ts';
import { CARRIER_TARGET, proxyHarness, sentRequests, statusesTo, SW1, SW1_FLOW, switchAnswers, type ProxyHarness } from './proxy-test-kit.ts';

const CALL_ID = 'call-1@198.51.100.7';
const CALL_KEY = `${CALL_ID}|198.51.100.7`;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 2000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

function node(store: MemoryClusterStore, nodeId: string): { h: ProxyHarness; state: StoreDialogState; ended: string[] } {
  const ended: string[] = [];
  const state = new StoreDialogState({
    nodeId,
    store,
    ttlMs: 60_000,
    logger,
    endMedia: async (d) => void ended.push(d.callId),
  });
  return { h: proxyHarness({ dialogState: state }), state, ended };
}

/** A call from the carrier through `h`, answered 200 by sw1; also admitted in the store as `nodeId` (what StoreAdmission does). */
async function confirmedCall(h: ProxyHarness, store: MemoryClusterStore, nodeId: string, ttlMs: number): Promise<void> {
  const lease = await store.registerNode(nodeId, ttlMs);
  h.admission.decide = undefined;
  const admitted = await store.admit({ callId: CALL_KEY, nodeId, epoch: lease.epoch, levels: [{ level: 'cluster:main' }, { level: 'switch:sw1' }], maxAgeMs: 60_000 });
  expect(admitted.admitted).toBe(true);
  h.transport.inject(request({ extra: ['Contact: <sip:+15550001111@198.51.100.7:5060>'] }), CARRIER);
  await settle();
  const [invite] = sentRequests(h, SW1, 'INVITE');
  switchAnswers(h, invite, 200, 'OK', { headers: [['Contact', '<sip:switch@192.0.2.21:5060>']] });
  await settle();
}

const channels = async (store: MemoryClusterStore): Promise<number> => (await store.levelStats(['cluster:main']))[0].channels;

describe('dialog state in the cluster store', () => {
  it('a confirmed call is recorded with both sides, its switch and admission key; its BYE on the same node removes the record', async () => {
    const store = new MemoryClusterStore();
    const d1 = node(store, 'd1');
    await confirmedCall(d1.h, store, 'd1', 60_000);
    await until('the dialog record', async () => (await store.getDialog(CALL_ID)) !== undefined);
    expect(await store.getDialog(CALL_ID)).toEqual({
      callId: CALL_ID,
      fromTag: 'from-1',
      toTag: 'sw-tag',
      caller: { protocol: 'udp', address: '198.51.100.7', port: 5060 },
      switch: { protocol: 'udp', address: '192.0.2.21', port: 5060, switchId: 'sw1' },
      callKey: CALL_KEY,
      nodeId: 'd1',
    });
    d1.h.transport.inject(request({ method: 'BYE', branch: 'z9hG4bK-bye1', toTag: 'sw-tag', cseq: 2 }), CARRIER);
    await settle();
    switchAnswers(d1.h, sentRequests(d1.h, SW1, 'BYE')[0], 200, 'OK');
    await until('the record removed', async () => (await store.getDialog(CALL_ID)) === undefined);
    expect(d1.h.admission.releases).toEqual([{ switchId: 'sw1', callId: CALL_ID, reason: 'bye' }]);
    expect(d1.state.stats()).toMatchObject({ written: 1, removed: 1, errors: 0 });
  });

  it('the node that set the call up dies: it stays counted (orphan) and another node carries its BYE to the switch, releasing it once', async () => {
    const store = new MemoryClusterStore();
    const d1 = node(store, 'd1');
    const d2 = node(store, 'd2');
    await confirmedCall(d1.h, store, 'd1', 200);
    await until('the dialog record', async () => (await store.getDialog(CALL_ID)) !== undefined);
    // d1 is gone (its lease lapses) and is reaped: the call is still up, so it stays counted.
    await sleep(300);
    expect(await store.reap()).toEqual({ nodes: ['d1'], calls: 0 });
    expect(await channels(store)).toBe(1);
    expect((await store.calls())[0]).toMatchObject({ callId: CALL_KEY, nodeId: '-', epoch: 0 });

    // d2 (same address) gets an ACK and a BYE from a caller that ignores Record-Route.
    d2.h.transport.inject(request({ method: 'ACK', uri: 'sip:192.0.2.100:5060', branch: 'z9hG4bK-ack', toTag: 'sw-tag' }), CARRIER);
    await settle();
    await until('the ACK at sw1', async () => sentRequests(d2.h, SW1, 'ACK').length === 1);
    d2.h.transport.inject(request({ method: 'BYE', uri: 'sip:192.0.2.100:5060', branch: 'z9hG4bK-bye2', toTag: 'sw-tag', cseq: 2 }), CARRIER);
    await until('the BYE at sw1', async () => sentRequests(d2.h, SW1, 'BYE').length === 1);
    const [bye] = sentRequests(d2.h, SW1, 'BYE');
    expect(parseRequest(bye).callId).toBe(CALL_ID);
    expect(await channels(store)).toBe(1); // until the BYE's final response
    const ok = switchAnswers(d2.h, bye, 200, 'OK');
    expect(statusesTo(d2.h, CARRIER_TARGET).at(-1)).toBe(200);
    await until('the orphan released', async () => (await channels(store)) === 0);
    expect(await store.getDialog(CALL_ID)).toBeUndefined();
    expect(d2.ended).toEqual([CALL_ID]);
    expect(d2.state.stats()).toMatchObject({ orphansReleased: 1, errors: 0 });
    // A retransmitted 200 changes nothing; a late BYE finds nothing (481).
    d2.h.transport.inject(ok, SW1_FLOW);
    d2.h.transport.inject(request({ method: 'BYE', uri: 'sip:192.0.2.100:5060', branch: 'z9hG4bK-bye3', toTag: 'sw-tag', cseq: 3 }), CARRIER);
    await settle();
    await until('the 481', async () => statusesTo(d2.h, CARRIER_TARGET).at(-1) === 481);
    expect(await channels(store)).toBe(0);
  });

  it('the switch side BYE of a carried call goes to the caller; a BYE before the reap makes the reap release the call', async () => {
    const store = new MemoryClusterStore();
    const d1 = node(store, 'd1');
    const d2 = node(store, 'd2');
    await confirmedCall(d1.h, store, 'd1', 300);
    await until('the dialog record', async () => (await store.getDialog(CALL_ID)) !== undefined);
    d2.h.transport.inject(
      [
        'BYE sip:192.0.2.100:5060 SIP/2.0',
        'Via: SIP/2.0/UDP 192.0.2.21:5060;branch=z9hG4bK-swbye',
        'Max-Forwards: 70',
        'From: <sip:+15551234567@192.0.2.100>;tag=sw-tag',
        'To: "Carrier" <sip:+15550001111@198.51.100.7>;tag=from-1',
        `Call-ID: ${CALL_ID}`,
        'CSeq: 9 BYE',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
      SW1_FLOW,
    );
    await until('the BYE at the caller', async () => sentRequests(d2.h, CARRIER_TARGET, 'BYE').length === 1);
    const [bye] = sentRequests(d2.h, CARRIER_TARGET, 'BYE');
    expect(bye.target).toMatchObject({ protocol: 'udp', ...CARRIER_TARGET });
    const flow = { protocol: 'udp' as const, remoteAddress: CARRIER_TARGET.address, remotePort: CARRIER_TARGET.port };
    d2.h.transport.inject(responseTo(bye, 200, 'OK'), flow);
    await until('the record removed', async () => (await store.getDialog(CALL_ID)) === undefined);
    // d1 is not reaped yet: its call is still its own; the reap releases it (no dialog record left).
    expect(await channels(store)).toBe(1);
    await sleep(350);
    expect(await store.reap()).toEqual({ nodes: ['d1'], calls: 1 });
    expect(await channels(store)).toBe(0);
  });

  it('a node fenced while it lives (its call orphaned) releases the orphan when the call ends there', async () => {
    const store = new MemoryClusterStore();
    const d1 = node(store, 'd1');
    await confirmedCall(d1.h, store, 'd1', 60_000);
    await until('the dialog record', async () => (await store.getDialog(CALL_ID)) !== undefined);
    await store.registerNode('d1', 60_000); // a new epoch: the old one's call is now an orphan
    expect((await store.calls())[0]).toMatchObject({ nodeId: '-', epoch: 0 });
    d1.h.transport.inject(request({ method: 'BYE', branch: 'z9hG4bK-bye1', toTag: 'sw-tag', cseq: 2 }), CARRIER);
    await settle();
    switchAnswers(d1.h, sentRequests(d1.h, SW1, 'BYE')[0], 200, 'OK');
    await until('the orphan released', async () => (await channels(store)) === 0);
    expect(await store.getDialog(CALL_ID)).toBeUndefined();
    expect(d1.state.stats()).toMatchObject({ removed: 1, orphansReleased: 1, errors: 0 });
  });
});
