import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { SipfleetError } from '../errors.ts';
import { ConfigIssues } from './config-issues.ts';
import type { NodeConfig } from './config-types.ts';
import { applyEnvOverrides, type EnvVars } from './env-overrides.ts';
import { validateConfig } from './validate-config.ts';

export interface ParseConfigOptions {
  /** Directory that relative paths in the file (TLS cert/key/ca) are resolved against. */
  baseDir: string;
  /** `SIPFLEET_*` overrides to apply; none when omitted (`loadConfig` passes `process.env`). */
  env?: EnvVars;
}

function parseYaml(text: string, issues: ConfigIssues): unknown {
  const doc = parseDocument(text, { merge: true });
  for (const err of doc.errors) {
    // Only the reason: yaml's full message quotes the source line, which may hold a password.
    const pos = err.linePos?.[0] ?? { line: 1, col: 1 };
    const reason = err.message.split(/ at line \d+|\n/)[0];
    issues.add('', `YAML syntax error at line ${pos.line}, column ${pos.col}: ${reason}`, { line: pos.line, column: pos.col });
  }
  if (issues.size > 0) return undefined;
  try {
    return doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    issues.add('', `YAML error: ${(err as Error).message.split('\n')[0]}`);
    return undefined;
  }
}

/**
 * Parses and validates a configuration text, applying `opts.env` overrides first.
 * Throws one CFG_ERR_INVALID listing every problem (one per line, each naming its field).
 */
export function parseConfig(text: string, opts: ParseConfigOptions): NodeConfig {
  const issues = new ConfigIssues();
  const raw = parseYaml(text, issues);
  issues.throwIfAny();
  const config = validateConfig(applyEnvOverrides(raw, opts.env ?? {}, issues), resolve(opts.baseDir), issues, opts.env ?? {});
  issues.throwIfAny();
  return config as NodeConfig;
}

/** Reads, parses and validates the YAML file at `path` with `SIPFLEET_*` overrides from `env`. CFG_ERR_READ if unreadable. */
export function loadConfig(path: string, env: EnvVars = process.env): NodeConfig {
  const file = resolve(path);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : (code ?? String(err));
    throw new SipfleetError('CFG_ERR_READ', `config error: cannot read ${file} (${reason})`, { cause: err, detail: { path: file } });
  }
  return parseConfig(text, { baseDir: dirname(file), env });
}
