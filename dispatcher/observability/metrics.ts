/**
 * Prometheus text exposition of a node's counters. One table: every metric name is here.
 */
import { levelKey } from '../../shared/cluster-store/cluster-store.ts';
import type { DispatcherNode } from '../dispatcher-node.ts';

function line(name: string, help: string, type: 'counter' | 'gauge', value: number, labels = ''): string {
  return `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${name}${labels} ${value}\n`;
}

/** Cluster-wide counts per level (cluster, switches, carriers), read from the store. */
async function levelMetrics(node: DispatcherNode): Promise<string> {
  const c = node.config.cluster;
  const levels = [
    levelKey('cluster', c.name),
    ...c.switches.map((s) => levelKey('switch', s.id)),
    ...c.carriers.map((k) => levelKey('carrier', k.id)),
  ];
  let stats;
  try {
    stats = await node.store.levelStats(levels);
  } catch {
    return '# cluster store unreachable: no level counts\n';
  }
  let out = '# HELP sipfleet_level_channels Calls holding a level, cluster-wide\n# TYPE sipfleet_level_channels gauge\n';
  for (const st of stats) out += `sipfleet_level_channels{level="${st.level}"} ${st.channels}\n`;
  out += '# HELP sipfleet_level_cps Calls admitted at a level in the last second, cluster-wide\n# TYPE sipfleet_level_cps gauge\n';
  for (const st of stats) out += `sipfleet_level_cps{level="${st.level}"} ${st.cpsNow}\n`;
  return out;
}

export async function renderMetrics(node: DispatcherNode): Promise<string> {
  return renderNodeMetrics(node) + (await levelMetrics(node));
}

