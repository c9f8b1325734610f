/**
 * The side-by-side sweep (`npm run bench`): the same SIPp load against sipfleet and against
 * Kamailio's dispatcher, in one run, alternating rate by rate, then both at 25/50/75 % of
 * Kamailio's maximum, then the load generator alone (the ceiling).
 *
 * Processes (all stopped on return, error or signal — see `runBench` in cli.ts):
 *   sipfleet     udp://127.0.0.11:5060, http :9060   taskset -c proxyCpu (1)   Redis store (admission on)
 *   kamailio     udp://127.0.0.12:5060               taskset -c proxyCpu (1)   bench/kamailio/kamailio.cfg
 *   sipp uas ×2  127.0.0.21/22:5060 (uas-rr.xml -aa) taskset -c sippCpu (0)    both proxies' switches, new before every step
 *   sipp uac     uac-rr.xml, one per step             taskset -c sippCpu (0)
 *
 * Both proxies do the same work per call: stateful (transactions, retransmission absorption),
 * Record-Route with loose routing of the ACK and BYE, round-robin over the two switches with
 * OPTIONS probes every 5 s, a dialog per call; sipfleet also admits each call through Redis (the
 * cluster, carrier and switch levels, caps that never bind) and releases it on BYE. The uac
 * follows the Record-Route (SIPp's built-in uac does not); the uas answers the probes (`-aa`).
 *
 * Alternation: at each rate one proxy runs its step, then the other (the order swaps every rate,
 * so neither always runs on the warmer machine). Each proxy stops climbing on its own, at a rate
 * that fails twice in a row (bench/lib/rate-step.ts). Between steps the proxy that just ran
 * settles: sipfleet until its transaction table is empty (RFC 6026 keeps a finished call's
 * transactions 32 s), Kamailio a fixed pause past its tm wait timer, so that the expiry work of
 * one step never lands in the other proxy's next step.
 */
import { rm, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ManagedProcess } from '../../test/support/managed-process.ts';
import { requireTool } from '../../test/support/require-tool.ts';
import { startSipp, type BackgroundSipp } from '../../test/support/sipp.ts';
import { kamailioCpuTicks, kamailioPids, startKamailio, type RunningKamailio } from './kamailio.ts';
import { dispatcherYaml, drain, runStep, startBenchDispatcher, type StepContext, type StepResult, type SweepConfig } from './proxy-sweep.ts';
import { sampleProcess } from './proc-stat.ts';
import { rateStep, type RateRunner, type SweepRecord } from './rate-step.ts';
import { SOCKET_BUFFER_BYTES, sleep, tempDirs, waitForFree } from './step-support.ts';

export const UAC_RR = fileURLToPath(new URL('../scenarios/uac-rr.xml', import.meta.url));
export const UAS_RR = fileURLToPath(new URL('../scenarios/uas-rr.xml', import.meta.url));

/** Kamailio's tm keeps a finished transaction for its wait timer (5 s): the pause after its steps. */
const KAMAILIO_SETTLE_MS = 6000;
/** Both proxies probe the switches this often (sipfleet `cluster.probe.interval`, Kamailio `ds_ping_interval`). */
const PROBE_INTERVAL_S = 5;

export interface VersusConfig extends SweepConfig {
  kamailioIp: string;
  kamailioPort: number;
  /** Kamailio's UDP receiver processes (all on the proxy CPU). */
  kamailioChildren: number;
  /** Fractions of Kamailio's maximum at which both are measured again for response times. */
  fractions: number[];
  ceiling: boolean;
  /** Bisection steps after the climb, per proxy (0: none). */
  refineSteps: number;
  /** Refinement stops when best and failing rates are this close, cps. */
  refineGrain: number;
}

export type Target = 'sipfleet' | 'kamailio';

export interface TargetSweep extends SweepRecord {
  target: Target | 'ceiling';
  address: string;
  bestIsTopOfList: boolean;
  /** Steps at fractions of Kamailio's maximum (after the sweep). */
  atFractions: Array<{ fraction: number; step: StepResult }>;
  /** Why refinement stopped before `refineGrain`, when it did (e.g. the time budget). */
  refineNote?: string;
  exit?: string;
  outputTail?: string;
}

export interface VersusResult {
  sipfleet: TargetSweep;
  kamailio: TargetSweep;
  /** uac-rr → uas-rr with no proxy (both on the SIPp CPU). */
  ceiling: StepResult[];
  ceilingBest: StepResult | undefined;
  /** The load generator passed every rate tried (or ran out of time): its maximum is at least ceilingBest. */
  ceilingAtTop?: boolean;
  /** sipfleet's maximum / Kamailio's maximum (NaN when either has none). */
  ratio: number;
}

