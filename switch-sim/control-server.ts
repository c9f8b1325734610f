/**
 * The sim's HTTP control server (node:http), for health checks and failure tests:
 *   GET  /status      → counters, live channels, behaviour, RTP totals
 *   GET  /calls       → per-call RTP counters (`?callId=` picks one call)
 *   GET  /behaviour   → the current behaviour
 *   POST /behaviour   → partial update (JSON object); 400 naming the field on bad input
 *   POST /hangup-all  → the sim sends BYE for every established call
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { ERROR_CODES, SipfleetError, isSipfleetError } from '../shared/errors.ts';
import type { Logger } from '../shared/log.ts';
import type { SimBehaviour } from './behaviour.ts';

export interface ControlHandlers {
  status(): unknown;
  calls(callId?: string): unknown;
  behaviour(): SimBehaviour;
  setBehaviour(patch: unknown): SimBehaviour;
  hangupAll(): number;
}

export interface ControlServer {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

const MAX_BODY = 64 * 1024;

class HttpError extends Error {
  readonly status: number;
  readonly field: string | undefined;
  constructor(status: number, message: string, field?: string) {
    super(message);
    this.status = status;
    this.field = field;
  }
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new HttpError(413, `body larger than ${MAX_BODY} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim().length === 0) return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, 'body is not valid JSON');
  }
}

export async function startControlServer(host: string, port: number, handlers: ControlHandlers, log: Logger): Promise<ControlServer> {
  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://sim');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    const allow = (methods: string): never => {
      throw Object.assign(new HttpError(405, `${method} not allowed on ${path}`), { allow: methods });
    };
    switch (path) {
      case '/status':
        if (method !== 'GET') allow('GET');
        return send(res, 200, handlers.status());
      case '/calls':
        if (method !== 'GET') allow('GET');
        return send(res, 200, handlers.calls(url.searchParams.get('callId') ?? undefined));
      case '/behaviour':
        if (method === 'GET') return send(res, 200, handlers.behaviour());
        if (method !== 'POST') allow('GET, POST');
        try {
          return send(res, 200, handlers.setBehaviour(await readJson(req)));
        } catch (err) {
          if (isSipfleetError(err) && err.code === ERROR_CODES.CFG_ERR_INVALID) {
            throw new HttpError(400, err.message, String(err.detail?.field ?? ''));
          }
          throw err;
        }
      case '/hangup-all':
        if (method !== 'POST') allow('POST');
        return send(res, 200, { hungUp: handlers.hangupAll() });
      default:
        throw new HttpError(404, `no such endpoint ${path}`);
    }
  };

  const server = createServer((req, res) => {
    route(req, res).catch((err: unknown) => {
      if (err instanceof HttpError) {
        const allow = (err as HttpError & { allow?: string }).allow;
        const body = err.field === undefined ? { error: err.message } : { error: err.message, field: err.field };
        return send(res, err.status, body, allow === undefined ? {} : { allow });
      }
      log.error({ err }, 'control request failed');
      if (!res.headersSent) send(res, 500, { error: 'internal error' });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void =>
      reject(new SipfleetError(ERROR_CODES.TRANSPORT_ERR_BIND, `cannot bind http ${host}:${port}: ${err.message}`, { cause: err }));
    server.once('error', onError);
    server.listen({ host, port }, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new SipfleetError(ERROR_CODES.TRANSPORT_ERR_BIND, 'http server has no address');
  return {
    host: address.address,
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
