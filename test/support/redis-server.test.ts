import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopAllProcesses } from './managed-process.ts';
import { freePort } from './ports.ts';
import { redisCommand, startRedis } from './redis-server.ts';
import { requireTool } from './require-tool.ts';

describe('redis-server helper', () => {
  beforeAll(() => {
    requireTool('redis-server', 'redis-server');
  });
  afterAll(async () => {
    await stopAllProcesses();
  });

  it('starts an empty, non-persistent redis that answers RESP, restarts empty and stops', async () => {
    const redis = await startRedis();
    expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
    expect(await redisCommand(redis.host, redis.port, ['PING'])).toBe('+PONG');
    expect(await redisCommand(redis.host, redis.port, ['SET', 'sipfleet:test', 'v1'])).toBe('+OK');
    expect(await redisCommand(redis.host, redis.port, ['GET', 'sipfleet:test'])).toBe('$2');
    expect(await redisCommand(redis.host, redis.port, ['CONFIG', 'GET', 'save'])).toBe('*2');

    const firstPid = redis.process.pid;
    await redis.restart({ downMs: 100 });
    expect(redis.process.pid).not.toBe(firstPid);
    expect(await redisCommand(redis.host, redis.port, ['GET', 'sipfleet:test'])).toBe('$-1'); // nothing persisted

    const exit = await redis.stop();
    expect(exit.signal).toBeNull(); // redis exits by itself on SIGTERM
    await expect(redisCommand(redis.host, redis.port, ['PING'], 500)).rejects.toThrow();
  });

  it('takes a given port and fails loudly when it is taken', async () => {
    const port = await freePort('127.0.0.1', ['tcp']);
    const first = await startRedis({ port });
    expect(first.port).toBe(port);
    await expect(startRedis({ port, readyTimeoutMs: 3000 })).rejects.toThrow(/not ready[\s\S]*last output/);
    await first.stop();
  });
});
