/**
 * The IO of one client connection of the embedded server: the `connectionIo` actor that a
 * `serverConnection` actor (machines/serverConnectionMachine) invokes, as the client's
 * netConnection invokes its transport.
 *
 * The phases (handshake → awaitingConnect → connected → closed) are the states of that
 * serverConnection actor, and each NetStream's role (created → publishing | playing → deleted)
 * the state of a `serverStream` actor it spawns (`stream-<message stream id>`). This class owns
 * the socket and the byte pipeline: it starts reading when the handshake machine says so,
 * reports what the socket says (handshake steps, connect, NetStream commands, close, errors) to
 * its serverConnection actor, answers or refuses connect and closes when that actor says so, and
 * reads its phase and its NetStreams' states from it. Many NetStreams share the connection.
 */
import type { Socket } from 'node:net';
import { fromEvent, Subject, Subscription } from '../rx';
import { fromCallback, type AnyActorRef, type SnapshotFrom } from 'xstate';
import {
  serverStreamId,
  type serverConnectionMachine,
  type ServerIoCommand,
  type ServerIoEvent,
  type ServerIoInput,
} from '../../machines/serverConnectionMachine';
import type { serverStreamMachine, ServerStreamEvent } from '../../machines/serverStreamMachine';
import type { AmfValue } from '../protocol/amf/types';
import { ChunkDecoder } from '../protocol/chunk';
import { HandshakeError } from '../protocol/errors';
import { HandshakeServer } from '../protocol/handshake';
import type { RtmpLimits } from '../protocol/limits';
import { decodeMessage } from '../protocol/message';
import { serverCapabilityProperties } from '../protocol/message/capabilities';
import {
  buildData,
  buildError,
  buildOnStatus,
  buildResult,
  StatusCode,
} from '../protocol/message/commands';
import type { RtmpMessage, StatusInfo } from '../protocol/message/types';
import { decodeRtmp } from '../pipeline/decode';
import { encodeRtmp, type OutboundItem } from '../pipeline/encode';
import { RefusalStatus, splitStreamName, type AuthorizeRequest } from './authorize';
import { honouredAckWindow, RateLimiter, ServerLimitError, type BudgetKind } from './limits';
import type { PlayerSink } from './liveStream';
import type { ConnectionEvent } from './events';
import { maskStreamName } from './log';
import { isSequenceHeader, isVideoKeyframe, type MediaMessage } from './media';

export type ConnectionPhase = 'handshake' | 'awaitingConnect' | 'connected' | 'closed';

export type NetStreamRole = 'created' | 'authorizing' | 'publishing' | 'playing';

/** A publish or play waiting for the authorizer (kept here: it holds the stream key). */
export interface PendingRequest {
  request: AuthorizeRequest;
  /** The name the authorizer asked to use instead (nginx-rtmp's 3xx redirect). */
  renamed?: string;
  /** The full name as sent (with its query). */
  fullName: string;
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

type StreamSnapshot = SnapshotFrom<typeof serverStreamMachine>;
type ConnectionSnapshot = SnapshotFrom<typeof serverConnectionMachine>;

interface NetStream {
  id: number;
  /** Its serverStream actor (a child of the serverConnection actor). */
  actor: AnyActorRef | undefined;
  name?: string;
  player?: ServerPlayer;
  /** The publish or play being authorized. */
  pending?: PendingRequest;
  /** The allowed publish or play (for the on_done hook when it ends). */
  allowed?: AuthorizeRequest;
}

/** The snapshots of a connection's actors (for debugging and tests). */
export interface ConnectionMachines {
  connection: ConnectionSnapshot;
  streams: Map<number, StreamSnapshot>;
}

function roleOf(actor: AnyActorRef | undefined): NetStreamRole {
  const state = (actor?.getSnapshot() as StreamSnapshot | undefined)?.value;
  if (state === 'publishing') return 'publishing';
  if (state === 'playing' || state === 'waitingForPublisher') return 'playing';
  if (state === 'authorizing' || state === 'authorized') return 'authorizing';
  return 'created';
}

function phaseOf(snapshot: ConnectionSnapshot): ConnectionPhase {
  if (snapshot.matches('connected')) return 'connected';
  switch (snapshot.value) {
    case 'handshaking':
      return 'handshake';
    case 'awaitingConnect':
      return 'awaitingConnect';
    default:
      return 'closed';
  }
}

/** A player: one NetStream of a connection that plays a live stream. */
class ServerPlayer implements PlayerSink {
  waitingForKeyframe = true;
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
      if (queued > this.highWaterMark) this.waitingForKeyframe = true;
      else if (isVideoKeyframe(m)) this.waitingForKeyframe = false;
      if (this.waitingForKeyframe) {
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
    this.waitingForKeyframe = true;
    this.connection.streamEvent(this.streamId, { type: 'STREAM.PUBLISHER_STARTED' });
    this.connection.send(
      status(
        this.streamId,
        'status',
        StatusCode.PlayPublishNotify,
        `${this.requestedName} is now published.`,
      ),
    );
  }

