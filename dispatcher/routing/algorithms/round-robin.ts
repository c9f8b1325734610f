/** Round-robin: each new call takes the next destination in list order. */
export class RoundRobin {
  #next = 0;

  /** Index of the destination for the next call among `count`. */
  pick(count: number): number {
    if (count === 0) return -1;
    const i = this.#next % count;
    this.#next = (i + 1) % count;
    return i;
  }
}
