/**
 * The world communicator's message group: context 0 (point-to-point) and 1 (collectives), every
 * world rank a member in order (design: layer 3).
 */
import type { Backend } from '../communicator.js';
import { CommError } from '../errors.js';
import type { MessageGroup } from '../messages/layer.js';

export function worldGroup(backend: Backend): MessageGroup {
  // Placeholder until the message engine (messages/engine.ts) is merged.
  throw new CommError(
    'InvalidCommunicator',
    'messages',
    `the message layer is not wired for ${backend.name} yet.`,
  );
}
