/**
 * `createMonitor`: the monitor as a library. It watches targets (an id, an RTMP URL, labels) from
 * a list, a targets file (watched, re-read on `reload()`), and `add`/`remove` at run time; keeps
 * statistics on each; and exports them as snapshots, events and Prometheus metrics. The CLI's
 * `monitor` is a thin user of it.
 *
 * - Sessions: targets on the same host, app and connect parameters share one session, and its
 *   connections where the server allows several streams per connection ('auto'). Each session's
 *   pool may grow to the connection budget: `maxConnections` if given, else the process's
 *   file-descriptor limit less FD_RESERVE. Streams per session are not capped: the targets are
 *   what the user asked for. A refusal names the limit that was hit.
 * - Targets file: changes apply as a diff: added targets start, removed ones stop (deleteStream),
 *   changed ones (URL or labels) restart, unchanged ones are not touched. A file that cannot be
 *   read or parsed keeps the last good set; the failure is logged, told as an event and counted.
 * - Targets added with `add` (the HTTP API) stay until `remove`d; a reload of the file diffs the
 *   file's own targets only. Ids are unique across the list, the file and `add`: a file entry
 *   whose id is already held by another source is skipped (and logged).
 * - Shards: with `shard`, only the targets of this process's shards (see ./shard) are watched,
 *   from the list and the file; `add` takes what it is given.
 */
import { watch as watchFs, readFileSync, statSync, type FSWatcher } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { Registry } from 'prom-client';
import { Observable, Subject } from '../rx';
import type { PlayOptions } from '../../machines/netStreamMachine';
import { createSession, type SessionOptions } from '../client';
import { parseRtmpUrl } from '../url';
import { connectionBudget, type ConnectionBudget } from './fdLimit';
import {
  createMetrics,
  createMonitorMetrics,
  type MonitorMetrics,
  type StreamMetrics,
} from './metrics';
import { StreamMonitor } from './session';
import { describeShard, inShard, type ShardSpec } from './shard';
import type { StreamEvent, StreamSnapshot } from './stats';
import {
  TargetsError,
  diffTargets,
  parseTargets,
  validateTarget,
  type MonitorTarget,
} from './targets';

/** A change of the target set: a (re)load of the file, or an add/remove through the API. */
export interface TargetsEvent {
  event: 'targets';
  at: number;
  source: 'file' | 'api' | 'list';
  ok: boolean;
  /** Targets in the file (file loads). */
  total?: number;
  /** Targets this process watches now. */
  watching: number;
  added: number;
  removed: number;
  /** What went wrong (file loads that failed; entries skipped). */
  message?: string;
}

export type MonitorEvent = StreamEvent | TargetsEvent;

/**
 * How long a watched connection's socket rests after a read that carried media (ms): nginx-rtmp
 * writes every message on its own, so each read costs the same whatever it holds, and reading
 * them in batches takes far less CPU per stream. At 200 streams of 1 Mbit/s from nginx-rtmp
 * (`npm run bench -- --only c --counts 200`): 0.12-0.13% of a core per stream at 50 ms,
 * 0.086-0.090% at 100, 0.060% at 200. Media reaches the statistics up to this late, and the
 * kernel holds up to this much of each stream between reads (a 20 Mbit/s stream at 100 ms:
 * 250 KB), so the default stays at 100. `monitor --read-batch-ms` (at most MAX_READ_BATCH_MS).
 */
export const MONITOR_READ_BATCH_MS = 100;

/**
 * The longest read rest `monitor --read-batch-ms` takes (ms): longer ones would hold a stream's
 * media past a second, the statistics' resolution.
 */
export const MAX_READ_BATCH_MS = 1000;

/**
 * How often a watched stream tells its machines that media flows (ms; `SessionOptions.mediaTickMs`):
 * each tick is a transition of the NetConnection and NetStream machines, about half the monitor's
 * CPU at the transport's default of 4 a second (`npm run bench -- --only c`). Once a second
 * still tells the first media at once, and stalls (`stallMs`, 5 s) count from real silence.
 */
export const MONITOR_MEDIA_TICK_MS = 1000;

