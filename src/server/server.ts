/**
 * The embedded RTMP server: accepts publishers (the ffmpeg/OBS sequence releaseStream, FCPublish,
 * createStream, publish, @setDataFrame) and players of live streams, many streams per
 * connection (each on its own message stream id). It keeps metadata, sequence headers and the
 * last GOP of every stream so a new player starts on a keyframe at once, allows one publisher per
 * name (a second gets NetStream.Publish.BadName), and answers an unknown name with
 * NetStream.Play.StreamNotFound unless players may wait for their publisher.
 *
 * Layers: `RtmpServer` (listening socket, stream registry, events) → `ServerConnection` (one per
 * client: handshake, NetConnection, NetStreams; explicit phases) → `LiveStream` (caches, fan-out).
 */
import { createServer, type Server } from 'node:net';
import { Observable, Subject } from 'rxjs';
import { resolveLimits, type RtmpLimits } from '../protocol/limits';
import {
  ServerConnection,
  type ConnectionMachines,
  type ConnectionEvent,
  type ConnectionPhase,
  type ConnectionHost,
  type ServerConnectionOptions,
} from './connection';
import { LiveStream, streamKey, type PlayerSink } from './liveStream';
import type { MediaMessage } from './media';

/** Options of the embedded RTMP server. */
export interface RtmpServerOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 1935; 0 picks a free port. */
  port?: number;
  /** Our outgoing chunk size, announced after connect. Default 4096. */
  chunkSize?: number;
  limits?: Partial<RtmpLimits>;
  /** Keep metadata, sequence headers and the last GOP, so a new player starts on a keyframe. Default true. */
  gopCache?: boolean;
  /** A player of an unknown name waits for its publisher instead of getting StreamNotFound. */
  waitForPublisher?: boolean;
  /** Bytes queued to one connection above which its players' non-key video waits for the next keyframe. Default 4 MiB. */
  playerHighWaterMark?: number;
  /** Bytes queued to one connection above which it is closed (a consumer far too slow). Default 64 MiB. */
  maxQueuedBytes?: number;
  /** Most GOP-cache bytes kept per stream. Default 32 MiB. */
  maxGopBytes?: number;
  /** Window Acknowledgement Size announced to clients. Default 5 000 000. */
  windowAckSize?: number;
  /** A connection that has not finished the handshake by then is closed. Default 10 000 ms. */
  handshakeTimeoutMs?: number;
}

/**
 * What the server does, one event per step. Stream names are the names clients sent, stream keys
 * included: pass events through `formatServerEvent` (which redacts) before logging them.
 */
export type ServerEvent =
  | { type: 'listening'; host: string; port: number }
  | ({ connection: number; remote: string; app: string } & (
      { type: 'connection' } | ConnectionEvent
    ))
  | { type: 'shutdown' };

export interface ServerStreamStats {
  app: string;
  name: string;
  publishing: boolean;
  players: number;
  /** Media messages relayed since the publisher started. */
  messages: number;
  bytes: number;
}

export interface ServerConnectionStats {
  id: number;
  remote: string;
  app: string;
  phase: ConnectionPhase;
  /** NetStreams of this connection that publish / play. */
  publishing: number;
  playing: number;
}

export interface ServerStats {
  connections: number;
  /** Every open connection, in the order they came. */
  clients: ServerConnectionStats[];
  streams: ServerStreamStats[];
  /** Messages dropped for slow players (non-key video while backed up), over all connections. */
  dropped: number;
  bytesIn: number;
  bytesOut: number;
}

type ResolvedOptions = Required<Omit<RtmpServerOptions, 'limits'>> & { limits: RtmpLimits };

export class RtmpServer implements ConnectionHost {
  private server?: Server;
  private readonly connections = new Set<ServerConnection>();
  private readonly streams = new Map<string, LiveStream>();
  private readonly events = new Subject<ServerEvent>();
  /** Every step the server takes (connections, publish/unpublish, players), names unredacted. */
  readonly events$: Observable<ServerEvent> = this.events.asObservable();
  private readonly opts: ResolvedOptions;
  private readonly connectionOptions: ServerConnectionOptions;
  private nextConnectionId = 1;
  private closedBytes = { in: 0, out: 0, dropped: 0 };
  private address?: { host: string; port: number };

  constructor(options: RtmpServerOptions = {}) {
    this.opts = {
      host: options.host ?? '127.0.0.1',
      port: options.port ?? 1935,
      chunkSize: options.chunkSize ?? 4096,
      limits: resolveLimits(options.limits),
      gopCache: options.gopCache ?? true,
      waitForPublisher: options.waitForPublisher ?? false,
      playerHighWaterMark: options.playerHighWaterMark ?? 4 * 1024 * 1024,
      maxQueuedBytes: options.maxQueuedBytes ?? 64 * 1024 * 1024,
      maxGopBytes: options.maxGopBytes ?? 32 * 1024 * 1024,
      windowAckSize: options.windowAckSize ?? 5_000_000,
      handshakeTimeoutMs: options.handshakeTimeoutMs ?? 10_000,
    };
    if (
      !Number.isInteger(this.opts.chunkSize) ||
      this.opts.chunkSize < 128 ||
      this.opts.chunkSize > 0x7fffffff
    ) {
      throw new RangeError(
        `chunkSize must be an integer from 128 to 2147483647, got ${this.opts.chunkSize}`,
      );
    }
    this.connectionOptions = {
      chunkSize: this.opts.chunkSize,
      limits: this.opts.limits,
      playerHighWaterMark: this.opts.playerHighWaterMark,
      maxQueuedBytes: this.opts.maxQueuedBytes,
      windowAckSize: this.opts.windowAckSize,
      handshakeTimeoutMs: this.opts.handshakeTimeoutMs,
    };
  }

