/**
 * TEMPORARY (this session's integration scaffold, removed before it lands): the channel of a backend
 * whose pair channel is not wired yet. Posting rejects with an internal error.
 */
import { CommError } from '../errors.js';
import type { FrameSink, PairChannel } from './channel.js';

export function unwiredChannel(backend: string, timeoutSecs: number, stallWarningSecs: number): PairChannel {
  return {
    post(): Promise<void> {
      return Promise.reject(
        new CommError(
          'CollectiveFailed',
          'send',
          `internal error: the ${backend} pair channel is not wired yet`,
        ),
      );
    },
    setActive(): void {},
    attach(_sink: FrameSink, _onFailure: (error: CommError) => void): void {},
    stallWarningSecs,
    timeoutSecs,
    fail(): void {},
  };
}