/** One proxy (or the load generator alone) being swept side by side. */
export type Runner = RateRunner<TargetSweep>;

/**
 * The next rate to try between a proxy's best passing rate and the rate that failed above it:
 * the midpoint, rounded to `grain` cps; undefined once the gap is no wider than `grain`.
 */
export function refineRate(best: number | undefined, failedAt: number | undefined, grain: number): number | undefined {
  if (best === undefined || failedAt === undefined || failedAt - best <= grain) return undefined;
  const mid = Math.round((best + failedAt) / 2 / grain) * grain;
  return mid > best && mid < failedAt ? mid : undefined;
}

/**
 * Refinement after the climb: up to `rounds` bisection steps per runner between its best rate and
 * the one that stopped it, down to `grain` cps, alternating the runners' order each round as the
 * climb does. Stops a runner's refinement when the time budget leaves no room for a step.
 */
export async function refineMaxima(runners: Runner[], rounds: number, grain: number, deadlineMs: number, onStep: (s: StepResult) => void): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? runners : [...runners].reverse();
    let any = false;
    for (const r of order) {
      if (r.alive() !== undefined || r.sweep.refineNote !== undefined) continue;
      const rate = refineRate(r.sweep.best?.rate, r.sweep.failedAt, grain);
      if (rate === undefined) continue;
      any = true;
      r.cfg.log(`  ${r.sweep.target}: refining between ${r.sweep.best?.rate ?? '?'} and ${r.sweep.failedAt ?? '?'} cps at ${rate} cps`);
      const step = await rateStep(r, rate, deadlineMs, onStep, 'refine');
      if (step === undefined) r.sweep.refineNote = `time budget reached before ${rate} cps`;
    }
    if (!any) break;
  }
  for (const r of runners) {
    if (r.sweep.refineNote === undefined && refineRate(r.sweep.best?.rate, r.sweep.failedAt, grain) !== undefined) {
      r.sweep.refineNote = `${rounds} refinement steps left a gap wider than ${grain} cps`;
    }
  }
}

/** Rates at `fractions` of `max`, rounded to 100 cps (at least 100). */
export function fractionRates(max: number, fractions: readonly number[]): Array<{ fraction: number; rate: number }> {
  return fractions.map((fraction) => ({ fraction, rate: Math.max(100, Math.round((max * fraction) / 100) * 100) }));
}

function maxCalls(cfg: VersusConfig): number {
  // The uas's -m bound; switches[0] takes half of both proxies' calls and all of the ceiling's.
  // Per rate: both proxies' climb (twice each, with retries) and the ceiling's (twice); then the
  // refinement steps (up to the top rate, twice, for the proxies and the ceiling), the fraction
  // steps (twice, both proxies) and the probes' short calls.
  const top = Math.max(...cfg.rates);
  const climb = 4 * cfg.rates.reduce((sum, r) => sum + r * cfg.seconds, 0);
  const refine = 3 * cfg.refineSteps * 2 * top * cfg.seconds;
  const fractions = 2 * 2 * cfg.fractions.reduce((sum, f) => sum + f * top * cfg.seconds, 0);
  return Math.ceil(climb + refine + fractions) + 200_000;
}

