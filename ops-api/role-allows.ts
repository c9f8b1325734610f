/**
 * The role matrix: each route names the least role it needs, and roles are ordered
 * viewer < operator < admin. viewer reads; operator also changes existing switches and rtp relays
 * (resize, drain, disable, enable, patch), starts, stops and restarts the servers the orchestrator
 * runs (and drains its dispatchers), creates and changes softphone users and lifts bans; admin also
 * creates, deploys and deletes servers (switches, dispatchers, rtp relays) and deletes users.
 */
import type { OpsRole } from '../shared/config/config-types.ts';

const RANK: Record<OpsRole, number> = { viewer: 0, operator: 1, admin: 2 };

export function roleAllows(role: OpsRole, needed: OpsRole): boolean {
  return RANK[role] >= RANK[needed];
}
