/**
 * `switch-sim` command-line options (node:util parseArgs) → SwitchSimOptions. A bad option is a
 * CliUsageError whose one-line message names it; the CLI prints it and exits 2.
 */
import { parseArgs } from 'node:util';
import { RTP_MODES, type RtpMode } from './behaviour.ts';
import { parseHostPort, parseListenUri } from './listen-uri.ts';
import { parseRtpPorts } from './rtp-ports.ts';
import type { SwitchSimOptions } from './switch-sim.ts';

export const USAGE = `Usage: switch-sim --listen udp://HOST:PORT [--listen tcp://HOST:PORT] [options]

A SIP UAS standing in for a softswitch: INVITE gets 100/180/200 with an SDP answer, the caller's
ACK and BYE end the call, CANCEL gets 487; OPTIONS gets 200 with X-Channels (live calls) and
X-Channels-Max. Past the channel or CPS cap an INVITE gets 503 with Retry-After: 1.

Options:
  --listen URI       udp://HOST:PORT or tcp://HOST:PORT, IPv6 as udp://[::1]:5060; repeatable;
                     port 0 picks a free port (required, at least one)
  --id NAME          name used in Contact, Server, logs and /status (default: switch-sim)
  --channels N       max live calls, past it 503 Channel Limit; 0 refuses every call
                     (default: unlimited)
  --cps N            max new calls per second, past it 503 CPS Limit (default: unlimited)
  --ring-ms N        delay from 100 Trying to 180 Ringing, ms (default: 0)
  --answer-ms N      delay from 180 Ringing to 200 OK, ms (default: 0)
  --hold-ms N        the sim hangs up (sends BYE) N ms after the ACK; 0 = never, the caller
                     hangs up (default: 0)
  --rtp MODE         media per answered call, on a UDP port of --rtp-ports bound on the SIP
                     address and put in the SDP: off (no socket, the SDP port is not listened
                     on), echo (send every packet back to its source), send (a 20 ms PCMU
                     stream to the peer's SDP address); from the 200 OK to the end of the call
                     (default: off; POST /behaviour {"rtp":...} changes it at run time)
  --rtp-ports LO-HI  UDP ports for the RTP sockets, even ones only; when all are in use an
                     INVITE gets 503 RTP Ports Exhausted (default: 20000-29999)
  --http HOST:PORT   control server: GET /status, GET /calls, GET|POST /behaviour,
                     POST /hangup-all (default: none)
  --log-level LEVEL  fatal, error, warn, info, debug, trace or silent
                     (default: $LOG_LEVEL, else info)
  -h, --help         print this help and exit
`;

export class CliUsageError extends Error {
  readonly option: string;
  constructor(option: string, message: string) {
    super(option.length > 0 ? `${option}: ${message}` : message);
    this.name = 'CliUsageError';
    this.option = option;
  }
}

export type ParsedArgs = { help: true } | { help: false; options: SwitchSimOptions };

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const MAX_MS = 86_400_000;

function integer(option: string, text: string, max: number): number {
  if (!/^\d{1,10}$/.test(text) || Number(text) > max) throw new CliUsageError(option, `expected an integer 0..${max}, got "${text}"`);
  return Number(text);
}

function cap(option: string, text: string | undefined): number | null | undefined {
  if (text === undefined) return undefined;
  if (text === 'unlimited') return null;
  return integer(option, text, 1_000_000_000);
}

function ms(option: string, text: string | undefined): number | undefined {
  return text === undefined ? undefined : integer(option, text, MAX_MS);
}

/** The first sentence of a parseArgs error, e.g. "Unknown option '--foo'". */
function parseArgsMessage(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split(/\.\s/)[0].replace(/\.$/, '');
}

export function parseSwitchSimArgs(argv: readonly string[]): ParsedArgs {
  if (argv.includes('--help') || argv.includes('-h')) return { help: true };
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        listen: { type: 'string', multiple: true },
        id: { type: 'string' },
        channels: { type: 'string' },
        cps: { type: 'string' },
        'ring-ms': { type: 'string' },
        'answer-ms': { type: 'string' },
        'hold-ms': { type: 'string' },
        rtp: { type: 'string' },
        'rtp-ports': { type: 'string' },
        http: { type: 'string' },
        'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    const option = /'(--?[^' ]+)/.exec(err instanceof Error ? err.message : '')?.[1] ?? '';
    throw new CliUsageError('', option.length > 0 ? `${parseArgsMessage(err)} (see --help)` : parseArgsMessage(err));
  }
  const listen = values.listen ?? [];
  for (const uri of listen) {
    const spec = parseListenUri(uri);
    if (typeof spec === 'string') throw new CliUsageError('--listen', spec);
  }
  if (values.id !== undefined && !/^[A-Za-z0-9._~-]{1,64}$/.test(values.id)) {
    throw new CliUsageError('--id', `"${values.id}" must be 1-64 of A-Z a-z 0-9 . _ ~ -`);
  }
  if (values.http !== undefined) {
    const hp = parseHostPort(values.http);
    if (typeof hp === 'string') throw new CliUsageError('--http', hp);
  }
  const logLevel = values['log-level'];
  if (logLevel !== undefined && !LOG_LEVELS.includes(logLevel)) {
    throw new CliUsageError('--log-level', `expected one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`);
  }
  const rtp = values.rtp;
  if (rtp !== undefined && !(RTP_MODES as readonly string[]).includes(rtp)) {
    throw new CliUsageError('--rtp', `expected one of ${RTP_MODES.join(', ')}, got "${rtp}"`);
  }
  const rtpPorts = values['rtp-ports'];
  if (rtpPorts !== undefined) {
    const range = parseRtpPorts(rtpPorts);
    if (typeof range === 'string') throw new CliUsageError('--rtp-ports', range);
  }
  const options: SwitchSimOptions = { listen };
  if (logLevel !== undefined) options.logLevel = logLevel;
  if (values.id !== undefined) options.id = values.id;
  if (values.http !== undefined) options.http = values.http;
  const channels = cap('--channels', values.channels);
  if (channels !== undefined) options.channels = channels;
  const cps = cap('--cps', values.cps);
  if (cps !== undefined) options.cps = cps;
  const ringMs = ms('--ring-ms', values['ring-ms']);
  if (ringMs !== undefined) options.ringMs = ringMs;
  const answerMs = ms('--answer-ms', values['answer-ms']);
  if (answerMs !== undefined) options.answerMs = answerMs;
  const holdMs = ms('--hold-ms', values['hold-ms']);
  if (holdMs !== undefined) options.holdMs = holdMs;
  if (rtp !== undefined) options.rtp = rtp as RtpMode;
  if (rtpPorts !== undefined) options.rtpPorts = rtpPorts;
  if (listen.length === 0) throw new CliUsageError('--listen', 'at least one --listen udp://HOST:PORT or tcp://HOST:PORT is required');
  return { help: false, options };
}
