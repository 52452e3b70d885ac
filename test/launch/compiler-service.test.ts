/**
 * tsx compiles TypeScript rank programs through an esbuild service process, a child of whichever
 * process compiles: the launcher itself for thread ranks. It is the launcher's tooling, not something
 * the ranks left running: `collective run` must neither end it nor report it (spec/train.md §7.7).
 */
import { describe, expect, it } from 'vitest';
import { RANK_SCRIPT, runCli } from './run-cli.js';

describe('collective run and the TypeScript compiler service', () => {
  it.each(['shm', 'tcp'])(
    'a .ts job compiled afresh (no tsx cache) reports no leftovers (%s)',
    async (backend) => {
      // Without tsx's cache every module is compiled, so the esbuild service is started for sure.
      const ran = runCli(['-n', '2', '--backend', backend, RANK_SCRIPT, 'hello'], { TSX_DISABLE_CACHE: '1' });
      const { code } = await ran.exited;
      expect(code, ran.stderr.join('\n')).toBe(0);
      expect(ran.stdout.filter((line) => /rank \d\/2 args=/.test(line))).toHaveLength(2);
      expect(ran.stderr.join('\n')).not.toMatch(/left running/);
    },
  );
});
