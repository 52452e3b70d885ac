/**
 * The one conformance suite: every case × every backend factory × every world size it declares.
 * A case runs on all ranks of a world at once; it passes only when every rank passes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appliesTo, casesOf } from './all-cases.js';
import { FACTORIES } from './factories.js';
import type { RankOutcome, World } from './world.js';

function failures(outcomes: RankOutcome[]): string {
  return outcomes
    .filter((o) => !o.ok)
    .map((o) => `rank ${o.rank}: ${o.error?.name}: ${o.error?.message}\n${o.error?.stack ?? ''}`)
    .join('\n\n');
}

function expectEveryRank(outcomes: RankOutcome[], size: number): void {
  expect(outcomes.map((o) => o.rank).sort((a, b) => a - b)).toEqual(
    Array.from({ length: size }, (_, r) => r),
  );
  const failed = failures(outcomes);
  if (failed) expect.fail(failed);
}

for (const factory of FACTORIES) {
  describe(`conformance: ${factory.backend}`, () => {
    for (const size of factory.sizes) {
      describe(`size ${size}`, () => {
        let world: World | undefined;
        beforeAll(async () => {
          world = await factory.start(size);
        }, 120_000);
        afterAll(async () => {
          await world?.close();
        }, 60_000);

        for (const c of casesOf(factory.families).filter((c) => appliesTo(c, size))) {
          it(
            c.name,
            async () => {
              if (c.fresh) {
                const own = await factory.start(size, c.fresh);
                try {
                  expectEveryRank(await own.run(c.name), size);
                } finally {
                  await own.close();
                }
              } else {
                expectEveryRank(await world!.run(c.name), size);
              }
            },
            120_000,
          );
        }
      });
    }
  });
}
