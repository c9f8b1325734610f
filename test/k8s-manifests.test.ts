/**
 * The Kubernetes manifests (deploy/k8s): there is no cluster here, so they are checked offline:
 * every file parses, every kustomization lists its files and builds (`kubectl kustomize`, no
 * server needed), and the properties the deployment relies on hold: dispatchers on host networking
 * with cluster DNS, probes on /readyz (5 s, 3 failures) and /healthz, a warm-up startup probe, a
 * preStop drain that fits the grace period, required anti-affinity per node, resources on every
 * container, Redis with three sentinels and a majority quorum, and every config a sipfleet
 * container loads passing sipfleet's own validation with the environment its pod would give it.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, posix, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import type { NodeConfig } from '../shared/config/config-types.ts';
import { parseConfig } from '../shared/config/load-config.ts';
import { requireTool } from './support/require-tool.ts';

const run = promisify(execFile);
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const k8sDir = join(root, 'deploy/k8s');

// ---- minimal manifest types (only what is checked) ----

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    fieldRef?: { fieldPath: string };
    secretKeyRef?: { name: string; key: string };
    configMapKeyRef?: { name: string; key: string };
  };
}
interface Probe {
  httpGet?: { path: string; port: string | number };
  exec?: { command: string[] };
  periodSeconds?: number;
  failureThreshold?: number;
  timeoutSeconds?: number;
}
interface Container {
  name: string;
  image: string;
  args?: string[];
  command?: string[];
  env?: EnvVar[];
  ports?: Array<{ name?: string; containerPort: number; protocol?: string }>;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
  lifecycle?: { preStop?: { exec?: { command: string[] }; httpGet?: { path: string } } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  volumeMounts?: Array<{ name: string; mountPath: string }>;
}
interface AffinityTerm {
  topologyKey: string;
  labelSelector?: { matchLabels?: Record<string, string> };
}
interface PodSpec {
  hostNetwork?: boolean;
  dnsPolicy?: string;
  terminationGracePeriodSeconds?: number;
  affinity?: { podAntiAffinity?: { requiredDuringSchedulingIgnoredDuringExecution?: AffinityTerm[] } };
  initContainers?: Container[];
  containers: Container[];
  volumes?: Array<{ name: string; configMap?: { name: string } }>;
}
interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: {
    replicas?: number;
    serviceName?: string;
    clusterIP?: string;
    publishNotReadyAddresses?: boolean;
    selector?: Record<string, unknown>;
    ports?: Array<{ name?: string; port: number; protocol?: string }>;
    template?: { metadata: { labels: Record<string, string> }; spec: PodSpec };
  };
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}
interface Kustomization {
  resources?: string[];
  patches?: Array<{ path?: string }>;
}

const WORKLOADS = new Set(['StatefulSet', 'Deployment', 'DaemonSet']);

function parseDocs(text: string, what: string): unknown[] {
  const docs = parseAllDocuments(text);
  if (!Array.isArray(docs)) throw new Error(`${what}: not YAML documents`);
  for (const d of docs) if (d.errors.length > 0) throw new Error(`${what}: ${d.errors[0].message}`);
  return docs.map((d) => d.toJS()).filter((d) => d !== null && d !== undefined);
}

/** Every directory under deploy/k8s with a kustomization.yaml, relative (`.`, `base`, `lab`). */
function kustomizationDirs(dir = k8sDir): string[] {
  const out: string[] = [];
  if (existsSync(join(dir, 'kustomization.yaml'))) out.push(relative(k8sDir, dir) || '.');
  for (const e of readdirSync(dir)) if (statSync(join(dir, e)).isDirectory()) out.push(...kustomizationDirs(join(dir, e)));
  return out;
}

function kustomization(dir: string): Kustomization {
  return parseDocs(readFileSync(join(k8sDir, dir, 'kustomization.yaml'), 'utf8'), `${dir}/kustomization.yaml`)[0] as Kustomization;
}

/** Manifest files (relative to deploy/k8s): the kustomizations' resources that are files. */
function manifestFiles(): string[] {
  const files: string[] = [];
  for (const dir of kustomizationDirs()) {
    for (const r of kustomization(dir).resources ?? []) {
      const path = posix.join(dir, r);
      if (statSync(join(k8sDir, path)).isFile()) files.push(path);
    }
  }
  return files;
}

