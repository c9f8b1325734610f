/**
 * Where in each probe round a switch's OPTIONS goes: a fixed offset from its id (FNV-1a), so the
 * probes of many switches are spread over the interval instead of leaving in one burst, and each
 * switch is probed exactly `interval` apart. Offsets stay below `interval - timeout`, so every
 * probe has its outcome before the next round starts (and down is decided within fall × interval).
 */
export function probeOffset(switchId: string, interval: number, timeout: number): number {
  const span = Math.max(1, Math.floor(interval - timeout));
  let h = 0x811c9dc5;
  for (let i = 0; i < switchId.length; i++) {
    h ^= switchId.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % span;
}
