import type { HostPort, StoreConfig } from './config-types.ts';
import { tryParseHostPort } from './host-port.ts';

export const STORE_HINT =
  'must be "memory", redis://[:password@]host:port[/db] or sentinel://[:password@]host:port[,host:port...]/mastername';

/** Replaces the userinfo (password) of a URL with `***`, for messages. */
export function redactUrl(text: string): string {
  return text.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/).*@/, '$1***@');
}

function decodePassword(userinfo: string | undefined): string | undefined | { problem: string } {
  if (userinfo === undefined) return undefined;
  if (!userinfo.startsWith(':')) return { problem: 'credentials must be written :password@ (no user name)' };
  try {
    return decodeURIComponent(userinfo.slice(1));
  } catch {
    return { problem: 'the password is not valid percent-encoding' };
  }
}

/** Parses the `store` setting; returns the problem as a string when invalid (never containing the password). */
export function tryParseStore(text: string): StoreConfig | string {
  if (text === 'memory') return { kind: 'memory' };
  const redis = /^redis:\/\/(?:(.*)@)?([^@/]*)(?:\/(\d*))?$/.exec(text);
  if (redis) {
    const password = decodePassword(redis[1]);
    if (typeof password === 'object') return password.problem;
    const hp = tryParseHostPort(redis[2], true);
    if (typeof hp === 'string') return `redis host ${hp}`;
    if (redis[3] !== undefined && !/^(0|[1-9]\d{0,4})$/.test(redis[3])) return 'redis database must be a non-negative integer, e.g. redis://127.0.0.1:6379/0';
    return { kind: 'redis', url: text };
  }
  const sentinel = /^sentinel:\/\/(?:(.*)@)?([^@/]*)\/([^/]*)$/.exec(text);
  if (sentinel) {
    const password = decodePassword(sentinel[1]);
    if (typeof password === 'object') return password.problem;
    const sentinels: HostPort[] = [];
    for (const part of sentinel[2].split(',')) {
      const hp = tryParseHostPort(part.trim(), true);
      if (typeof hp === 'string') return `sentinel address ${JSON.stringify(part)} ${hp}`;
      sentinels.push(hp);
    }
    if (!/^[A-Za-z0-9._-]+$/.test(sentinel[3])) return 'sentinel master name must be [A-Za-z0-9._-]+, e.g. sentinel://10.0.0.1:26379,10.0.0.2:26379/mymaster';
    return password === undefined ? { kind: 'sentinel', sentinels, name: sentinel[3] } : { kind: 'sentinel', sentinels, name: sentinel[3], password };
  }
  return STORE_HINT;
}