function manifestsIn(file: string): Manifest[] {
  return parseDocs(readFileSync(join(k8sDir, file), 'utf8'), file) as Manifest[];
}

const allManifests = (): Manifest[] => manifestFiles().flatMap(manifestsIn);

function podSpec(m: Manifest): PodSpec {
  const spec = m.spec?.template?.spec;
  if (spec === undefined) throw new Error(`${m.kind}/${m.metadata.name} has no pod template`);
  return spec;
}

/** The workloads whose main container runs `sipfleet <sub>`. */
function sipfleetWorkloads(manifests: Manifest[], sub: string): Manifest[] {
  return manifests.filter((m) => WORKLOADS.has(m.kind) && podSpec(m).containers[0].args?.[0] === sub);
}

function env(c: Container, name: string): EnvVar | undefined {
  return c.env?.find((e) => e.name === name);
}

/** A pod name the workload would give its first pod. */
function podName(m: Manifest): string {
  return m.kind === 'StatefulSet' ? `${m.metadata.name}-0` : `${m.metadata.name}-5d9c7b8f6-x2k4q`;
}

/**
 * The environment of a container as the kubelet builds it: values in order, `$(VAR)` expanded from
 * the variables defined before it, fieldRefs of a pod on a node at 192.0.2.10, Secrets and
 * ConfigMaps from the manifests (a missing one fails).
 */
function podEnv(m: Manifest, c: Container, manifests: Manifest[]): Record<string, string> {
  const out: Record<string, string> = {};
  const lookup = (kind: string, name: string, key: string): string => {
    const obj = manifests.find((x) => x.kind === kind && x.metadata.name === name);
    const value = obj?.stringData?.[key] ?? (obj?.data?.[key] === undefined ? undefined : kind === 'Secret' ? Buffer.from(obj.data[key], 'base64').toString() : obj.data[key]);
    if (value === undefined) throw new Error(`${c.name}: ${kind} ${name} has no key ${key}`);
    return value;
  };
  for (const e of c.env ?? []) {
    if (e.value !== undefined) out[e.name] = e.value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (all, v: string) => out[v] ?? all);
    else if (e.valueFrom?.fieldRef !== undefined) {
      const fields: Record<string, string> = {
        'metadata.name': podName(m),
        'metadata.namespace': m.metadata.namespace ?? 'default',
        'status.hostIP': '192.0.2.10',
        'status.podIP': podSpec(m).hostNetwork ? '192.0.2.10' : '10.244.1.7',
      };
      const v = fields[e.valueFrom.fieldRef.fieldPath];
      if (v === undefined) throw new Error(`${c.name}: unexpected fieldRef ${e.valueFrom.fieldRef.fieldPath}`);
      out[e.name] = v;
    } else if (e.valueFrom?.secretKeyRef !== undefined) out[e.name] = lookup('Secret', e.valueFrom.secretKeyRef.name, e.valueFrom.secretKeyRef.key);
    else if (e.valueFrom?.configMapKeyRef !== undefined) out[e.name] = lookup('ConfigMap', e.valueFrom.configMapKeyRef.name, e.valueFrom.configMapKeyRef.key);
    else throw new Error(`${c.name}: env ${e.name} has no value`);
  }
  return out;
}

/** The config a sipfleet container loads (`--config` in a mounted ConfigMap), validated with its pod's environment. */
function loadPodConfig(m: Manifest, manifests: Manifest[]): { config: NodeConfig; env: Record<string, string> } {
  const c = podSpec(m).containers[0];
  const args = c.args ?? [];
  const path = args[args.indexOf('--config') + 1];
  expect(args.indexOf('--config'), `${m.metadata.name} runs with --config`).toBeGreaterThan(0);
  const mount = c.volumeMounts?.find((v) => v.mountPath === dirname(path));
  const volume = podSpec(m).volumes?.find((v) => v.name === mount?.name);
  const configMap = manifests.find((x) => x.kind === 'ConfigMap' && x.metadata.name === volume?.configMap?.name);
  const text = configMap?.data?.[posix.basename(path)];
  expect(text, `${m.metadata.name}: ${path} comes from a ConfigMap`).toBeDefined();
  const podEnvVars = podEnv(m, c, manifests);
  return { config: parseConfig(text ?? '', { baseDir: dirname(path), env: podEnvVars }), env: podEnvVars };
}