  publisherStopped(): void {
    this.connection.streamEvent(this.streamId, { type: 'STREAM.PUBLISHER_STOPPED' });
    this.connection.send(
      status(
        this.streamId,
        'status',
        StatusCode.PlayUnpublishNotify,
        `${this.requestedName} is now unpublished.`,
      ),
    );
  }
}

function status(streamId: number, level: string, code: string, description: string): RtmpMessage {
  const info: StatusInfo = { level, code, description };
  return buildOnStatus(info, { streamId, csid: 5 });
}

function stringArg(v: AmfValue | undefined): string {
  return typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v);
}

function objectProp(o: AmfValue, key: string): AmfValue | undefined {
  if (
    typeof o !== 'object' ||
    o === null ||
    Array.isArray(o) ||
    o instanceof Date ||
    o instanceof Uint8Array
  ) {
    return undefined;
  }
  return (o as Record<string, AmfValue>)[key];
}

export class ServerConnection {
  app = '';
  /** What the client's connect said (for the authorizer). */
  private connectInfo = { tcUrl: '', flashVer: '', swfUrl: '', pageUrl: '' };
  /** Bytes received so far (handshake included), for Acknowledgements. */
  bytesIn = 0;
  bytesOut = 0;
  /** Media messages dropped for this connection's players (backed up: a slow consumer). */
  dropped = 0;
  private readonly out = new Subject<OutboundItem>();
  private readonly subs = new Subscription();
  private readonly streams = new Map<number, NetStream>();
  private nextStreamId = 1;
  /** The client's Window Acknowledgement Size (0: it set none, so we send no Acknowledgements). */
  private peerWindow = 0;
  private lastAck = 0;
  /** close() ran (the socket is gone; nothing more is written). */
  private closed = false;
  private reading = false;
  private readonly decoder: ChunkDecoder;
  private readonly pings: RateLimiter;
  private lastReceivingReport = Number.NEGATIVE_INFINITY;
  /** The connect command being answered (accepted or rejected by the serverConnection actor). */
  private pendingConnect: Extract<RtmpMessage, { type: 'Command' }> | undefined;
  /** The peer's address and port (kept: a destroyed socket forgets them). */
  readonly remote: string;

