/**
 * A draining node (`isDraining`, set by `node.drain()` / SIGUSR2 before an orchestrated restart) with
 * no peer to hand its new calls to (the hand-off: proxy-handoff.test.ts):
 * new INVITEs outside a dialog get 503 (Draining) with Retry-After, so the carrier tries its next
 * dispatcher; the calls it already carries continue (ACK, BYE), and OPTIONS keep-alives are answered.
 */
import { describe, expect, it } from 'vitest';
import { CARRIER, parseResponse, request, settle } from '../transaction/transaction-test-kit.ts';
import { CARRIER_TARGET, proxyHarness, sentRequests, sentResponses, statusesTo, SW1, SW2, switchAnswers } from './proxy-test-kit.ts';

const SWITCHES = [SW1, SW2];
const invitesToSwitches = (h: ReturnType<typeof proxyHarness>) => SWITCHES.flatMap((sw) => sentRequests(h, sw, 'INVITE'));

describe('a draining proxy', () => {
  it('answers a new INVITE 503 (Draining) with Retry-After, before 100 Trying and without routing or admission', async () => {
    const h = proxyHarness({ isDraining: () => true, retryAfter: 3 });
    h.transport.inject(request({ callId: 'new-1@198.51.100.7' }), CARRIER);
    await settle();
    const answers = sentResponses(h, CARRIER_TARGET).map(parseResponse);
    expect(answers.map((r) => r.status)).toEqual([503]);
    expect(answers[0].reason).toBe('Service Unavailable (Draining)');
    expect(answers[0].get('retry-after')).toBe('3');
    expect(invitesToSwitches(h)).toHaveLength(0);
    expect(h.admission.admits).toHaveLength(0);
    expect(h.proxy.stats().localReplies[503]).toBe(1);
  });

  it('lets the calls it carries finish: ACK and BYE of a call set up before the drain are forwarded and released once', async () => {
    let draining = false;
    const h = proxyHarness({ isDraining: () => draining });
    h.transport.inject(request({ callId: 'old-1@198.51.100.7' }), CARRIER);
    await settle();
    const [fwd] = invitesToSwitches(h);
    expect(fwd).toBeDefined();
    switchAnswers(h, fwd, 200, 'OK', { headers: [['Contact', '<sip:switch@192.0.2.21:5060>']] });
    expect(statusesTo(h, CARRIER_TARGET)).toEqual([100, 200]);

    draining = true;
    h.transport.clear();
    h.transport.inject(request({ method: 'ACK', branch: 'z9hG4bK-ack', callId: 'old-1@198.51.100.7', toTag: 'sw-tag' }), CARRIER);
    await settle();
    const target = fwd.target.address === SW1.address ? SW1 : SW2;
    expect(sentRequests(h, target, 'ACK')).toHaveLength(1);

    h.transport.inject(request({ method: 'BYE', branch: 'z9hG4bK-bye', callId: 'old-1@198.51.100.7', toTag: 'sw-tag', cseq: 2 }), CARRIER);
    await settle();
    const [bye] = sentRequests(h, target, 'BYE');
    expect(bye).toBeDefined();
    switchAnswers(h, bye, 200, 'OK');
    expect(statusesTo(h, CARRIER_TARGET).at(-1)).toBe(200);
    expect(h.admission.releases.map((r) => r.reason)).toEqual(['bye']);

    // Meanwhile a new call is refused.
    h.transport.inject(request({ callId: 'new-2@198.51.100.7', branch: 'z9hG4bK-new2' }), CARRIER);
    await settle();
    expect(statusesTo(h, CARRIER_TARGET).at(-1)).toBe(503);
    expect(h.admission.admits).toHaveLength(1);
  });

  it('still answers OPTIONS to itself (carrier keep-alive), and takes calls again when the flag clears', async () => {
    let draining = true;
    const h = proxyHarness({ isDraining: () => draining });
    h.transport.inject(request({ method: 'OPTIONS', uri: 'sip:192.0.2.100:5060', branch: 'z9hG4bK-opt' }), CARRIER);
    await settle();
    expect(statusesTo(h, CARRIER_TARGET)).toEqual([200]);
    draining = false;
    h.transport.inject(request({ callId: 'after@198.51.100.7', branch: 'z9hG4bK-after' }), CARRIER);
    await settle();
    expect(invitesToSwitches(h)).toHaveLength(1);
  });
});
