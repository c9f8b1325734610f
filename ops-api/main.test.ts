import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { runOpsApiCli } from './main.ts';

afterEach(() => vi.restoreAllMocks());

function capture(stream: 'stdout' | 'stderr'): () => string {
  let text = '';
  vi.spyOn(process[stream], 'write').mockImplementation((chunk: string | Uint8Array) => {
    text += String(chunk);
    return true;
  });
  return () => text;
}

describe('sipfleet ops-api', () => {
  it('prints its help', async () => {
    const out = capture('stdout');
    expect(await runOpsApiCli(['--help'])).toBe(0);
    expect(out()).toContain('Usage: sipfleet ops-api --config FILE');
  });

  it('exits 2 without a config, on a bad option and on a bad config naming the field', async () => {
    const err = capture('stderr');
    const saved = process.env.SIPFLEET_CONFIG;
    delete process.env.SIPFLEET_CONFIG;
    try {
      expect(await runOpsApiCli([])).toBe(2);
      expect(await runOpsApiCli(['--bogus'])).toBe(2);
      expect(await runOpsApiCli(['--config', 'x.yaml', '--listen', 'nope'])).toBe(2);
      const dir = mkdtempSync(join(tmpdir(), 'ops-cli-'));
      const file = join(dir, 'c.yaml');
      writeFileSync(file, 'node: { id: d1, listen: [udp://127.0.0.1:5060] }\ncluster: { name: main }\nops: { bodyLimit: 1 }\n');
      expect(await runOpsApiCli(['--config', file])).toBe(2);
      rmSync(dir, { recursive: true, force: true });
    } finally {
      if (saved !== undefined) process.env.SIPFLEET_CONFIG = saved;
    }
    expect(err()).toContain('ops.bodyLimit');
  });
});
