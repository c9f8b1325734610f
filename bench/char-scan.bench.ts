/**
 * Why the SIP scanners read characters through a module constant (shared/sip/syntax.ts,
 * `charCodeAt`): one character loop over an 80-character Via value, written three ways, timed
 * after it has seen one kind of string and after six (V8's sequential, sliced, cons, internalized,
 * thin and external strings). A plain Node script:
 *
 *   taskset -c 1 npx node bench/char-scan.bench.ts
 *
 * Each form runs in a fresh process (`--child FORM KINDS`), so one form's feedback cannot touch
 * another's. Prints ns per loop, the median of 5 rounds of 1 000 000 loops.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const charCodeAt = String.prototype.charCodeAt;
function codeAtWrapper(t: string, i: number): number {
  return charCodeAt.call(t, i);
}

const FORMS: Record<string, (t: string) => number> = {
  'text.charCodeAt(i)': (t) => {
    let h = 0;
    const n = t.length;
    for (let i = 0; i < n; i++) h = (h * 31 + t.charCodeAt(i)) | 0;
    return h;
  },
  'charCodeAt.call(text, i), module constant': (t) => {
    let h = 0;
    const n = t.length;
    for (let i = 0; i < n; i++) h = (h * 31 + charCodeAt.call(t, i)) | 0;
    return h;
  },
  'one-line wrapper function': (t) => {
    let h = 0;
    const n = t.length;
    for (let i = 0; i < n; i++) h = (h * 31 + codeAtWrapper(t, i)) | 0;
    return h;
  },
};

const VIA = 'SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-abcdef-123456;rport;received=10.0.0.2';

/** The same text in six of V8's string representations. */
function sixKinds(): string[] {
  const padded = `xxxxxxxxxxxxxxxxxxxx${VIA}yyyyyyyyyyyyyyyy`;
  const flat = ['SIP/2.0/UDP', VIA.slice(11)].join('');
  const cons = 'SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-' + String(Math.random()).slice(0, 0) + 'abcdef-123456;rport;received=10.0.0.2';
  const thin = flat.slice(0);
  const internalizer: Record<string, number> = {};
  internalizer[thin] = 1; // a computed property key internalizes the string; `thin` becomes a ThinString
  return [padded.slice(20, 20 + VIA.length), VIA, flat, cons, thin, Buffer.from(VIA, 'latin1').toString('latin1')];
}

function child(form: string, kinds: number): void {
  const f = FORMS[form];
  const msg = Buffer.from(`header: ${VIA}`, 'latin1');
  const sample = (): string => msg.toString('latin1', 8);
  if (kinds > 1) {
    const all = sixKinds();
    for (let r = 0; r < 20_000; r++) for (const s of all) f(s);
  } else {
    for (let r = 0; r < 120_000; r++) f(sample());
  }
  const rounds: number[] = [];
  let sink = 0;
  for (let r = 0; r < 5; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < 1_000_000; i++) sink ^= f(sample());
    rounds.push(Number(process.hrtime.bigint() - t0) / 1_000_000);
  }
  rounds.sort((a, b) => a - b);
  process.stdout.write(`${rounds[2].toFixed(0)} ${sink === 0x7fffffff ? '!' : ''}\n`);
}

if (process.argv[2] === '--child') {
  child(process.argv[3], Number(process.argv[4]));
} else {
  const self = fileURLToPath(import.meta.url);
  console.log('| form | ns per loop, one kind of string seen | ns per loop, six kinds seen |');
  console.log('| --- | --: | --: |');
  for (const form of Object.keys(FORMS)) {
    const run = (kinds: number): string => execFileSync(process.execPath, [self, '--child', form, String(kinds)], { encoding: 'utf8' }).trim().split(' ')[0];
    console.log(`| ${form} | ${run(1)} | ${run(6)} |`);
  }
}