function renderNodeMetrics(node: DispatcherNode): string {
  const t = node.transport.stats();
  const x = node.transactions.stats();
  const p = node.proxy.stats();
  const labels = `{node="${node.id}"}`;
  let out = '';
  out += line('sipfleet_messages_in_total', 'SIP messages received', 'counter', t.messagesIn, labels);
  out += line('sipfleet_messages_out_total', 'SIP messages sent', 'counter', t.messagesOut, labels);
  out += line('sipfleet_open_connections', 'Open stream connections', 'gauge', t.openConnections, labels);
  out += line('sipfleet_connections_refused_total', 'Connections refused by caps', 'counter', t.connectionsRefused, labels);
  out += line('sipfleet_stream_errors_total', 'Streams closed for framing errors or timeouts', 'counter', t.streamErrors, labels);
  out += line('sipfleet_server_transactions', 'Live server transactions', 'gauge', x.serverTransactions, labels);
  out += line('sipfleet_client_transactions', 'Live client transactions', 'gauge', x.clientTransactions, labels);
  out += line('sipfleet_retransmissions_absorbed_total', 'Request retransmissions absorbed', 'counter', x.retransmissionsAbsorbed, labels);
  out += line('sipfleet_overload_rejected_total', 'New INVITEs answered 503 while overloaded (UDP backlog over node.limits.overloadBacklog)', 'counter', x.rejectedOverload, labels);
  const relay = node.relayStats?.();
  if (relay !== undefined) {
    out += '# HELP sipfleet_worker_relayed_total Datagrams on the shared UDP port passed between the node\'s workers (out: to the call\'s worker; in: from a sibling; refused: a wrapper not from a sibling)\n# TYPE sipfleet_worker_relayed_total counter\n';
    for (const [k, v] of [['out', relay.relayedOut], ['in', relay.relayedIn], ['refused', relay.refused]] as const) out += `sipfleet_worker_relayed_total{node="${node.id}",direction="${k}"} ${v}\n`;
  }
  out += line('sipfleet_parse_errors_total', 'Messages that could not be parsed', 'counter', x.parseErrors, labels);
  out += line('sipfleet_stray_responses_total', 'Responses matching no transaction (dropped)', 'counter', x.strayResponses, labels);
  out += line('sipfleet_invites_total', 'INVITE requests received', 'counter', p.invites, labels);
  out += line('sipfleet_dialogs', 'Dialogs (calls) tracked by this node', 'gauge', node.dialogs.size, labels);
  out += '# HELP sipfleet_drain_handoffs_total New INVITEs handed to a peer while draining (out), and handed here by a draining peer (in)\n# TYPE sipfleet_drain_handoffs_total counter\n';
  out += `sipfleet_drain_handoffs_total{node="${node.id}",direction="out"} ${p.handedOff}\nsipfleet_drain_handoffs_total{node="${node.id}",direction="in"} ${p.handedIn}\n`;
  out += line('sipfleet_unknown_sources_total', 'New requests refused or dropped from unknown sources', 'counter', p.unknownSources, labels);
  out += line('sipfleet_store_connected', '1 while the cluster store is reachable', 'gauge', node.store.connected ? 1 : 0, labels);
  out += line('sipfleet_node_epoch', 'This node\'s fencing epoch in the cluster store', 'gauge', node.membership.epoch ?? 0, labels);
  out += processMetrics();
  const a = node.admissionStats();
  if (a !== undefined) {
    out += '# HELP sipfleet_admission_total Admission outcomes on this node\n# TYPE sipfleet_admission_total counter\n';
    for (const [k, v] of Object.entries(a)) out += `sipfleet_admission_total{node="${node.id}",outcome="${k}"} ${v}\n`;
  }
  out += '# HELP sipfleet_switch_up 1 while the switch may take calls by health (probes), per this node\n# TYPE sipfleet_switch_up gauge\n';
  const switches = node.pool.snapshot();
  for (const sw of switches) out += `sipfleet_switch_up{node="${node.id}",switch="${sw.id}"} ${node.health.isUp(sw.id) ? 1 : 0}\n`;
  out += '# HELP sipfleet_switch_active 1 while the switch\'s admin state is active (0: draining or disabled)\n# TYPE sipfleet_switch_active gauge\n';
  for (const sw of switches) out += `sipfleet_switch_active{node="${node.id}",switch="${sw.id}",state="${sw.state}"} ${sw.state === 'active' ? 1 : 0}\n`;
  out += '# HELP sipfleet_switch_latency_ms OPTIONS round trip EWMA, ms\n# TYPE sipfleet_switch_latency_ms gauge\n';
  for (const sw of switches) {
    const l = node.health.latencyMs(sw.id);
    if (l !== undefined) out += `sipfleet_switch_latency_ms{node="${node.id}",switch="${sw.id}"} ${l.toFixed(2)}\n`;
  }
  out += '# HELP sipfleet_switch_latency_p99_ms OPTIONS round trip p99, ms\n# TYPE sipfleet_switch_latency_p99_ms gauge\n';
  for (const sw of switches) {
    const l = node.health.p99Ms(sw.id);
    if (l !== undefined) out += `sipfleet_switch_latency_p99_ms{node="${node.id}",switch="${sw.id}"} ${l.toFixed(2)}\n`;
  }
  out += '# HELP sipfleet_switch_attempts_total Requests this node forwarded to the switch (first attempts and failovers)\n# TYPE sipfleet_switch_attempts_total counter\n';
  for (const sw of switches) out += `sipfleet_switch_attempts_total{node="${node.id}",switch="${sw.id}"} ${p.attempts[sw.id] ?? 0}\n`;
  out += '# HELP sipfleet_switch_timeouts_total Forwarded requests the switch did not answer in time, by whether this node was behind on its input then (those are not held against the switch)\n# TYPE sipfleet_switch_timeouts_total counter\n';
  for (const sw of switches) {
    const t = node.pool.traffic(sw.id);
    const behind = t?.timeoutsWhileBehind ?? 0;
    out += `sipfleet_switch_timeouts_total{node="${node.id}",switch="${sw.id}",node_behind="false"} ${(t?.timeouts ?? 0) - behind}\n`;
    out += `sipfleet_switch_timeouts_total{node="${node.id}",switch="${sw.id}",node_behind="true"} ${behind}\n`;
  }
  out += line(
    'sipfleet_probe_timeouts_not_counted_total',
    'OPTIONS probes that timed out while this node was behind on its input, not counted against the switch',
    'counter',
    node.prober.inconclusive,
    labels,
  );
  out += '# HELP sipfleet_local_replies_total Responses this node generated, by status\n# TYPE sipfleet_local_replies_total counter\n';
  for (const [status, n] of Object.entries(p.localReplies)) out += `sipfleet_local_replies_total{node="${node.id}",status="${status}"} ${n}\n`;
  return out + phoneMetrics(node, labels) + mediaMetrics(node, labels);
}

/**
 * The process's memory, under the names Prometheus's Node.js client (prom-client) uses, without
 * labels (one process per scrape target): resident set, V8 heap used and reserved, and memory
 * held outside the V8 heap by Buffers and other C++ objects tied to JS objects.
 */
function processMetrics(): string {
  const m = process.memoryUsage();
  return (
    line('process_resident_memory_bytes', 'Resident memory size in bytes', 'gauge', m.rss) +
    line('nodejs_heap_size_used_bytes', 'V8 heap used in bytes', 'gauge', m.heapUsed) +
    line('nodejs_heap_size_total_bytes', 'V8 heap reserved in bytes', 'gauge', m.heapTotal) +
    line('nodejs_external_memory_bytes', 'Memory outside the V8 heap held by JS objects (Buffers included), in bytes', 'gauge', m.external)
  );
}

