/**
 * The IO of one client connection of the embedded server: the `connectionIo` actor that a
 * `serverConnection` actor (machines/serverConnectionMachine) invokes, as the client's
 * netConnection invokes its transport.
 *
 * IO only: this class owns the socket, the byte pipeline and the writes (with their budget and
 * back-pressure bounds), and the players' flow control. It decides nothing about the protocol:
 * every decoded message goes to the connection's {@link ServerSession} (src/server/session.ts,
 * sans-IO: the command switch, the replies, stream ids, BadName, StreamNotFound, the control
 * duties), and so does every answer of the serverConnection actor (accept or refuse connect, the
 * authorizer's decision, close); what the session returns is carried out here, in order: writes,
 * events for the serverConnection actor, the stream registry's questions and the log. The
 * phases and each NetStream's role are the states of the serverConnection actor and of its
 * `serverStream` children; nothing here reads a snapshot.
 */
import type { Socket } from 'node:net';
import { fromEvent, Subject, Subscription } from '../rx';
import { fromCallback, type SnapshotFrom } from 'xstate';
import type {
  serverConnectionMachine,
  ServerIoCommand,
  ServerIoEvent,
  ServerIoInput,
} from '../../machines/serverConnectionMachine';
import type { serverStreamMachine } from '../../machines/serverStreamMachine';
import { ChunkDecoder } from '../protocol/chunk';
import { HandshakeError } from '../protocol/errors';
import { HandshakeServer } from '../protocol/handshake';
import type { RtmpLimits } from '../protocol/limits';
import { decodeMessage } from '../protocol/message';
import type { RtmpMessage } from '../protocol/message/types';
import { decodeRtmp } from '../pipeline/decode';
import { encodeRtmp, type OutboundItem } from '../pipeline/encode';
import type { AuthorizeRequest } from './request';
import { ServerLimitError, type BudgetKind } from './limits';
import type { PlayerSink } from './liveStream';
import type { ConnectionEvent } from './events';
import { KeyframeGate } from '../io/keyframeGate';
import { isSequenceHeader, type MediaMessage } from './media';
import {
  ServerSession,
  type PendingRequest,
  type SessionEffect,
  type SessionPhase,
  type SessionStreamRole,
} from './session';

export type ConnectionPhase = SessionPhase;

export type NetStreamRole = Exclude<SessionStreamRole, 'ended'>;

export type { PendingRequest } from './session';

/** The snapshots of a connection's actors (for debugging and tests). */
export interface ConnectionMachines {
  connection: SnapshotFrom<typeof serverConnectionMachine>;
  streams: Map<number, SnapshotFrom<typeof serverStreamMachine>>;
}

/** What a connection asks of the server (the stream registry and the event log). */
export interface ConnectionHost {
  /** A connection's IO started (its serverConnection actor runs). */
  connectionOpened(c: ServerConnection): void;
  /** `ok`, or `badName` when the name is published already. */
  startPublishing(c: ServerConnection, streamId: number, name: string): 'ok' | 'badName';
  stopPublishing(c: ServerConnection, streamId: number, name: string): void;
  /** `playing` (the publisher is there), `waiting` (it may come), or `notFound`. */
  canPlay(c: ServerConnection, name: string): 'playing' | 'waiting' | 'notFound';
  /** Adds a player `canPlay` allowed; the server sends it the cached media at once. */
  addPlayer(c: ServerConnection, name: string, player: PlayerSink): void;
  removePlayer(c: ServerConnection, name: string, player: PlayerSink): void;
  /** A publisher's media on `name`. */
  relay(c: ServerConnection, name: string, message: MediaMessage): void;
  connectionEvent(c: ServerConnection, event: ConnectionEvent): void;
  connectionClosed(c: ServerConnection): void;
  /**
   * `c` now holds `bytes` of `kind` (the server-wide budget): undefined when that fits, else the
   * error naming the limit (the connection then closes).
   */
  hold(c: ServerConnection, kind: BudgetKind, bytes: number): ServerLimitError | undefined;
  /** A publish or play that the authorizer had allowed ended (the on_done hook). */
  streamEnded(c: ServerConnection, request: AuthorizeRequest): void;
}

// ConnectionEvent lives in ./events (types only), which log.ts reads without a cycle.
export type { ConnectionEvent } from './events';

