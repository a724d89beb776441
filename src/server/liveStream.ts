/**
 * One live stream of the embedded server: its publisher, its players, and the caches that let a
 * new player start at once on a keyframe (metadata, codec configuration, the last GOP).
 * No sockets here: a player is anything that can take a message.
 */
import type { MediaMessage } from './media';
import { configTracks, isVideoKeyframe, mediaSize } from './media';

/** Where the server sends one player's messages (a NetStream of a server connection). */
export interface PlayerSink {
  /** The stream's name as the player asked for it (with its query, if any). */
  readonly requestedName: string;
  /** A media message for this player; the sink decides to drop it under pressure. */
  deliver(message: MediaMessage): void;
  /** The publisher started (again): the sink sends Play.PublishNotify when it was waiting. */
  publisherStarted(): void;
  /** The publisher went away: the sink sends Play.UnpublishNotify. */
  publisherStopped(): void;
}

/** Who publishes a stream: enough to tell a second publisher apart and to log. */
export interface PublisherRef {
  readonly connectionId: number;
  readonly streamId: number;
}

export interface LiveStreamOptions {
  gopCache: boolean;
  maxGopBytes: number;
}

/** Stream name without its query (`key?token=…` and `key` are the same stream). */
export function streamKey(app: string, name: string): string {
  const q = name.indexOf('?');
  return `${app}/${q < 0 ? name : name.slice(0, q)}`;
}

/**
 * A cached message must not pin a much larger socket read buffer (its payload may be a view of
 * one): copy such payloads.
 */
function compact(m: MediaMessage): MediaMessage {
  if (m.type === 'Data') return m;
  const p = m.payload;
  if (p.buffer.byteLength <= p.byteLength * 2 + 4096) return m;
  return { ...m, payload: Uint8Array.prototype.slice.call(p) };
}

let serials = 0;

export class LiveStream {
  publisher: PublisherRef | undefined;
  /** Tells the server's memory budget how many bytes the GOP cache holds now. */
  onGopBytes: ((stream: LiveStream, bytes: number) => void) | undefined;
  /** Tells two streams of the same name apart (one after the other) in the budget. */
  readonly serial = ++serials;
  readonly players = new Set<PlayerSink>();
  private metadata: MediaMessage | undefined;
  /**
   * The last codec configuration of each video and audio track (trackId 0 without multitrack;
   * a multitrack configuration is kept for each track it names). At most 256 entries a map:
   * trackId is a UI8.
   */
  private readonly videoConfigs = new Map<number, MediaMessage>();
  private readonly audioConfigs = new Map<number, MediaMessage>();
  /** Arrival order of the configuration messages, so a new player gets them in that order. */
  private readonly configOrder = new WeakMap<MediaMessage, number>();
  private configSerial = 0;
  private gop: MediaMessage[] = [];
  private gopBytes = 0;
  /** Timestamp of the last media relayed: configuration sent to a new player carries it. */
  private lastTimestamp = 0;
  /** Media messages relayed since the publisher started. */
  messages = 0;
  bytes = 0;

  constructor(
    readonly key: string,
    readonly app: string,
    readonly name: string,
    private readonly options: LiveStreamOptions,
  ) {}

  get idle(): boolean {
    return this.publisher === undefined && this.players.size === 0;
  }

  /** Claims the stream for a publisher; false when someone publishes it already. */
  startPublishing(publisher: PublisherRef): boolean {
    if (this.publisher) return false;
    this.publisher = publisher;
    this.metadata = undefined;
    this.videoConfigs.clear();
    this.audioConfigs.clear();
    this.clearGop();
    this.messages = 0;
    this.bytes = 0;
    for (const p of this.players) p.publisherStarted();
    return true;
  }

  /** Releases the stream (only the publisher that holds it can). */
  stopPublishing(publisher: PublisherRef): boolean {
    if (
      !this.publisher ||
      this.publisher.connectionId !== publisher.connectionId ||
      this.publisher.streamId !== publisher.streamId
    ) {
      return false;
    }
    this.publisher = undefined;
    for (const p of this.players) p.publisherStopped();
    return true;
  }

  /** Adds a player and sends it what is cached: metadata, configuration, the last GOP. */
  addPlayer(player: PlayerSink): void {
    this.players.add(player);
    if (!this.publisher) return;
    const ts = this.gop.length > 0 ? this.gop[0].timestamp : this.lastTimestamp;
    // A multitrack configuration kept for several tracks goes out once.
    const configs = [...new Set([...this.videoConfigs.values(), ...this.audioConfigs.values()])];
    const order = (m: MediaMessage): number => this.configOrder.get(m) ?? 0;
    configs.sort((a, b) => order(a) - order(b));
    for (const m of [this.metadata, ...configs]) {
      if (m) player.deliver({ ...m, timestamp: ts });
    }
    for (const m of this.gop) player.deliver(m);
  }

  removePlayer(player: PlayerSink): void {
    this.players.delete(player);
  }

  /** A publisher's media: update the caches, then relay to every player. */
  relay(message: MediaMessage): void {
    let m = message;
    if (m.type === 'Data') {
      if (m.name === '@setDataFrame') {
        // Players get onMetaData itself, as from a file.
        const values = m.values.slice(1);
        m = { ...m, name: typeof values[0] === 'string' ? values[0] : 'onMetaData', values };
      } else if (m.name === '@clearDataFrame') {
        this.metadata = undefined;
        return;
      }
      if (m.type === 'Data' && m.name === 'onMetaData') this.metadata = m;
    } else {
      this.lastTimestamp = m.timestamp;
      this.messages++;
      this.bytes += m.payload.byteLength;
      const tracks = configTracks(m);
      if (tracks) {
        const configs = m.type === 'Video' ? this.videoConfigs : this.audioConfigs;
        this.configOrder.set(m, ++this.configSerial);
        for (const id of tracks) configs.set(id, m);
      } else if (this.options.gopCache) {
        this.cache(m);
      }
    }
    for (const p of this.players) p.deliver(m);
  }

  private cache(m: MediaMessage): void {
    const key = isVideoKeyframe(m);
    if (key) this.clearGop();
    else if (this.gop.length === 0) return; // no keyframe yet: nothing a player could start on
    this.gop.push(compact(m));
    this.gopBytes += mediaSize(m);
    if (this.gopBytes > this.options.maxGopBytes) this.clearGop();
    else this.onGopBytes?.(this, this.gopBytes);
  }

  private clearGop(): void {
    const had = this.gopBytes > 0;
    this.gop = [];
    this.gopBytes = 0;
    if (had) this.onGopBytes?.(this, 0);
  }

  /** Empties the GOP cache (the server's memory budget ran out). */
  dropGop(): void {
    this.gop = [];
    this.gopBytes = 0;
  }

  /** Messages in the GOP cache (for tests and stats). */
  get cachedMessages(): number {
    return this.gop.length;
  }
}
