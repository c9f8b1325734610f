/**
 * A guard on how the hot scanners read characters (see `charCodeAt` in syntax.ts): through a
 * module-local `String.prototype.charCodeAt` constant, never `text.charCodeAt(i)` (a property load
 * that turns megamorphic on V8's several string representations) and never an imported binding
 * (not folded by the compiler). Measured in BENCHMARKS.md, Session 10.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const HOT_FILES = [
  'shared/sip/message.ts',
  'shared/sip/name-addr.ts',
  'shared/sip/parse.ts',
  'shared/sip/serialize.ts',
  'shared/sip/syntax.ts',
  'shared/sip/uri.ts',
  'shared/sip/via.ts',
  'dispatcher/proxy/loop-detection.ts',
  'dispatcher/proxy/route-target.ts',
];

const root = new URL('../../', import.meta.url);

describe('character scans in the hot path', () => {
  it.each(HOT_FILES)('%s reads characters through its own module constant', (file) => {
    const code = readFileSync(new URL(file, root), 'utf8');
    // Comments may mention the method form; code may not.
    const lines = code.split('\n').filter((l) => !/^\s*(\*|\/\/|\/\*)/.test(l));
    const methodCalls = lines.filter((l) => /[\w)\]]\.charCodeAt\(/.test(l));
    expect(methodCalls).toEqual([]);
    expect(code).toMatch(/^const charCodeAt = String\.prototype\.charCodeAt;$/m);
    expect(code).not.toMatch(/import[^;]*\bcharCodeAt\b[^;]*from/);
    expect(code).toMatch(/charCodeAt\.call\(/);
  });
});