export interface ServerConnectionOptions {
  chunkSize: number;
  limits: RtmpLimits;
  /** Bytes queued on the socket above which a player's non-key video waits for a keyframe. */
  playerHighWaterMark: number;
  /** Bytes queued on the socket above which the connection is closed (a consumer too slow). */
  maxQueuedBytes: number;
  /** Window Acknowledgement Size we announce. */
  windowAckSize: number;
  /** Most ping requests answered per second per connection; more are ignored. */
  maxPingsPerSecond: number;
  /** The smallest peer acknowledgement window we honour (a window of 1 would ack every read). */
  minAckWindow: number;
  /** At most one SERVER.RECEIVING report per this many ms (a quarter of the idle timeout). */
  receivingReportMs: number;
  /** The clock (ms). */
  now: () => number;
}

/** How long a refused client gets to read its `_error` before the socket is destroyed. */
const REJECT_LINGER_MS = 2_000;

/** A player: one NetStream of a connection that plays a live stream (its flow control). */
class ServerPlayer implements PlayerSink {
  /** Non-key video waits for a keyframe: at the start, after a pause, and when backed up. */
  readonly keyframeGate = new KeyframeGate({ closed: true });
  paused = false;
  dropped = 0;
  delivered = 0;

  constructor(
    private readonly connection: ServerConnection,
    readonly streamId: number,
    readonly requestedName: string,
    private readonly highWaterMark: number,
  ) {}

  deliver(m: MediaMessage): void {
    const c = this.connection;
    if (c.isClosed || this.paused) return;
    const queued = c.queuedBytes;
    if (m.type === 'Video' && !isSequenceHeader(m)) {
      const backedUp = queued > this.highWaterMark;
      if (backedUp) this.keyframeGate.close();
      if (!this.keyframeGate.admit(m, !backedUp)) {
        this.dropped++;
        c.dropped++;
        return;
      }
    } else if (m.type === 'Audio' && queued > 2 * this.highWaterMark) {
      this.dropped++;
      c.dropped++;
      return;
    }
    this.delivered++;
    c.send({ ...m, streamId: this.streamId, csid: undefined } as RtmpMessage);
  }

  publisherStarted(): void {
    this.keyframeGate.close();
    this.connection.publisherStarted(this.streamId);
  }

  publisherStopped(): void {
    this.connection.publisherStopped(this.streamId);
  }
}

export class ServerConnection {
  /** Bytes received so far (handshake included), for Acknowledgements. */
  bytesIn = 0;
  bytesOut = 0;
  /** Media messages dropped for this connection's players (backed up: a slow consumer). */
  dropped = 0;
  /** Every protocol decision of this connection. */
  readonly session: ServerSession;
  private readonly out = new Subject<OutboundItem>();
  private readonly subs = new Subscription();
  /** The players of this connection's NetStreams, by message stream id. */
  private readonly players = new Map<number, ServerPlayer>();
  /** close() ran (the socket is gone; nothing more is written). */
  private closed = false;
  private reading = false;
  private readonly decoder: ChunkDecoder;
  /** The peer's address and port (kept: a destroyed socket forgets them). */
  readonly remote: string;

  /**
   * @param report sends the serverConnection actor an event (the callback actor's `sendBack`)
   */
  constructor(
    readonly id: number,
    readonly socket: Socket,
    private readonly host: ConnectionHost,
    private readonly options: ServerConnectionOptions,
    private readonly report: (event: ServerIoEvent) => void,
  ) {
    this.remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    this.decoder = new ChunkDecoder(options.limits);
    this.session = new ServerSession({
      connectionId: id,
      remote: this.remote,
      chunkSize: options.chunkSize,
      windowAckSize: options.windowAckSize,
      maxStreams: options.limits.maxStreams,
      duties: {
        minAckWindow: options.minAckWindow,
        maxPingsPerSecond: options.maxPingsPerSecond,
      },
      receivingReportMs: options.receivingReportMs,
      now: options.now(),
    });
    socket.setNoDelay(true);
    socket.on('drain', () => this.holdQueued());
    this.subs.add(
      this.out.pipe(encodeRtmp(128)).subscribe({
        next: (b) => this.write(b),
        error: (err: unknown) => this.fail(err),
      }),
    );
    socket.on('error', (err) => this.close(`socket error: ${err.message}`));
    socket.on('end', () => this.close('closed by peer'));
    socket.on('close', () => this.close('closed by peer'));
    host.connectionOpened(this);
  }

  /** The application the client connected to. */
  get app(): string {
    return this.session.app;
  }

  /** The phase, as the session was told it (for stats). */
  get phase(): ConnectionPhase {
    return this.session.phase;
  }

