import { SipfleetError } from '../errors.ts';

export interface ConfigIssue {
  /** Field path in YAML key names, e.g. `cluster.switches[1].weight`; `''` for the whole file; the variable name for a bad override. */
  field: string;
  problem: string;
  /** YAML syntax errors: 1-based position in the file. */
  line?: number;
  column?: number;
}

/** Last path segments whose values never appear in a message. */
const SECRET_FIELD = /(^|[.\]])(password|ha1|sha256)$/;

/** Short description of a value for `(got ...)`; secrets are never shown. */
export function describeValue(field: string, value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (value instanceof Uint8Array) return 'binary data';
  if (typeof value === 'object') return 'a mapping';
  if (SECRET_FIELD.test(field)) return typeof value === 'string' ? 'a string, not shown' : `a ${typeof value}`;
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
  return String(value);
}

/** Collects every problem found in one load so they can be reported together. */
export class ConfigIssues {
  readonly list: ConfigIssue[] = [];
  /** Field path → the environment variable that set it. */
  readonly overrides = new Map<string, string>();

  add(field: string, problem: string, position?: { line: number; column: number }): void {
    this.list.push(position ? { field, problem, ...position } : { field, problem });
  }

  /** Records `problem (got <value>)`. */
  invalid(field: string, problem: string, value: unknown): void {
    this.add(field, `${problem} (got ${describeValue(field, value)})`);
  }

  get size(): number {
    return this.list.length;
  }

  private sourceOf(field: string): string | undefined {
    let best: string | undefined;
    let bestLen = -1;
    for (const [path, name] of this.overrides) {
      const covers = field === path || field.startsWith(`${path}.`) || field.startsWith(`${path}[`);
      if (covers && path.length > bestLen) [best, bestLen] = [name, path.length];
    }
    return best;
  }

  line(issue: ConfigIssue): string {
    const source = this.sourceOf(issue.field);
    const where = issue.field === '' ? '' : `${issue.field}: `;
    return `config error: ${where}${issue.problem}${source ? ` (set by ${source})` : ''}`;
  }

  /** Throws one CFG_ERR_INVALID listing every issue, one per line; no-op when there are none. */
  throwIfAny(): void {
    if (this.list.length === 0) return;
    const message = this.list.map((issue) => this.line(issue)).join('\n');
    const { field, line, column } = this.list[0];
    const detail: Record<string, unknown> = { field, fields: this.list.map((i) => i.field), issues: this.list.map((i) => ({ ...i })) };
    if (line !== undefined) Object.assign(detail, { line, column });
    throw new SipfleetError('CFG_ERR_INVALID', message, { detail });
  }
}