export interface MonitorOptions {
  /** Read batching of every watched connection (ms; 0 turns it off). Default `MONITOR_READ_BATCH_MS`. */
  readBatchMs?: number;
  /** Targets to watch from the start (e.g. URLs from the command line, see `targetsFromUrls`). */
  targets?: readonly MonitorTarget[];
  /** A YAML or JSON targets file, watched for changes (fs.watch and a poll). */
  targetsFile?: string;
  /** Watch only this process's shards of `targets` and the file. */
  shard?: ShardSpec;
  /** No media for this long while up is a stall (ms). Default 5000. */
  stallMs?: number;
  /** Sliding window of the rates (ms). Default 5000. */
  windowMs?: number;
  /** Tracks of each medium a multitrack stream lists (and labels) by id; the rest add up as
   * 'other'. Default 8 (DEFAULT_MAX_TRACKS). */
  maxTracks?: number;
  /** Connections per session. Default: the file-descriptor limit less FD_RESERVE. */
  maxConnections?: number;
  /** Extra session options (timeouts, retry, inspect...). */
  session?: Partial<Omit<SessionOptions, 'url'>>;
  /**
   * Passed to every play. Default `{ keepWatching: true }`: a stream whose publisher left, or is
   * not there yet, reads `retrying` and is played again after a backoff, for ever.
   */
  playOptions?: PlayOptions;
  /**
   * Without keepWatching: play a live stream again this long after it ended (ms); false never.
   * Default 1000 (false with keepWatching: the machine retries).
   */
  replayAfterMs?: number | false;
  /** Streams of a session set up at once; the rest read `queued` meanwhile. Default 50. */
  maxStarting?: number;
  /** Period of `snapshots$` and of the metrics update (ms). Default 1000. */
  tickMs?: number;
  /** Poll of the targets file, besides fs.watch (ms). Default 2000. */
  pollMs?: number;
  /** The registry the metrics go to. Default: a new one (`monitor.registry`). */
  registry?: Registry;
  /** Progress and reload errors, one line each (no secrets). */
  log?: (line: string) => void;
  /** Milliseconds clock of the statistics. Default Date.now. */
  clock?: () => number;
}

export interface Monitor {
  /** Every stream's snapshot, every `tickMs`. */
  readonly snapshots$: Observable<StreamSnapshot[]>;
  /** Stream events (state, status, stall, reconnect, failure) and target-set changes. */
  readonly events$: Observable<MonitorEvent>;
  /** prom-client registry with every rtmp_stream_* and rtmp_monitor_* metric. */
  readonly registry: Registry;
  /** True once the targets are loaded, until `close()`. */
  readonly ready: boolean;
  /** Where the connection limit comes from. */
  readonly budget: ConnectionBudget;
  /** Starts watching a target; throws TargetsError (bad target, or its id is taken: DUPLICATE_ID). */
  add(target: unknown): MonitorTarget;
  /** Stops watching a target (deleteStream); false when there is none of that id. */
  remove(id: string): boolean;
  /** The targets watched now. */
  targets(): MonitorTarget[];
  /** Every stream's snapshot now, in the order the targets were added. */
  snapshots(): StreamSnapshot[];
  /** One stream's snapshot. */
  snapshot(id: string): StreamSnapshot | undefined;
  /** The onStatus code that ended each stream's last play, in snapshot order. */
  lastStatusCodes(): (string | undefined)[];
  /** Connections up now, over every session. */
  connectionsUp(): number;
  /** Re-reads the targets file now (SIGHUP); resolves true when it loaded. */
  reload(): Promise<boolean>;
  /** Stops every stream (deleteStream), closes every session and the file watch. */
  close(): Promise<void>;
}

type Source = 'list' | 'file' | 'api';

interface Entry {
  target: MonitorTarget;
  source: Source;
  group: string;
}

/** Targets on one session: same protocol, host, port, app, tcUrl, credentials and connect args. */
function groupOf(url: string): string {
  const u = parseRtmpUrl(url);
  return JSON.stringify([
    u.protocol,
    u.host,
    u.port,
    u.app,
    u.tcUrl,
    u.user ?? '',
    u.password ?? '',
    u.connArgs,
  ]);
}

/** Debounce of fs.watch events (an editor writes a file in several steps). */
const WATCH_DEBOUNCE_MS = 100;

