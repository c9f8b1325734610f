/**
 * The optional `ops:` section (the ops API): listener, bearer tokens (kept only as SHA-256
 * hashes), rate limit, body limit and audit file. `SIPFLEET_OPS_TOKEN=<role>:<plaintext>` may add
 * one development token, hashed here so the plaintext never leaves this function.
 */
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { OPS_ROLES, type OpsConfig, type OpsRole, type OpsTokenConfig } from './config-types.ts';
import type { EnvVars } from './env-overrides.ts';
import type { Fields } from './fields.ts';
import { tryParseHostPort } from './host-port.ts';

const TOKEN_NAME = { pattern: /^[A-Za-z0-9._@-]+$/, maxLength: 64, hint: 'must be 1-64 characters of A-Z, a-z, 0-9, ".", "_", "@" and "-"' };
const SHA256_HEX = /^[0-9a-fA-F]{64}$/;

function validateTokens(f: Fields): OpsTokenConfig[] {
  const tokens: OpsTokenConfig[] = [];
  const names = new Set<string>();
  f.list('tokens').forEach((item, i) => {
    const t = f.itemMap('tokens', i, item);
    if (t.broken) return;
    const name = t.str('name', TOKEN_NAME);
    if (!t.has('role')) t.missing('role');
    const role = t.oneOf('role', OPS_ROLES, 'viewer');
    const sha256 = t.str('sha256', { pattern: SHA256_HEX, hint: 'must be 64 hex digits: printf %s "$TOKEN" | sha256sum' });
    if (name !== '' && names.has(name)) t.invalid('name', 'must be unique among ops.tokens');
    names.add(name);
    tokens.push({ name, role, sha256: sha256.toLowerCase() });
  });
  return tokens;
}

/** `<role>:<plaintext>` → a token named `env`; the problem text when malformed. */
function envToken(value: string): OpsTokenConfig | string {
  const colon = value.indexOf(':');
  const role = value.slice(0, colon);
  const plain = value.slice(colon + 1);
  if (colon < 0 || !(OPS_ROLES as readonly string[]).includes(role)) return `must be <role>:<token> with role one of ${OPS_ROLES.join(', ')}`;
  if (plain.length < 16) return 'the token must be at least 16 characters';
  return { name: 'env', role: role as OpsRole, sha256: createHash('sha256').update(plain).digest('hex') };
}

export function validateOps(root: Fields, baseDir: string, env: EnvVars): OpsConfig | undefined {
  const fromEnv = env.SIPFLEET_OPS_TOKEN;
  if (!root.has('ops') && !fromEnv) return undefined;
  const f = root.map('ops');
  let listen = { host: '127.0.0.1', port: 8080 };
  const listenText = f.optStr('listen');
  if (listenText !== undefined) {
    const parsed = tryParseHostPort(listenText, false);
    if (typeof parsed === 'string') f.invalid('listen', parsed);
    else listen = parsed;
  }
  const rl = f.map('rateLimit');
  const ops: OpsConfig = {
    listen,
    tokens: validateTokens(f),
    rateLimit: { max: rl.int('max', 100, { min: 1, max: 1_000_000 }), window: rl.duration('window', 60_000, { min: 1000, max: 86_400_000 }) },
    bodyLimit: f.int('bodyLimit', 65_536, { min: 1024, max: 16_777_216 }),
  };
  const audit = f.optStr('audit', { maxLength: 4096 });
  if (audit !== undefined) ops.audit = resolve(baseDir, audit);
  if (fromEnv) {
    const token = envToken(fromEnv);
    // The value is a secret: the problem never shows it.
    if (typeof token === 'string') f.issues.add('SIPFLEET_OPS_TOKEN', token);
    else if (ops.tokens.some((t) => t.name === 'env')) f.issues.add('SIPFLEET_OPS_TOKEN', 'ops.tokens already has a token named "env"');
    else ops.tokens.push(token);
  }
  return ops;
}
