/**
 * One client connection of the embedded server, with explicit phases:
 *
 *   handshake ──C0+C1+C2──▶ awaitingConnect ──connect──▶ connected ──socket closed──▶ closed
 *
 * and, inside `connected`, one NetStream per message stream id (createStream), each
 * `created` → `publishing` | `playing` → deleted. Many streams share the connection.
 *
 * The phases are the states of a `serverConnection` actor (machines/serverConnectionMachine) and
 * each NetStream's role the state of a `serverStream` actor (machines/serverStreamMachine, id
 * `stream-<id>`): the class sends them events where the socket tells it something and does the
 * IO the machines ask for (emitted `server.acceptConnect` / `server.failed`). The stream registry
 * (`LiveStream`) and the socket code do not know about them.
 */
import type { Socket } from 'node:net';
import { fromEvent, Subject, Subscription } from 'rxjs';
import { createActor, type Actor, type SnapshotFrom } from 'xstate';
import { serverConnectionMachine } from '../../machines/serverConnectionMachine';
import { serverStreamMachine, type ServerStreamEvent } from '../../machines/serverStreamMachine';
import type { AmfValue } from '../protocol/amf/types';
import { HandshakeServer } from '../protocol/handshake';
import type { RtmpLimits } from '../protocol/limits';
import { decodeMessage } from '../protocol/message';
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
import type { PlayerSink } from './liveStream';
import { isSequenceHeader, isVideoKeyframe, type MediaMessage } from './media';

export type ConnectionPhase = 'handshake' | 'awaitingConnect' | 'connected' | 'closed';

export type NetStreamRole = 'created' | 'publishing' | 'playing';

/** What a connection asks of the server (the stream registry and the event log). */
export interface ConnectionHost {
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
}

/** What a connection reports (the server adds the connection id and forwards it). */
export type ConnectionEvent =
  | { type: 'connect'; app: string; tcUrl: string; flashVer: string }
  | { type: 'publish'; streamId: number; name: string }
  | { type: 'badName'; streamId: number; name: string }
  | { type: 'unpublish'; streamId: number; name: string }
  | { type: 'play'; streamId: number; name: string; waiting: boolean }
  | { type: 'notFound'; streamId: number; name: string }
  | { type: 'stop'; streamId: number; name: string; dropped: number }
  | { type: 'error'; message: string }
  | { type: 'close'; reason: string };

export interface ServerConnectionOptions {
  chunkSize: number;
  limits: RtmpLimits;
  /** Bytes queued on the socket above which a player's non-key video waits for a keyframe. */
  playerHighWaterMark: number;
  /** Bytes queued on the socket above which the connection is closed (a consumer too slow). */
  maxQueuedBytes: number;
  /** Window Acknowledgement Size we announce. */
  windowAckSize: number;
  handshakeTimeoutMs: number;
  /** Milliseconds allowed between the handshake and connect. Default: no limit in practice. */
  connectTimeoutMs?: number;
}

/** The longest delay a Node timer takes (longer ones fire at once). */
const MAX_TIMER_MS = 2_147_483_647;

type StreamActor = Actor<typeof serverStreamMachine>;

interface NetStream {
  id: number;
  actor: StreamActor;
  name?: string;
  player?: ServerPlayer;
}

/** The snapshots of a connection's actors (for debugging and tests). */
export interface ConnectionMachines {
  connection: SnapshotFrom<typeof serverConnectionMachine>;
  streams: Map<number, SnapshotFrom<typeof serverStreamMachine>>;
}

function roleOf(actor: StreamActor): NetStreamRole {
  const state = actor.getSnapshot().value;
  if (state === 'publishing') return 'publishing';
  if (state === 'playing' || state === 'waitingForPublisher') return 'playing';
  return 'created';
}

