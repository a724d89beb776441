/**
 * The embedded RTMP server: accepts publishers (the ffmpeg/OBS sequence releaseStream, FCPublish,
 * createStream, publish, @setDataFrame) and players of live streams, many streams per
 * connection (each on its own message stream id). It keeps metadata, sequence headers and the
 * last GOP of every stream so a new player starts on a keyframe at once, allows one publisher per
 * name (a second gets NetStream.Publish.BadName), and answers an unknown name with
 * NetStream.Play.StreamNotFound unless players may wait for their publisher.
 *
 * Layers, as in the client: a `serverSupervisor` actor (machines/serverSupervisorMachine) is the
 * root; it invokes the `listener` actor (the listening socket) and the `connections` registry
 * (./registry), which runs one `serverConnection` actor per client it admits (handshake as an
 * invoked handshake machine, connect, then one `serverStream` actor per NetStream, run by the
 * connection's `streams` registry), whose invoked `connectionIo` actor is a `ServerConnection`
 * (socket, byte pipeline). The registries keep those actors out of XState's children maps, so a
 * thousand of them ending at once cost O(1) each. `RtmpServer` keeps the stream registry
 * (`LiveStream`: caches, fan-out) and the events.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { redactUrl } from '../redact';
import { Observable, Subject } from '../rx';
import {
  createActor,
  fromCallback,
  fromPromise,
  type Actor,
  type AnyActorRef,
  type InspectionEvent,
  type SnapshotFrom,
} from 'xstate';
import { ServerActors, serverMachines, type ServerMachines } from './registry';
import type {
  serverConnectionMachine,
  ReconnectRequestOutcome,
} from '../../machines/serverConnectionMachine';
import type {
  serverStreamMachine,
  AuthorizeActorInput,
  AuthorizeActorOutput,
} from '../../machines/serverStreamMachine';
import type {
  serverSupervisorMachine,
  ListenerCommand,
  ListenerEvent,
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
import {
  httpHooks,
  toDecision,
  type Authorize,
  type AuthorizeRequest,
  type HttpHooks,
} from './authorize';
import { MemoryBudget, type BudgetKind, type ServerLimitError } from './limits';
import { LiveStream, streamKey, type PlayerSink } from './liveStream';
import { maskStreamName } from './log';
import { applyDecision } from './session';
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
   * Most connections open at once from one client address; more are refused at accept. 0 turns
   * the limit off (a server behind a proxy sees one address). Default 64.
   */
  maxConnectionsPerAddress?: number;
  /**
   * A connection with no publish or play for this long is closed (a stalled handshake, no
   * connect, connected but idle), and so is a publisher that sent nothing this long. A player
   * that only receives is never idle. Default 30 000 ms.
   */
  idleTimeoutMs?: number;
  /**
   * The server-wide memory budget: bytes held for all connections together (partial messages,
   * queued output, GOP caches). The connection that would exceed it is closed with an error
   * naming `maxBufferedBytes`. Default 512 MiB.
   */
  maxBufferedBytes?: number;
  /** Most pings answered per second per connection; more are ignored. Default 50. */
  maxPingsPerSecond?: number;
  /** The smallest peer acknowledgement window honoured. Default 4096 bytes. */
  minAckWindow?: number;
  /**
   * Decides who may publish and play (called for each publish and play; the NetStream waits in
   * its `authorizing` state). False, a rejection, an exception or no answer within
   * `authorizeTimeoutMs` refuses. Default: everyone may (unless hooks are given).
   */
  authorize?: Authorize;
  /** nginx-rtmp's `on_publish`: POSTed for each publish; 2xx allows. Used when `authorize` is not given. */
  onPublish?: string;
  /** nginx-rtmp's `on_play`: POSTed for each play; 2xx allows. */
  onPlay?: string;
  /** nginx-rtmp's `on_done`: POSTed (`call=done`) when an allowed publish or play ends. */
  onDone?: string;
  /** Milliseconds the authorizer (or a hook) may take. Default 5 000. */
  authorizeTimeoutMs?: number;
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

/**
 * What RtmpServer takes besides its options, for testing only: the machines to run (a mutant in
 * place of an original, see ServerMachines in ./registry).
 * @internal
 */
export interface RtmpServerInternals {
  machines?: Partial<ServerMachines>;
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
  /** Bytes held now for all connections (partial messages, queued output, GOP caches). */
  bufferedBytes: number;
  /** The most ever held at once. */
  peakBufferedBytes: number;
  /** The budget (`maxBufferedBytes`). */
  maxBufferedBytes: number;
  /** Publishes and plays the authorizer refused, and allowed. */
  refusedRequests: { publish: number; play: number };
  allowedRequests: { publish: number; play: number };
  /** Sockets refused at accept (maxConnections, maxConnectionsPerAddress, shutting down). */
  refusedConnections: number;
}

