/**
 * The sim's RTP port range (`--rtp-ports 20000-29999`): which ports may be bound for calls, and
 * which of them are leased now. Only even ports are handed out (RFC 3550 §11: RTP on an even port,
 * RTCP on the next odd one, which the sim does not bind), next-fit from a rotating cursor so a port
 * just given back is not reused at once (stray packets of the old call would be counted on the new).
 */

export interface RtpPortRange {
  min: number;
  max: number;
}

export const DEFAULT_RTP_PORTS: Readonly<RtpPortRange> = Object.freeze({ min: 20000, max: 29999 });

/** `LO-HI` (1024..65535, LO <= HI, at least one even port) → range; a string says what is wrong. */
export function parseRtpPorts(text: string): RtpPortRange | string {
  const m = /^(\d{1,5})-(\d{1,5})$/.exec(text.trim());
  if (m === null) return `expected LO-HI, e.g. 20000-20999, got "${text}"`;
  return checkRtpPorts({ min: Number(m[1]), max: Number(m[2]) });
}

export function checkRtpPorts(range: RtpPortRange): RtpPortRange | string {
  const { min, max } = range;
  const ok = (p: number): boolean => Number.isInteger(p) && p >= 1024 && p <= 65535;
  if (!ok(min) || !ok(max)) return `ports must be integers 1024..65535, got ${min}-${max}`;
  if (min > max) return `LO must not exceed HI, got ${min}-${max}`;
  if (min === max && min % 2 === 1) return `the range needs at least one even port, got ${min}-${max}`;
  return { min, max };
}

export function formatRtpPorts(range: RtpPortRange): string {
  return `${range.min}-${range.max}`;
}

export class RtpPortPool {
  readonly range: Readonly<RtpPortRange>;
  readonly #first: number;
  readonly #size: number;
  readonly #leased = new Set<number>();
  #cursor = 0;

  constructor(range: RtpPortRange) {
    this.range = { ...range };
    this.#first = range.min % 2 === 0 ? range.min : range.min + 1;
    this.#size = Math.floor((range.max - this.#first) / 2) + 1;
  }

  /** How many ports the range offers. */
  get size(): number {
    return this.#size;
  }

  get inUse(): number {
    return this.#leased.size;
  }

  get free(): number {
    return this.#size - this.#leased.size;
  }

  /** A free even port, now leased; undefined when every port is leased. */
  acquire(): number | undefined {
    if (this.#leased.size >= this.#size) return undefined;
    for (let i = 0; i < this.#size; i++) {
      const port = this.#first + 2 * this.#cursor;
      this.#cursor = (this.#cursor + 1) % this.#size;
      if (!this.#leased.has(port)) {
        this.#leased.add(port);
        return port;
      }
    }
    return undefined;
  }

  release(port: number): void {
    this.#leased.delete(port);
  }
}
