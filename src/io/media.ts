import { Subject, type Observable } from '../rx';
import type { MessageOf } from '../protocol/message/types';
import { configKind, KeyframeGate } from './keyframeGate';
import { Multicast } from './multicast';
import { parseAudioHeader, parseVideoHeader } from '../protocol/flv/media';

/** What a stream's sink let through so far (src/switchover.ts starts a switch from it). */
export interface DeliveredSoFar {
  Audio?: number;
  Video?: number;
  /** The last metadata and sequence headers delivered (owned). */
  config?: MediaMessage[];
}

/** One track of an audio or video message (Enhanced RTMP multitrack, or the only one). */
export interface MediaMessageTrack {
  /** Enhanced RTMP trackId (UI8); 0 for a message without multitrack. */
  trackId: number;
  /** 'avc', 'hevc', 'av1', 'aac', 'opus'... (an unknown FourCC as itself). */
  codec: string;
  /** Enhanced RTMP FourCC ('avc1', 'mp4a'...); undefined for a classic FLV header. */
  fourCc: string | undefined;
  /** Video of avc/hevc/vvc: the signed composition time offset (ms). */
  compositionTime?: number;
  /** Where the track's codec payload lies in `payload`: offset and length. */
  offset: number;
  length: number;
}

/**
 * What `media$` adds to an audio or video message: its tracks. A message is never split: a
 * ManyTracks / ManyTracksManyCodecs message stays one message (so a relay or an FLV file gets
 * its bytes unchanged) and lists every track it carries, in body order.
 */
export interface MediaTrackFields {
  /**
   * The message's track: 0 without multitrack; for a multitrack body, its first track's id
   * (see `tracks` for all of them). Not set by `lentMedia$` (it may still be there when `media$`
   * has a subscriber too) nor on messages a caller built.
   */
  trackId?: number;
  /**
   * Every track in the message, in body order: one entry (trackId 0) without multitrack,
   * none for a command frame or an empty (silence) message. Absent when the tag header cannot
   * be parsed (the message is still delivered as it came); not set by `lentMedia$` nor on
   * messages a caller built.
   */
  tracks?: readonly MediaMessageTrack[];
}

/** Audio, video and data messages delivered to a stream, never through the machines. */
export type MediaMessage =
  | (MessageOf<'Audio'> & MediaTrackFields)
  | (MessageOf<'Video'> & MediaTrackFields)
  | MessageOf<'Data'>;

/**
 * Sets `trackId` and `tracks` on an owned audio/video message (in place: no copy of the message
 * or its payload) and returns it. Parses the tag header only.
 */
export function withTracks<M extends MediaMessage>(m: M): M {
  if (m.type === 'Data' || m.tracks !== undefined) return m;
  let tracks: MediaMessageTrack[];
  try {
    if (m.payload.length === 0) tracks = [];
    else if (m.type === 'Video') {
      const v = parseVideoHeader(m.payload);
      tracks =
        v.frameType === 'command'
          ? []
          : (v.tracks ?? [
              {
                trackId: 0,
                codec: v.codec,
                fourCc: v.fourCc,
                compositionTime: v.compositionTime,
                offset: v.headerLength,
                length: m.payload.length - v.headerLength,
              },
            ]);
    } else {
      const a = parseAudioHeader(m.payload);
      tracks = a.tracks ?? [
        {
          trackId: 0,
          codec: a.codec,
          fourCc: a.fourCc,
          offset: a.headerLength,
          length: m.payload.length - a.headerLength,
        },
      ];
    }
  } catch {
    m.trackId = 0;
    return m;
  }
  m.trackId = tracks.length > 0 ? tracks[0].trackId : 0;
  m.tracks = tracks;
  return m;
}

/**
 * Where a transport delivers one stream's media. `backlog()` reports bytes queued downstream
 * (for example a file being written), so the transport can pause the socket.
 */
export interface MediaSink {
  next(message: MediaMessage): void;
  backlog(): number;
}

/**
 * A sink backed by RxJS Subjects; consumers that queue work can report their backlog.
 *
 * `media$` gives messages whose payloads the subscriber owns. `lentMedia$` gives the same
 * messages, but a payload may be lent: valid only while the subscriber's callback runs (copy what
 * you keep). While nobody subscribes to `media$`, the transport lends: its decoder reassembles
 * into reused buffers and allocates nothing per message.
 */
export class SubjectSink implements MediaSink {
  private readonly subject = new Subject<MediaMessage>();
  /** Lent media goes out once per audio or video message: a Multicast allocates nothing then. */
  private readonly lentSubject = new Multicast<MediaMessage>();
  readonly media$: Observable<MediaMessage> = this.subject.asObservable();
  readonly lentMedia$: Observable<MediaMessage> = this.lentSubject.observable;
  /** Video messages dropped by the live backpressure policy ('dropToKeyframe'). */
  dropped = 0;
  /** @internal The live policy's gate: non-key video waits for a keyframe while it is closed. */
  readonly keyframeGate = new KeyframeGate();
  private readonly backlogSources = new Set<() => number>();
  private readonly drainListeners = new Set<() => void>();

