/**
 * The `channel` of a split/dup communicator's backend. A derived communicator's messages go through
 * its world's message layer (the MessageGroup it was made with), so nothing may ever use this one:
 * every member throws an internal error naming the communicator.
 */
import { CommError } from '../errors.js';
import type { PairChannel } from '../messages/channel.js';

export function detachedChannel(origin: string): PairChannel {
  const misuse = (): never => {
    throw new CommError(
      'CollectiveFailed',
      'channel',
      `internal error: the ${origin} communicator's backend channel was used; a derived communicator sends through its world's message layer. Please report it.`,
      { internal: true },
    );
  };
  return {
    post: misuse,
    attach: misuse,
    setActive: misuse,
    fail: misuse,
    get stallWarningSecs(): number {
      return misuse();
    },
    get timeoutSecs(): number {
      return misuse();
    },
  };
}
