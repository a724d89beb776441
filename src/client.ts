import { randomBytes } from 'node:crypto';
import type { Writable } from 'node:stream';
import { Observable, Subject, filter, map } from 'rxjs';
import { createActor, type Actor, type InspectionEvent, type Observer } from 'xstate';
import { netConnectionMachine, type RetryPolicy, type NetConnectionTimeouts } from '../machines/netConnectionMachine';
import type { NetStreamTimeouts, PlayOptions, PublishOptions } from '../machines/netStreamMachine';
import {
  sessionSupervisorMachine,
  type SessionSupervisorEmitted,
  type StreamsPerConnection,
  type StreamSummary,
} from '../machines/sessionSupervisorMachine';
import type { HandshakeForm, StatusReply, TransportTarget } from '../machines/contract';
import { FlvFileSink, type FlvSaveResult } from './io/flvFile';
import { MediaRouter, type MediaMessage } from './io/media';
import { createTransportLogic, type TransportInput } from './io/transport';
import type { AmfValue } from './protocol/amf/types';
import type { RtmpLimits } from './protocol/limits';
import type { ConnectParams } from './protocol/message/commands';
import { flvFileSource, type FlvSourceOptions } from './publish/flvSource';
import { parseRtmpUrl, type RtmpUrl } from './url';
import { redactText, redactUrl, secretsOf } from './redact';

/** Options of a session: one supervisor actor, its NetConnections and its streams. */
export interface SessionOptions {
  /** `rtmp[s]://host[:port]/app[/instance][/playpath][?query]` (librtmp options after spaces too). */
  url: string;
  /** Override the parts the URL implies, as librtmp and ffmpeg allow. */
  app?: string;
  tcUrl?: string;
  flashVer?: string;
  pageUrl?: string;
  swfUrl?: string;
  /** Extra arguments appended to `connect` (librtmp `conn=`, ffmpeg `rtmp_conn`). */
  connectArgs?: AmfValue[];
  /** Advertise Enhanced RTMP in `connect` (fourCcList, and v2's videoFourCcInfoMap/capsEx). */
  enhancedRtmp?: boolean;
  /** Handshake form: 'digest' (default, like rtmpdump and ffmpeg) or 'simple'. */
  handshake?: HandshakeForm;
  /** TLS for rtmps:// (certificates are verified unless `insecure`). */
  tls?: { ca?: string | Buffer; servername?: string };
  /** Accept any TLS certificate. Only with an explicit option. */
  insecure?: boolean;
  /** Share one connection among streams ('many'), one each ('one'), or learn it ('auto', default). */
  streamsPerConnection?: StreamsPerConnection;
  maxStreams?: number;
  maxConnections?: number;
  timeouts?: Partial<NetConnectionTimeouts & NetStreamTimeouts>;
  retry?: Partial<RetryPolicy>;
  limits?: Partial<RtmpLimits>;
  /** Our outgoing chunk size. Default 4096. */
  chunkSize?: number;
  /** Passed to `createActor`: attach the Stately inspector or your own recorder. */
  inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void);
  /** Bytes queued by consumers above which sockets pause. */
  highWaterMark?: number;
}

/** Events a session surfaces: the machines' emitted events, with secrets removed. */
export type SessionEvent =
  | SessionSupervisorEmitted
  | { type: 'stream.state'; name: string; state: string }
  | { type: 'stream.status'; name: string; status: StatusReply }
  | { type: 'stream.error'; name: string; reason: string; status?: StatusReply }
  | { type: 'stream.stall'; name: string; lastTimestamp: number | undefined }
  | { type: 'stream.resumed'; name: string; lastTimestamp: number | undefined }
  | { type: 'stream.ended'; name: string; reason: string };

/** How a stream ended. */
export interface StreamOutcome {
  name: string;
  outcome: 'stopped' | 'ended' | 'failed';
  reason?: string;
  status?: StatusReply;
}

export type StreamEvent = Extract<SessionEvent, { name: string }>;

