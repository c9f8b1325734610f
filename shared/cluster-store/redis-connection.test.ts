import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { SipfleetError } from '../errors.ts';
import { createLogger } from '../log.ts';
import { RedisConnection, type RedisConnectionOptions } from './redis-connection.ts';

interface Line {
  readonly level: number;
  readonly msg: string;
}

/** A logger that records (message, level) instead of writing. */
function recordingLogger(): { log: ReturnType<typeof createLogger>; lines: Line[] } {
  const lines: Line[] = [];
  const log = createLogger(
    {},
    {
      level: 'trace',
      hooks: {
        logMethod(args, _method, level) {
          const msg = args.find((a): a is string => typeof a === 'string') ?? '';
          lines.push({ level, msg });
        },
      },
    },
  );
  return { log, lines };
}

/** A loopback port nothing listens on: every connection attempt is refused at once. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

function invalidOptions(field: 'url' | 'sentinelName'): Error {
  return new SipfleetError('STORE_ERR_INVALID', `test store: bad ${field}`, { detail: { field } });
}

const opened: RedisConnection[] = [];

async function open(options: RedisConnectionOptions = {}): Promise<{ conn: RedisConnection; lines: Line[] }> {
  const { log, lines } = recordingLogger();
  const conn = new RedisConnection(
    { url: `redis://127.0.0.1:${await closedPort()}`, commandTimeoutMs: 100, maxReconnectDelayMs: 200, ...options },
    { label: 'test store', log, invalidOptions, autoPipelining: false },
  );
  opened.push(conn);
  return { conn, lines };
}

afterEach(async () => {
  await Promise.all(opened.splice(0).map((c) => c.close()));
});

describe('RedisConnection', () => {
  it('throws the store’s own error when the options name no target, before making a client', () => {
    const { log } = recordingLogger();
    const setup = { label: 'test store', log, invalidOptions, autoPipelining: false };
    expect(() => new RedisConnection({}, setup)).toThrow(expect.objectContaining({ message: 'test store: bad url', detail: { field: 'url' } }));
    for (const sentinelName of [undefined, '']) {
      expect(() => new RedisConnection({ sentinels: [{ host: '127.0.0.1', port: 1 }], sentinelName }, setup)).toThrow(
        expect.objectContaining({ message: 'test store: bad sentinelName', detail: { field: 'sentinelName' } }),
      );
    }
    // An empty sentinel list falls back to the url.
    expect(() => new RedisConnection({ sentinels: [] }, setup)).toThrow(expect.objectContaining({ message: 'test store: bad url' }));
  });

  it('gives ioredis the store’s auto-pipelining choice', () => {
    const { log } = recordingLogger();
    for (const autoPipelining of [false, true]) {
      const conn = new RedisConnection({ url: 'redis://127.0.0.1:1', maxReconnectDelayMs: 200 }, { label: 'test store', log, invalidOptions, autoPipelining });
      opened.push(conn);
      expect(conn.redis.options.enableAutoPipelining).toBe(autoPipelining);
    }
  });

  it('rejects an operation fast with STORE_ERR_UNAVAILABLE, named by label and op, while Redis is unreachable', async () => {
    const { conn } = await open();
    const started = Date.now();
    const err: unknown = await conn.op('ping', () => conn.redis.ping()).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(err).toBeInstanceOf(SipfleetError);
    expect(err).toMatchObject({ code: 'STORE_ERR_UNAVAILABLE', detail: { op: 'ping' } });
    expect((err as Error).message).toMatch(/^test store ping: /);
    expect(conn.connected).toBe(false);
  });

  it('passes a SipfleetError through unchanged and logs a ReplyError once as a refusal', async () => {
    const { conn, lines } = await open();
    const own = new SipfleetError('STORE_ERR_INVALID', 'mine');
    await expect(conn.op('x', () => Promise.reject(own))).rejects.toBe(own);

    const reply = Object.assign(new Error('READONLY You can not write against a read only replica.'), { name: 'ReplyError' });
    const err: unknown = await conn.op('admit', () => Promise.reject(reply)).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'STORE_ERR_UNAVAILABLE', message: `test store admit: ${reply.message}`, cause: reply });
    expect(lines.filter((l) => l.msg === 'redis refused a test store command')).toHaveLength(1);

    await expect(conn.op('y', () => Promise.reject(new Error('boom')))).rejects.toMatchObject({ message: 'test store y: boom' });
    expect(lines.filter((l) => l.msg === 'redis refused a test store command')).toHaveLength(1);
  });

  it('tells the listeners of each change, logs a listener that throws, and after close refuses every operation', async () => {
    const { conn, lines } = await open();
    const seen: boolean[] = [];
    conn.onConnectionChange(() => {
      throw new Error('listener bug');
    });
    const off = conn.onConnectionChange((c) => seen.push(c));
    conn.redis.emit('ready');
    expect(conn.connected).toBe(true);
    conn.redis.emit('ready'); // no change, no call
    expect(seen).toEqual([true]);
    expect(lines.filter((l) => l.msg === 'test store connection listener threw')).toHaveLength(1);

    await conn.close();
    expect(conn.closed).toBe(true);
    expect(conn.connected).toBe(false);
    expect(seen).toEqual([true, false]);
    expect(lines.some((l) => l.msg === 'redis connection lost; reconnecting')).toBe(false);
    await expect(conn.op('now', () => Promise.resolve(1))).rejects.toMatchObject({
      code: 'STORE_ERR_UNAVAILABLE',
      message: 'test store now: the store is closed',
    });
    off();
  });

  it('close runs its release step once, before the final disconnected notice', async () => {
    const { conn } = await open();
    const order: string[] = [];
    conn.redis.emit('ready');
    conn.onConnectionChange((c) => order.push(`connected=${c}`));
    await conn.close(() => order.push('release'));
    await conn.close(() => order.push('release again'));
    expect(order).toEqual(['release', 'connected=false']);
  });
});