class MonitorImpl implements Monitor {
  readonly registry: Registry;
  readonly budget: ConnectionBudget;
  readonly snapshots$: Observable<StreamSnapshot[]>;
  readonly events$: Observable<MonitorEvent>;
  private readonly events = new Subject<MonitorEvent>();
  private readonly ticks = new Subject<StreamSnapshot[]>();
  private readonly entries = new Map<string, Entry>();
  private readonly sessions = new Map<string, StreamMonitor>();
  /** The file's last good targets (after sharding), by id. */
  private fileTargets = new Map<string, MonitorTarget>();
  private readonly streamMetrics: StreamMetrics;
  private readonly monitorMetrics: MonitorMetrics;
  private readonly tick: NodeJS.Timeout;
  private watcher?: FSWatcher;
  private poll?: NodeJS.Timeout;
  private debounce?: NodeJS.Timeout;
  private fileKey = '';
  private loading?: Promise<boolean>;
  private closed = false;
  private closing?: Promise<void>;
  private loaded = false;
  private readonly log: (line: string) => void;
  /** Events of the construction, told once the caller had a chance to subscribe. */
  private pending: MonitorEvent[] | undefined = [];

  private readonly playOptions: PlayOptions;

  constructor(private readonly options: MonitorOptions) {
    this.playOptions = { keepWatching: true, ...options.playOptions };
    this.registry = options.registry ?? new Registry();
    this.budget = connectionBudget(options.maxConnections);
    this.log = options.log ?? (() => undefined);
    this.streamMetrics = createMetrics(this.registry);
    this.monitorMetrics = createMonitorMetrics(this.registry, options.targetsFile !== undefined);
    if (options.shard) this.monitorMetrics.setShard(options.shard);
    this.events$ = this.events.asObservable();
    this.snapshots$ = this.ticks.asObservable();

    const listed = (options.targets ?? []).map((t, i) => validateTarget(t, i));
    const ids = new Set<string>();
    for (const t of listed) {
      if (ids.has(t.id))
        throw new TargetsError(
          `target id "${t.id}" is listed twice`,
          'DUPLICATE_ID',
          undefined,
          t.id,
        );
      ids.add(t.id);
    }
    const mine = listed.filter((t) => this.inShard(t.id));
    for (const t of mine) this.start(t, 'list');
    if (listed.length > 0) {
      this.log(`targets: ${listed.length} listed, ${mine.length} watched${this.shardText()}`);
      this.emitTargets({ source: 'list', ok: true, added: mine.length, removed: 0 });
    }
    if (options.targetsFile !== undefined) {
      // The first load is synchronous: a file that cannot be used stops the start (throws).
      const file = options.targetsFile;
      let text: string;
      try {
        this.fileKey = this.statKey(statSync(file));
        text = readFileSync(file, 'utf8');
      } catch (e) {
        throw new TargetsError(`${file}: ${(e as Error).message}`, 'PARSE', undefined, undefined, {
          cause: e,
        });
      }
      this.applyFile(parseTargets(text, file));
      this.watchFile(file);
    }
    this.loaded = true;
    this.tick = setInterval(() => this.emitTick(), options.tickMs ?? 1000);
    this.tick.unref();
    // `createMonitor(...).events$.subscribe(...)` sees the events of the start too.
    queueMicrotask(() => {
      const pending = this.pending ?? [];
      this.pending = undefined;
      for (const e of pending) this.events.next(e);
    });
  }

  private emit(e: MonitorEvent): void {
    if (this.pending) this.pending.push(e);
    else this.events.next(e);
  }

  get ready(): boolean {
    return this.loaded && !this.closed;
  }

  private shardText(): string {
    return this.options.shard ? ` in shard ${describeShard(this.options.shard)}` : '';
  }

  private inShard(id: string): boolean {
    return !this.options.shard || inShard(id, this.options.shard);
  }

  private emitTargets(e: Omit<TargetsEvent, 'event' | 'at' | 'watching'>): void {
    this.monitorMetrics.setTargets(this.entries.size);
    this.emit({ event: 'targets', at: Date.now(), watching: this.entries.size, ...e });
  }

  private emitTick(): void {
    const snaps = this.snapshots();
    this.streamMetrics.update(snaps);
    this.ticks.next(snaps);
  }

  /** Updates the metrics from the streams now (the tick does it every `tickMs`). */
  updateMetrics(): StreamSnapshot[] {
    const snaps = this.snapshots();
    this.streamMetrics.update(snaps);
    return snaps;
  }

