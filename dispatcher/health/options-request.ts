/**
 * The OPTIONS a health probe sends to a switch (RFC 3261 §11, out of any dialog): addressed to
 * the switch itself (no user part), our own Via with a fresh branch (§8.1.1.7), a fresh Call-ID
 * per probe (§8.1.1.4) and a From tag (§8.1.1.3), no body.
 */
import type { SwitchRecord } from '../../shared/cluster-store/cluster-store.ts';
import { parseSrvName } from '../../shared/config/srv-name.ts';
import { generateBranch, generateCallId, generateTag, SipRequest, type HeaderField } from '../../shared/sip/index.ts';
import type { LocalIdentity } from '../proxy/local-identity.ts';

/** The user part of our From: who is asking (switch logs show it). */
export const PROBE_USER = 'sipfleet';

export type ProbedSwitch = Pick<SwitchRecord, 'host' | 'port' | 'transport'>;

function uriHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

function field(name: string, key: string, value: string): HeaderField {
  return { name, key, value, raw: undefined };
}

/**
 * `sip:host:port` plus `;transport=tcp|tls` for streams (UDP is the default transport, §19.1.1).
 * A switch given as an SRV name is addressed by its domain without a port (`sip:example.net`):
 * the URI that resolves through that SRV name (RFC 3263 §4.2).
 */
export function switchUri(sw: ProbedSwitch): string {
  const transport = sw.transport === 'udp' ? '' : `;transport=${sw.transport}`;
  return `sip:${hostPart(sw)}${transport}`;
}

function hostPart(sw: ProbedSwitch): string {
  const srv = parseSrvName(sw.host);
  return srv === undefined ? `${uriHost(sw.host)}:${sw.port}` : srv.domain;
}

export function buildOptionsRequest(sw: ProbedSwitch, identity: LocalIdentity, cseq: number): SipRequest {
  const local = uriHost(identity.listenerFor(sw.transport).advertisedHost);
  const headers: HeaderField[] = [
    field('Via', 'via', identity.viaValue(sw.transport, generateBranch())),
    field('Max-Forwards', 'max-forwards', '70'),
    field('From', 'from', `<sip:${PROBE_USER}@${local}>;tag=${generateTag()}`),
    field('To', 'to', `<sip:${hostPart(sw)}>`),
    field('Call-ID', 'call-id', generateCallId(local)),
    field('CSeq', 'cseq', `${cseq} OPTIONS`),
    field('Content-Length', 'content-length', '0'),
  ];
  return new SipRequest('OPTIONS', switchUri(sw), headers, Buffer.alloc(0));
}
