import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../shared/config/load-config.ts';
import { workerNodeConfig } from './worker-config.ts';

const config = parseConfig(
  `
node:
  id: d1
  listen: [udp://127.0.0.11:5060, tls://127.0.0.11:5061, wss://127.0.0.11:8443/sip]
  tls: { cert: ${process.execPath}, key: ${process.execPath} }
  http: 127.0.0.11:9060
  workers: 3
store: redis://127.0.0.1:6379
cluster: { name: main }
`,
  { baseDir: '/tmp' },
);

describe('workerNodeConfig', () => {
  it('makes worker k a node of its own: id <id>-w<k>, its own UDP port first, the shared sockets with SO_REUSEPORT, HTTP port + k', () => {
    const w = workerNodeConfig(config, 2).node;
    expect(w.id).toBe('d1-w2');
    expect(w.worker).toEqual({ of: 'd1', index: 2, count: 3, portBase: 5160 });
    expect(w.workers).toBe(1);
    expect(w.listen.map((l) => [l.url, l.reusePort === true])).toEqual([
      ['udp://127.0.0.11:5162', false],
      ['udp://127.0.0.11:5060', true],
      ['tls://127.0.0.11:5061', true],
      ['wss://127.0.0.11:8443/sip', true],
    ]);
    expect(w.listen[0]).toMatchObject({ transport: 'udp', host: '127.0.0.11', port: 5162 });
    expect(w.http).toEqual({ host: '127.0.0.11', port: 9062 });
    // The file's config is left as it was.
    expect(config.node.id).toBe('d1');
    expect(config.node.listen.some((l) => l.reusePort)).toBe(false);
  });

  it('brackets an IPv6 host in the worker URL and refuses an index outside node.workers', () => {
    const v6 = { ...config, node: { ...config.node, listen: [{ transport: 'udp' as const, host: '::1', port: 5060, url: 'udp://[::1]:5060' }] } };
    expect(workerNodeConfig(v6, 0).node.listen[0].url).toBe('udp://[::1]:5160');
    expect(() => workerNodeConfig(config, 3)).toThrow(/worker index 3 is not one of node.workers \(0-2\)/);
    expect(() => workerNodeConfig(config, -1)).toThrow(RangeError);
  });
});