/** The registrar, the abuse guard and NAT keep-alive of this node (when the registrar is on). */
function phoneMetrics(node: DispatcherNode, labels: string): string {
  const stats = node.phones?.stats();
  if (stats === undefined) return '';
  const r = stats.registrar;
  const id = node.id;
  let out = '# HELP sipfleet_registers_total REGISTER requests answered by this node, by outcome\n# TYPE sipfleet_registers_total counter\n';
  for (const [k, v] of Object.entries(r)) out += `sipfleet_registers_total{node="${id}",outcome="${k}"} ${v}\n`;
  const a = stats.abuse;
  out += line('sipfleet_auth_failures_total', 'Failed digest authentications counted by this node', 'counter', a.authFailures, labels);
  out += line('sipfleet_banned_sources', 'Source IPs banned cluster-wide, as this node knows them', 'gauge', a.banned, labels);
  out += '# HELP sipfleet_phone_drops_total Requests dropped silently: banned sources and scanners\n# TYPE sipfleet_phone_drops_total counter\n';
  out += `sipfleet_phone_drops_total{node="${id}",kind="banned"} ${a.droppedBanned}\nsipfleet_phone_drops_total{node="${id}",kind="scanner"} ${a.droppedScanners}\n`;
  const k = stats.keepalive;
  if (k !== undefined) {
    out += line('sipfleet_keepalive_bindings', 'Bindings this node owns and pings', 'gauge', k.tracked, labels);
    out += line('sipfleet_keepalive_pings_total', 'NAT keep-alive pings sent', 'counter', k.pingsSent, labels);
    out += line('sipfleet_keepalive_pongs_total', 'NAT keep-alive pings answered', 'counter', k.pongs, labels);
    out += line('sipfleet_keepalive_misses_total', 'NAT keep-alive pings missed', 'counter', k.misses, labels);
    out += line('sipfleet_keepalive_removed_total', 'Bindings removed after missed pings or a closed connection', 'counter', k.removed, labels);
  }
  return out;
}

/** Media relays (rtpengine) as this node sees them, and its calls' relay sessions. */
function mediaMetrics(node: DispatcherNode, labels: string): string {
  const m = node.media.stats();
  const id = node.id;
  let out = '# HELP sipfleet_relay_up 1 while the media relay answers ng pings (fall/rise), per this node\n# TYPE sipfleet_relay_up gauge\n';
  for (const r of m.relays) out += `sipfleet_relay_up{node="${id}",relay="${r.record.id}"} ${r.health.up ? 1 : 0}\n`;
  out += '# HELP sipfleet_relay_active 1 while the relay\'s admin state is active (0: draining or disabled)\n# TYPE sipfleet_relay_active gauge\n';
  for (const r of m.relays) out += `sipfleet_relay_active{node="${id}",relay="${r.record.id}",state="${r.record.state}"} ${r.record.state === 'active' ? 1 : 0}\n`;
  out += '# HELP sipfleet_relay_load Sessions per unit of weight the relay selection sees (docs/media.md)\n# TYPE sipfleet_relay_load gauge\n';
  for (const r of m.relays) out += `sipfleet_relay_load{node="${id}",relay="${r.record.id}"} ${Number(r.load.toFixed(3))}\n`;
  out += '# HELP sipfleet_relay_sessions Sessions on the relay: its own statistics, and the cluster\'s records\n# TYPE sipfleet_relay_sessions gauge\n';
  for (const r of m.relays) {
    if (r.health.relaySessions !== undefined) out += `sipfleet_relay_sessions{node="${id}",relay="${r.record.id}",source="relay"} ${r.health.relaySessions}\n`;
    out += `sipfleet_relay_sessions{node="${id}",relay="${r.record.id}",source="cluster"} ${r.health.clusterSessions}\n`;
  }
  const s = m.service;
  out += line('sipfleet_media_sessions', 'Calls with a media relay session held by this node', 'gauge', s.sessions, labels);
  out += '# HELP sipfleet_media_calls_total New calls by media outcome: relayed, direct (no relay), refused (no usable relay)\n# TYPE sipfleet_media_calls_total counter\n';
  for (const [k, v] of Object.entries(s.calls)) out += `sipfleet_media_calls_total{node="${id}",outcome="${k}"} ${v}\n`;
  out += '# HELP sipfleet_media_offers_total ng offers: ok, retried (ok on the next relay), failed\n# TYPE sipfleet_media_offers_total counter\n';
  for (const [k, v] of Object.entries(s.offers)) out += `sipfleet_media_offers_total{node="${id}",outcome="${k}"} ${v}\n`;
  out += '# HELP sipfleet_media_answers_total ng answers: ok, failed\n# TYPE sipfleet_media_answers_total counter\n';
  for (const [k, v] of Object.entries(s.answers)) out += `sipfleet_media_answers_total{node="${id}",outcome="${k}"} ${v}\n`;
  const d = m.deletes;
  out += '# HELP sipfleet_media_deletes_total ng deletes: deleted, unknown (already gone), failed, queued (for a retry), dropped (given up)\n# TYPE sipfleet_media_deletes_total counter\n';
  for (const k of ['deleted', 'unknown', 'failed', 'queued', 'dropped'] as const) out += `sipfleet_media_deletes_total{node="${id}",outcome="${k}"} ${d[k]}\n`;
  out += line('sipfleet_media_deletes_waiting', 'Relay session deletes queued for a retry', 'gauge', d.waiting, labels);
  out += line('sipfleet_media_reaped_total', 'Relay sessions of dead nodes deleted by this node', 'counter', m.reaper.reaped, labels);
  out += line('sipfleet_media_expired_total', 'Calls whose media this node ended at the maximum call age', 'counter', s.expired, labels);
  return out;
}