  /**
   * While a stream migrates to another connection (Enhanced RTMP ReconnectRequest): decides
   * whether a message of the old connection is still delivered (see src/switchover.ts). The
   * copy's messages come in through `inject`, past the gate.
   */
  gate: ((message: MediaMessage) => boolean) | undefined;

  private readonly passed: { Audio?: number; Video?: number } = {};
  private readonly passedConfig = new Map<string, MediaMessage>();

  /**
   * What this sink's own stream delivered past the gate so far (not what was injected): the
   * last audio and video timestamps and the last metadata and sequence headers. A switch that
   * begins starts from it (src/switchover.ts).
   */
  delivered(): DeliveredSoFar {
    return { ...this.passed, config: [...this.passedConfig.values()] };
  }

  private note(message: MediaMessage): void {
    const kind = configKind(message);
    if (kind) {
      this.passedConfig.set(
        kind,
        message.type === 'Data' ? message : { ...message, payload: Buffer.from(message.payload) },
      );
    } else if (message.type !== 'Data') {
      this.passed[message.type] = message.timestamp;
    }
  }

  /** Delivers a message whose payload is owned (kept as long as anyone likes). */
  next(message: MediaMessage): void {
    if (this.gate && !this.gate(message)) return;
    this.note(message);
    this.deliver(message);
  }

  /** Delivers a message of a migration copy, past the gate (lent: valid during this call only). */
  inject(message: MediaMessage, lent: boolean): void {
    if (lent) this.lendPast(message);
    else this.deliver(message);
  }

  private deliver(message: MediaMessage): void {
    this.subject.next(message);
    this.lentSubject.next(message);
  }

  /** Whether payloads may be lent: nobody subscribes to `media$`. */
  canLend(): boolean {
    return !this.subject.observed;
  }

  /**
   * Delivers a message whose payload is only valid during this call. Should a `media$`
   * subscriber have come in the meantime, everyone gets an owned copy instead.
   */
  lend(message: MediaMessage): void {
    if (this.gate && !this.gate(message)) return;
    this.note(message);
    this.lendPast(message);
  }

  private lendPast(message: MediaMessage): void {
    if (this.subject.observed) {
      this.deliver(
        message.type === 'Data' ? message : { ...message, payload: Buffer.from(message.payload) },
      );
      return;
    }
    this.lentSubject.next(message);
  }

  backlog(): number {
    // Asked after every message the transport delivers: most sinks have no source (the
    // monitor's), and iterating an empty Set still allocates its iterator.
    if (this.backlogSources.size === 0) return 0;
    let total = 0;
    for (const f of this.backlogSources) total += f();
    return total;
  }

  /** A consumer registers how much it has queued; returns an unregister function. */
  addBacklogSource(source: () => number): () => void {
    this.backlogSources.add(source);
    return () => this.backlogSources.delete(source);
  }

  /** Consumers call this when their queue has drained, so a paused socket resumes. */
  drained(): void {
    for (const l of this.drainListeners) l();
  }

  onDrain(listener: () => void): () => void {
    this.drainListeners.add(listener);
    return () => this.drainListeners.delete(listener);
  }

  complete(): void {
    this.subject.complete();
    this.lentSubject.complete();
  }
}

/** How a publishing stream's media leaves: the transport that carries the stream attaches one. */
export interface MediaWriter {
  /** Sends one media message on the stream; false when the socket is backed up. */
  write(message: MediaMessage): boolean;
  /** Bytes queued on the socket. */
  queued(): number;
  /** Resolves when the socket has drained. */
  drained(): Promise<void>;
}

/** Registry of sinks by key (`stream-<name>`), shared by a session's transports and streams. */
export class MediaRouter {
  private readonly sinks = new Map<string, SubjectSink>();
  private readonly writers = new Map<string, MediaWriter>();
  private readonly writerWaiters = new Map<string, Array<(w: MediaWriter) => void>>();

  /** A transport attaches the writer of a publishing stream once the server accepted it. */
  attachWriter(key: string, writer: MediaWriter): void {
    this.writers.set(key, writer);
    const waiters = this.writerWaiters.get(key);
    this.writerWaiters.delete(key);
    for (const w of waiters ?? []) w(writer);
  }

  detachWriter(key: string, writer?: MediaWriter): void {
    if (!writer || this.writers.get(key) === writer) this.writers.delete(key);
  }

  writer(key: string): MediaWriter | undefined {
    return this.writers.get(key);
  }

  /** Resolves with the stream's writer as soon as one is attached (again, after a reconnect). */
  nextWriter(key: string): Promise<MediaWriter> {
    const w = this.writers.get(key);
    if (w) return Promise.resolve(w);
    return new Promise((resolve) => {
      const list = this.writerWaiters.get(key) ?? [];
      list.push(resolve);
      this.writerWaiters.set(key, list);
    });
  }

  sink(key: string): SubjectSink {
    let s = this.sinks.get(key);
    if (!s) {
      s = new SubjectSink();
      this.sinks.set(key, s);
    }
    return s;
  }

  get(key: string): SubjectSink | undefined {
    return this.sinks.get(key);
  }

  delete(key: string): void {
    this.sinks.get(key)?.complete();
    this.sinks.delete(key);
    // A stream that is gone (an abandoned move's copy) gets no writer any more.
    this.writerWaiters.delete(key);
  }
}
