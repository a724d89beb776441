/**
 * The control duties both ends of an RTMP connection owe each other, once, for the client and
 * the server: acknowledge every window of bytes received (Window Acknowledgement Size →
 * Acknowledgement), answer PingRequest with PingResponse, and keep the chunk sizes both sides
 * announced. Sans-IO: the caller passes in what it read and the clock; this answers with the
 * messages to write. The client's transport and machine and the server's connection both use it.
 *
 * Bounds, named and defaulted by the caller (the server: `minAckWindow` 4096 and
 * `maxPingsPerSecond` 50; the client: neither, see {@link UNBOUNDED_DUTIES}):
 * - `minAckWindow`: a peer window below it is raised to it, so a window of 1 cannot make us
 *   answer every read with an Acknowledgement;
 * - `maxPingsPerSecond`: a token bucket; pings beyond it are left unanswered (and counted).
 */
import { validateChunkSize } from './chunk';
import type { RtmpMessage } from './message/types';

/** The bounds of the duties (see the module comment). */
export interface ControlDutiesLimits {
  /** The smallest peer acknowledgement window honoured (bytes). 1: as the peer asked. */
  minAckWindow: number;
  /** Most PingRequests answered per second; `Infinity`: every one. */
  maxPingsPerSecond: number;
}

/** No bound: acknowledge at the peer's window, answer every ping (the client's choice). */
export const UNBOUNDED_DUTIES: Readonly<ControlDutiesLimits> = Object.freeze({
  minAckWindow: 1,
  maxPingsPerSecond: Number.POSITIVE_INFINITY,
});

/** The RTMP default chunk size (both directions, until a Set Chunk Size). */
export const DEFAULT_CHUNK_SIZE = 128;

/**
 * The acknowledgement window we honour for a peer's Window Acknowledgement Size: never below
 * `minimum`, so a window of 1 cannot make us answer every read with an Acknowledgement. 0 (or
 * less): the peer asked for none.
 */
export function honouredAckWindow(requested: number, minimum: number): number {
  return requested > 0 ? Math.max(requested, minimum) : 0;
}

/**
 * A token bucket: at most `perSecond` events a second, in bursts of up to `perSecond`. Used to
 * answer pings: answering is cheap, but not without bound. The clock is passed in.
 */
export class RateLimiter {
  private tokens: number;
  private last: number;
  /** Events refused so far. */
  refused = 0;

  constructor(
    readonly perSecond: number,
    now: number,
  ) {
    this.tokens = perSecond;
    this.last = now;
  }

  /** Whether one more event may happen at `now` (milliseconds); takes a token if so. */
  take(now: number): boolean {
    if (this.perSecond === Number.POSITIVE_INFINITY) return true;
    const elapsed = Math.max(0, now - this.last);
    this.last = now;
    this.tokens = Math.min(this.perSecond, this.tokens + (elapsed * this.perSecond) / 1000);
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    this.refused++;
    return false;
  }
}

/** Acknowledgement of `sequenceNumber` bytes received (mod 2^32), on the control stream. */
export function acknowledgement(sequenceNumber: number): RtmpMessage {
  return {
    type: 'Acknowledgement',
    sequenceNumber: sequenceNumber >>> 0,
    timestamp: 0,
    streamId: 0,
  };
}

/** PingResponse carrying the time of the PingRequest it answers. */
export function pingResponse(time: number): RtmpMessage {
  return { type: 'UserControl', event: 'PingResponse', time, timestamp: 0, streamId: 0 };
}

/** Window Acknowledgement Size `windowSize`: how often we want to be acknowledged. */
export function windowAcknowledgementSize(windowSize: number): RtmpMessage {
  return { type: 'WindowAckSize', windowSize, timestamp: 0, streamId: 0 };
}

/** The PingRequest's time, when `m` is one. */
export function pingRequestTime(m: RtmpMessage): number | undefined {
  return m.type === 'UserControl' && m.event === 'PingRequest' ? m.time : undefined;
}

/**
 * One connection's duties: the peer's acknowledgement window and what we acknowledged, the
 * pings answered, and both chunk sizes. The decoder applies a peer's Set Chunk Size itself
 * (it changes the framing of the same read); this keeps the record.
 */
export class ControlDuties {
  /** The peer's window as honoured (0: it set none, so we send no Acknowledgements). */
  private window = 0;
  /** The sequence number (bytes) of our last Acknowledgement. */
  private acked = 0;
  private received = 0;
  private readonly pings: RateLimiter;
  /** The chunk size the peer announced (its Set Chunk Size). */
  peerChunkSize = DEFAULT_CHUNK_SIZE;
  /** The chunk size we announced (our Set Chunk Size). */
  ourChunkSize = DEFAULT_CHUNK_SIZE;

  constructor(
    readonly limits: ControlDutiesLimits,
    now: number,
  ) {
    this.pings = new RateLimiter(limits.maxPingsPerSecond, now);
  }

  /** The acknowledgement window honoured (0: none). */
  get ackWindow(): number {
    return this.window;
  }

  /** Bytes received so far (handshake included). */
  get bytesIn(): number {
    return this.received;
  }

  /** The sequence number of our last Acknowledgement. */
  get acknowledged(): number {
    return this.acked;
  }

  /** Pings left unanswered (over `maxPingsPerSecond`). */
  get pingsRefused(): number {
    return this.pings.refused;
  }

  /** The peer's Window Acknowledgement Size (bounded below by `minAckWindow`). */
  setAckWindow(requested: number): void {
    this.window = honouredAckWindow(requested, this.limits.minAckWindow);
  }

  /**
   * `total` bytes have arrived in all (handshake included). Returns the sequence number to
   * acknowledge when a window or more arrived since our last Acknowledgement, else undefined.
   */
  bytesReceived(total: number): number | undefined {
    this.received = total;
    if (this.window <= 0 || total - this.acked < this.window) return undefined;
    this.acked = total;
    return total >>> 0;
  }

  /** The PingResponse for a PingRequest at `now`, or undefined (over the rate bound). */
  answerPing(time: number, now: number): RtmpMessage | undefined {
    return this.pings.take(now) ? pingResponse(time) : undefined;
  }

  /** We announce chunk size `size` (validated: 1..2^31-1). */
  announceChunkSize(size: number): number {
    validateChunkSize(size);
    this.ourChunkSize = size;
    return size;
  }

  /**
   * A control message from the peer: records a window or chunk size, and returns what to answer
   * (a PingResponse; nothing else needs an answer). Other messages: nothing.
   */
  receive(m: RtmpMessage, now: number): RtmpMessage[] {
    switch (m.type) {
      case 'WindowAckSize':
        this.setAckWindow(m.windowSize);
        return [];
      case 'SetChunkSize':
        this.peerChunkSize = m.chunkSize;
        return [];
      case 'UserControl': {
        if (m.event !== 'PingRequest') return [];
        const reply = this.answerPing(m.time, now);
        return reply ? [reply] : [];
      }
      default:
        return [];
    }
  }
}
