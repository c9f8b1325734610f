import { describe, expect, it } from 'vitest';
import { configIssues } from './config-test-kit.ts';
import { parseConfig } from './load-config.ts';

function yaml(node: string, store = 'redis://127.0.0.1:6379'): string {
  return `
node:
  id: d1
  listen: [udp://127.0.0.11:5060, tcp://127.0.0.11:5060]
${node}
store: ${store}
cluster: { name: main }
`;
}

const issues = configIssues;

describe('node.workers', () => {
  it('defaults to one worker; the worker ports start 100 above the first UDP listen port', () => {
    const cfg = parseConfig(yaml(''), { baseDir: '/tmp' });
    expect(cfg.node.workers).toBe(1);
    expect(cfg.node.workerPortBase).toBe(5160);
    const set = parseConfig(yaml('  workers: 4\n  workerPortBase: 6000\n  http: 127.0.0.11:9060'), { baseDir: '/tmp' });
    expect(set.node).toMatchObject({ workers: 4, workerPortBase: 6000 });
    expect(parseConfig(yaml(''), { baseDir: '/tmp', env: { SIPFLEET_NODE__WORKERS: '2' } }).node.workers).toBe(2);
  });

  it('names the field for a bad count, and needs a shared store', () => {
    expect(issues(yaml('  workers: 0'))).toEqual([{ field: 'node.workers', problem: expect.stringMatching(/1 to 64/) }]);
    expect(issues(yaml('  workers: two'))).toEqual([{ field: 'node.workers', problem: expect.stringMatching(/integer/) }]);
    expect(issues(yaml('  workers: 2', 'memory'))).toEqual([{ field: 'node.workers', problem: expect.stringMatching(/in-memory store: workers share calls, caps and registrations/) }]);
  });

  it('refuses worker ports past 65535 or over a listen port, ids past 32 characters, HTTP ports past 65535 and node.vip', () => {
    expect(issues(yaml('  workers: 8\n  workerPortBase: 65530'))).toEqual([{ field: 'node.workerPortBase', problem: expect.stringMatching(/last worker port would be 65537/) }]);
    expect(issues(yaml('  workers: 4\n  workerPortBase: 5058'))).toEqual([{ field: 'node.workerPortBase', problem: expect.stringMatching(/5058-5061 overlap udp:\/\/127.0.0.11:5060/) }]);
    const long = yaml('  workers: 12').replace('id: d1', `id: ${'a'.repeat(29)}`);
    expect(issues(long)).toEqual([{ field: 'node.id', problem: expect.stringMatching(/too long for 12 workers: worker ids like "a{29}-w11"/) }]);
    expect(issues(yaml('  workers: 3\n  http: 127.0.0.11:65534'))).toEqual([{ field: 'node.http', problem: expect.stringMatching(/65536 is past 65535/) }]);
    const vip = yaml('  workers: 2\n  vip: { address: 127.0.0.11, interface: lo }');
    expect(issues(vip)).toEqual([{ field: 'node.workers', problem: expect.stringMatching(/with node.vip/) }]);
  });
});
