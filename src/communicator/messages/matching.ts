/**
 * MPI matching (spec/communicator.md §10.3): a receive's pattern (context, source or ANY_SOURCE,
 * tag or ANY_TAG) against a message's envelope (context, source, tag). Both queues are kept in
 * arrival order and searched from the front, which is what makes matching non-overtaking: of two
 * messages from one source that one receive could match, the first to arrive is taken first, and
 * of two receives that one message could match, the first posted is.
 */
import { ANY_SOURCE, ANY_TAG } from './layer.js';

/** What a receive or probe asks for; source and tag may be wildcards. */
export interface Pattern {
  readonly context: number;
  readonly source: number;
  readonly tag: number;
}

/** Where a message comes from: concrete source and tag. */
export interface Address {
  readonly context: number;
  readonly source: number;
  readonly tag: number;
}

export function matches(pattern: Pattern, message: Address): boolean {
  return (
    pattern.context === message.context &&
    (pattern.source === ANY_SOURCE || pattern.source === message.source) &&
    (pattern.tag === ANY_TAG || pattern.tag === message.tag)
  );
}

/** An ordered queue searched from the front; take() removes what it finds. */
export class MatchQueue<T> {
  #items: T[] = [];

  get length(): number {
    return this.#items.length;
  }

  push(item: T): void {
    this.#items.push(item);
  }

  /** The first item for which `test` holds, or undefined. */
  find(test: (item: T) => boolean): T | undefined {
    for (const item of this.#items) if (test(item)) return item;
    return undefined;
  }

  /** Removes and returns the first item for which `test` holds. */
  take(test: (item: T) => boolean): T | undefined {
    const items = this.#items;
    for (let i = 0; i < items.length; i++) {
      const item = items[i] as T;
      if (test(item)) {
        if (i === 0) items.shift();
        else items.splice(i, 1);
        return item;
      }
    }
    return undefined;
  }

  /** Removes and returns every item for which `test` holds, in order. */
  takeAll(test: (item: T) => boolean): T[] {
    const taken: T[] = [];
    this.#items = this.#items.filter((item) => (test(item) ? (taken.push(item), false) : true));
    return taken;
  }

  clear(): T[] {
    const items = this.#items;
    this.#items = [];
    return items;
  }
}
