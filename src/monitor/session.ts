/**
 * Wires `StreamStats` to client sessions: one StreamStats per played stream, fed from the
 * stream's `lentMedia$` (every audio/video/data message) and its status events (state changes,
 * onStatus codes, stalls, resumes), plus the session's connection events. A live stream that
 * ends (its publisher left: UnpublishNotify, Play.Stop, StreamEOF) counts as a stall and is
 * played again after a backoff, as a monitor should; our own stop never is.
 *
 * `UrlMonitor` puts URLs on sessions: one session per host/app (and connect parameters), one
 * stream actor per URL; the session's 'auto' mode shares connections where the server allows it.
 */
import type { Subscription } from '../rx';
import type { PlayOptions } from '../../machines/netStreamMachine';
import type { SessionOptions, StreamEvent as ClientStreamEvent, StreamHandle } from '../client';
import { createSession, type Session } from '../client';
import { redactUrl } from '../redact';
import { parseRtmpUrl } from '../url';
import { StreamStats, type StreamEvent, type StreamSnapshot } from './stats';

/** States of the stream machine (and ours) that mean "not connected now". */
const DOWN_STATES = [
  'down',
  'idle',
  'interrupted',
  'reconnecting',
  'disconnected',
  'closed',
  'stopped',
  'ended',
  'stopping',
] as const;

export interface StreamMonitorOptions {
  /** No media for this long while up is a stall (ms). Default 5000. */
  stallMs?: number;
  /** Sliding window of the rates (ms). Default 5000. */
  windowMs?: number;
  /** Milliseconds clock. Default Date.now. */
  clock?: () => number;
  /** Every stall, reconnect, state change and status code of every stream. */
  onEvent?: (event: StreamEvent) => void;
  /** Play a stream again this long after it ended (ms, doubling up to 8×); false never. Default 1000. */
  replayAfterMs?: number | false;
  /** Passed to every `play`. */
  playOptions?: PlayOptions;
}

interface Watched {
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
}

/** Watches streams of one session, each with its own StreamStats. */
export class StreamMonitor {
  private readonly watched: Watched[] = [];
  private readonly clock: () => number;
  private stopped = false;
  private readonly sessionSub: Subscription;

  constructor(
    readonly session: Session,
    private readonly options: StreamMonitorOptions = {},
  ) {
    this.clock = options.clock ?? Date.now;
    // Connection trouble before a stream exists (refused, retrying) shows as 'disconnected'.
    this.sessionSub = session.events$.subscribe((e) => {
      if (e.type !== 'session.connection') return;
      if (e.state !== 'down' && e.state !== 'failed') return;
      const streams = session.summary().streams;
      for (const w of this.watched) {
        const s = w.handle ? streams[w.handle.key] : undefined;
        if (s && s.connectionId !== undefined && s.connectionId !== e.id) continue;
        if (w.state === 'failed') continue;
        this.setState(w, e.state === 'failed' ? 'failed' : 'disconnected');
      }
    });
  }

  /**
   * Plays `name` on the session and keeps statistics on it. `displayName` names it in tables,
   * JSON and metrics; `url` (already redacted) labels it.
   */
  watch(name: string, labels: { displayName?: string; url: string }): StreamStats {
    const stats = new StreamStats({
      name: labels.displayName ?? name,
      url: labels.url,
      clock: this.clock,
      stallMs: this.options.stallMs,
      windowMs: this.options.windowMs,
      downStates: DOWN_STATES,
      onEvent: this.options.onEvent,
    });
    const w: Watched = {
      playName: name,
      stats,
      subs: [],
      replays: 0,
      sawMedia: false,
      state: 'starting',
    };
    this.watched.push(w);
    this.start(w);
    return stats;
  }

  private start(w: Watched): void {
    if (this.stopped) return;
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
      if (this.stopped) return;
      const ended = outcome.outcome === 'ended';
      // A live stream that was flowing and went away: the media stopped.
      if (ended || w.sawMedia) w.stats.onStall();
      if (outcome.status?.code) w.lastCode = outcome.status.code;
      if (outcome.outcome === 'failed') this.setState(w, 'failed');
      const replay = this.options.replayAfterMs ?? 1000;
      if (replay === false || !(ended || w.sawMedia)) return;
      const delay = replay * 2 ** Math.min(3, w.replays++);
      w.timer = setTimeout(() => {
        w.timer = undefined;
        if (this.stopped) return;
        w.stats.onReconnect();
        this.start(w);
      }, delay);
    });
  }

  private onStreamEvent(w: Watched, e: ClientStreamEvent): void {
    switch (e.type) {
      case 'stream.state':
        this.setState(w, e.state);
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
    w.state = state;
    w.stats.onState(state);
  }

  /** The statistics of every watched stream, in the order they were added. */
  get streams(): readonly StreamStats[] {
    return this.watched.map((w) => w.stats);
  }

  snapshots(): StreamSnapshot[] {
    return this.watched.map((w) => w.stats.snapshot());
  }

  /** The onStatus code that ended each stream's last play, if any (e.g. StreamNotFound). */
  lastStatusCodes(): (string | undefined)[] {
    return this.watched.map((w) => w.lastCode);
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
    for (const w of this.watched) {
      if (w.timer) clearTimeout(w.timer);
      for (const s of w.subs.splice(0)) s.unsubscribe();
    }
  }
}

