/** The `collective` command itself: --version, help, and a missing or unknown command. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runCollective, type CliResult } from '../support/collective-cli.js';

const PACKAGE = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

function collective(args: string[]): Promise<CliResult> {
  return runCollective(args);
}

describe('collective', () => {
  it.each([['--version'], ['-v']])('%s prints the package version and exits 0', async (flag) => {
    const ran = await collective([flag]);
    expect(ran).toEqual({ code: 0, stdout: `${PACKAGE.version}\n`, stderr: '' });
  });

  it('with no command prints the help on stderr and exits 2', async () => {
    const ran = await collective([]);
    expect(ran.code).toBe(2);
    expect(ran.stdout).toBe('');
    expect(ran.stderr).toMatch(/^usage: collective <command>/);
    expect(ran.stderr).toContain('doctor');
    expect(ran.stderr).toContain('--version');
  });

  it.each([['--help'], ['-h'], ['help']])('%s prints the help on stdout and exits 0', async (flag) => {
    const ran = await collective([flag]);
    expect(ran.code).toBe(0);
    expect(ran.stderr).toBe('');
    expect(ran.stdout).toMatch(/^usage: collective <command>/);
    for (const word of ['run', 'doctor', '--version', '--help']) expect(ran.stdout).toContain(word);
  });

  it('an unknown command is named, with the help, and exits 2', async () => {
    const ran = await collective(['frobnicate']);
    expect(ran.code).toBe(2);
    expect(ran.stdout).toBe('');
    expect(ran.stderr).toMatch(/^collective: unknown command 'frobnicate'\n/);
  });
});