  /**
   * @param connection the serverConnection actor that invoked this IO
   * @param report sends that actor an event (the callback actor's `sendBack`)
   */
  constructor(
    readonly id: number,
    readonly socket: Socket,
    private readonly host: ConnectionHost,
    private readonly options: ServerConnectionOptions,
    private readonly connection: AnyActorRef,
    private readonly report: (event: ServerIoEvent) => void,
  ) {
    this.remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    this.decoder = new ChunkDecoder(options.limits);
    this.pings = new RateLimiter(options.maxPingsPerSecond, options.now());
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

  /** What the serverConnection actor asks of the IO. */
  command(cmd: ServerIoCommand): void {
    switch (cmd.type) {
      case 'TRANSPORT.HANDSHAKE_START':
        this.startReading();
        return;
      case 'IO.ACCEPT_CONNECT':
        this.acceptConnect();
        return;
      case 'IO.REJECT_CONNECT':
        this.rejectConnect(cmd.description);
        return;
      case 'IO.AUTHORIZATION':
        this.onAuthorization(cmd.streamId, cmd.action, cmd.allowed, cmd.reason);
        return;
      case 'IO.CLOSE':
        this.close(cmd.reason);
        return;
      case 'IO.RECONNECT_REQUEST':
        this.send(
          buildOnStatus(
            {
              level: 'status',
              code: StatusCode.ConnectReconnectRequest,
              description: cmd.description,
              ...(cmd.tcUrl !== undefined ? { tcUrl: cmd.tcUrl } : {}),
            },
            { csid: 3 },
          ),
        );
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
                this.report(
                  item.step === 'peerHello'
                    ? {
                        type: 'HANDSHAKE.PEER_HELLO',
                        version: item.version ?? 3,
                        form: item.form ?? 'simple',
                      }
                    : { type: 'HANDSHAKE.PEER_ECHO' },
                );
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
                this.onMessage(m);
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

  /** The phase: the state of the serverConnection actor. */
  get phase(): ConnectionPhase {
    return phaseOf(this.connection.getSnapshot() as ConnectionSnapshot);
  }

  /** close() ran. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Sends an event to the serverStream actor of `streamId` (through the serverConnection actor). */
  streamEvent(streamId: number, event: ServerStreamEvent): void {
    if (this.streams.has(streamId) && this.connection.getSnapshot().status === 'active') {
      this.report({ type: 'SERVER.STREAM', streamId, event });
    }
  }

  /** A new NetStream: the serverConnection actor spawns its serverStream actor. */
  private createStream(id: number): NetStream {
    this.report({ type: 'SERVER.STREAM_CREATED', streamId: id });
    const children = (this.connection.getSnapshot() as ConnectionSnapshot).children as Record<
      string,
      AnyActorRef | undefined
    >;
    const s: NetStream = { id, actor: children[serverStreamId(id)] };
    this.streams.set(id, s);
    return s;
  }

  /** Bytes written but not yet taken by the kernel. */
  get queuedBytes(): number {
    return this.socket.writableLength;
  }

  /** NetStreams of this connection by role (for stats). */
  countStreams(role: NetStreamRole): number {
    let n = 0;
    for (const s of this.streams.values()) if (roleOf(s.actor) === role) n++;
    return n;
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

  private onBytes(total: number): void {
    this.bytesIn = total;
    const err = this.host.hold(this, 'partialMessages', this.decoder.bufferedBytes);
    if (err) {
      this.fail(err);
      return;
    }
    const now = this.options.now();
    if (now - this.lastReceivingReport >= this.options.receivingReportMs) {
      this.lastReceivingReport = now;
      this.report({ type: 'SERVER.RECEIVING' });
    }
    if (this.peerWindow > 0 && total - this.lastAck >= this.peerWindow) {
      this.lastAck = total;
      this.send({
        type: 'Acknowledgement',
        sequenceNumber: total >>> 0,
        timestamp: 0,
        streamId: 0,
      });
    }
  }

  private onMessage(m: RtmpMessage): void {
    switch (m.type) {
      case 'Command':
        this.onCommand(m);
        return;
      case 'Audio':
      case 'Video':
      case 'Data':
        this.onMedia(m);
        return;
      case 'Aggregate':
        for (const sub of m.messages) {
          if (sub.type === 'Audio' || sub.type === 'Video' || sub.type === 'Data') {
            this.onMedia({ ...sub, streamId: m.streamId });
          }
        }
        return;
      case 'WindowAckSize':
        this.peerWindow = honouredAckWindow(m.windowSize, this.options.minAckWindow);
        return;
      case 'UserControl':
        if (m.event === 'PingRequest' && this.pings.take(this.options.now())) {
          this.send({
            type: 'UserControl',
            event: 'PingResponse',
            time: m.time,
            timestamp: 0,
            streamId: 0,
          });
        }
        return;
      default:
        return; // Acknowledgement, SetPeerBandwidth, SetChunkSize/Abort (applied by the decoder)
    }
  }

  private onMedia(m: MediaMessage): void {
    const s = this.streams.get(m.streamId);
    if (s && s.name !== undefined && roleOf(s.actor) === 'publishing') {
      this.host.relay(this, s.name, m);
    }
  }

  private replyResult(transactionId: number, properties: AmfValue, info: AmfValue): void {
    this.send(buildResult(transactionId, properties, info, { csid: 3 }));
  }

  private replyError(transactionId: number, code: string, description: string): void {
    this.send(buildError(transactionId, null, { level: 'error', code, description }, { csid: 3 }));
  }

  private onCommand(m: Extract<RtmpMessage, { type: 'Command' }>): void {
    const tid = m.transactionId;
    if (this.phase === 'awaitingConnect') {
      if (m.name === 'connect') this.onConnect(m);
      else if (tid) this.replyError(tid, 'NetConnection.Call.Failed', `${m.name} before connect`);
      return;
    }
    if (this.phase !== 'connected') return;
    switch (m.name) {
      case 'createStream': {
        if (this.streams.size >= this.options.limits.maxStreams) {
          this.replyError(
            tid,
            'NetStream.Create.Failed',
            `at most ${this.options.limits.maxStreams} streams per connection`,
          );
          return;
        }
        while (this.streams.has(this.nextStreamId)) this.nextStreamId++;
        const id = this.nextStreamId++;
        this.createStream(id);
        this.replyResult(tid, null, id);
        return;
      }
      case 'releaseStream':
      case 'FCPublish':
      case 'FCUnpublish':
      case 'FCSubscribe':
      case '_checkbw':
        if (tid) this.replyResult(tid, null, null);
        return;
      case 'getStreamLength':
        if (tid) this.replyResult(tid, null, 0);
        return;
      case 'publish':
        this.onPublish(m.streamId, stringArg(m.args[0]), stringArg(m.args[1]) || 'live');
        return;
      case 'play':
        this.onPlay(m.streamId, stringArg(m.args[0]), m.args[1], m.args[2], m.args[3]);
        return;
      case 'pause':
        this.onPause(m.streamId, m.args[0] === true);
        return;
      case 'deleteStream':
        this.endStream(Number(m.args[0]), true);
        return;
      case 'closeStream':
        this.endStream(m.streamId, false);
        return;
      case 'receiveAudio':
      case 'receiveVideo':
        return;
      default:
        if (tid) this.replyError(tid, 'NetConnection.Call.Failed', `unknown command ${m.name}`);
    }
  }

  private onConnect(m: Extract<RtmpMessage, { type: 'Command' }>): void {
    const obj = m.commandObject;
    this.app = stringArg(objectProp(obj, 'app')).replace(/^\/+|\/+$/g, '');
    const q = this.app.indexOf('?');
    if (q >= 0) this.app = this.app.slice(0, q);
    this.pendingConnect = m;
    const capsEx = objectProp(obj, 'capsEx');
    this.report({
      type: 'SERVER.CONNECT',
      app: this.app,
      ...(typeof capsEx === 'number' ? { capsEx } : {}),
    });
  }

  /** The serverConnection actor accepted connect (its `acceptConnect` action). */
  private acceptConnect(): void {
    const m = this.pendingConnect;
    if (!m) return;
    this.pendingConnect = undefined;
    const obj = m.commandObject;
    this.connectInfo = {
      tcUrl: stringArg(objectProp(obj, 'tcUrl')),
      flashVer: stringArg(objectProp(obj, 'flashVer')),
      swfUrl: stringArg(objectProp(obj, 'swfUrl')),
      pageUrl: stringArg(objectProp(obj, 'pageUrl')),
    };
    this.send({
      type: 'WindowAckSize',
      windowSize: this.options.windowAckSize,
      timestamp: 0,
      streamId: 0,
    });
    this.send({
      type: 'SetPeerBandwidth',
      windowSize: this.options.windowAckSize,
      limitType: 2,
      timestamp: 0,
      streamId: 0,
    });
    this.out.next({ kind: 'setChunkSize', chunkSize: this.options.chunkSize });
    this.send({ type: 'UserControl', event: 'StreamBegin', streamId: 0, timestamp: 0 });
    const objectEncoding = objectProp(obj, 'objectEncoding');
    this.replyResult(
      m.transactionId,
      // Enhanced RTMP v2: the server states what it supports (legacy clients ignore it).
      { fmsVer: 'FMS/3,5,7,7009', capabilities: 31, mode: 1, ...serverCapabilityProperties() },
      {
        level: 'status',
        code: StatusCode.ConnectSuccess,
        description: 'Connection succeeded.',
        objectEncoding: typeof objectEncoding === 'number' ? objectEncoding : 0,
      },
    );
    this.host.connectionEvent(this, {
      type: 'connect',
      app: this.app,
      tcUrl: stringArg(objectProp(obj, 'tcUrl')),
      flashVer: stringArg(objectProp(obj, 'flashVer')),
    });
  }

  /**
   * The serverConnection actor refused connect (an application it does not serve): answer
   * `_error` NetConnection.Connect.Rejected and close once the answer is out.
   */
  private rejectConnect(description: string): void {
    const m = this.pendingConnect;
    this.pendingConnect = undefined;
    if (m) this.replyError(m.transactionId, StatusCode.ConnectRejected, description);
    this.close(`connect rejected: ${description}`, undefined, true);
  }

  /** The NetStream a command names; a command on an id never created gets one (lenient, as nginx-rtmp). */
  private streamFor(id: number): NetStream | undefined {
    const s = this.streams.get(id);
    if (!s && this.streams.size >= this.options.limits.maxStreams) {
      // publish or play on an id never created must not get round maxStreams.
      this.send(
        status(
          id,
          'error',
          'NetStream.Failed',
          `at most ${this.options.limits.maxStreams} streams per connection (maxStreams)`,
        ),
      );
      return undefined;
    }
    // A stream that ended in badName or notFound takes a new command with a new actor.
    if (!s || s.actor?.getSnapshot().status !== 'active') {
      this.streams.delete(id);
      return this.createStream(id);
    }
    return s;
  }

  /** The publish or play NetStream `streamId` waits to have authorized (for the authorizer). */
  pendingRequest(streamId: number): PendingRequest | undefined {
    return this.streams.get(streamId)?.pending;
  }

  /** publish or play arrived: the NetStream's actor authorizes it (nothing is claimed yet). */
  private request(
    streamId: number,
    fullName: string,
    action: 'publish' | 'play',
    extra: Pick<AuthorizeRequest, 'type' | 'start' | 'duration' | 'reset'>,
  ): void {
    const s = this.streamFor(streamId);
    if (!s) return;
    if (roleOf(s.actor) !== 'created') this.endStream(streamId, false);
    const { name, query } = splitStreamName(fullName);
    s.pending = {
      fullName,
      request: {
        action,
        app: this.app,
        name,
        query,
        remote: this.remote,
        connection: this.id,
        ...this.connectInfo,
        ...extra,
      },
    };
    this.streamEvent(streamId, { type: 'STREAM.REQUEST', action, label: maskStreamName(fullName) });
  }

  /** The authorizer decided (through the NetStream's and the connection's actors). */
  private onAuthorization(
    streamId: number,
    action: 'publish' | 'play',
    allowed: boolean,
    reason: string | undefined,
  ): void {
    const s = this.streams.get(streamId);
    const pending = s?.pending;
    if (!s || !pending || pending.request.action !== action || this.closed) return;
    s.pending = undefined;
    if (!allowed) {
      const why = reason ?? 'refused';
      this.send(
        status(
          streamId,
          'error',
          RefusalStatus[action],
          `${action === 'publish' ? 'Publishing' : 'Playing'} ${pending.request.name} is not allowed: ${why}.`,
        ),
      );
      this.host.connectionEvent(this, {
        type: 'unauthorized',
        streamId,
        name: pending.request.name,
        action,
        reason: why,
      });
      return;
    }
    // nginx-rtmp's redirect: the authorizer renamed the stream (the query stays).
    const q = pending.fullName.indexOf('?');
    const fullName =
      pending.renamed === undefined
        ? pending.fullName
        : `${pending.renamed}${q < 0 ? '' : pending.fullName.slice(q)}`;
    const request =
      pending.renamed === undefined
        ? pending.request
        : { ...pending.request, name: pending.renamed };
    if (action === 'publish') this.startPublish(streamId, fullName, request);
    else this.startPlay(streamId, fullName, request);
  }

  private onPublish(streamId: number, name: string, type: string): void {
    if (!name) {
      this.streamFor(streamId);
      this.send(status(streamId, 'error', StatusCode.PublishBadName, 'no stream name'));
      return;
    }
    this.request(streamId, name, 'publish', { type });
  }

  private startPublish(streamId: number, name: string, request: AuthorizeRequest): void {
    const s = this.streams.get(streamId);
    if (!s) return;
    const outcome = this.host.startPublishing(this, streamId, name);
    this.streamEvent(streamId, { type: 'STREAM.PUBLISH', label: maskStreamName(name), outcome });
    if (outcome === 'badName') {
      this.send(
        status(streamId, 'error', StatusCode.PublishBadName, `${name} is already being published`),
      );
      this.host.connectionEvent(this, { type: 'badName', streamId, name });
      return;
    }
    s.name = name;
    s.player = undefined;
    s.allowed = request;
    this.send({ type: 'UserControl', event: 'StreamBegin', streamId, timestamp: 0 });
    this.send(status(streamId, 'status', StatusCode.PublishStart, `${name} is now published.`));
    this.host.connectionEvent(this, { type: 'publish', streamId, name });
  }

  private onPlay(
    streamId: number,
    name: string,
    start: AmfValue | undefined,
    duration: AmfValue | undefined,
    reset: AmfValue | undefined,
  ): void {
    if (!name) {
      this.streamFor(streamId);
      this.send(status(streamId, 'error', StatusCode.PlayStreamNotFound, 'No stream named .'));
      this.host.connectionEvent(this, { type: 'notFound', streamId, name });
      return;
    }
    this.request(streamId, name, 'play', {
      start: typeof start === 'number' ? start : undefined,
      duration: typeof duration === 'number' ? duration : undefined,
      reset: reset === true || reset === 1,
    });
  }

  private startPlay(streamId: number, name: string, request: AuthorizeRequest): void {
    const s = this.streams.get(streamId);
    if (!s) return;
    const result = this.host.canPlay(this, name);
    this.streamEvent(streamId, {
      type: 'STREAM.PLAY',
      label: maskStreamName(name),
      outcome: result,
    });
    if (result === 'notFound') {
      this.send(
        status(streamId, 'error', StatusCode.PlayStreamNotFound, `No stream named ${name}.`),
      );
      this.host.connectionEvent(this, { type: 'notFound', streamId, name });
      return;
    }
    // The preamble goes out before the cached media that addPlayer delivers.
    this.send({ type: 'UserControl', event: 'StreamBegin', streamId, timestamp: 0 });
    this.send(status(streamId, 'status', StatusCode.PlayReset, `Playing and resetting ${name}.`));
    this.send(status(streamId, 'status', StatusCode.PlayStart, `Started playing ${name}.`));
    this.send(buildData('|RtmpSampleAccess', [true, true], { streamId, csid: 5 }));
    const player = new ServerPlayer(this, streamId, name, this.options.playerHighWaterMark);
    s.name = name;
    s.player = player;
    s.allowed = request;
    this.host.addPlayer(this, name, player);
    this.host.connectionEvent(this, {
      type: 'play',
      streamId,
      name,
      waiting: result === 'waiting',
    });
  }

  private onPause(streamId: number, pause: boolean): void {
    const player = this.streams.get(streamId)?.player;
    if (!player) return;
    player.paused = pause;
    if (!pause) player.waitingForKeyframe = true;
    this.send(
      status(
        streamId,
        'status',
        pause ? StatusCode.PauseNotify : StatusCode.UnpauseNotify,
        pause ? 'Paused.' : 'Unpaused.',
      ),
    );
  }

  /** A NetStream ends: deleteStream, closeStream, a new play/publish on its id, or the connection closing. */
  private endStream(id: number, remove: boolean, quiet = false): void {
    const s = this.streams.get(id);
    if (!s) return;
    if (roleOf(s.actor) === 'publishing' && s.name !== undefined) {
      this.host.stopPublishing(this, id, s.name);
      if (!this.closed) {
        this.send(
          status(id, 'status', StatusCode.UnpublishSuccess, `${s.name} is now unpublished.`),
        );
      }
      this.host.connectionEvent(this, { type: 'unpublish', streamId: id, name: s.name });
    } else if (s.player && s.name !== undefined) {
      this.host.removePlayer(this, s.name, s.player);
      this.host.connectionEvent(this, {
        type: 'stop',
        streamId: id,
        name: s.name,
        dropped: s.player.dropped,
      });
    }
    if (s.allowed) this.host.streamEnded(this, s.allowed);
    // Closing: the connection's actor stops with all its NetStream actors at once (stopping them
    // one by one costs xstate a copy of the children per stop: quadratic in the streams).
    if (!quiet) this.streamEvent(id, { type: remove ? 'STREAM.DELETE' : 'STREAM.END' });
    s.name = undefined;
    s.player = undefined;
    s.pending = undefined;
    s.allowed = undefined;
    if (remove) this.streams.delete(id);
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
    for (const id of [...this.streams.keys()]) this.endStream(id, true, true);
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
    const c = new ServerConnection(
      input.connectionId,
      socket,
      host,
      options,
      input.connection,
      sendBack,
    );
    receive((cmd) => c.command(cmd));
    return () => c.close('closed');
  });
}
