/**
 * Wires `StreamStats` to a client session: one StreamStats per played stream, fed from the
 * stream's `lentMedia$` (every audio/video/data message) and its status events (state changes,
 * onStatus codes, stalls, resumes), plus the session's connection events. Every refusal or
 * failure reaches the stats with its reason (`onFailure`): the session's limits (MAX_STREAMS,
 * MAX_CONNECTIONS, named with where the limit comes from), a server's status code, a transport
 * error code (REFUSED, TIMEOUT: the transport's codes, the errno in the message).
 *
 * A live stream that ends (its publisher left: UnpublishNotify, Play.Stop, StreamEOF) counts as a
 * stall and is played again: by the NetStream machine itself with `playOptions.keepWatching` (its
 * `retrying` state, shown as the stream's state, with the attempt's reason), else after a backoff
 * by `Replayer`, the one place of the monitor's own "play it again"; our own stop never is.
 */
import type { Subscription } from '../rx';
import type { PlayOptions } from '../../machines/netStreamMachine';
import type { StreamEvent as ClientStreamEvent, StreamHandle, StreamOutcome } from '../client';
import type { StreamFailureCause } from '../outcome';
import type { Session } from '../client';
import { StreamStats, type StreamEvent, type StreamSnapshot } from './stats';
import { isSettledState, MONITOR_DOWN_STATES } from './states';

/** A connection failure's cause as a reason code (transport code, server status code or the machine's reason) and a line. */
function causeReason(
  cause: StreamFailureCause | undefined,
  redact: (text: string) => string,
): { reason: string; message?: string } | undefined {
  if (!cause) return undefined;
  switch (cause.kind) {
    case 'transport':
      return {
        reason: cause.error.code,
        ...(cause.error.errno ? { message: cause.error.errno } : {}),
      };
    case 'connection':
      return { reason: cause.reason };
    case 'status':
      return {
        reason: cause.status.code,
        ...(typeof cause.status.description === 'string'
          ? { message: redact(cause.status.description) }
          : {}),
      };
    default:
      return undefined;
  }
}

export interface StreamMonitorOptions {
  /** No media for this long while up is a stall (ms). Default 5000. */
  stallMs?: number;
  /** Sliding window of the rates (ms). Default 5000. */
  windowMs?: number;
  /** Tracks of each medium a multitrack stream lists (and labels) by id; the rest add up as
   * 'other'. Default 8 (DEFAULT_MAX_TRACKS). */
  maxTracks?: number;
  /** Milliseconds clock. Default Date.now. */
  clock?: () => number;
  /** Every stall, reconnect, state change, status code and failure of every stream. */
  onEvent?: (event: StreamEvent) => void;
  /** Play a stream again this long after it ended (ms, doubling up to 8×); false never. Default 1000. */
  replayAfterMs?: number | false;
  /** Passed to every `play`. */
  playOptions?: PlayOptions;
  /**
   * Words for a session limit that refused a stream, e.g. `maxConnections 960: the
   * file-descriptor limit (ulimit -n 1024) less 64`. Default: the supervisor's own message.
   */
  describeLimit?: (reason: 'MAX_CONNECTIONS' | 'MAX_STREAMS') => string | undefined;
  /**
   * Streams being set up at once (play sent, no answer yet); the others wait, reading `queued`.
   * Every stream is started: this paces the start (hundreds of connections opened at the same
   * instant time out on a busy machine or server), it caps nothing. Default DEFAULT_MAX_STARTING.
   */
  maxStarting?: number;
}

/** Streams set up at once by default (see StreamMonitorOptions.maxStarting). */
export const DEFAULT_MAX_STARTING = 50;

/** What a stream being watched needs besides its name. */
export interface WatchOptions {
  /** Names the stream in tables, JSON and metrics. Default: the name. */
  id?: string;
  /** Prometheus labels of its series. */
  labels?: Readonly<Record<string, string>>;
}

