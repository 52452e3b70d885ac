/**
 * The output of `collective run`: every rank's stdout and stderr, split into whole lines (so ranks never
 * interleave mid-line) and written as `[rank] line`, as bare lines (--no-prefix) or as JSON objects
 * (--json); and, on a TTY, a live status line on stderr that is cleared around every output line.
 */
import type { Readable, Writable } from 'node:stream';

export type OutputMode = 'prefix' | 'plain' | 'json';

/** How often the status line is redrawn. */
export const STATUS_REFRESH_MS = 250;
/** The latest output line shown in the status line is cut to this many characters. */
const STATUS_LATEST_CHARS = 60;
const MS_PER_SEC = 1000;
/** ANSI: carriage return and erase the whole line. */
const CLEAR_LINE = '\r\x1b[2K';

export interface StatusCounts {
  running: number;
  done: number;
  failed: number;
}

export class RankOutput {
  readonly #mode: OutputMode;
  readonly #stdout: Writable;
  readonly #stderr: Writable & { isTTY?: boolean };
  readonly #status: boolean;
  readonly #startedAt = Date.now();
  #latest = '';
  #statusShown = false;
  #timer: NodeJS.Timeout | null = null;
  #counts: () => StatusCounts = () => ({ running: 0, done: 0, failed: 0 });

  constructor(mode: OutputMode, stdout: Writable, stderr: Writable & { isTTY?: boolean }) {
    this.#mode = mode;
    this.#stdout = stdout;
    this.#stderr = stderr;
    this.#status = mode !== 'json' && stderr.isTTY === true;
  }

  /** Starts the live status line (on a TTY only). */
  startStatus(counts: () => StatusCounts): void {
    this.#counts = counts;
    if (!this.#status) return;
    this.#timer = setInterval(() => this.#drawStatus(), STATUS_REFRESH_MS);
    this.#drawStatus();
  }

  stopStatus(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    this.#clearStatus();
  }

  /** Relays a rank's stream line by line; resolves when the stream has ended. */
  relay(rank: number, stream: Readable, name: 'stdout' | 'stderr'): Promise<void> {
    let partial = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) this.line(rank, name, line);
    });
    return new Promise((resolve) => {
      stream.once('close', () => {
        if (partial !== '') this.line(rank, name, partial);
        partial = '';
        resolve();
      });
    });
  }

  line(rank: number, name: 'stdout' | 'stderr', line: string): void {
    this.#latest = `[${rank}] ${line}`;
    if (this.#mode === 'json') {
      this.#stdout.write(`${JSON.stringify({ rank, stream: name, line })}\n`);
      return;
    }
    this.#clearStatus();
    const target = name === 'stdout' ? this.#stdout : this.#stderr;
    target.write(this.#mode === 'prefix' ? `[${rank}] ${line}\n` : `${line}\n`);
    this.#drawStatus();
  }

  /** A message of the launcher itself (warnings, the summary), on stderr or as a JSON event. */
  note(text: string, event?: Record<string, unknown>): void {
    if (this.#mode === 'json') {
      this.#stdout.write(`${JSON.stringify({ event: 'note', message: text, ...event })}\n`);
      return;
    }
    this.#clearStatus();
    this.#stderr.write(`collective run: ${text}\n`);
    this.#drawStatus();
  }

  /** A structured event: JSON mode only (the summary at exit). */
  event(event: Record<string, unknown>): void {
    if (this.#mode === 'json') this.#stdout.write(`${JSON.stringify(event)}\n`);
  }

  #drawStatus(): void {
    if (!this.#status || this.#timer === null) return;
    const { running, done, failed } = this.#counts();
    const elapsed = ((Date.now() - this.#startedAt) / MS_PER_SEC).toFixed(1);
    const latest =
      this.#latest.length > STATUS_LATEST_CHARS
        ? `${this.#latest.slice(0, STATUS_LATEST_CHARS - 1)}…`
        : this.#latest;
    const failedPart = failed > 0 ? `, ${failed} failed` : '';
    this.#stderr.write(
      `${CLEAR_LINE}ranks: ${running} running, ${done} done${failedPart} · ${elapsed} s · ${latest}`,
    );
    this.#statusShown = true;
  }

  #clearStatus(): void {
    if (!this.#statusShown) return;
    this.#stderr.write(CLEAR_LINE);
    this.#statusShown = false;
  }
}
