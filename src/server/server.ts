/**
 * The embedded RTMP server: accepts publishers (the ffmpeg/OBS sequence releaseStream, FCPublish,
 * createStream, publish, @setDataFrame) and players of live streams, many streams per
 * connection (each on its own message stream id). It keeps metadata, sequence headers and the
 * last GOP of every stream so a new player starts on a keyframe at once, allows one publisher per
 * name (a second gets NetStream.Publish.BadName), and answers an unknown name with
 * NetStream.Play.StreamNotFound unless players may wait for their publisher.
 *
 * Layers, as in the client: a `serverSupervisor` actor (machines/serverSupervisorMachine) is the
 * root; it invokes the `listener` actor (the listening socket) and spawns one `serverConnection`
 * actor per client (handshake as an invoked handshake machine, connect, then one `serverStream`
 * actor per NetStream), whose invoked `connectionIo` actor is a `ServerConnection` (socket, byte
 * pipeline). `RtmpServer` keeps the stream registry (`LiveStream`: caches, fan-out) and the events.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { Observable, Subject } from '../rx';
import {
  createActor,
  fromCallback,
  type Actor,
  type AnyActorRef,
  type InspectionEvent,
  type SnapshotFrom,
} from 'xstate';
import { serverConnectionMachine } from '../../machines/serverConnectionMachine';
import type { serverStreamMachine } from '../../machines/serverStreamMachine';
import {
  serverSupervisorMachine,
  type ListenerCommand,
  type ListenerEvent,
} from '../../machines/serverSupervisorMachine';
import { resolveLimits, type RtmpLimits } from '../protocol/limits';
import {
  connectionIo,
  type ServerConnection,
  type ConnectionMachines,
  type ConnectionPhase,
  type ConnectionHost,
  type ServerConnectionOptions,
} from './connection';
import type { ConnectionEvent, ServerEvent } from './events';
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
  /** A connection that has not sent connect this long after the handshake is closed. Default 10 000 ms. */
  connectTimeoutMs?: number;
  /** Most client connections open at once; more are refused (closed at once). Default 1024. */
  maxConnections?: number;
  /**
   * Applications clients may connect to (`live`, …); connect to any other is answered with
   * NetConnection.Connect.Rejected. Default: any application.
   */
  apps?: readonly string[];
  /**
   * Observes the server's actors (supervisor, connections, handshakes, NetStreams), e.g. the
   * Stately inspector's `inspect` or a trace recorder. Stream names reach the actors masked only.
   */
  inspect?: (event: InspectionEvent) => void;
}

// ServerEvent lives in ./events (types only), which log.ts reads without a cycle.
export type { ServerEvent } from './events';

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

/** The longest delay a Node timer takes. */
const MAX_TIMER_MS = 2_147_483_647;

type ResolvedOptions = Required<Omit<RtmpServerOptions, 'limits' | 'inspect'>> & {
  limits: RtmpLimits;
};

type StreamSnapshot = SnapshotFrom<typeof serverStreamMachine>;
type ConnectionSnapshot = SnapshotFrom<typeof serverConnectionMachine>;

