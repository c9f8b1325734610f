import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { DISPATCHER_V8_FLAGS, tuneGc } from './gc-tuning.ts';

describe('tuneGc', () => {
  it('turns V8 allocation-site pretenuring off, and only that', () => {
    const set: string[] = [];
    tuneGc((flags) => set.push(flags));
    expect(set).toEqual(['--no-allocation-site-pretenuring']);
    expect(DISPATCHER_V8_FLAGS).toEqual(set);
  });

  it("names flags this Node's V8 knows (an unknown one makes node exit with 'bad option')", () => {
    for (const flag of DISPATCHER_V8_FLAGS) {
      const r = spawnSync(process.execPath, [flag, '-e', '0'], { encoding: 'utf8' });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
    }
    const unknown = spawnSync(process.execPath, ['--no-such-v8-flag-sipfleet', '-e', '0'], { encoding: 'utf8' });
    expect(unknown.status).not.toBe(0);
  });
});