function enhancedConnect(): Partial<ConnectParams> {
  return {
    fourCcList: ['av01', 'vp09', 'hvc1', 'avc1'],
    videoFourCcInfoMap: { av01: 1, vp09: 1, hvc1: 1, avc1: 1 },
    audioFourCcInfoMap: { Opus: 1, fLaC: 1, 'ac-3': 1, 'ec-3': 1, mp4a: 1, '.mp3': 1 },
    capsEx: 0x01 | 0x02,
  } as Partial<ConnectParams>;
}

/** A stream of the session: its actor, its media and its status. */
export class StreamHandle {
  /** Audio, video and metadata, straight from the transport (never through the machines). */
  readonly media$: Observable<MediaMessage>;
  /** The stream's status events and state changes. */
  readonly status$: Observable<StreamEvent>;
  /** Resolves when the stream stopped, ended or failed. */
  readonly done: Promise<StreamOutcome>;
  private resolveDone!: (o: StreamOutcome) => void;
  private lastState = 'idle';
  private ended?: string;

  constructor(
    readonly name: string,
    readonly mode: 'play' | 'publish',
    private readonly session: Session,
    events$: Observable<SessionEvent>,
  ) {
    this.media$ = session.router.sink(name).media$;
    this.status$ = events$.pipe(filter((e): e is StreamEvent => 'name' in e && e.name === name));
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    this.status$.subscribe((e) => {
      if (e.type === 'stream.state') this.lastState = e.state;
      if (e.type === 'stream.ended') this.ended = e.reason;
      if (e.type === 'session.stream' && (e.state === 'stopped' || e.state === 'failed')) {
        const summary = this.session.summary().streams[name];
        this.resolveDone({
          name,
          outcome: e.state === 'failed' ? 'failed' : this.ended ? 'ended' : 'stopped',
          reason: summary?.reason ?? this.ended,
          status: summary?.status,
        });
      }
      if (e.type === 'session.error' && e.name === name) {
        this.resolveDone({ name, outcome: 'failed', reason: e.reason });
      }
    });
  }

  /** The stream machine's current state (as its last state event named it). */
  get state(): string {
    return this.lastState;
  }

  /** The stream's actor, once the supervisor spawned it. */
  get actor(): StreamSummary['ref'] {
    return this.session.summary().streams[this.name]?.ref;
  }

  /**
   * Writes the stream's media to an FLV file (or writable) until the stream ends; timestamps never
   * go backwards across reconnects. Resolves with what was written.
   */
  async saveFlv(target: string | Writable, options: { until?: Promise<unknown> } = {}): Promise<FlvSaveResult> {
    const sink = new FlvFileSink(target);
    const sub = this.session.router.sink(this.name);
    const unregister = sub.addBacklogSource(() => sink.backlog());
    const offDrain = sink.onDrain(() => sub.drained());
    const mediaSub = this.media$.subscribe((m) => sink.write(m));
    const gapSub = this.status$.subscribe((e) => {
      if (e.type === 'stream.resumed') sink.markGap();
    });
    try {
      await Promise.race([this.done, options.until ?? new Promise(() => undefined)]);
    } finally {
      mediaSub.unsubscribe();
      gapSub.unsubscribe();
      unregister();
      offDrain();
    }
    return sink.close();
  }

  /** Stops the stream (deleteStream, and FCUnpublish for a publish) and waits for the end. */
  async stop(): Promise<StreamOutcome> {
    this.session.actor.send({ type: 'SESSION.STOP_STREAM', name: this.name });
    return this.done;
  }
}

/** A publishing stream: the handle plus what was sent. */
export class PublishHandle extends StreamHandle {
  sent = { messages: 0, bytes: 0, lastTimestamp: 0 };
}

/**
 * The public entry point: a session supervisor actor with real TCP/TLS transports provided.
 * `session.actor` is the XState actor itself (subscribe, inspect).
 */