export async function runVersus(cfg: VersusConfig, deadlineMs: number, onStep: (s: StepResult) => void): Promise<VersusResult> {
  requireTool('taskset', 'util-linux');
  requireTool('kamailio', 'kamailio');
  const httpAddr = `${cfg.dispatcherIp}:${cfg.dispatcherHttpPort}`;
  const sipfleetAddr = `${cfg.dispatcherIp}:${cfg.dispatcherSipPort}`;
  await waitForFree('sipfleet SIP', cfg.dispatcherIp, cfg.dispatcherSipPort, 'udp', 20_000);
  await waitForFree('sipfleet HTTP', cfg.dispatcherIp, cfg.dispatcherHttpPort, 'tcp', 20_000);
  await waitForFree('kamailio SIP', cfg.kamailioIp, cfg.kamailioPort, 'udp', 20_000);
  for (const ip of cfg.switchIps) await waitForFree('switch', ip, cfg.switchPort, 'udp', 20_000);

  const dir = await mkdtemp(join(tmpdir(), 'sipfleet-versus-'));
  tempDirs.add(dir);
  const configPath = join(dir, 'd1.yaml');
  await writeFile(configPath, dispatcherYaml(cfg, `{ interval: ${PROBE_INTERVAL_S}s, timeout: 2s, fall: 3, rise: 1 }`));
  const switches: BackgroundSipp[] = [];
  let dispatcher: ManagedProcess | undefined;
  let kamailio: RunningKamailio | undefined;
  const uasTimeoutS = Math.ceil((deadlineMs - Date.now()) / 1000) + 120;
  try {
    // -aa: the uas answers both proxies' OPTIONS probes with 200 (uas-rr.xml's header).
    const startSwitch = (ip: string): Promise<BackgroundSipp> =>
      startSipp({ scenario: UAS_RR, localIp: ip, localPort: cfg.switchPort, cpu: cfg.sippCpu, calls: maxCalls(cfg), timeoutS: uasTimeoutS, extraArgs: ['-aa', '-buff_size', String(SOCKET_BUFFER_BYTES)] });
    for (const ip of cfg.switchIps) switches.push(await startSwitch(ip));
    const uasPids = switches.map((s) => s.pid);
    /**
     * New uas processes on the same addresses before every step: a step that failed leaves the
     * switches with thousands of unfinished calls (waiting for an ACK or BYE that never comes),
     * and the next step, the other proxy's as often as not, would share the load generator's core
     * with that backlog (run 8: SIPp at 74 % and 35 000 drops where run 9 had 58 % and none).
     */
    const freshSwitches = async (): Promise<void> => {
      for (const [i, ip] of cfg.switchIps.entries()) {
        await switches[i].stop('SIGTERM', 3000);
        await waitForFree('switch', ip, cfg.switchPort, 'udp', 10_000);
        switches[i] = await startSwitch(ip);
      }
      uasPids.splice(0, uasPids.length, ...switches.map((s) => s.pid));
    };
    dispatcher = await startBenchDispatcher(cfg, configPath);
    kamailio = await startKamailio({
      ip: cfg.kamailioIp,
      port: cfg.kamailioPort,
      cpu: cfg.dispatcherCpu,
      children: cfg.kamailioChildren,
      switches: switches.map((s) => s.address),
      pingIntervalS: PROBE_INTERVAL_S,
    });
    const d = dispatcher;
    const k = kamailio;
    cfg.log(`sipfleet pid ${d.pid} (${sipfleetAddr}) and kamailio pid ${k.pid} (${k.address}, ${cfg.kamailioChildren} children) on CPU ${cfg.dispatcherCpu}; switches ${switches.map((s) => s.address).join(', ')} on CPU ${cfg.sippCpu}`);
    const switchDead = (): string | undefined => {
      const dead = switches.find((s) => s.exitStatus() !== undefined);
      return dead === undefined ? undefined : `switch ${dead.address} exited`;
    };
    const sockets = Object.fromEntries(switches.map((s) => [`uas ${s.address}`, s.address]));
    const sipCtx: StepContext = {
      cfg,
      phase: 'sipfleet',
      target: sipfleetAddr,
      scenario: UAC_RR,
      dispatcher: d,
      http: httpAddr,
      uasPids,
      sockets: { dispatcher: sipfleetAddr, ...sockets },
      cpuTicks: () => sampleProcess(d.pid)?.cpuTicks ?? Number.NaN,
    };
    const sip: Runner = {
      sweep: { target: 'sipfleet', address: sipfleetAddr, steps: [], best: undefined, bestIsTopOfList: false, stopReason: 'all rates done', atFractions: [] },
      cfg,
      run: async (rate, attempt) => {
        await freshSwitches();
        return runStep(sipCtx, rate, attempt);
      },
      alive: () => {
        const st = d.exitStatus();
        return st !== undefined ? `sipfleet exited (${st.signal ?? `code ${String(st.code)}`})` : switchDead();
      },
      settle: (step, deadline) => drain(sipCtx, step, deadline),
      done: false,
    };
    const kamCtx: StepContext = { cfg, phase: 'kamailio', target: k.address, scenario: UAC_RR, uasPids, sockets: { dispatcher: k.address, ...sockets }, cpuTicks: () => kamailioCpuTicks(k.pid), ownPids: () => kamailioPids(k.pid) };
    const kam: Runner = {
      sweep: { target: 'kamailio', address: k.address, steps: [], best: undefined, bestIsTopOfList: false, stopReason: 'all rates done', atFractions: [] },
      cfg,
      run: async (rate, attempt) => {
        await freshSwitches();
        return runStep(kamCtx, rate, attempt);
      },
      alive: () => {
        const st = k.exitStatus();
        return st !== undefined ? `kamailio exited (${st.signal ?? `code ${String(st.code)}`})` : switchDead();
      },
      settle: () => sleep(KAMAILIO_SETTLE_MS),
      done: false,
    };

    // Leave a quarter of the budget for the fraction steps and the ceiling.
    const sweepDeadline = deadlineMs - (deadlineMs - Date.now()) / 4;
    for (let i = 0; i < cfg.rates.length; i++) {
      const rate = cfg.rates[i];
      const order = i % 2 === 0 ? [kam, sip] : [sip, kam];
      for (const r of order) if (!r.done) await rateStep(r, rate, sweepDeadline, onStep, 'climb');
      if (kam.done && sip.done) break;
    }
    // Refinement: the rate list's steps (1000 cps) are 15–20 % of a maximum near 5000 cps, more
    // than the noise between runs: bisect each proxy's maximum down to `refineGrain` cps.
    await refineMaxima([kam, sip], cfg.refineSteps, cfg.refineGrain, sweepDeadline, onStep);
    const top = cfg.rates[cfg.rates.length - 1];
    for (const r of [sip, kam]) r.sweep.bestIsTopOfList = r.sweep.best !== undefined && r.sweep.best.rate === top;

    // Response times at fractions of Kamailio's maximum, both proxies, alternating.
    const kMax = kam.sweep.best?.rate;
    if (kMax !== undefined) {
      for (const [i, { fraction, rate }] of fractionRates(kMax, cfg.fractions).entries()) {
        const order = i % 2 === 0 ? [sip, kam] : [kam, sip];
        for (const r of order) {
          if (r.alive() !== undefined) continue;
          r.done = false;
          const step = await rateStep(r, rate, deadlineMs, onStep, 'measure');
          if (step !== undefined) r.sweep.atFractions.push({ fraction, step });
        }
      }
    }

    for (const [r, proc] of [
      [sip, d],
      [kam, k],
    ] as const) {
      const st = proc.exitStatus();
      if (st !== undefined) {
        r.sweep.exit = st.signal ?? `code ${String(st.code)}`;
        r.sweep.outputTail = proc.output().slice(-2000);
      } else if (r === sip && proc.output().trim() !== '') {
        r.sweep.outputTail = proc.output().trim().slice(-2000);
      }
    }
    await dispatcher.stop('SIGTERM', 5000);
    await kamailio.stop();

    // The load generator alone: uac-rr → one uas-rr, both on the SIPp CPU.
    const ceiling: StepResult[] = [];
    let ceilingBest: StepResult | undefined;
    let ceilingAtTop = false;
    if (cfg.ceiling) {
      const uas = switches[0];
      const ceilingPids = [uas.pid];
      const c: Runner = {
        sweep: { target: 'ceiling', address: uas.address, steps: ceiling, best: undefined, bestIsTopOfList: false, stopReason: '', atFractions: [] },
        cfg,
        run: async (rate, attempt) => {
          await freshSwitches();
          ceilingPids.splice(0, 1, switches[0].pid);
          return runStep({ cfg, phase: 'ceiling', target: uas.address, scenario: UAC_RR, uasPids: ceilingPids, sockets: { [`uas ${uas.address}`]: uas.address } }, rate, attempt);
        },
        alive: () => (switches[0].exitStatus() === undefined ? undefined : `uas ${uas.address} exited`),
        settle: () => sleep(2000),
        done: false,
      };
      for (const rate of cfg.rates) {
        await rateStep(c, rate, deadlineMs, onStep, 'climb');
        if (c.done) break;
      }
      await refineMaxima([c], cfg.refineSteps, cfg.refineGrain, deadlineMs, onStep);
      // Passed every rate: its maximum is above the list, not at its top.
      ceilingAtTop = c.sweep.best !== undefined && c.sweep.failedAt === undefined && c.sweep.stopReason === '';
      ceilingBest = c.sweep.best;
    }
    const sMax = sip.sweep.best?.rate;
    return { sipfleet: sip.sweep, kamailio: kam.sweep, ceiling, ceilingBest, ceilingAtTop, ratio: sMax !== undefined && kMax !== undefined ? sMax / kMax : Number.NaN };
  } finally {
    await dispatcher?.stop('SIGTERM', 5000);
    await kamailio?.stop();
    await Promise.all(switches.map((s) => s.stop('SIGTERM', 3000)));
    await rm(dir, { recursive: true, force: true });
    tempDirs.delete(dir);
  }
}
