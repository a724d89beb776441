/**
 * The embedded server's own limits, as pure bookkeeping (no sockets, no timers, the clock is
 * passed in): the server-wide memory budget. The rate at which pings are answered and the
 * smallest acknowledgement window honoured are bounds of the control duties both sides share
 * (src/protocol/controlDuties.ts), re-exported here. The connection IO asks; these answer.
 */

/** Why the server closed or refused a client because of one of its limits. */
export type ServerLimitCode =
  /** The server-wide budget over partial messages, queued output and GOP caches. */
  | 'MAX_BUFFERED_BYTES'
  /** Too many connections from one address (refused at accept). */
  | 'MAX_CONNECTIONS_PER_ADDRESS'
  /** Too many connections in all (refused at accept). */
  | 'MAX_CONNECTIONS'
  /** Bytes queued to one connection's socket (a consumer far too slow). */
  | 'MAX_QUEUED_BYTES';

/** Thrown (and passed as a connection's close cause) when a client hits one of the server's limits. */
export class ServerLimitError extends Error {
  readonly layer = 'server';
  constructor(
    readonly code: ServerLimitCode,
    message: string,
    /** The offending data: the limit, what was held, by whom. */
    readonly details: Readonly<Record<string, unknown>> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ServerLimitError';
  }
}

/** What a connection or a stream holds in the budget. */
export type BudgetKind = 'partialMessages' | 'queuedOutput' | 'gopCache';

/**
 * The server-wide memory budget (`maxBufferedBytes`): every holder (a connection's partial
 * messages and queued output, a stream's GOP cache) reports what it holds now; `set` answers
 * whether the total stays within the budget. The holder that would exceed it is refused (its
 * connection is closed): holding is recorded only when it fits.
 */
export class MemoryBudget {
  private readonly held = new Map<string, number>();
  private totalValue = 0;
  private peakValue = 0;

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) {
      throw new RangeError(`maxBufferedBytes must be a positive integer, got ${limit}`);
    }
  }

  /** Bytes held now, over every holder. */
  get total(): number {
    return this.totalValue;
  }

  /** The most ever held at once. */
  get peak(): number {
    return this.peakValue;
  }

  /** Starts measuring the peak again from what is held now. */
  resetPeak(): void {
    this.peakValue = this.totalValue;
  }

  /** What `owner` holds of `kind`. */
  heldBy(owner: string, kind: BudgetKind): number {
    return this.held.get(`${owner}:${kind}`) ?? 0;
  }

  /**
   * `owner` now holds `bytes` of `kind`. Returns undefined when that fits, or the error naming
   * the limit when it would exceed it (then nothing changes: the caller closes the owner).
   * Holding less always fits.
   */
  set(owner: string, kind: BudgetKind, bytes: number): ServerLimitError | undefined {
    const key = `${owner}:${kind}`;
    const before = this.held.get(key) ?? 0;
    const total = this.totalValue - before + bytes;
    if (bytes > before && total > this.limit) {
      return new ServerLimitError(
        'MAX_BUFFERED_BYTES',
        `${owner} would hold ${bytes} bytes of ${kind}, taking the server to ${total} bytes, over maxBufferedBytes ${this.limit}`,
        { owner, kind, bytes, total, limit: this.limit },
      );
    }
    if (bytes === 0) this.held.delete(key);
    else this.held.set(key, bytes);
    this.totalValue = total;
    if (total > this.peakValue) this.peakValue = total;
    return undefined;
  }

  /** Forgets everything `owner` holds (it closed). */
  release(owner: string): void {
    for (const kind of ['partialMessages', 'queuedOutput', 'gopCache'] as const) {
      this.set(owner, kind, 0);
    }
  }
}

// The ping bound and the acknowledgement-window bound are control duties both sides share: they
// live in the protocol core (src/protocol/controlDuties.ts); re-exported for the server's users.
export { honouredAckWindow, RateLimiter } from '../protocol/controlDuties';