interface Watched {
  readonly id: string;
  /** The name played on the session. */
  readonly playName: string;
  readonly stats: StreamStats;
  handle?: StreamHandle;
  subs: Subscription[];
  timer?: NodeJS.Timeout;
  replays: number;
  /** Media since the current play started. */
  sawMedia: boolean;
  /** The last onStatus code of the current play. */
  lastCode?: string;
  /** The last state given to the stats. */
  state: string;
  /** Unwatched: no more plays, no more state changes. */
  removed: boolean;
  /** Holds one of the maxStarting slots. */
  starting: boolean;
}

/**
 * When to play a stream again after its play ended. The one place of the monitor's own "play it
 * again" logic, until the NetStream machine's `retrying` state does it.
 */
export class Replayer {
  constructor(private readonly afterMs: number | false = 1000) {}

  /** The delay before the next play, or undefined to leave the stream as it is. */
  delay(outcome: StreamOutcome, sawMedia: boolean, replays: number): number | undefined {
    if (this.afterMs === false) return undefined;
    const ended = outcome.outcome === 'ended';
    if (!(ended || sawMedia)) return undefined;
    return this.afterMs * 2 ** Math.min(3, replays);
  }
}

/** Failures after which the session's 'auto' mode moves a stream to a connection of its own. */
const RELOCATING_REASONS: ReadonlySet<string> = new Set(['START_TIMEOUT', 'STREAM_ID_IN_USE']);
/** Connection states that count against the session's maxConnections. */
const LIVE_CONNECTION_STATES: ReadonlySet<string> = new Set(['connecting', 'up', 'down']);

/** Watches streams of one session, each with its own StreamStats. */
export class StreamMonitor {
  private readonly watched = new Map<string, Watched>();
  private readonly clock: () => number;
  private stopped = false;
  private readonly sessionSub: Subscription;
  private readonly replayer: Replayer;
  private readonly queue: Watched[] = [];
  private inFlight = 0;

  constructor(
    readonly session: Session,
    private readonly options: StreamMonitorOptions = {},
  ) {
    this.clock = options.clock ?? Date.now;
    this.replayer = new Replayer(options.replayAfterMs ?? 1000);
    // Connection trouble (refused, retrying) shows as 'disconnected' with its reason.
    this.sessionSub = session.events$.subscribe((e) => {
      if (e.type !== 'session.connection') return;
      if (e.state !== 'down' && e.state !== 'failed') return;
      const failure = this.connectionFailure(e.id);
      const streams = session.summary().streams;
      for (const w of this.watched.values()) {
        const s = w.handle ? streams[w.handle.key] : undefined;
        if (!w.handle) continue; // still queued
        if (s && s.connectionId !== undefined && s.connectionId !== e.id) continue;
        if (!s && w.handle?.finished) continue;
        if (w.state === 'failed') continue;
        if (failure) w.stats.onFailure(failure.reason, failure.message);
        this.setState(w, e.state === 'failed' ? 'failed' : 'disconnected');
        this.release(w);
      }
    });
  }

  /** Why connection `id` went down: a transport error code, the server's status code, or the machine's reason. */
  private connectionFailure(id: string): { reason: string; message?: string } | undefined {
    const ref = this.session.summary().connections[id]?.ref;
    const failure = ref?.getSnapshot().context.failure;
    if (!failure) {
      return causeReason(this.session.connectionCause(id), (t) => this.session.redact(t));
    }
    const reason = failure.status?.code ?? failure.code ?? failure.reason;
    return {
      reason,
      ...(failure.message !== undefined ? { message: this.session.redact(failure.message) } : {}),
    };
  }

  /** Plays `name` on the session and keeps statistics on it. */
  watch(name: string, options: WatchOptions = {}): StreamStats {
    const id = options.id ?? name;
    if (this.watched.has(id)) throw new Error(`stream id "${id}" is already watched`);
    const stats = new StreamStats({
      id,
      labels: options.labels,
      clock: this.clock,
      stallMs: this.options.stallMs,
      windowMs: this.options.windowMs,
      maxTracks: this.options.maxTracks,
      downStates: MONITOR_DOWN_STATES,
      onEvent: this.options.onEvent,
    });
    const w: Watched = {
      id,
      playName: name,
      stats,
      subs: [],
      replays: 0,
      sawMedia: false,
      state: 'starting',
      removed: false,
      starting: false,
    };
    this.watched.set(id, w);
    this.setState(w, 'queued');
    this.queue.push(w);
    this.pump();
    return stats;
  }

