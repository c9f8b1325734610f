import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import { SipfleetError } from '../../shared/errors.ts';

/** sbin directories searched after PATH: a non-root PATH often lacks them (ip, iptables). */
const SBIN_FALLBACK = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/**
 * Resolves the absolute path of an external tool a test drives as a real process.
 *
 * Looks through `PATH`, then the sbin directories. Call it in `beforeAll` so that a missing tool
 * fails the suite loudly instead of skipping it:
 *
 * ```ts
 * let sipp: string;
 * beforeAll(() => { sipp = requireTool('sipp', 'sip-tester'); });
 * ```
 *
 * @param command executable name (`sipp`) or an absolute path
 * @param aptPackage Debian package that provides it, quoted in the error (`sip-tester`)
 * @throws SipfleetError `ENV_ERR_TOOL_MISSING` naming the apt command that installs it
 */
export function requireTool(command: string, aptPackage: string): string {
  if (isAbsolute(command)) {
    if (isExecutableFile(command)) return command;
  } else {
    const dirs = (process.env.PATH ?? '').split(delimiter).filter((d) => d !== '');
    for (const dir of [...dirs, ...SBIN_FALLBACK]) {
      const candidate = join(dir, command);
      if (isExecutableFile(candidate)) return isAbsolute(candidate) ? candidate : join(process.cwd(), candidate);
    }
  }
  throw new SipfleetError(
    'ENV_ERR_TOOL_MISSING',
    `${command} not found on PATH: install it with "apt-get install -y ${aptPackage}" (or run "npm test", which installs it)`,
    { detail: { command, aptPackage } },
  );
}