  private sessionFor(group: string, url: string): StreamMonitor {
    let monitor = this.sessions.get(group);
    if (!monitor) {
      const stallMs = this.options.stallMs ?? 5000;
      const session = createSession({
        streamsPerConnection: 'auto',
        readBatchMs: this.options.readBatchMs ?? MONITOR_READ_BATCH_MS,
        mediaTickMs: MONITOR_MEDIA_TICK_MS,
        ...this.options.session,
        // Sized from what the user asked for: no cap below it but the real one (the budget).
        maxStreams: Number.MAX_SAFE_INTEGER,
        maxConnections: this.budget.maxConnections,
        timeouts: { stall: stallMs, ...this.options.session?.timeouts },
        url,
      });
      monitor = new StreamMonitor(session, {
        stallMs,
        windowMs: this.options.windowMs,
        maxTracks: this.options.maxTracks,
        clock: this.options.clock,
        replayAfterMs: this.options.replayAfterMs ?? (this.playOptions.keepWatching ? false : 1000),
        playOptions: this.playOptions,
        maxStarting: this.options.maxStarting,
        onEvent: (e) => this.emit(e),
        describeLimit: (reason) =>
          reason === 'MAX_CONNECTIONS'
            ? `maxConnections ${this.budget.maxConnections} reached (${this.budget.source})`
            : `maxStreams reached`,
      });
      this.sessions.set(group, monitor);
    }
    return monitor;
  }

  private start(target: MonitorTarget, source: Source): void {
    const group = groupOf(target.url);
    this.entries.set(target.id, { target, source, group });
    const monitor = this.sessionFor(group, target.url);
    monitor.watch(parseRtmpUrl(target.url).playpath, { id: target.id, labels: target.labels });
  }

  private stop(id: string): boolean {
    const entry = this.entries.get(id);
    if (!entry) return false;
    this.entries.delete(id);
    const monitor = this.sessions.get(entry.group);
    if (!monitor) return true;
    void monitor.unwatch(id).then(() => {
      // The last stream of a session gone: close the session (unless a new one came meanwhile).
      if (monitor.size === 0 && this.sessions.get(entry.group) === monitor && !this.closed) {
        this.sessions.delete(entry.group);
        monitor.stop();
        void monitor.session.close();
      }
    });
    return true;
  }

  add(raw: unknown): MonitorTarget {
    if (this.closed) throw new TargetsError('the monitor is closed', 'SHAPE');
    const target = validateTarget(raw);
    if (this.entries.has(target.id))
      throw new TargetsError(
        `id "${target.id}" is already watched`,
        'DUPLICATE_ID',
        undefined,
        target.id,
      );
    this.start(target, 'api');
    this.log(`targets: added ${target.id}`);
    this.emitTargets({ source: 'api', ok: true, added: 1, removed: 0 });
    return target;
  }

  remove(id: string): boolean {
    if (!this.stop(id)) return false;
    this.log(`targets: removed ${id}`);
    this.emitTargets({ source: 'api', ok: true, added: 0, removed: 1 });
    return true;
  }

  /** Applies a new parse of the file as a diff against its previous one. */
  private applyFile(all: MonitorTarget[]): void {
    const mine = all.filter((t) => this.inShard(t.id));
    const { removed, added } = diffTargets(this.fileTargets, mine);
    let stopped = 0;
    let started = 0;
    const skipped: string[] = [];
    for (const id of removed) {
      if (this.entries.get(id)?.source === 'file' && this.stop(id)) stopped++;
    }
    for (const t of added) {
      const holder = this.entries.get(t.id);
      if (holder) {
        skipped.push(t.id);
        continue;
      }
      this.start(t, 'file');
      started++;
    }
    this.fileTargets = new Map(mine.map((t) => [t.id, t]));
    const message = skipped.length
      ? `${skipped.length} id(s) already watched from another source, skipped: ${skipped.slice(0, 5).join(', ')}${skipped.length > 5 ? ', ...' : ''}`
      : undefined;
    this.log(
      `targets: ${all.length} loaded from ${this.options.targetsFile}, ${mine.length} watched${this.shardText()}` +
        ` (${started} started, ${stopped} stopped)${message ? `; ${message}` : ''}`,
    );
    this.monitorMetrics.reloaded(true, Date.now());
    this.emitTargets({
      source: 'file',
      ok: true,
      total: all.length,
      added: started,
      removed: stopped,
      ...(message ? { message } : {}),
    });
  }