  /**
   * Stops watching `id`: no replay, and its play is stopped (deleteStream). Resolves when the
   * server was told; false when no such stream.
   */
  async unwatch(id: string): Promise<boolean> {
    const w = this.watched.get(id);
    if (!w) return false;
    this.watched.delete(id);
    w.removed = true;
    const queued = this.queue.indexOf(w);
    if (queued >= 0) this.queue.splice(queued, 1);
    this.release(w);
    if (w.timer) clearTimeout(w.timer);
    for (const s of w.subs.splice(0)) s.unsubscribe();
    await w.handle?.stop();
    return true;
  }

  /** How many streams are watched. */
  get size(): number {
    return this.watched.size;
  }

  /** Starts queued streams while fewer than maxStarting are being set up. */
  private pump(): void {
    const max = this.options.maxStarting ?? DEFAULT_MAX_STARTING;
    while (this.inFlight < max && this.queue.length > 0 && !this.stopped) {
      const w = this.queue.shift() as Watched;
      if (w.removed) continue;
      w.starting = true;
      this.inFlight++;
      this.setState(w, 'starting');
      this.start(w);
    }
  }

  /** `w` is set up (or gave up): its slot goes to the next queued stream. */
  private release(w: Watched): void {
    if (!w.starting) return;
    w.starting = false;
    this.inFlight--;
    this.pump();
  }

  private start(w: Watched): void {
    if (this.stopped || w.removed) return;
    w.sawMedia = false;
    w.lastCode = undefined;
    const handle = this.session.play(w.playName, this.options.playOptions);
    w.handle = handle;
    w.subs.push(
      handle.lentMedia$.subscribe((m) => {
        if (!w.sawMedia && m.type !== 'Data') {
          w.sawMedia = true;
          w.replays = 0;
        }
        w.stats.onMedia(m);
      }),
      handle.status$.subscribe((e) => this.onStreamEvent(w, e)),
    );
    void handle.done.then((outcome) => {
      for (const s of w.subs.splice(0)) s.unsubscribe();
      this.release(w);
      if (this.stopped || w.removed) return;
      const ended = outcome.outcome === 'ended';
      // A live stream that was flowing and went away: the media stopped.
      if (ended || w.sawMedia) w.stats.onStall();
      if (outcome.status?.code) w.lastCode = outcome.status.code;
      if (outcome.outcome === 'failed') {
        const reason = this.failureReason(outcome);
        w.stats.onFailure(reason.reason, reason.message);
        this.setState(w, 'failed');
      }
      const delay = this.replayer.delay(outcome, w.sawMedia, w.replays);
      if (delay === undefined) return;
      w.replays++;
      w.timer = setTimeout(() => {
        w.timer = undefined;
        if (this.stopped || w.removed) return;
        w.stats.onReconnect();
        this.start(w);
      }, delay);
    });
  }

  /** The reason code and words of a failed play. */
  private failureReason(outcome: StreamOutcome): { reason: string; message?: string } {
    const why = outcome.reason ?? 'FAILED';
    if (why === 'MAX_CONNECTIONS' || why === 'MAX_STREAMS') {
      return { reason: why, message: this.options.describeLimit?.(why) };
    }
    if (RELOCATING_REASONS.has(why) && this.poolFull()) {
      // The server wants a connection per stream ('auto' mode learnt it from this failure),
      // and the pool had no room to move the stream to one: the limit is what refused it.
      const limit = this.options.describeLimit?.('MAX_CONNECTIONS');
      return {
        reason: 'MAX_CONNECTIONS',
        message: `${limit ?? 'maxConnections reached'}; the server serves one stream per connection (${why})`,
      };
    }
    if (outcome.status?.code) {
      const description = outcome.status.description;
      return {
        reason: outcome.status.code,
        ...(typeof description === 'string' ? { message: this.session.redact(description) } : {}),
      };
    }
    if (why === 'CONNECTION_FAILED') {
      const connection = causeReason(
        outcome.cause ??
          this.session.connectionCause(this.session.summary().streams[outcome.key]?.connectionId),
        (t) => this.session.redact(t),
      );
      if (connection) return { reason: connection.reason };
    }
    return { reason: why };
  }