/**
 * NetStreams one connection may have (the server's default for limits.maxStreams; the error that
 * hits it names `maxStreams`). Kept at 128 for memory, not speed: see the constructor.
 */
const DEFAULT_SERVER_MAX_STREAMS = 128;

/** The longest delay a Node timer takes. */
const MAX_TIMER_MS = 2_147_483_647;

type ResolvedOptions = Required<
  Omit<RtmpServerOptions, 'limits' | 'inspect' | 'authorize' | 'onPublish' | 'onPlay' | 'onDone'>
> & {
  limits: RtmpLimits;
};

/** The events$ copy of an event: stream names masked, URLs redacted, like every log. */
function redactEvent(e: ServerEvent): ServerEvent {
  if (!('name' in e) && !('tcUrl' in e)) return e;
  const out = { ...e } as Record<string, unknown>;
  if (typeof out.name === 'string') out.name = maskStreamName(out.name);
  if (typeof out.tcUrl === 'string') out.tcUrl = redactUrl(out.tcUrl);
  return out as ServerEvent;
}

type StreamSnapshot = SnapshotFrom<typeof serverStreamMachine>;
type ConnectionSnapshot = SnapshotFrom<typeof serverConnectionMachine>;

export class RtmpServer implements ConnectionHost {
  private readonly supervisor: Actor<typeof serverSupervisorMachine>;
  /** The connection and NetStream actors, outside XState's children maps. */
  private readonly actors = new ServerActors();
  private readonly connections = new Set<ServerConnection>();
  /** Sockets accepted and not yet taken by their connection's IO (or refused). */
  private readonly accepted = new Map<number, Socket>();
  private readonly streams = new Map<string, LiveStream>();
  private readonly events = new Subject<ServerEvent>();
  /** Every step the server takes (connections, publish/unpublish, players), stream names masked. */
  readonly events$: Observable<ServerEvent> = this.events.asObservable();
  private readonly budget: MemoryBudget;
  /** The authorizer: `options.authorize`, or the HTTP hooks (undefined: everyone may). */
  private readonly authorizer:
    ((request: AuthorizeRequest, signal: AbortSignal) => ReturnType<Authorize>) | undefined;
  private readonly hooks: HttpHooks | undefined;
  private readonly requests = {
    refused: { publish: 0, play: 0 },
    allowed: { publish: 0, play: 0 },
  };
  private refusedSockets = 0;
  private readonly opts: ResolvedOptions;
  private readonly connectionOptions: ServerConnectionOptions;
  private nextConnectionId = 1;
  private closedBytes = { in: 0, out: 0, dropped: 0 };
  private address?: { host: string; port: number };
  /** listen() started the supervisor. */
  private started = false;