export class Session {
  readonly actor: Actor<typeof sessionSupervisorMachine>;
  readonly router = new MediaRouter();
  readonly url: RtmpUrl;
  private readonly events = new Subject<SessionEvent>();
  /** Every event of the session and its streams, secrets (URL stream key, tokens) masked: safe to log. */
  readonly events$: Observable<SessionEvent>;
  private readonly streams = new Map<string, StreamHandle>();
  private readonly watched = new Set<unknown>();
  private readonly subs: Array<{ unsubscribe(): void }> = [];
  private readonly secrets: string[];
  private closed?: Promise<void>;
  /** Bytes in and out over every connection of the session. */
  readonly bytes = { in: 0, out: 0 };

  constructor(readonly options: SessionOptions) {
    this.url = parseRtmpUrl(options.url, { app: options.app, tcUrl: options.tcUrl });
    this.secrets = secretsOf(options.url);
    this.events$ = this.events.pipe(map((e) => this.redact(e)));
    const target: TransportTarget = {
      protocol: this.url.protocol,
      host: this.url.host,
      port: this.url.port,
      tls:
        this.url.protocol === 'rtmps'
          ? {
              rejectUnauthorized: !options.insecure,
              servername: options.tls?.servername,
              ca: options.tls?.ca,
            }
          : undefined,
    };
    const transportInput: TransportInput = {
      target,
      connectTimeoutMs: options.timeouts?.transport,
      limits: options.limits,
      highWaterMark: options.highWaterMark,
    };
    const transport = createTransportLogic({
      router: this.router,
      random: (n) => new Uint8Array(randomBytes(n)),
      onBytes: (i, o) => {
        this.bytes.in += i;
        this.bytes.out += o;
      },
    });
    const connect: ConnectParams = {
      app: this.url.app,
      tcUrl: this.url.tcUrl,
      flashVer: options.flashVer ?? 'LNX 9,0,124,2',
      fpad: false,
      capabilities: 15,
      audioCodecs: 3191,
      videoCodecs: 252,
      videoFunction: 1,
      ...(options.pageUrl ? { pageUrl: options.pageUrl } : {}),
      ...(options.swfUrl ? { swfUrl: options.swfUrl } : {}),
      ...(options.enhancedRtmp ? enhancedConnect() : {}),
      ...(options.connectArgs?.length || this.url.connArgs.length
        ? { args: [...this.url.connArgs, ...(options.connectArgs ?? [])] }
        : {}),
    } as ConnectParams;
    const machine = sessionSupervisorMachine.provide({
      actors: {
        connection: netConnectionMachine.provide({ actors: { transport } }),
      },
    });
    this.actor = createActor(machine, {
      input: {
        connection: {
          transport: transportInput,
          connect,
          form: options.handshake ?? 'digest',
          chunkSize: options.chunkSize,
          timeouts: options.timeouts,
          retry: options.retry,
        },
        streamsPerConnection: options.streamsPerConnection ?? 'auto',
        maxStreams: options.maxStreams,
        maxConnections: options.maxConnections,
        streamTimeouts: options.timeouts,
      },
      inspect: options.inspect as Observer<InspectionEvent> | undefined,
    });
    this.actor.on('*', (e) => this.publishEvent(e as SessionEvent));
    this.subs.push(
      this.actor.subscribe({
        next: (snapshot) => this.watchChildren(snapshot.context.streams),
        error: (err) => this.events.error(err),
      }),
    );
    this.actor.start();
  }

  private publishEvent(e: SessionEvent): void {
    this.events.next(e);
  }

  /** Masks the URL's secrets (stream key, tokens, passwords) in an event meant for logs. */
  redact<T>(value: T): T {
    return this.secrets.length ? (JSON.parse(redactText(JSON.stringify(value), this.secrets)) as T) : value;
  }

  /** @internal Unredacted events, for the stream handles (names must match). */
  get rawEvents$(): Observable<SessionEvent> {
    return this.events.asObservable();
  }

  private watchChildren(streams: Record<string, StreamSummary>): void {
    for (const s of Object.values(streams)) {
      if (s.ref && !this.watched.has(s.ref)) {
        this.watched.add(s.ref);
        s.ref.on('*', (e) => this.publishEvent(e as SessionEvent));
      }
    }
  }