  private onStreamEvent(w: Watched, e: ClientStreamEvent): void {
    switch (e.type) {
      case 'stream.state':
        // A stream the supervisor moves to another connection (STREAM_ID_IN_USE in 'auto'
        // mode) fails on its first one: that is not the stream's failure. Its end says.
        if (e.state === 'failed') return;
        if (e.state === 'retrying' && e.retry) {
          // The machine plays the stream again after a backoff (keepWatching): media that was
          // flowing stopped, and the attempt's reason is the stream's reason meanwhile.
          if (w.sawMedia) w.stats.onStall();
          const r = e.retry;
          const max = Number.isFinite(r.maxAttempts) ? `/${r.maxAttempts}` : '';
          w.stats.onFailure(
            r.status?.code ?? r.endReason ?? r.reason,
            `attempt ${r.attempt}${max} failed (${r.reason}); next in ${(r.delayMs / 1000).toFixed(1)} s`,
          );
        }
        this.setState(w, e.state);
        if (isSettledState(e.state)) this.release(w);
        return;
      case 'stream.status':
        w.lastCode = e.status.code;
        w.stats.onStatus(e.status.code);
        return;
      case 'stream.error':
        if (e.status && e.status.code !== w.lastCode) {
          w.lastCode = e.status.code;
          w.stats.onStatus(e.status.code);
        }
        return;
      case 'stream.stall':
        w.stats.onStall();
        return;
      case 'stream.resumed':
        // Media came back after a gap: its timeline starts over.
        w.stats.onReconnect();
        return;
      case 'stream.ended':
        this.setState(w, 'ended');
        return;
      default:
        return;
    }
  }

  private setState(w: Watched, state: string): void {
    if (w.removed) return;
    w.state = state;
    w.stats.onState(state);
  }

  /** The statistics of every watched stream, in the order they were added. */
  get streams(): readonly StreamStats[] {
    return [...this.watched.values()].map((w) => w.stats);
  }

  /** One stream's statistics. */
  stats(id: string): StreamStats | undefined {
    return this.watched.get(id)?.stats;
  }

  snapshots(): StreamSnapshot[] {
    return [...this.watched.values()].map((w) => w.stats.snapshot());
  }

  /** The onStatus code that ended `id`'s last play, if any. */
  lastStatusCode(id: string): string | undefined {
    return this.watched.get(id)?.lastCode;
  }

  /** The onStatus code that ended each stream's last play, if any (e.g. StreamNotFound). */
  lastStatusCodes(): (string | undefined)[] {
    return [...this.watched.values()].map((w) => w.lastCode);
  }

  /** True when the session's pool has no room for another connection. */
  private poolFull(): boolean {
    const ctx = this.session.actor.getSnapshot().context;
    const live = Object.values(ctx.connections).filter((c) => LIVE_CONNECTION_STATES.has(c.state));
    return live.length >= ctx.options.maxConnections;
  }

  /** Connections of the session that are up now. */
  connectionsUp(): number {
    const ctx = this.session.actor.getSnapshot().context;
    return Object.values(ctx.connections).filter((c) => c.state === 'up').length;
  }

  /** Stops re-playing and listening; the session itself stays open (close it yourself). */
  stop(): void {
    this.stopped = true;
    this.sessionSub.unsubscribe();
    for (const w of this.watched.values()) {
      if (w.timer) clearTimeout(w.timer);
      for (const s of w.subs.splice(0)) s.unsubscribe();
    }
  }
}
