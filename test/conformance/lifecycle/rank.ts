/**
 * A rank program of the lifecycle family (scenarios.ts): `collective run -n N --backend B rank.ts <scenario>`.
 * Prints one `outcome {json}` line per rank.
 */
import { init } from '../../../src/index.js';
import { CommError } from '../../../src/communicator/errors.js';
import { LIFECYCLE_SCENARIOS, OUTCOME_PREFIX, type LifecycleOutcome } from './scenarios.js';

const name = process.argv.slice(2).join(' ');
const scenario = LIFECYCLE_SCENARIOS.find((s) => s.name === name);
if (!scenario) throw new Error(`no lifecycle scenario named '${name}'`);

function report(outcome: LifecycleOutcome): void {
  console.log(OUTCOME_PREFIX + JSON.stringify(outcome));
}

/** sum of 0..size-1, the same bits everywhere. */
async function checkedAllreduce(comm: Awaited<ReturnType<typeof init>>): Promise<void> {
  const got = await comm.allreduce(Float64Array.of(comm.rank, 1));
  const want = [(comm.size * (comm.size - 1)) / 2, comm.size];
  if (got[0] !== want[0] || got[1] !== want[1]) {
    throw new Error(`allreduce gave [${Array.from(got)}], want [${want}]`);
  }
}

const comm = await init();
const rank = comm.rank;
try {
  if (scenario.departing === undefined) {
    if (name === 're-init after close') {
      await checkedAllreduce(comm);
      await comm.close();
      const again = await init();
      await checkedAllreduce(again);
      await again.close();
    } else {
      await comm.close();
    }
    report({ rank, ok: true });
  } else if (rank === scenario.departing(comm.size)) {
    report({ rank, ok: true });
    // Closes at once, or ends its program with the communicator open (the thread or process exits).
    if (name.includes('closes early')) await comm.close();
  } else {
    // The departed rank never calls this collective: it must fail naming that rank, not hang or time out.
    try {
      await comm.barrier();
      report({ rank, ok: false, message: 'barrier succeeded without the departed rank' });
    } catch (error) {
      const e = error as CommError;
      report({
        rank,
        ok: e instanceof CommError,
        code: e.code,
        culprit: e.details?.['rank'] as number | undefined,
        message: e.message,
      });
    }
    await comm.close();
  }
} catch (error) {
  report({ rank, ok: false, message: String((error as Error)?.stack ?? error) });
  await comm.close();
}
