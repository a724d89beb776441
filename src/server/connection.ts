/**
 * One client connection of the embedded server, with explicit phases:
 *
 *   handshake ──C0+C1+C2──▶ awaitingConnect ──connect──▶ connected ──socket closed──▶ closed
 *
 * and, inside `connected`, one NetStream per message stream id (createStream), each
 * `created` → `publishing` | `playing` → deleted. Many streams share the connection.
 *
 * The class is the server-role counterpart of the client's NetConnection/NetStream machines:
 * its phases and per-stream roles are plain fields, and every transition goes through one
 * method (`enter`, `onCommand`, `endStream`), so the same logic can later be driven by
 * server-role statecharts without touching the stream registry (`LiveStream`) or the socket code.
 */
import type { Socket } from 'node:net';
import { fromEvent, Subject, Subscription } from 'rxjs';
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
}

interface NetStream {
  id: number;
  role: NetStreamRole;
  name?: string;
  player?: ServerPlayer;
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
    if (c.phase === 'closed' || this.paused) return;
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
  phase: ConnectionPhase = 'handshake';
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
  private handshakeTimer: NodeJS.Timeout | undefined;
  /** The peer's address and port (kept: a destroyed socket forgets them). */
  readonly remote: string;

  constructor(
    readonly id: number,
    readonly socket: Socket,
    private readonly host: ConnectionHost,
    private readonly options: ServerConnectionOptions,
  ) {
    this.remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
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
                if (item.step === 'peerEcho') this.enter('awaitingConnect');
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
    this.handshakeTimer = setTimeout(() => {
      if (this.phase === 'handshake') this.close('handshake timeout');
    }, options.handshakeTimeoutMs);
  }

  /** Bytes written but not yet taken by the kernel. */
  get queuedBytes(): number {
    return this.socket.writableLength;
  }

  /** NetStreams of this connection by role (for stats). */
  countStreams(role: NetStreamRole): number {
    let n = 0;
    for (const s of this.streams.values()) if (s.role === role) n++;
    return n;
  }

  private enter(phase: ConnectionPhase): void {
    if (this.phase === 'closed') return;
    this.phase = phase;
    if (phase !== 'handshake' && this.handshakeTimer) {
      clearTimeout(this.handshakeTimer);
      this.handshakeTimer = undefined;
    }
  }

  private write(bytes: Uint8Array): void {
    if (this.phase === 'closed' || this.socket.destroyed) return;
    this.bytesOut += bytes.byteLength;
    this.socket.write(bytes);
    if (this.socket.writableLength > this.options.maxQueuedBytes) {
      this.close(`slow consumer: ${this.socket.writableLength} bytes queued`);
    }
  }

  send(message: RtmpMessage): void {
    if (this.phase !== 'closed') this.out.next({ kind: 'message', message });
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
    if (s?.role === 'publishing' && s.name !== undefined) this.host.relay(this, s.name, m);
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
        this.streams.set(id, { id, role: 'created' });
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

  private onConnect(m: Extract<RtmpMessage, { type: 'Command' }>): void {
    const obj = m.commandObject;
    this.app = stringArg(objectProp(obj, 'app')).replace(/^\/+|\/+$/g, '');
    const q = this.app.indexOf('?');
    if (q >= 0) this.app = this.app.slice(0, q);
    this.enter('connected');
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
    let s = this.streams.get(id);
    if (!s) {
      s = { id, role: 'created' };
      this.streams.set(id, s);
    }
    return s;
  }

  private onPublish(streamId: number, name: string): void {
    const s = this.streamFor(streamId);
    if (s.role !== 'created') this.endStream(streamId, false);
    if (!name) {
      this.send(status(streamId, 'error', StatusCode.PublishBadName, 'no stream name'));
      return;
    }
    if (this.host.startPublishing(this, streamId, name) === 'badName') {
      this.send(
        status(streamId, 'error', StatusCode.PublishBadName, `${name} is already being published`),
      );
      this.host.connectionEvent(this, { type: 'badName', streamId, name });
      return;
    }
    this.streams.set(streamId, { id: streamId, role: 'publishing', name });
    this.send({ type: 'UserControl', event: 'StreamBegin', streamId, timestamp: 0 });
    this.send(status(streamId, 'status', StatusCode.PublishStart, `${name} is now published.`));
    this.host.connectionEvent(this, { type: 'publish', streamId, name });
  }

  private onPlay(streamId: number, name: string): void {
    const s = this.streamFor(streamId);
    if (s.role !== 'created') this.endStream(streamId, false);
    const result = name ? this.host.canPlay(this, name) : 'notFound';
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
    this.host.addPlayer(this, name, player);
    this.streams.set(streamId, { id: streamId, role: 'playing', name, player });
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
    if (s.role === 'publishing' && s.name !== undefined) {
      this.host.stopPublishing(this, id, s.name);
      if (this.phase !== 'closed') {
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
    if (remove) this.streams.delete(id);
    else this.streams.set(id, { id, role: 'created' });
  }

  private fail(err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    this.host.connectionEvent(this, { type: 'error', message });
    this.close(`error: ${message}`);
  }

  /** Ends every NetStream, closes the socket, and tells the server. Idempotent. */
  close(reason = 'closed'): void {
    if (this.phase === 'closed') return;
    const wasConnected = this.phase === 'connected';
    this.enter('closed');
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    if (wasConnected) for (const id of [...this.streams.keys()]) this.endStream(id, true);
    this.subs.unsubscribe();
    this.out.complete();
    this.socket.destroy();
    this.host.connectionEvent(this, { type: 'close', reason });
    this.host.connectionClosed(this);
  }
}