function phaseOf(snapshot: SnapshotFrom<typeof serverConnectionMachine>): ConnectionPhase {
  switch (snapshot.value) {
    case 'handshaking':
      return 'handshake';
    case 'awaitingConnect':
      return 'awaitingConnect';
    case 'connected':
      return 'connected';
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
  private readonly machine: Actor<typeof serverConnectionMachine>;
  /** The peer's address and port (kept: a destroyed socket forgets them). */
  readonly remote: string;

  constructor(
    readonly id: number,
    readonly socket: Socket,
    private readonly host: ConnectionHost,
    private readonly options: ServerConnectionOptions,
  ) {
    this.remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    this.machine = createActor(serverConnectionMachine, {
      id: 'serverConnection',
      input: {
        handshakeTimeoutMs: options.handshakeTimeoutMs,
        connectTimeoutMs: Math.min(options.connectTimeoutMs ?? MAX_TIMER_MS, MAX_TIMER_MS),
      },
    });
    this.machine.on('server.acceptConnect', () => this.acceptConnect());
    this.machine.on('server.failed', (e) =>
      this.close(
        e.reason === 'HANDSHAKE_TIMEOUT'
          ? 'handshake timeout'
          : e.reason === 'CONNECT_TIMEOUT'
            ? 'connect timeout'
            : `error: ${e.message}`,
      ),
    );
    this.machine.start();
    socket.setNoDelay(true);
    this.subs.add(
      this.out.pipe(encodeRtmp(128)).subscribe({
        next: (b) => this.write(b),
        error: (err: unknown) => this.fail(err),
      }),
    );
    this.subs.add(
      fromEvent<Buffer>(socket, 'data')
        .pipe(
          decodeRtmp({
            handshake: new HandshakeServer(),
            limits: options.limits,
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
                if (item.step === 'peerEcho') this.machine.send({ type: 'SERVER.HANDSHAKE_DONE' });
                return;
              case 'bytes':
                this.onBytes(item.total);
                return;
              case 'message': {
                let m: RtmpMessage;
                try {
                  m = decodeMessage(item.message, options.limits);
                } catch (err) {
                  this.fail(err);
                  return;
                }
                this.onMessage(m);
                return;
              }
            }
          },
          error: (err: unknown) => this.fail(err),
        }),
    );
    socket.on('error', (err) => this.close(`socket error: ${err.message}`));
    socket.on('end', () => this.close('closed by peer'));
    socket.on('close', () => this.close('closed by peer'));
  }

  /** The phase: the state of the serverConnection actor. */
  get phase(): ConnectionPhase {
    return phaseOf(this.machine.getSnapshot());
  }

  /** close() ran. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** The snapshots of this connection's serverConnection and serverStream actors. */
  machines(): ConnectionMachines {
    const streams = new Map<number, SnapshotFrom<typeof serverStreamMachine>>();
    for (const s of this.streams.values()) streams.set(s.id, s.actor.getSnapshot());
    return { connection: this.machine.getSnapshot(), streams };
  }

  /** Sends an event to the serverStream actor of `streamId`, if it is still running. */
  streamEvent(streamId: number, event: ServerStreamEvent): void {
    const actor = this.streams.get(streamId)?.actor;
    if (actor?.getSnapshot().status === 'active') actor.send(event);
  }

  private createStreamActor(id: number): NetStream {
    const actor = createActor(serverStreamMachine, { id: `stream-${id}`, input: { streamId: id } });
    actor.start();
    const s: NetStream = { id, actor };
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
    if (this.socket.writableLength > this.options.maxQueuedBytes) {
      this.close(`slow consumer: ${this.socket.writableLength} bytes queued`);
    }
  }

  send(message: RtmpMessage): void {
    if (!this.closed) this.out.next({ kind: 'message', message });
  }

  private onBytes(total: number): void {
    this.bytesIn = total;
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
        this.peerWindow = m.windowSize;
        return;
      case 'UserControl':
        if (m.event === 'PingRequest') {
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
        this.createStreamActor(id);
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
        this.onPublish(m.streamId, stringArg(m.args[0]));
        return;
      case 'play':
        this.onPlay(m.streamId, stringArg(m.args[0]));
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

  private pendingConnect: Extract<RtmpMessage, { type: 'Command' }> | undefined;

  private onConnect(m: Extract<RtmpMessage, { type: 'Command' }>): void {
    const obj = m.commandObject;
    this.app = stringArg(objectProp(obj, 'app')).replace(/^\/+|\/+$/g, '');
    const q = this.app.indexOf('?');
    if (q >= 0) this.app = this.app.slice(0, q);
    this.pendingConnect = m;
    this.machine.send({ type: 'SERVER.CONNECT', app: this.app });
    this.pendingConnect = undefined;
  }

  /** The serverConnection actor accepted connect (its `acceptConnect` action). */
  private acceptConnect(): void {
    const m = this.pendingConnect;
    if (!m) return;
    const obj = m.commandObject;
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
      { fmsVer: 'FMS/3,5,7,7009', capabilities: 31, mode: 1 },
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

  /** The NetStream a command names; a command on an id never created gets one (lenient, as nginx-rtmp). */
  private streamFor(id: number): NetStream {
    const s = this.streams.get(id);
    // A stream that ended in badName or notFound takes a new command with a new actor.
    if (!s || s.actor.getSnapshot().status !== 'active') return this.createStreamActor(id);
    return s;
  }

  private onPublish(streamId: number, name: string): void {
    const s = this.streamFor(streamId);
    if (roleOf(s.actor) !== 'created') this.endStream(streamId, false);
    if (!name) {
      this.streamEvent(streamId, { type: 'STREAM.PUBLISH', name, outcome: 'badName' });
      this.send(status(streamId, 'error', StatusCode.PublishBadName, 'no stream name'));
      return;
    }
    const outcome = this.host.startPublishing(this, streamId, name);
    this.streamEvent(streamId, { type: 'STREAM.PUBLISH', name, outcome });
    if (outcome === 'badName') {
      this.send(
        status(streamId, 'error', StatusCode.PublishBadName, `${name} is already being published`),
      );
      this.host.connectionEvent(this, { type: 'badName', streamId, name });
      return;
    }
    s.name = name;
    s.player = undefined;
    this.send({ type: 'UserControl', event: 'StreamBegin', streamId, timestamp: 0 });
    this.send(status(streamId, 'status', StatusCode.PublishStart, `${name} is now published.`));
    this.host.connectionEvent(this, { type: 'publish', streamId, name });
  }

  private onPlay(streamId: number, name: string): void {
    const s = this.streamFor(streamId);
    if (roleOf(s.actor) !== 'created') this.endStream(streamId, false);
    const result = name ? this.host.canPlay(this, name) : 'notFound';
    this.streamEvent(streamId, { type: 'STREAM.PLAY', name, outcome: result });
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
  private endStream(id: number, remove: boolean): void {
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
    this.streamEvent(id, { type: remove ? 'STREAM.DELETE' : 'STREAM.END' });
    s.name = undefined;
    s.player = undefined;
    if (remove) this.streams.delete(id);
  }

  private fail(err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    this.host.connectionEvent(this, { type: 'error', message });
    this.close(`error: ${message}`, message);
  }

  /** Ends every NetStream, closes the socket, and tells the server. Idempotent. */
  close(reason = 'closed', error?: string): void {
    if (this.closed) return;
    const wasConnected = this.phase === 'connected';
    this.closed = true;
    if (this.machine.getSnapshot().status === 'active') {
      this.machine.send(
        error === undefined
          ? { type: 'SERVER.CLOSED' }
          : { type: 'SERVER.ERROR', code: 'PROTOCOL_ERROR', message: error },
      );
    }
    if (wasConnected) for (const id of [...this.streams.keys()]) this.endStream(id, true);
    this.subs.unsubscribe();
    this.out.complete();
    this.socket.destroy();
    this.host.connectionEvent(this, { type: 'close', reason });
    this.host.connectionClosed(this);
  }
}