  private statKey(s: { mtimeMs: number; size: number; ino: number }): string {
    return `${s.mtimeMs}:${s.size}:${s.ino}`;
  }

  private watchFile(file: string): void {
    const schedule = (): void => {
      clearTimeout(this.debounce);
      this.debounce = setTimeout(() => void this.check(false), WATCH_DEBOUNCE_MS);
      this.debounce.unref();
    };
    try {
      // The folder, not the file: editors and Kubernetes ConfigMaps replace the file (rename,
      // symlink swap), and a watch on the old inode would see nothing more.
      const name = basename(file);
      this.watcher = watchFs(dirname(file), (_event, changed) => {
        if (!changed || changed === name || changed.startsWith('..')) schedule();
      });
      this.watcher.on('error', () => this.watcher?.close());
      this.watcher.unref();
    } catch {
      // No fs.watch here (some network file systems): the poll does it.
    }
    this.poll = setInterval(() => void this.check(false), this.options.pollMs ?? 2000);
    this.poll.unref();
  }

  reload(): Promise<boolean> {
    return this.check(true);
  }

  /** Reads the file if it changed (or `force`), and applies it; true when it loaded. */
  private check(force: boolean): Promise<boolean> {
    const file = this.options.targetsFile;
    if (file === undefined || this.closed) return Promise.resolve(false);
    if (this.loading) return this.loading.then(() => this.check(force));
    this.loading = (async () => {
      let key = '';
      try {
        key = this.statKey(await stat(file));
        if (!force && key === this.fileKey) return false;
        this.fileKey = key;
        const text = await readFile(file, 'utf8');
        if (this.closed) return false;
        this.applyFile(parseTargets(text, file));
        return true;
      } catch (e) {
        // Keep the last good targets; the same broken file is reported once (until it changes).
        if (key) this.fileKey = key;
        const message = e instanceof TargetsError ? e.message : `${file}: ${(e as Error).message}`;
        this.log(
          `targets: reload failed, keeping the last good ${this.fileTargets.size} target(s): ${message}`,
        );
        this.monitorMetrics.reloaded(false, Date.now());
        this.emitTargets({ source: 'file', ok: false, added: 0, removed: 0, message });
        return false;
      } finally {
        this.loading = undefined;
      }
    })();
    return this.loading;
  }

  targets(): MonitorTarget[] {
    return [...this.entries.values()].map((e) => e.target);
  }

  snapshots(): StreamSnapshot[] {
    const out: StreamSnapshot[] = [];
    for (const [id, e] of this.entries) {
      const s = this.sessions.get(e.group)?.stats(id);
      if (s) out.push(s.snapshot());
    }
    return out;
  }

  snapshot(id: string): StreamSnapshot | undefined {
    const e = this.entries.get(id);
    return e ? this.sessions.get(e.group)?.stats(id)?.snapshot() : undefined;
  }

  lastStatusCodes(): (string | undefined)[] {
    const out: (string | undefined)[] = [];
    for (const [id, e] of this.entries) out.push(this.sessions.get(e.group)?.lastStatusCode(id));
    return out;
  }

  connectionsUp(): number {
    let n = 0;
    for (const m of this.sessions.values()) n += m.connectionsUp();
    return n;
  }

  close(): Promise<void> {
    if (!this.closing) {
      this.closed = true;
      clearInterval(this.tick);
      clearInterval(this.poll);
      clearTimeout(this.debounce);
      this.watcher?.close();
      const monitors = [...this.sessions.values()];
      this.sessions.clear();
      this.closing = (async () => {
        for (const m of monitors) m.stop();
        await Promise.all(monitors.map((m) => m.session.close()));
        this.ticks.complete();
        this.events.complete();
      })();
    }
    return this.closing;
  }
}

/** Creates a monitor and starts watching its targets. Throws TargetsError when they cannot be used. */
export function createMonitor(options: MonitorOptions = {}): Monitor & {
  /** Updates the metrics from the streams now and returns the snapshots. */
  updateMetrics(): StreamSnapshot[];
} {
  return new MonitorImpl(options);
}