export class RtmpServer implements ConnectionHost {
  private readonly supervisor: Actor<typeof serverSupervisorMachine>;
  private readonly connections = new Set<ServerConnection>();
  /** Sockets accepted and not yet taken by their connection's IO (or refused). */
  private readonly accepted = new Map<number, Socket>();
  private readonly streams = new Map<string, LiveStream>();
  private readonly events = new Subject<ServerEvent>();
  /** Every step the server takes (connections, publish/unpublish, players), names unredacted. */
  readonly events$: Observable<ServerEvent> = this.events.asObservable();
  private readonly opts: ResolvedOptions;
  private readonly connectionOptions: ServerConnectionOptions;
  private nextConnectionId = 1;
  private closedBytes = { in: 0, out: 0, dropped: 0 };
  private address?: { host: string; port: number };
  /** listen() started the supervisor. */
  private started = false;

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
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
      maxConnections: options.maxConnections ?? 1024,
      apps: options.apps ?? [],
    };
    for (const [name, v] of [
      ['handshakeTimeoutMs', this.opts.handshakeTimeoutMs],
      ['connectTimeoutMs', this.opts.connectTimeoutMs],
      ['maxConnections', this.opts.maxConnections],
    ] as const) {
      if (!Number.isInteger(v) || v < 1 || v > MAX_TIMER_MS) {
        throw new RangeError(`${name} must be an integer from 1 to ${MAX_TIMER_MS}, got ${v}`);
      }
    }
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
    };
    const logic = serverSupervisorMachine.provide({
      actors: {
        listener: this.listenerActor(),
        serverConnection: serverConnectionMachine.provide({
          actors: {
            connectionIo: connectionIo(this, this.connectionOptions, (id) => this.takeSocket(id)),
          },
        }),
      },
    });
    this.supervisor = createActor(logic, {
      id: 'server',
      inspect: options.inspect,
      input: {
        maxConnections: this.opts.maxConnections,
        connection: {
          handshakeTimeoutMs: this.opts.handshakeTimeoutMs,
          connectTimeoutMs: this.opts.connectTimeoutMs,
          apps: this.opts.apps,
        },
        listener: { host: this.opts.host, port: this.opts.port },
      },
    });
  }

  /** The `listener` actor: the listening socket. */
  private listenerActor() {
    return fromCallback<ListenerCommand, unknown>(({ input: raw, sendBack, receive }) => {
      const input = raw as { host: string; port: number };
      const report = (e: ListenerEvent): void => sendBack(e);
      const server: Server = createServer((socket) => {
        const connectionId = this.nextConnectionId++;
        this.accepted.set(connectionId, socket);
        report({ type: 'LISTENER.ACCEPT', connectionId });
      });
      server.once('error', (e) => report({ type: 'LISTENER.FAILED', message: e.message }));
      server.listen(input.port, input.host, () => {
        server.removeAllListeners('error');
        server.on('error', () => undefined);
        const addr = server.address();
        const port = typeof addr === 'object' && addr ? addr.port : input.port;
        report({ type: 'LISTENER.LISTENING', host: input.host, port });
      });
      receive((cmd) => {
        if (cmd.type === 'LISTENER.REFUSE') {
          const socket = this.takeSocket(cmd.connectionId);
          if (!socket) return;
          this.events.next({
            type: 'refused',
            connection: cmd.connectionId,
            remote: `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`,
            app: '',
            reason: cmd.reason,
          });
          socket.destroy();
        } else {
          server.close(() => report({ type: 'LISTENER.CLOSED' }));
        }
      });
      return () => {
        if (server.listening) server.close();
      };
    });
  }

  /** The socket accepted as connection `id` (once: its IO, or the refusal, takes it). */
  private takeSocket(id: number): Socket | undefined {
    const socket = this.accepted.get(id);
    this.accepted.delete(id);
    return socket;
  }

  /** Starts listening; resolves with the bound address. */
  listen(): Promise<{ host: string; port: number }> {
    const actor = this.supervisor;
    if (this.started) return Promise.reject(new Error('listen() was called already'));
    this.started = true;
    return new Promise((resolve, reject) => {
      const sub = actor.subscribe((snapshot) => {
        if (snapshot.matches({ serving: 'starting' })) return;
        sub.unsubscribe();
        const address = snapshot.context.address;
        if (snapshot.value === 'failed' || !address) {
          reject(new Error(snapshot.context.failure ?? 'the server stopped'));
          return;
        }
        this.address = address;
        this.events.next({ type: 'listening', host: address.host, port: address.port });
        resolve(address);
      });
      actor.start();
    });
  }

  /**
   * The server's root actor (`serverSupervisor`): subscribe to it, or walk its children
   * (`connection-<n>`, each with `io`, `handshake` and `stream-<id>` children).
   */
  get actor(): Actor<typeof serverSupervisorMachine> {
    return this.supervisor;
  }

  /** The bound port (after `listen`). */
  get port(): number | undefined {
    return this.address?.port;
  }

  /** Stops accepting, closes every connection, and completes `events$`. */
  async close(): Promise<void> {
    const actor = this.supervisor;
    if (this.started && actor.getSnapshot().status === 'active') {
      await new Promise<void>((resolve) => {
        const sub = actor.subscribe({ complete: () => resolve(), error: () => resolve() });
        actor.send({ type: 'SERVER.SHUTDOWN' });
        if (actor.getSnapshot().status !== 'active') {
          sub.unsubscribe();
          resolve();
        }
      });
    }
    actor.stop();
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
    const out: Array<{ id: number } & ConnectionMachines> = [];
    const children = this.supervisor.getSnapshot().children as Record<string, AnyActorRef>;
    for (const [key, ref] of Object.entries(children)) {
      if (!key.startsWith('connection-')) continue;
      const connection = ref.getSnapshot() as ConnectionSnapshot;
      const streams = new Map<number, StreamSnapshot>();
      for (const [sid, sref] of Object.entries(
        connection.children as Record<string, AnyActorRef>,
      )) {
        if (sid.startsWith('stream-')) {
          streams.set(Number(sid.slice('stream-'.length)), sref.getSnapshot() as StreamSnapshot);
        }
      }
      out.push({ id: Number(key.slice('connection-'.length)), connection, streams });
    }
    return out;
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
  connectionOpened(c: ServerConnection): void {
    this.connections.add(c);
    this.emitFor(c, { type: 'connection' });
  }

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
