/**
 * Prometheus text exposition of a node's counters. One table: every metric name is here.
 */
import type { DispatcherNode } from '../dispatcher-node.ts';

function line(name: string, help: string, type: 'counter' | 'gauge', value: number, labels = ''): string {
  return `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${name}${labels} ${value}\n`;
}

export function renderMetrics(node: DispatcherNode): string {
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
  out += line('sipfleet_parse_errors_total', 'Messages that could not be parsed', 'counter', x.parseErrors, labels);
  out += line('sipfleet_stray_responses_total', 'Responses matching no transaction (dropped)', 'counter', x.strayResponses, labels);
  out += line('sipfleet_invites_total', 'INVITE requests received', 'counter', p.invites, labels);
  out += line('sipfleet_dialogs', 'Dialogs (calls) tracked by this node', 'gauge', node.dialogs.size, labels);
  out += '# HELP sipfleet_local_replies_total Responses this node generated, by status\n# TYPE sipfleet_local_replies_total counter\n';
  for (const [status, n] of Object.entries(p.localReplies)) out += `sipfleet_local_replies_total{node="${node.id}",status="${status}"} ${n}\n`;
  return out;
}
