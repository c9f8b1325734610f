import { createHash } from 'node:crypto';

/** RFC 7616 §3.4.2 HA1 = H(username ":" realm ":" password), lower-case hex. */
export function digestHa1(algorithm: 'md5' | 'sha256', username: string, realm: string, password: string): string {
  return createHash(algorithm).update(`${username}:${realm}:${password}`, 'utf8').digest('hex');
}