  /** What the serverConnection actor asks of the IO. */
  command(cmd: ServerIoCommand): void {
    switch (cmd.type) {
      case 'TRANSPORT.HANDSHAKE_START':
        this.startReading();
        return;
      case 'IO.ACCEPT_CONNECT':
        this.apply(this.session.acceptConnect());
        return;
      case 'IO.REJECT_CONNECT':
        this.apply(this.session.rejectConnect(cmd.description));
        return;
      case 'IO.AUTHORIZATION':
        if (this.closed) return;
        this.apply(this.session.authorization(cmd.streamId, cmd.action, cmd.allowed, cmd.reason));
        return;
      case 'IO.CLOSE':
        this.close(cmd.reason);
        return;
      case 'IO.RECONNECT_REQUEST':
        this.apply(this.session.reconnectRequest(cmd.tcUrl, cmd.description));
        return;
    }
  }

  /** The handshake machine started: read C0+C1 (the socket stays paused until now). */
  private startReading(): void {
    if (this.reading || this.closed) return;
    this.reading = true;
    this.subs.add(
      fromEvent<Buffer>(this.socket, 'data')
        .pipe(
          decodeRtmp({
            decoder: this.decoder,
            handshake: new HandshakeServer(),
            reportBytes: true,
          }),
        )
        .subscribe({
          next: (item) => {
            switch (item.kind) {
              case 'reply':
                this.write(item.bytes);
                return;
              case 'handshake':
                if (item.step === 'peerHello') {
                  this.report({
                    type: 'HANDSHAKE.PEER_HELLO',
                    version: item.version ?? 3,
                    form: item.form ?? 'simple',
                  });
                } else {
                  this.session.handshakeDone();
                  this.report({ type: 'HANDSHAKE.PEER_ECHO' });
                }
                return;
              case 'bytes':
                this.onBytes(item.total);
                return;
              case 'message': {
                let m: RtmpMessage;
                try {
                  m = decodeMessage(item.message, this.options.limits);
                } catch (err) {
                  this.fail(err);
                  return;
                }
                this.apply(this.session.message(m, this.options.now()));
                return;
              }
            }
          },
          error: (err: unknown) => this.onPipelineError(err),
        }),
    );
  }

  private onPipelineError(err: unknown): void {
    if (
      err instanceof HandshakeError &&
      (err.code === 'BAD_VERSION' || err.code === 'BAD_DIGEST' || err.code === 'BAD_ECHO')
    ) {
      // The handshake machine fails and the serverConnection actor closes the socket.
      this.report({ type: 'HANDSHAKE.FAILED', code: err.code, message: err.message });
      this.close(`handshake failed: ${err.message}`);
      return;
    }
    this.fail(err);
  }

  private onBytes(total: number): void {
    this.bytesIn = total;
    const err = this.host.hold(this, 'partialMessages', this.decoder.bufferedBytes);
    if (err) {
      this.fail(err);
      return;
    }
    this.apply(this.session.bytesReceived(total, this.options.now()));
  }

  /** Carries out what the session decided, in order. */
  private apply(effects: readonly SessionEffect[]): void {
    for (const e of effects) {
      switch (e.kind) {
        case 'send':
          this.send(e.message);
          break;
        case 'setChunkSize':
          if (!this.closed) this.out.next({ kind: 'setChunkSize', chunkSize: e.chunkSize });
          break;
        case 'report':
          if (!this.closed) this.report(e.event);
          break;
        case 'log':
          this.host.connectionEvent(this, e.event);
          break;
        case 'claim':
          this.apply(
            this.session.claimed(e.streamId, this.host.startPublishing(this, e.streamId, e.name)),
          );
          break;
        case 'lookUp':
          this.apply(this.session.lookedUp(e.streamId, this.host.canPlay(this, e.name)));
          break;
        case 'release':
          this.host.stopPublishing(this, e.streamId, e.name);
          break;
        case 'addPlayer': {
          const player = new ServerPlayer(
            this,
            e.streamId,
            e.name,
            this.options.playerHighWaterMark,
          );
          this.players.set(e.streamId, player);
          this.host.addPlayer(this, e.name, player);
          break;
        }
        case 'removePlayer': {
          const player = this.players.get(e.streamId);
          if (!player) break;
          this.players.delete(e.streamId);
          this.host.removePlayer(this, e.name, player);
          this.host.connectionEvent(this, {
            type: 'stop',
            streamId: e.streamId,
            name: e.name,
            dropped: player.dropped,
          });
          break;
        }
        case 'pausePlayer': {
          const player = this.players.get(e.streamId);
          if (!player) break;
          player.paused = e.paused;
          if (!e.paused) player.keyframeGate.close();
          break;
        }
        case 'relay':
          this.host.relay(this, e.name, e.message);
          break;
        case 'ended':
          this.host.streamEnded(this, e.request);
          break;
        case 'close':
          this.close(e.reason, undefined, e.linger);
          break;
      }
    }
  }

