/**
 * Context ids of one world's message layer, as this process sees them (spec/communicator.md §11.2).
 *
 * Every communicator owns two context ids: an even one for its point-to-point messages and the next
 * odd one for its collectives (layer.ts, MessageGroup). The world owns 0 and 1, its node communicator
 * (splitLocal on shm) 2 and 3. A new communicator
 * (split, dup) takes the largest "next free id" of the ranks of its parent: each of those ranks has
 * used only ids below its own next free id, so none of the new communicator's members has ever
 * used the agreed one, and a message of the new communicator can never match one of an older
 * communicator that shares a member.
 *
 * Agreements of one process run one at a time (`reserve`): two splits in flight on overlapping
 * communicators could otherwise read the same next free id and agree on the same context. Like
 * every collective on overlapping communicators (MPI-4.1 §6.14), they must then be called in the
 * same relative order on every rank.
 */
import { FIRST_DERIVED_CONTEXT, type MessageLayer } from '../messages/layer.js';

/** Ids a communicator takes: one for point-to-point, one for collectives. */
export const CONTEXTS_PER_COMMUNICATOR = 2;
/** Context ids are unsigned 32-bit in the message header; agreement fails beyond. */
export const MAX_CONTEXT = 0xffff_fffe;

interface LayerContexts {
  /** The smallest even context id this process has not used. */
  next: number;
  /** The end of the agreement in progress (reserve serialises them). */
  busy: Promise<void>;
}

const byLayer = new WeakMap<MessageLayer, LayerContexts>();

function contextsOf(layer: MessageLayer): LayerContexts {
  let contexts = byLayer.get(layer);
  if (contexts === undefined) {
    contexts = { next: FIRST_DERIVED_CONTEXT, busy: Promise.resolve() };
    byLayer.set(layer, contexts);
  }
  return contexts;
}

/** One agreement of a new context id, held by this process until `settle` is called. */
export interface ContextReservation {
  /** This process's next free id, to propose to the parent's other ranks. */
  readonly proposal: number;
  /**
   * Ends the agreement. `agreed` (the maximum of every rank's proposal) and every id below it are
   * used from now on; null when the agreement failed (nothing was taken).
   */
  settle(agreed: number | null): void;
}

/** Waits for earlier agreements of this process on `layer`, then returns its next free id. */
export async function reserveContext(layer: MessageLayer): Promise<ContextReservation> {
  const contexts = contextsOf(layer);
  const earlier = contexts.busy;
  let release!: () => void;
  contexts.busy = new Promise<void>((resolve) => (release = resolve));
  await earlier;
  return {
    proposal: contexts.next,
    settle(agreed: number | null): void {
      if (agreed !== null) contexts.next = Math.max(contexts.next, agreed + CONTEXTS_PER_COMMUNICATOR);
      release();
    },
  };
}