  /**
   * @param internal Testing only: the machine definitions to run instead of the originals (the
   *   mutation suite's mutants). Users never pass it.
   */
  constructor(options: RtmpServerOptions = {}, internal: RtmpServerInternals = {}) {
    this.opts = {
      host: options.host ?? '127.0.0.1',
      port: options.port ?? 1935,
      chunkSize: options.chunkSize ?? 4096,
      // NetStreams per connection: 128 unless asked. Closing many is cheap now (1,000 publishing
      // NetStreams on one connection: 0.27 s, linear), but each holds about 4 KiB of heap that
      // maxBufferedBytes does not count: 1,024 connections x 128 is about 0.5 GiB already.
      limits: resolveLimits({ maxStreams: DEFAULT_SERVER_MAX_STREAMS, ...options.limits }),
      gopCache: options.gopCache ?? true,
      waitForPublisher: options.waitForPublisher ?? false,
      playerHighWaterMark: options.playerHighWaterMark ?? 4 * 1024 * 1024,
      maxQueuedBytes: options.maxQueuedBytes ?? 64 * 1024 * 1024,
      maxGopBytes: options.maxGopBytes ?? 32 * 1024 * 1024,
      windowAckSize: options.windowAckSize ?? 5_000_000,
      handshakeTimeoutMs: options.handshakeTimeoutMs ?? 10_000,
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
      maxConnections: options.maxConnections ?? 1024,
      maxConnectionsPerAddress: options.maxConnectionsPerAddress ?? 64,
      idleTimeoutMs: options.idleTimeoutMs ?? 30_000,
      maxBufferedBytes: options.maxBufferedBytes ?? 512 * 1024 * 1024,
      maxPingsPerSecond: options.maxPingsPerSecond ?? 50,
      minAckWindow: options.minAckWindow ?? 4096,
      authorizeTimeoutMs: options.authorizeTimeoutMs ?? 5_000,
      apps: options.apps ?? [],
    };
    for (const [name, v] of [
      ['handshakeTimeoutMs', this.opts.handshakeTimeoutMs],
      ['connectTimeoutMs', this.opts.connectTimeoutMs],
      ['maxConnections', this.opts.maxConnections],
      ['idleTimeoutMs', this.opts.idleTimeoutMs],
      ['authorizeTimeoutMs', this.opts.authorizeTimeoutMs],
      ['maxPingsPerSecond', this.opts.maxPingsPerSecond],
      ['minAckWindow', this.opts.minAckWindow],
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
    const perAddress = this.opts.maxConnectionsPerAddress;
    if (!Number.isInteger(perAddress) || perAddress < 0) {
      throw new RangeError(
        `maxConnectionsPerAddress must be a non-negative integer (0: no limit), got ${perAddress}`,
      );
    }
    this.budget = new MemoryBudget(this.opts.maxBufferedBytes);
    this.hooks =
      options.onPublish !== undefined ||
      options.onPlay !== undefined ||
      options.onDone !== undefined
        ? httpHooks({
            onPublish: options.onPublish,
            onPlay: options.onPlay,
            onDone: options.onDone,
            timeoutMs: this.opts.authorizeTimeoutMs,
          })
        : undefined;
    const hooks = this.hooks;
    const custom = options.authorize;
    this.authorizer = custom
      ? (request) => custom(request)
      : hooks && (options.onPublish !== undefined || options.onPlay !== undefined)
        ? (request, signal) => hooks.authorize(request, signal)
        : undefined;
    this.connectionOptions = {
      chunkSize: this.opts.chunkSize,
      limits: this.opts.limits,
      playerHighWaterMark: this.opts.playerHighWaterMark,
      maxQueuedBytes: this.opts.maxQueuedBytes,
      windowAckSize: this.opts.windowAckSize,
      maxPingsPerSecond: this.opts.maxPingsPerSecond,
      minAckWindow: this.opts.minAckWindow,
      receivingReportMs: Math.max(1, Math.floor(this.opts.idleTimeoutMs / 4)),
      now: () => Date.now(),
    };
    const machines = serverMachines(internal.machines);
    const connectionLogic = this.actors.connectionLogic({
      io: connectionIo(this, this.connectionOptions, (id) => this.takeSocket(id)),
      authorize: this.authorizeActor(),
      machines,
    });
    const logic = machines.supervisor.provide({
      actors: {
        listener: this.listenerActor(),
        connections: this.actors.connectionsActor(connectionLogic, options.inspect),
      },
    });
    this.supervisor = createActor(logic, {
      id: 'server',
      inspect: options.inspect,
      input: {
        maxConnections: this.opts.maxConnections,
        maxConnectionsPerAddress: this.opts.maxConnectionsPerAddress,
        connection: {
          handshakeTimeoutMs: this.opts.handshakeTimeoutMs,
          connectTimeoutMs: this.opts.connectTimeoutMs,
          idleTimeoutMs: this.opts.idleTimeoutMs,
          authorizeTimeoutMs: this.opts.authorizeTimeoutMs,
          apps: this.opts.apps,
        },
        listener: { host: this.opts.host, port: this.opts.port },
      },
    });
  }

  /**
   * The `authorize` actor a NetStream's `authorizing` state invokes: it gets ids only, finds the
   * pending request (which holds the stream key) on the connection, and asks the authorizer.
   * The authorizer's own failures refuse (fail closed); the state's authorizeTimeout bounds it.
   */
  private authorizeActor() {
    return fromPromise<AuthorizeActorOutput, AuthorizeActorInput>(async ({ input, signal }) => {
      const connection = [...this.connections].find((c) => c.id === input.connectionId);
      const pending = connection?.pendingRequest(input.streamId);
      const authorize = this.authorizer;
      if (!pending) return { allowed: false, reason: 'no request to authorize' };
      if (!authorize) {
        this.requests.allowed[pending.request.action]++;
        return { allowed: true };
      }
      let decision;
      try {
        decision = toDecision(await authorize({ ...pending.request }, signal));
      } catch (e) {
        decision = { allowed: false, reason: `the authorizer failed: ${(e as Error).message}` };
      }
      applyDecision(pending, decision);
      const kind = decision.allowed ? 'allowed' : 'refused';
      this.requests[kind][pending.request.action]++;
      return { allowed: decision.allowed, reason: decision.reason };
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
        socket.on('error', () => undefined); // until its IO takes it (or it is refused)
        const address = socket.remoteAddress ?? '?';
        report({
          type: 'LISTENER.ACCEPT',
          connectionId,
          address,
          fromAddress: this.actors.fromAddress(address),
        });
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
          this.refusedSockets++;
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
   * The server's root actor (`serverSupervisor`), with its `listener` and `connections` children.
   * The connection actors are not its children: see `connectionActors()`.
   */
  get actor(): Actor<typeof serverSupervisorMachine> {
    return this.supervisor;
  }

  /**
   * The serverConnection actor of every open connection (`connection-<n>`, each with `io`,
   * `streams` and, while it lasts, `handshake` children), and its serverStream actors
   * (`stream-<id>`, whose parent it is), in the order the connections came.
   */
  connectionActors(): Array<{
    id: number;
    actor: AnyActorRef;
    streams: ReadonlyMap<number, AnyActorRef>;
  }> {
    return [...this.actors.connections].map(([id, { actor }]) => ({
      id,
      actor,
      streams: this.actors.streams(id),
    }));
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
    return this.connectionActors().map(({ id, actor, streams }) => {
      const snapshots = new Map<number, StreamSnapshot>();
      for (const [sid, ref] of streams) snapshots.set(sid, ref.getSnapshot() as StreamSnapshot);
      return { id, connection: actor.getSnapshot() as ConnectionSnapshot, streams: snapshots };
    });
  }

  /**
   * Enhanced RTMP v2: asks client connection `connectionId` (the `connection` number of
   * `events$`) to reconnect, to `tcUrl` when given (absolute, or relative to its current tcUrl),
   * else to this server. The serverConnection machine decides: it sends the onStatus
   * NetConnection.Connect.ReconnectRequest only to a connected client that advertised
   * CapsEx.Reconnect in connect. The old connection keeps being served until the client closes
   * it. Returns what happened: `sent`, or `refused` with the reason (UNKNOWN_CONNECTION,
   * NOT_CONNECTED, NOT_SUPPORTED).
   */
  requestReconnect(
    connectionId: number,
    tcUrl?: string,
    description?: string,
  ): ReconnectRequestOutcome | { outcome: 'refused'; reason: 'UNKNOWN_CONNECTION' } {
    const ref = this.actors.connections.get(connectionId)?.actor;
    if (!ref) return { outcome: 'refused', reason: 'UNKNOWN_CONNECTION' };
    ref.send({
      type: 'SERVER.REQUEST_RECONNECT',
      ...(tcUrl !== undefined ? { tcUrl } : {}),
      ...(description !== undefined ? { description } : {}),
    });
    const outcome = (ref.getSnapshot() as ConnectionSnapshot).context.reconnectRequest;
    return outcome ?? { outcome: 'refused', reason: 'NOT_CONNECTED' };
  }

  /** Starts measuring `stats().peakBufferedBytes` again from what is held now. */
  resetPeakBufferedBytes(): void {
    this.budget.resetPeak();
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
      bufferedBytes: this.budget.total,
      peakBufferedBytes: this.budget.peak,
      maxBufferedBytes: this.budget.limit,
      refusedRequests: { ...this.requests.refused },
      allowedRequests: { ...this.requests.allowed },
      refusedConnections: this.refusedSockets,
    };
  }

  private emitFor(c: ServerConnection, event: { type: 'connection' } | ConnectionEvent): void {
    this.events.next(
      redactEvent({ ...event, connection: c.id, remote: c.remote, app: c.app } as ServerEvent),
    );
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
      s.onGopBytes = (stream, bytes) => this.holdGop(stream, bytes);
      this.streams.set(key, s);
    }
    return s;
  }

  private forget(s: LiveStream): void {
    if (!s.idle) return;
    this.streams.delete(s.key);
    this.budget.release(`stream ${s.app}/${maskStreamName(s.name)}#${s.serial}`);
  }

  /**
   * A stream's GOP cache grew or shrank: it counts against the budget as its publisher's. When
   * it would exceed the budget, the publisher's connection closes (the cache goes with it).
   */
  private holdGop(s: LiveStream, bytes: number): void {
    const owner = `stream ${s.app}/${maskStreamName(s.name)}#${s.serial}`;
    const err = this.budget.set(owner, 'gopCache', bytes);
    if (!err) return;
    s.dropGop();
    this.budget.set(owner, 'gopCache', 0);
    const publisher = s.publisher;
    const c = publisher && [...this.connections].find((x) => x.id === publisher.connectionId);
    c?.abort(err);
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
  hold(c: ServerConnection, kind: BudgetKind, bytes: number): ServerLimitError | undefined {
    return this.budget.set(`connection ${c.id}`, kind, bytes);
  }

  /** @internal */
  streamEnded(_c: ServerConnection, request: AuthorizeRequest): void {
    this.hooks?.done(request);
  }

  /** @internal */
  connectionClosed(c: ServerConnection): void {
    this.budget.release(`connection ${c.id}`);
    if (!this.connections.delete(c)) return;
    this.closedBytes.in += c.bytesIn;
    this.closedBytes.out += c.bytesOut;
    this.closedBytes.dropped += c.dropped;
  }
}
