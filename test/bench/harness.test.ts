/**
 * The benchmark harness's arithmetic and output, on fixed inputs: order statistics, max over ranks,
 * the plan, baseline parsing, the scaling fit, the targets and the SVG. No timings are asserted.
 */
import { describe, expect, it } from 'vitest';
import { maxOverRanks, quantile, summarise } from '../../bench/harness/stats.js';
import { planWorkloads, sizeLadder, MIB, type Workload } from '../../bench/harness/workload.js';
import { parseBaselineLines } from '../../bench/runners/baseline-process.js';
import { leastSquares, nonNegativeFit } from '../../bench/report/scaling.js';
import { ResultIndex } from '../../bench/report/results-index.js';
import { checkTargets } from '../../bench/report/targets.js';
import { renderPlot } from '../../bench/report/svg.js';
import { medianOnly } from '../../bench/harness/stats.js';
import { registeredRunners } from '../../bench/harness/runner.js';
import '../../bench/runners/register.js';

const allreduce8: Workload = {
  operation: 'allreduce',
  dtype: 'float64',
  bytes: 8,
  ranks: 2,
  iterations: 10,
  warmup: 2,
  warmupMs: 0,
  batches: 5,
};

describe('bench harness', () => {
  it('takes quantiles by interpolation and the slowest rank per batch', () => {
    expect(quantile([5, 1, 3], 0.5)).toBe(3);
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantile([10, 20], 0.1)).toBeCloseTo(11);
    expect(
      maxOverRanks([
        [1, 9, 3],
        [4, 2, 8],
      ]),
    ).toEqual([4, 9, 8]);
    const result = summarise('x', allreduce8, [3, 1, 2, 5, 4]);
    expect(result.medianUs).toBe(3);
    expect(result.p10Us).toBeCloseTo(1.4);
    expect(result.p90Us).toBeCloseTo(4.6);
    expect(result.gbps).toBeCloseTo(8 / 1e9 / 3e-6);
  });

  it('plans the ×8 ladder to 8 MiB, both dtypes for allreduce, and the launch at 4 workers', () => {
    expect(sizeLadder(8 * MIB)).toEqual([8, 64, 512, 4096, 32768, 262144, 2 * MIB, 8 * MIB]);
    const full = planWorkloads({ quick: false });
    expect(new Set(full.map((w) => w.ranks))).toEqual(new Set([2, 4, 8]));
    expect(full.filter((w) => w.operation === 'allreduce' && w.dtype === 'int32')).toHaveLength(3 * 8);
    expect(full.filter((w) => w.operation === 'launch')).toEqual([expect.objectContaining({ ranks: 4 })]);
    const quick = planWorkloads({ quick: true });
    expect(Math.max(...quick.map((w) => w.bytes))).toBeLessThanOrEqual(32 * 1024);
    expect(quick.some((w) => w.ranks === 8)).toBe(false);
    // Iterations shrink as messages grow.
    const iterations = full
      .filter((w) => w.operation === 'broadcast' && w.ranks === 2)
      .map((w) => w.iterations);
    expect([...iterations].sort((a, b) => b - a)).toEqual(iterations);
  });

  it('parses the baselines\' "op bytes median_us" lines and skips everything else', () => {
    const lines = parseBaselineLines(
      '# ranks=2\nbarrier 0 0.17\nallreduce 8 0.26\nnoise\nbcast 2097152 157.11\n',
    );
    expect(lines).toEqual([
      { op: 'barrier', bytes: 0, medianUs: 0.17 },
      { op: 'allreduce', bytes: 8, medianUs: 0.26 },
      { op: 'bcast', bytes: 2097152, medianUs: 157.11 },
    ]);
  });

  it('fits a two-term model exactly when the data follow it, and refuses a singular system', () => {
    // y = 3·x0 + 0.5·x1
    const rows = [
      [1, 10],
      [2, 100],
      [4, 1000],
    ];
    const fit = leastSquares(
      rows,
      rows.map(([a, b]) => 3 * a! + 0.5 * b!),
    );
    expect(fit?.[0]).toBeCloseTo(3);
    expect(fit?.[1]).toBeCloseTo(0.5);
    expect(
      leastSquares(
        [
          [1, 2],
          [2, 4],
        ],
        [1, 2],
      ),
    ).toBeNull();
  });

  it('keeps fitted costs non-negative and fixes all-zero terms at 0', () => {
    // Σ c·row ≈ 1 would need a negative second coefficient.
    const rows = [
      [2, 3],
      [1, 1],
      [0.5, 0.2],
    ];
    expect(leastSquares(rows, [1, 1, 1])?.[1]).toBeLessThan(0);
    const fit = nonNegativeFit(rows);
    expect(fit?.[1]).toBe(0);
    // Refitted on the first term alone: c = Σa ÷ Σa².
    expect(fit?.[0]).toBeCloseTo(3.5 / 5.25);
    expect(
      nonNegativeFit([
        [0.5, 0],
        [0.25, 0],
      ])?.[1],
    ).toBe(0);
  });

  it('checks a target as ours ÷ baseline against its bound, and says when a side is missing', () => {
    const index = new ResultIndex([
      medianOnly('shm', allreduce8, 0.9),
      medianOnly('mpi-vader', allreduce8, 0.3),
    ]);
    const outcome = checkTargets(index).find((o) => o.target.statement.startsWith('shm allreduce 8 B ≤ 2×'));
    expect(outcome?.ratio).toBeCloseTo(3);
    expect(outcome?.met).toBe(false);
    const tcp = checkTargets(index).find((o) => o.target.backend === 'tcp');
    expect(tcp?.met).toBeNull();
  });

  it("checks issue 13's ws targets against tcp of the same run: 8 B ≤ 1.3×, 2 MiB ≤ 1.2×", () => {
    const allreduce2MiB: Workload = { ...allreduce8, bytes: 2 * MIB };
    const index = new ResultIndex([
      medianOnly('tcp', allreduce8, 100),
      medianOnly('ws', allreduce8, 125),
      medianOnly('tcp', allreduce2MiB, 10_000),
      medianOnly('ws', allreduce2MiB, 90_000),
    ]);
    const ws = checkTargets(index).filter((o) => o.target.backend === 'ws');
    expect(ws.map((o) => [o.target.baseline, o.target.workload.bytes, o.target.maxRatio, o.met])).toEqual([
      ['tcp', 8, 1.3, true],
      ['tcp', 2 * MIB, 1.2, false],
    ]);
    expect(ws[1]?.ratio).toBeCloseTo(9);
  });

  it('plans ping-pong over the ladder at 2 ranks only, and alltoall up to and at 1 MiB per pair', () => {
    const full = planWorkloads({ quick: false });
    const pingpong = full.filter((w) => w.operation === 'pingpong');
    expect(new Set(pingpong.map((w) => w.ranks))).toEqual(new Set([2]));
    expect(pingpong.map((w) => w.bytes)).toEqual(sizeLadder(8 * MIB));
    const alltoall = full.filter((w) => w.operation === 'alltoall');
    expect(new Set(alltoall.map((w) => w.ranks))).toEqual(new Set([2, 4, 8]));
    expect(alltoall.filter((w) => w.ranks === 4).map((w) => w.bytes)).toEqual([
      8,
      64,
      512,
      4096,
      32768,
      262144,
      MIB,
    ]);
    // Alltoall's iterations follow each rank's whole send buffer (ranks × block), not the block.
    const at4 = alltoall.find((w) => w.ranks === 4 && w.bytes === MIB);
    const broadcast4MiB = planWorkloads({
      quick: false,
      ranks: [4],
      bytes: [4 * MIB],
      operations: ['broadcast'],
    });
    expect(at4?.iterations).toBe(broadcast4MiB[0]?.iterations);
    const quick = planWorkloads({ quick: true }).filter(
      (w) => w.operation === 'alltoall' || w.operation === 'pingpong',
    );
    expect(quick.length).toBeGreaterThan(0);
    expect(Math.max(...quick.map((w) => w.bytes))).toBeLessThanOrEqual(32 * 1024);
    // --ranks without 2: no ping-pong; --bytes: exactly those sizes.
    expect(planWorkloads({ quick: false, ranks: [4] }).some((w) => w.operation === 'pingpong')).toBe(false);
    const narrowed = planWorkloads({ quick: false, ranks: [4], bytes: [MIB], operations: ['alltoall'] });
    expect(narrowed.map((w) => [w.operation, w.ranks, w.bytes])).toEqual([['alltoall', 4, MIB]]);
  });

  it("checks issue 15's targets: ping-pong 8 B and 2 MiB against vader and the raw round trip, alltoall at 4", () => {
    const pingpong8: Workload = { ...allreduce8, operation: 'pingpong' };
    const pingpong2MiB: Workload = { ...pingpong8, bytes: 2 * MIB };
    const alltoall: Workload = { ...allreduce8, operation: 'alltoall', bytes: MIB, ranks: 4 };
    const index = new ResultIndex([
      medianOnly('shm', pingpong8, 3),
      medianOnly('mpi-vader', pingpong8, 2),
      medianOnly('tcp', pingpong8, 70),
      medianOnly('socket-rtt', pingpong8, 50),
      medianOnly('shm', pingpong2MiB, 500),
      medianOnly('mpi-vader', pingpong2MiB, 400),
      medianOnly('tcp', pingpong2MiB, 2000),
      medianOnly('socket-rtt', pingpong2MiB, 2500),
      medianOnly('shm', alltoall, 1000),
      medianOnly('mpi-vader', alltoall, 800),
      medianOnly('tcp', alltoall, 9000),
      medianOnly('mpi-tcp', alltoall, 3000),
    ]);
    const rows = checkTargets(index).filter((o) =>
      ['pingpong', 'alltoall'].includes(o.target.workload.operation),
    );
    expect(rows.map((o) => [o.target.backend, o.target.baseline, o.target.maxRatio, o.met])).toEqual([
      ['shm', 'mpi-vader', 2, true],
      ['tcp', 'socket-rtt', 1.3, false],
      ['shm', 'mpi-vader', 1, false],
      ['tcp', 'socket-rtt', 1, true],
      ['shm', 'mpi-vader', 1.5, true],
      ['tcp', 'mpi-tcp', 1.5, false],
    ]);
  });

  it('gives the ping-pong and alltoall rows their baselines: Open MPI (any size) and the socket round trip', () => {
    const pingpong2MiB: Workload = { ...allreduce8, operation: 'pingpong', bytes: 2 * MIB };
    const alltoall: Workload = { ...allreduce8, operation: 'alltoall', bytes: MIB, ranks: 4 };
    const runner = (name: string) => registeredRunners().find((r) => r.name === name);
    expect(runner('socket-rtt')?.covers(pingpong2MiB, false)).toBe(true);
    expect(runner('socket-rtt')?.covers(alltoall, false)).toBe(false);
    expect(runner('mpi-vader')?.covers(alltoall, false)).toBe(true);
    expect(runner('mpi-tcp')?.covers(alltoall, false)).toBe(true);
    expect(runner('mpi-vader')?.covers(pingpong2MiB, true)).toBe(true);
    for (const backend of ['shm', 'tcp', 'ws']) expect(runner(backend)?.covers(alltoall, false)).toBe(true);
  });

  it('renders a log–log SVG with one polyline per series and escapes labels', () => {
    const svg = renderPlot({
      title: 'a < b',
      xLabel: 'bytes',
      yLabel: 'µs',
      columns: 1,
      xTicks: [[8, '8 B']],
      panels: [
        {
          title: 'p',
          series: [
            {
              label: 'ours',
              color: '#f00',
              dashed: false,
              points: [
                [8, 1],
                [64, 10],
              ],
            },
            {
              label: 'theirs',
              color: '#0f0',
              dashed: true,
              points: [
                [8, 2],
                [64, 20],
              ],
            },
          ],
        },
      ],
    });
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/<polyline/g)).toHaveLength(2);
    expect(svg).toContain('a &lt; b');
    expect(svg).toContain('stroke-dasharray');
  });
});
