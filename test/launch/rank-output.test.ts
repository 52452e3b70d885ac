import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { RankOutput } from '../../src/launch/rank-output.js';

function sink(isTTY: boolean): PassThrough & { isTTY: boolean; text(): string } {
  const stream = new PassThrough() as PassThrough & { isTTY: boolean; text(): string };
  let text = '';
  stream.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
  stream.isTTY = isTTY;
  stream.text = () => text;
  return stream;
}

describe('collective run output', () => {
  it('joins chunks into whole lines and prefixes them, flushing a last line without a newline', async () => {
    const [stdout, stderr] = [sink(false), sink(false)];
    const output = new RankOutput('prefix', stdout, stderr);
    const rankStream = new PassThrough();
    const relayed = output.relay(3, rankStream, 'stdout');
    for (const chunk of ['hel', 'lo\nwor', 'ld\n', 'tail']) rankStream.write(chunk);
    rankStream.end();
    await relayed;
    expect(stdout.text()).toBe('[3] hello\n[3] world\n[3] tail\n');
    expect(stderr.text()).toBe('');
  });

  it('draws a status line on a TTY and clears it around every output line', () => {
    const [stdout, stderr] = [sink(false), sink(true)];
    const output = new RankOutput('prefix', stdout, stderr);
    output.startStatus(() => ({ running: 2, done: 1, failed: 0 }));
    output.line(1, 'stdout', 'epoch 3');
    output.stopStatus();
    expect(stdout.text()).toBe('[1] epoch 3\n');
    expect(stderr.text()).toMatch(/ranks: 2 running, 1 done · \d+\.\d s · \[1\] epoch 3/);
    expect(stderr.text().endsWith('\r\x1b[2K')).toBe(true);
  });

  it('draws no status line when stderr is not a TTY, or in --json mode', () => {
    for (const [mode, tty] of [
      ['prefix', false],
      ['json', true],
    ] as const) {
      const [stdout, stderr] = [sink(false), sink(tty)];
      const output = new RankOutput(mode, stdout, stderr);
      output.startStatus(() => ({ running: 1, done: 0, failed: 0 }));
      output.line(0, 'stderr', 'x');
      output.stopStatus();
      expect(stderr.text()).not.toContain('ranks:');
    }
  });
});