describe('deploy/k8s manifests', () => {
  it('are YAML documents with a kind and a name, in the sipfleet namespace', () => {
    const files = manifestFiles();
    expect(files.length).toBeGreaterThanOrEqual(7);
    for (const file of files) {
      const docs = manifestsIn(file);
      expect(docs.length, file).toBeGreaterThan(0);
      for (const m of docs) {
        expect(m.apiVersion, file).toMatch(/^(v1|apps\/v1|policy\/v1)$/);
        expect(m.kind, file).toMatch(/^[A-Z][A-Za-z]+$/);
        expect(m.metadata.name, file).toMatch(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/);
        if (m.kind === 'Namespace') expect(m.metadata.name).toBe('sipfleet');
        else expect(m.metadata.namespace, `${file}: ${m.kind}/${m.metadata.name}`).toBe('sipfleet');
      }
    }
  });

  it('are each listed in their directory kustomization, which lists nothing else', () => {
    const dirs = kustomizationDirs();
    expect(dirs).toEqual(expect.arrayContaining(['.', 'base', 'lab']));
    for (const dir of dirs) {
      const k = kustomization(dir);
      for (const r of k.resources ?? []) {
        const path = join(k8sDir, dir, r);
        expect(existsSync(path), `${dir}: resource ${r} exists`).toBe(true);
        if (statSync(path).isDirectory()) expect(existsSync(join(path, 'kustomization.yaml')), `${dir}: ${r} is a kustomization`).toBe(true);
      }
      const listed = new Set([...(k.resources ?? []), ...(k.patches ?? []).map((p) => p.path ?? '')]);
      const files = readdirSync(join(k8sDir, dir)).filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml');
      for (const f of files) expect(listed.has(f), `${dir}/${f} is listed in ${dir}/kustomization.yaml`).toBe(true);
    }
  });

  it('give the dispatchers host networking with cluster DNS, and stable ids from the pod name', () => {
    const dispatchers = sipfleetWorkloads(allManifests(), 'dispatcher');
    expect(dispatchers.map((m) => m.kind)).toEqual(['StatefulSet']);
    for (const m of dispatchers) {
      const spec = podSpec(m);
      expect(spec.hostNetwork).toBe(true);
      expect(spec.dnsPolicy).toBe('ClusterFirstWithHostNet');
      const c = spec.containers[0];
      expect(c.image).toMatch(/^sipfleet:/);
      expect(env(c, 'SIPFLEET_NODE__ID')?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.name');
      expect(env(c, 'SIPFLEET_NODE__ADVERTISE')?.valueFrom?.fieldRef?.fieldPath).toBe('status.hostIP');
      expect(env(c, 'SIPFLEET_STORE')?.value).toMatch(/^sentinel:\/\//);
      expect(c.ports).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ containerPort: 5060, protocol: 'UDP' }),
          expect.objectContaining({ containerPort: 5060, protocol: 'TCP' }),
        ]),
      );
    }
  });

  it('probe the dispatchers: ready on /readyz every 5 s with 3 failures, alive on /healthz, a warm-up startup probe', () => {
    const manifests = allManifests();
    for (const m of sipfleetWorkloads(manifests, 'dispatcher')) {
      const c = podSpec(m).containers[0];
      const { config } = loadPodConfig(m, manifests);
      // The probes' port is the node's HTTP listener.
      const httpPort = config.node.http?.port;
      expect(httpPort).toBeDefined();
      const portOf = (p: string | number | undefined) => (typeof p === 'number' ? p : c.ports?.find((x) => x.name === p)?.containerPort);

      const ready = c.readinessProbe;
      expect(ready?.httpGet?.path).toBe('/readyz');
      expect(portOf(ready?.httpGet?.port)).toBe(httpPort);
      expect(ready?.periodSeconds).toBe(5);
      expect(ready?.failureThreshold).toBe(3);

      expect(c.livenessProbe?.httpGet?.path).toBe('/healthz');
      expect(portOf(c.livenessProbe?.httpGet?.port)).toBe(httpPort);

      const startup = c.startupProbe;
      expect(startup?.httpGet, 'a startup probe').toBeDefined();
      expect(portOf(startup?.httpGet?.port)).toBe(httpPort);
      expect((startup?.periodSeconds ?? 10) * (startup?.failureThreshold ?? 3), 'warm-up allowance in seconds').toBeGreaterThanOrEqual(30);
    }
  });

  it('drain a dispatcher before it stops (SIGUSR2 in preStop), within the grace period', () => {
    for (const m of sipfleetWorkloads(allManifests(), 'dispatcher')) {
      const spec = podSpec(m);
      const c = spec.containers[0];
      const script = c.lifecycle?.preStop?.exec?.command.join(' ') ?? '';
      expect(script).toMatch(/kill -USR2 1\b/);
      expect(script).toContain('DRAIN_SECONDS');
      const drain = Number(env(c, 'DRAIN_SECONDS')?.value);
      expect(drain).toBeGreaterThan(0);
      expect(spec.terminationGracePeriodSeconds ?? 30).toBeGreaterThanOrEqual(drain + 10);
    }
  });

  it('keep dispatchers on different nodes (required anti-affinity on kubernetes.io/hostname)', () => {
    for (const m of sipfleetWorkloads(allManifests(), 'dispatcher')) {
      const terms = podSpec(m).affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? [];
      const labels = m.spec?.template?.metadata.labels ?? {};
      const term = terms.find((t) => t.topologyKey === 'kubernetes.io/hostname');
      expect(term, 'a required hostname anti-affinity term').toBeDefined();
      const match = term?.labelSelector?.matchLabels ?? {};
      expect(Object.keys(match).length).toBeGreaterThan(0);
      // It selects the dispatcher pods themselves.
      for (const [k, v] of Object.entries(match)) expect(labels[k], k).toBe(v);
    }
  });

  it('give every container, init containers too, cpu and memory requests and limits', () => {
    let count = 0;
    for (const m of allManifests().filter((x) => WORKLOADS.has(x.kind))) {
      const spec = podSpec(m);
      for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
        count++;
        for (const kind of ['requests', 'limits'] as const) {
          for (const res of ['cpu', 'memory']) expect(c.resources?.[kind]?.[res], `${m.metadata.name}/${c.name} ${kind}.${res}`).toBeDefined();
        }
      }
    }
    expect(count).toBeGreaterThanOrEqual(5);
  });

  it('run Redis as three data nodes with a Sentinel each, quorum a majority, on the master name the stores use', () => {
    const manifests = allManifests();
    const redis = manifests.find((m) => m.kind === 'StatefulSet' && m.metadata.name === 'redis');
    expect(redis).toBeDefined();
    const spec = podSpec(redis!);
    const replicas = redis!.spec?.replicas ?? 1;
    expect(replicas).toBe(3);
    expect(spec.containers.map((c) => c.name).sort()).toEqual(['redis', 'sentinel']);
    expect(spec.containers.find((c) => c.name === 'sentinel')?.command).toEqual(expect.arrayContaining(['--sentinel']));
    const init = spec.initContainers?.[0];
    expect(init).toBeDefined();
    const initEnv = podEnv(redis!, init!, manifests);
    expect(Number(initEnv.SENTINEL_QUORUM)).toBe(Math.floor(replicas / 2) + 1);
    expect(Number(initEnv.REPLICAS)).toBe(replicas);

    // The init script writes the sentinel config from those variables.
    const scripts = manifests.find((m) => m.kind === 'ConfigMap' && m.metadata.name === 'redis-scripts');
    const script = scripts?.data?.['init.sh'] ?? '';
    expect(script).toMatch(/sentinel monitor \$\{SENTINEL_MASTER\} \$\{MASTER\} 6379 \$\{SENTINEL_QUORUM\}/);
    expect(script).toMatch(/sentinel resolve-hostnames yes/);
    expect(script).toMatch(/replicaof \$\{MASTER\} 6379/);
    expect(script).toMatch(/masterauth \$\{REDIS_PASSWORD\}/);

    // A headless Service publishing every pod (ready or not) with the sentinel port.
    const svc = manifests.find((m) => m.kind === 'Service' && m.metadata.name === redis!.spec?.serviceName);
    expect(svc?.spec?.clusterIP).toBe('None');
    expect(svc?.spec?.publishNotReadyAddresses).toBe(true);
    expect(svc?.spec?.ports?.map((p) => p.port)).toEqual(expect.arrayContaining([6379, 26379]));

    // Every sipfleet container's store: all the sentinels, the same master name, the Redis password.
    const domain = `${svc?.metadata.name}.${redis!.metadata.namespace}.svc.${initEnv.CLUSTER_DOMAIN}`;
    const expected = Array.from({ length: replicas }, (_, i) => ({ host: `${redis!.metadata.name}-${i}.${domain}`, port: 26379 }));
    const users = [...sipfleetWorkloads(manifests, 'dispatcher'), ...sipfleetWorkloads(manifests, 'ops-api')];
    expect(users.length).toBe(2);
    for (const m of users) {
      const { config } = loadPodConfig(m, manifests);
      expect(config.store, m.metadata.name).toEqual({ kind: 'sentinel', sentinels: expected, name: initEnv.SENTINEL_MASTER, password: initEnv.REDIS_PASSWORD });
    }
  });

  it('run the ops API as a Deployment behind a Service, probed on /readyz and /healthz, tokens from a Secret', () => {
    const manifests = allManifests();
    const [ops] = sipfleetWorkloads(manifests, 'ops-api');
    expect(ops?.kind).toBe('Deployment');
    const c = podSpec(ops).containers[0];
    const port = c.ports?.find((p) => p.name === 'http')?.containerPort;
    expect(c.args?.[c.args.indexOf('--listen') + 1]).toBe(`0.0.0.0:${port}`);
    expect(c.readinessProbe?.httpGet?.path).toBe('/readyz');
    expect(c.livenessProbe?.httpGet?.path).toBe('/healthz');
    expect(env(c, 'SIPFLEET_OPS__TOKENS')?.valueFrom?.secretKeyRef).toBeDefined();
    const svc = manifests.find((m) => m.kind === 'Service' && m.metadata.name === ops.metadata.name);
    expect(svc?.spec?.ports?.[0]?.port).toBe(port);
    expect(svc?.spec?.selector).toEqual(ops.spec?.selector?.matchLabels);
    const { config } = loadPodConfig(ops, manifests);
    expect(config.ops?.tokens.length).toBeGreaterThan(0);
  });
});

