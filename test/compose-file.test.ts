import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { requireTool } from './support/require-tool.ts';

const run = promisify(execFile);
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const composePath = join(root, 'docker-compose.yml');

interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string[] | string;
  volumes?: string[];
  networks?: Record<string, { ipv4_address?: string } | null>;
  healthcheck?: unknown;
}
interface ComposeFile {
  services: Record<string, ComposeService>;
  networks: Record<string, { ipam?: { config?: Array<{ subnet?: string }> } }>;
}

function loadCompose(): ComposeFile {
  return parse(readFileSync(composePath, 'utf8')) as ComposeFile;
}

/** The host directory mounted at /etc/sipfleet in a service, resolved against the repo root. */
function configMount(service: ComposeService): string {
  const mount = (service.volumes ?? []).map((v) => v.split(':')).find((parts) => parts[1] === '/etc/sipfleet');
  expect(mount, 'a volume mounted at /etc/sipfleet').toBeDefined();
  return resolve(root, mount?.[0] ?? '');
}

function commandOf(service: ComposeService): string[] {
  return Array.isArray(service.command) ? service.command : (service.command ?? '').split(/\s+/);
}

// The compose file cannot be run here (no Docker engine), but docker-compose validates it
// offline, and the configs it mounts must exist and describe the same addresses.
describe('docker-compose.yml', () => {
  let dockerCompose: string;
  beforeAll(() => {
    dockerCompose = requireTool('docker-compose', 'docker-compose');
  });

  it('is valid for docker-compose config', async () => {
    const result = await run(dockerCompose, ['-f', composePath, 'config', '-q'], { cwd: root }).then(
      (r) => ({ code: 0, stderr: r.stderr }),
      (err: { code?: number; stderr?: string }) => ({ code: err.code ?? -1, stderr: err.stderr ?? String(err) }),
    );
    expect(result.stderr.trim()).toBe('');
    expect(result.code).toBe(0);
  });

  it('defines the cluster services on one fixed-address bridge network', () => {
    const compose = loadCompose();
    for (const name of ['redis', 'dispatcher1', 'dispatcher2', 'switch1', 'switch2', 'rtpengine', 'ops-api']) {
      expect(compose.services[name], `service ${name}`).toBeDefined();
    }
    expect(compose.services.redis.image).toMatch(/^redis:7-alpine$/);
    expect(compose.services.redis.healthcheck).toBeDefined();
    expect(compose.services.rtpengine.image).toMatch(/^drachtio\/rtpengine/);
    expect(compose.networks.sipnet.ipam?.config?.[0]?.subnet).toBe('172.28.0.0/24');
    const addresses = Object.values(compose.services).map((s) => s.networks?.sipnet?.ipv4_address);
    expect(addresses.every((a) => a !== undefined && a.startsWith('172.28.0.'))).toBe(true);
    expect(new Set(addresses).size).toBe(addresses.length);
  });

  it('mounts an existing config for each dispatcher and the ops API, matching the network', () => {
    const compose = loadCompose();
    const cases = [
      { service: 'dispatcher1', file: 'd1.yaml', id: 'd1' },
      { service: 'dispatcher2', file: 'd2.yaml', id: 'd2' },
      { service: 'ops-api', file: 'ops.yaml', id: 'ops' },
    ];
    for (const { service, file, id } of cases) {
      const spec = compose.services[service];
      const command = commandOf(spec);
      expect(command[command.indexOf('--config') + 1]).toBe(`/etc/sipfleet/${file}`);
      const hostPath = join(configMount(spec), file);
      expect(existsSync(hostPath), `${hostPath} exists`).toBe(true);

      const config = parse(readFileSync(hostPath, 'utf8')) as {
        node: { id: string; advertise?: string };
        store: string;
        cluster: { switches: Array<{ address: string }>; 'rtp-relays': Array<{ ng: string }> };
      };
      expect(config.node.id).toBe(id);
      expect(config.store).toBe('redis://redis:6379');
      if (config.node.advertise !== undefined) {
        expect(config.node.advertise).toBe(spec.networks?.sipnet?.ipv4_address);
      }
      expect(config.cluster.switches.map((s) => s.address)).toEqual([
        `${compose.services.switch1.networks?.sipnet?.ipv4_address}:5060`,
        `${compose.services.switch2.networks?.sipnet?.ipv4_address}:5060`,
      ]);
      expect(config.cluster['rtp-relays'][0].ng).toBe(`${compose.services.rtpengine.networks?.sipnet?.ipv4_address}:22222`);
    }
  });
});