  /** The URL with secrets (stream keys, tokens, passwords) masked: safe for logs. */
  get safeUrl(): string {
    return redactUrl(this.options.url);
  }

  /** Per-connection and per-stream state, from the supervisor's context. */
  summary(): { streams: Record<string, StreamSummary>; state: unknown } {
    const snap = this.actor.getSnapshot();
    return { streams: snap.context.streams, state: snap.value };
  }

  /** Plays a stream (default: the URL's playpath). */
  play(name: string = this.url.playpath, options: PlayOptions = {}): StreamHandle {
    const handle = new StreamHandle(name, 'play', this, this.rawEvents$);
    this.streams.set(name, handle);
    this.actor.send({ type: 'SESSION.PLAY', name, options: { play: options } });
    return handle;
  }

  /**
   * Publishes media: an FLV file path (paced in real time unless `realtime: false`, optionally
   * looped) or an observable of media messages. Resolves the handle's `done` when the source ends
   * and the stream is stopped.
   */
  publish(
    name: string = this.url.playpath,
    source: string | Observable<MediaMessage>,
    options: PublishOptions & FlvSourceOptions = {},
  ): PublishHandle {
    const handle = new PublishHandle(name, 'publish', this, this.rawEvents$);
    this.streams.set(name, handle);
    const media$ =
      typeof source === 'string'
        ? flvFileSource(source, options, () => {
            const w = this.router.writer(name);
            return w && w.queued() > 4 * 1024 * 1024 ? w.drained() : undefined;
          })
        : source;
    this.actor.send({
      type: 'SESSION.PUBLISH',
      name,
      options: { publish: { type: options.type, releaseStream: options.releaseStream ?? true, fcPublish: options.fcPublish ?? true } },
    });
    void this.pump(handle, media$);
    return handle;
  }

  private async pump(handle: PublishHandle, media$: Observable<MediaMessage>): Promise<void> {
    // Wait until the server accepted the publish (the transport attaches the stream's writer).
    let writer = await Promise.race([this.router.nextWriter(handle.name), handle.done.then(() => undefined)]);
    if (!writer) return;
    let stopped = false;
    const sub = handle.status$.subscribe((e) => {
      if (e.type === 'stream.resumed') writer = undefined;
    });
    await new Promise<void>((resolve) => {
      const s = media$.subscribe({
        next: (m) => {
          const w = writer ?? this.router.writer(handle.name);
          if (!w) return; // interrupted: drop until the stream is back (live semantics)
          writer = w;
          w.write(m);
          handle.sent.messages++;
          handle.sent.bytes += m.type === 'Data' ? 0 : m.payload.byteLength;
          handle.sent.lastTimestamp = m.timestamp;
        },
        error: () => resolve(),
        complete: () => resolve(),
      });
      void handle.done.then(() => {
        stopped = true;
        s.unsubscribe();
        resolve();
      });
    });
    sub.unsubscribe();
    if (!stopped) {
      await writer?.drained();
      this.actor.send({ type: 'SESSION.STOP_STREAM', name: handle.name });
      handle.actor?.send({ type: 'STREAM.DRAINED' });
    }
  }

  /** Stops every stream (deleteStream), closes every connection, and waits for the supervisor. */
  close(): Promise<void> {
    if (!this.closed) {
      this.closed = new Promise<void>((resolve) => {
        const done = (): void => {
          for (const s of this.subs) s.unsubscribe();
          this.events.complete();
          resolve();
        };
        if (this.actor.getSnapshot().status !== 'active') return done();
        const sub = this.actor.subscribe({ complete: () => done(), error: () => done() });
        this.subs.push(sub);
        this.actor.send({ type: 'SESSION.CLOSE' });
      }).then(() => {
        this.actor.stop();
      });
    }
    return this.closed;
  }
}

/** Creates a session (the supervisor actor, started). */
export function createSession(options: SessionOptions): Session {
  return new Session(options);
}