// The kustomizations build (kubectl's built-in kustomize works offline), and what they build is
// what each pod gets: its config, with the overlay's patches, must load.
describe('kubectl kustomize deploy/k8s', () => {
  let kubectl: string;
  beforeAll(() => {
    kubectl = requireTool('kubectl', 'kubectl');
  });

  async function build(dir: string): Promise<Manifest[]> {
    const { stdout } = await run(kubectl, ['kustomize', join(k8sDir, dir)], { cwd: root, maxBuffer: 16 * 1024 * 1024 });
    return parseDocs(stdout, `kustomize ${dir}`) as Manifest[];
  }

  it('builds the base: each sipfleet container loads its config with its pod environment', async () => {
    const manifests = await build('.');
    const kinds = manifests.map((m) => `${m.kind}/${m.metadata.name}`);
    expect(kinds).toEqual(
      expect.arrayContaining(['Namespace/sipfleet', 'StatefulSet/dispatcher', 'StatefulSet/redis', 'Deployment/ops-api', 'Service/ops-api', 'Service/redis', 'ConfigMap/sipfleet-config']),
    );
    const [dispatcher] = sipfleetWorkloads(manifests, 'dispatcher');
    const { config } = loadPodConfig(dispatcher, manifests);
    expect(config.node.id).toBe('dispatcher-0');
    expect(config.node.advertise).toBe('192.0.2.10');
    const [ops] = sipfleetWorkloads(manifests, 'ops-api');
    expect(loadPodConfig(ops, manifests).config.node.id).toBe('ops-api');
  });

  it('builds the lab: the switch simulators are one switch given by the SRV name cluster DNS publishes', async () => {
    const manifests = await build('lab');
    const sim = manifests.find((m) => m.kind === 'Service' && m.metadata.name === 'switch-sim');
    expect(sim?.spec?.clusterIP).toBe('None');
    // Kubernetes DNS: _<port name>._<protocol>.<service>.<namespace>.svc.<domain> for a named port.
    const sipPort = sim?.spec?.ports?.find((p) => p.name === 'sip');
    expect(sipPort?.protocol).toBe('UDP');
    const published = `_sip._udp.${sim?.metadata.name}.${sim?.metadata.namespace}.svc.cluster.local`;
    for (const sub of ['dispatcher', 'ops-api']) {
      const [m] = sipfleetWorkloads(manifests, sub);
      const { config } = loadPodConfig(m, manifests);
      expect(config.cluster.switches.map((s) => [s.id, s.host, s.transport]), sub).toEqual([['sim', published, 'udp']]);
    }
  });
});