  /** Starts listening; resolves with the bound address. */
  listen(): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      const server = createServer((socket) => {
        const c = new ServerConnection(
          this.nextConnectionId++,
          socket,
          this,
          this.connectionOptions,
        );
        this.connections.add(c);
        this.emitFor(c, { type: 'connection' });
      });
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.host, () => {
        server.off('error', reject);
        server.on('error', () => undefined);
        this.server = server;
        const addr = server.address();
        const port = typeof addr === 'object' && addr ? addr.port : this.opts.port;
        this.address = { host: this.opts.host, port };
        this.events.next({ type: 'listening', host: this.opts.host, port });
        resolve(this.address);
      });
    });
  }

  /** The bound port (after `listen`). */
  get port(): number | undefined {
    return this.address?.port;
  }

  /** Stops accepting, closes every connection, and completes `events$`. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const c of [...this.connections]) c.close('server shutting down');
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    if (!this.events.closed) {
      this.events.next({ type: 'shutdown' });
      this.events.complete();
    }
  }

  /**
   * The statecharts of every open connection: the serverConnection actor's snapshot and one
   * serverStream snapshot per message stream id (for debugging and tests).
   */
  machines(): Array<{ id: number } & ConnectionMachines> {
    return [...this.connections].map((c) => ({ id: c.id, ...c.machines() }));
  }

  /** What the server is doing now. */
  stats(): ServerStats {
    let bytesIn = this.closedBytes.in;
    let bytesOut = this.closedBytes.out;
    let dropped = this.closedBytes.dropped;
    for (const c of this.connections) {
      bytesIn += c.bytesIn;
      bytesOut += c.bytesOut;
      dropped += c.dropped;
    }
    return {
      connections: this.connections.size,
      clients: [...this.connections].map((c) => ({
        id: c.id,
        remote: c.remote,
        app: c.app,
        phase: c.phase,
        publishing: c.countStreams('publishing'),
        playing: c.countStreams('playing'),
      })),
      streams: [...this.streams.values()].map((s) => ({
        app: s.app,
        name: s.name,
        publishing: s.publisher !== undefined,
        players: s.players.size,
        messages: s.messages,
        bytes: s.bytes,
      })),
      dropped,
      bytesIn,
      bytesOut,
    };
  }

  private emitFor(c: ServerConnection, event: { type: 'connection' } | ConnectionEvent): void {
    this.events.next({ ...event, connection: c.id, remote: c.remote, app: c.app } as ServerEvent);
  }

  private stream(c: ServerConnection, name: string): LiveStream {
    const key = streamKey(c.app, name);
    let s = this.streams.get(key);
    if (!s) {
      const q = name.indexOf('?');
      s = new LiveStream(key, c.app, q < 0 ? name : name.slice(0, q), {
        gopCache: this.opts.gopCache,
        maxGopBytes: this.opts.maxGopBytes,
      });
      this.streams.set(key, s);
    }
    return s;
  }

  private forget(s: LiveStream): void {
    if (s.idle) this.streams.delete(s.key);
  }

  // ConnectionHost ------------------------------------------------------------------------------

  /** @internal */
  startPublishing(c: ServerConnection, streamId: number, name: string): 'ok' | 'badName' {
    const s = this.stream(c, name);
    const ok = s.startPublishing({ connectionId: c.id, streamId });
    if (!ok) this.forget(s);
    return ok ? 'ok' : 'badName';
  }

  /** @internal */
  stopPublishing(c: ServerConnection, streamId: number, name: string): void {
    const s = this.streams.get(streamKey(c.app, name));
    if (!s) return;
    s.stopPublishing({ connectionId: c.id, streamId });
    this.forget(s);
  }

  /** @internal */
  canPlay(c: ServerConnection, name: string): 'playing' | 'waiting' | 'notFound' {
    if (this.streams.get(streamKey(c.app, name))?.publisher) return 'playing';
    return this.opts.waitForPublisher ? 'waiting' : 'notFound';
  }

  /** @internal */
  addPlayer(c: ServerConnection, name: string, player: PlayerSink): void {
    this.stream(c, name).addPlayer(player);
  }

  /** @internal */
  removePlayer(c: ServerConnection, name: string, player: PlayerSink): void {
    const s = this.streams.get(streamKey(c.app, name));
    if (!s) return;
    s.removePlayer(player);
    this.forget(s);
  }

  /** @internal */
  relay(c: ServerConnection, name: string, message: MediaMessage): void {
    this.streams.get(streamKey(c.app, name))?.relay(message);
  }

  /** @internal */
  connectionEvent(c: ServerConnection, event: ConnectionEvent): void {
    this.emitFor(c, event);
  }

  /** @internal */
  connectionClosed(c: ServerConnection): void {
    if (!this.connections.delete(c)) return;
    this.closedBytes.in += c.bytesIn;
    this.closedBytes.out += c.bytesOut;
    this.closedBytes.dropped += c.dropped;
  }
}
