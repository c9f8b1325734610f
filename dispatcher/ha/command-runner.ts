/**
 * Runs the system commands of the floating IP (`ip`, `arping`): injectable, so that the VIP
 * manager's unit tests see every command without touching the host.
 */
import { execFile } from 'node:child_process';

export interface CommandResult {
  /** Exit code; 127 when the command could not be started (not installed), -1 on a timeout or a signal. */
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CommandRunner {
  run(command: string, args: readonly string[], timeoutMs: number): Promise<CommandResult>;
}

/** `/usr/sbin` and `/sbin` hold `ip` and `arping`, and a service's PATH often lacks them. */
const SBIN_PATH = [process.env.PATH ?? '', '/usr/local/sbin', '/usr/sbin', '/sbin', '/usr/bin', '/bin'].filter((p) => p !== '').join(':');

/** Real processes (`execFile`, no shell). Never rejects: failures are a non-zero `code`. */
export const systemCommandRunner: CommandRunner = {
  run(command, args, timeoutMs) {
    return new Promise((resolve) => {
      execFile(command, [...args], { timeout: timeoutMs, encoding: 'utf8', env: { ...process.env, PATH: SBIN_PATH } }, (err, stdout, stderr) => {
        if (err === null) return resolve({ code: 0, stdout, stderr });
        const e = err as NodeJS.ErrnoException & { code?: number | string; killed?: boolean; signal?: string | null };
        if (e.code === 'ENOENT') return resolve({ code: 127, stdout: '', stderr: `${command}: not found` });
        const code = typeof e.code === 'number' ? e.code : -1;
        resolve({ code: e.killed === true || e.signal ? -1 : code, stdout: stdout ?? '', stderr: (stderr ?? '') || e.message });
      });
    });
  },
};