/** One URL to monitor, parsed. */
export interface MonitorTarget {
  url: string;
  /** The URL with its secrets masked. */
  safeUrl: string;
  /** The name played (the URL's playpath, query included). */
  playName: string;
  /** Unique display name: the playpath (query masked), or host/app/playpath when names repeat. */
  displayName: string;
  /** Session key: same protocol, host, port, app and connect parameters share a session. */
  group: string;
}

/** Parses and groups URLs; throws the URL parser's error for a bad one, or for a URL without a stream name. */
export function planTargets(urls: readonly string[]): MonitorTarget[] {
  const parsed = urls.map((url) => {
    const u = parseRtmpUrl(url);
    if (u.playpath === '')
      throw new Error(`${redactUrl(url)} names no stream (rtmp://host/app/stream)`);
    const group = JSON.stringify([
      u.protocol,
      u.host,
      u.port,
      u.app,
      u.tcUrl,
      u.user ?? '',
      u.password ?? '',
      u.connArgs,
    ]);
    const q = u.playpath.indexOf('?');
    const shortName = q < 0 ? u.playpath : `${u.playpath.slice(0, q)}?***`;
    return { url, u, group, shortName };
  });
  const counts = new Map<string, number>();
  for (const p of parsed) counts.set(p.shortName, (counts.get(p.shortName) ?? 0) + 1);
  return parsed.map((p) => ({
    url: p.url,
    safeUrl: redactUrl(p.url),
    playName: p.u.playpath,
    displayName:
      (counts.get(p.shortName) ?? 0) > 1
        ? `${p.u.host}:${p.u.port}/${p.u.app}/${p.shortName}`
        : p.shortName,
    group: p.group,
  }));
}

export interface UrlMonitorOptions extends StreamMonitorOptions {
  /** Extra session options (timeouts, retry, streamsPerConnection ...). */
  session?: Partial<Omit<SessionOptions, 'url'>>;
  /** Told about URLs left out because the same stream was already listed. */
  onDuplicate?: (target: MonitorTarget) => void;
}

/** Monitors a list of URLs: one session per host/app, one StreamStats per stream. */
export class UrlMonitor {
  readonly monitors: StreamMonitor[] = [];
  readonly targets: MonitorTarget[];

  constructor(urls: readonly string[], options: UrlMonitorOptions = {}) {
    const all = planTargets(urls);
    const groups = new Map<string, MonitorTarget[]>();
    const seen = new Set<string>();
    this.targets = [];
    for (const t of all) {
      const key = JSON.stringify([t.group, t.playName]);
      if (seen.has(key)) {
        options.onDuplicate?.(t);
        continue;
      }
      seen.add(key);
      this.targets.push(t);
      const list = groups.get(t.group) ?? [];
      list.push(t);
      groups.set(t.group, list);
    }
    const stallMs = options.stallMs ?? 5000;
    for (const targets of groups.values()) {
      const session = createSession({
        streamsPerConnection: 'auto',
        maxStreams: Math.max(64, targets.length),
        ...options.session,
        timeouts: { stall: stallMs, ...options.session?.timeouts },
        url: targets[0].url,
      });
      const monitor = new StreamMonitor(session, options);
      for (const t of targets)
        monitor.watch(t.playName, { displayName: t.displayName, url: t.safeUrl });
      this.monitors.push(monitor);
    }
  }

  snapshots(): StreamSnapshot[] {
    return this.monitors.flatMap((m) => m.snapshots());
  }

  lastStatusCodes(): (string | undefined)[] {
    return this.monitors.flatMap((m) => m.lastStatusCodes());
  }

  connectionsUp(): number {
    return this.monitors.reduce((n, m) => n + m.connectionsUp(), 0);
  }

  /** Stops every monitor and closes every session. */
  async close(): Promise<void> {
    for (const m of this.monitors) m.stop();
    await Promise.all(this.monitors.map((m) => m.session.close()));
  }
}
