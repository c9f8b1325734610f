import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startSwitchSim, type SwitchSim } from './switch-sim.ts';
import { TestPeer, branch, invite, newCall, okFor, request } from './test-peer.ts';

const HOST = '127.0.0.21';
let sim: SwitchSim;
let base: string;

beforeEach(async () => {
  sim = await startSwitchSim({ listen: [`udp://${HOST}:0`], id: 'sw-http', http: `${HOST}:0`, timers: { t1: 20, t2: 80, t4: 100 } });
  base = `http://${HOST}:${sim.http!.port}`;
});

afterEach(async () => {
  await sim.close();
});

async function post(path: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${base}${path}`, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

describe('control server', () => {
  it('GET /status', async () => {
    const res = await fetch(`${base}/status`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      id: 'sw-http',
      channels: 0,
      maxChannels: null,
      cps: 0,
      maxCps: null,
      calls: { total: 0, answered: 0, rejected: 0, cancelled: 0, failed: 0, dropped: 0, completed: 0 },
      behaviour: { options: 'answer', invite: 'answer', slowMs: 3000, channels: null, cps: null, ringMs: 0, answerMs: 0, holdMs: 0, rtp: 'off' },
      rtp: { mode: 'off', ports: '20000-29999', portsFree: 5000, calls: 0, refused: 0, packetsIn: 0, bytesIn: 0, packetsOut: 0, bytesOut: 0, lastRemote: null },
    });
  });

  it('POST /behaviour applies a partial update and returns the new behaviour', async () => {
    const res = await post('/behaviour', { invite: '486', channels: 2, cps: 'unlimited' });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ invite: '486', channels: 2, cps: null, options: 'answer' });
    expect(sim.behaviour().invite).toBe('486');
    const status = (await (await fetch(`${base}/status`)).json()) as Record<string, unknown>;
    expect(status.maxChannels).toBe(2);
  });

  it('switches what INVITEs get at run time', async () => {
    const peer = await TestPeer.udp({ host: HOST, port: sim.listeners[0].port });
    try {
      const target = { host: HOST, port: sim.listeners[0].port };
      await post('/behaviour', { invite: '503' });
      peer.send(invite(newCall(peer, target), { branch: branch() }));
      await peer.response(503, 'INVITE');
      await post('/behaviour', { invite: 'answer', holdMs: 0 });
      const call = newCall(peer, target);
      peer.send(invite(call, { branch: branch() }));
      const ok = await peer.response(200, 'INVITE');
      peer.send(request('ACK', call, { branch: branch(), cseq: 1, toTag: ok.toTag }));
      await peer.waitFor(() => sim.stats().calls.answered === 1);
      await new Promise((r) => setTimeout(r, 100)); // let the ACK land
      expect(await post('/hangup-all', {})).toEqual({ status: 200, json: { hungUp: 1 } });
      const bye = await peer.request('BYE');
      peer.send(okFor(bye));
      expect(sim.channels()).toBe(0);
    } finally {
      await peer.close();
    }
  });

  it.each([
    [{ invite: 'maybe' }, 'invite'],
    [{ options: 200 }, 'options'],
    [{ slowMs: -5 }, 'slowMs'],
    [{ ringMs: 1.5 }, 'ringMs'],
    [{ channels: 'many' }, 'channels'],
    [{ cps: -1 }, 'cps'],
    [{ holdMs: '100' }, 'holdMs'],
    [{ rtp: 'loud' }, 'rtp'],
    [{ colour: 'red' }, 'colour'],
    [[1, 2], 'behaviour'],
  ])('400 naming the field for %j', async (body, field) => {
    const before = sim.behaviour();
    const res = await post('/behaviour', body);
    expect(res.status).toBe(400);
    expect(res.json.field).toBe(field);
    expect(String(res.json.error)).toContain(field);
    expect(sim.behaviour()).toEqual(before);
  });

  it('400 for invalid JSON, 404 and 405', async () => {
    expect((await post('/behaviour', '{nope')).status).toBe(400);
    expect((await fetch(`${base}/nothing`)).status).toBe(404);
    const res = await fetch(`${base}/status`, { method: 'DELETE' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET');
    expect((await fetch(`${base}/behaviour`)).status).toBe(200);
    expect((await fetch(`${base}/calls`, { method: 'POST' })).status).toBe(405);
    expect(await (await fetch(`${base}/calls`)).json()).toEqual([]);
  });
});