  /** The publisher of what NetStream `streamId` plays went on air. */
  publisherStarted(streamId: number): void {
    if (!this.closed) this.apply(this.session.publisherStarted(streamId));
  }

  /** The publisher of what NetStream `streamId` plays stopped. */
  publisherStopped(streamId: number): void {
    if (!this.closed) this.apply(this.session.publisherStopped(streamId));
  }

  /** close() ran. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** The publish or play NetStream `streamId` waits to have authorized (for the authorizer). */
  pendingRequest(streamId: number): PendingRequest | undefined {
    return this.session.pendingRequest(streamId);
  }

  /** Bytes written but not yet taken by the kernel. */
  get queuedBytes(): number {
    return this.socket.writableLength;
  }

  /** NetStreams of this connection by role (for stats). */
  countStreams(role: NetStreamRole): number {
    return this.session.countStreams(role);
  }

  private write(bytes: Uint8Array): void {
    if (this.closed || this.socket.destroyed) return;
    this.bytesOut += bytes.byteLength;
    this.socket.write(bytes);
    const queued = this.socket.writableLength;
    if (queued > this.options.maxQueuedBytes) {
      this.fail(
        new ServerLimitError(
          'MAX_QUEUED_BYTES',
          `slow consumer: ${queued} bytes queued, over maxQueuedBytes ${this.options.maxQueuedBytes}`,
          { queued, limit: this.options.maxQueuedBytes },
        ),
      );
      return;
    }
    this.holdQueued();
  }

  /** Tells the server-wide budget what this connection's socket has queued. */
  private holdQueued(): void {
    if (this.closed) return;
    const err = this.host.hold(this, 'queuedOutput', this.socket.writableLength);
    if (err) this.fail(err);
  }

  send(message: RtmpMessage): void {
    if (!this.closed) this.out.next({ kind: 'message', message });
  }

  /** Closes the connection with `err` (a limit it hit elsewhere: the GOP cache of its stream). */
  abort(err: unknown): void {
    this.fail(err);
  }

  private fail(err: unknown): void {
    if (this.closed) return;
    const message = err instanceof Error ? err.message : String(err);
    this.host.connectionEvent(this, { type: 'error', message });
    this.close(`error: ${message}`, message, false, err);
  }

  /**
   * Ends every NetStream, closes the socket, and tells the serverConnection actor and the server.
   * Idempotent. `linger`: end the socket gracefully (what was written still goes out).
   */
  close(reason = 'closed', error?: string, linger = false, cause?: unknown): void {
    if (this.closed) return;
    this.closed = true;
    // Every NetStream ends, whatever the phase: the machine may have left `connected` already
    // (an idle timeout, a limit) when it tells the IO to close.
    this.apply(this.session.close());
    this.report(
      error === undefined
        ? { type: 'SERVER.CLOSED', reason }
        : {
            type: 'SERVER.ERROR',
            code:
              cause instanceof ServerLimitError
                ? cause.code
                : (((cause as { code?: unknown } | undefined)?.code as string | undefined) ??
                  'PROTOCOL_ERROR'),
            message: error,
          },
    );
    this.subs.unsubscribe();
    this.out.complete();
    if (linger && !this.socket.destroyed) {
      this.socket.end();
      setTimeout(() => this.socket.destroy(), REJECT_LINGER_MS).unref();
    } else {
      this.socket.destroy();
    }
    this.host.connectionEvent(this, { type: 'close', reason });
    this.host.connectionClosed(this);
  }
}

/**
 * The `connectionIo` actor of the embedded server: a ServerConnection on the socket the listener
 * accepted (`takeSocket(connectionId)`), reporting to the serverConnection actor that invokes it.
 */
export function connectionIo(
  host: ConnectionHost,
  options: ServerConnectionOptions,
  takeSocket: (connectionId: number) => Socket | undefined,
) {
  return fromCallback<ServerIoCommand, ServerIoInput>(({ input, sendBack, receive }) => {
    const socket = takeSocket(input.connectionId);
    if (!socket) throw new Error(`no socket for connection ${input.connectionId}`);
    const c = new ServerConnection(input.connectionId, socket, host, options, sendBack);
    receive((cmd) => c.command(cmd));
    return () => c.close('closed');
  });
}
