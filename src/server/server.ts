import { createServer, type Server, type Socket } from 'node:net';
import { EventEmitter } from 'node:events';
import { fromEvent, Subject, Subscription } from 'rxjs';
import { decodeRtmp } from '../pipeline/decode';
import { encodeRtmp, type OutboundItem } from '../pipeline/encode';
import { HandshakeServer } from '../protocol/handshake';
import { resolveLimits, type RtmpLimits } from '../protocol/limits';
import { decodeMessage } from '../protocol/message';
import type { RtmpMessage, StatusInfo } from '../protocol/message/types';
import type { AmfValue } from '../protocol/amf/types';

/** Options of the embedded RTMP server. */
export interface RtmpServerOptions {
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Our outgoing chunk size, announced after connect. */
  chunkSize?: number;
  limits?: Partial<RtmpLimits>;
  /** Keep metadata, sequence headers and the last GOP, so a new player starts on a keyframe. */
  gopCache?: boolean;
  /** A player of an unknown name waits for its publisher instead of getting StreamNotFound. */
  waitForPublisher?: boolean;
  /** Bytes queued to one player above which non-key video is dropped until the next keyframe. */
  playerHighWaterMark?: number;
  /** Most GOP-cache bytes kept per stream. */
  maxGopBytes?: number;
}

type Media = Extract<RtmpMessage, { type: 'Audio' | 'Video' | 'Data' }>;

interface Player {
  connection: ServerConnection;
  streamId: number;
  name: string;
  waitingForKeyframe: boolean;
  dropped: number;
}

interface LiveStream {
  name: string;
  publisher?: { connection: ServerConnection; streamId: number };
  metadata?: Media;
  videoConfig?: Media;
  audioConfig?: Media;
  gop: Media[];
  gopBytes: number;
  players: Set<Player>;
}

function status(streamId: number, level: string, code: string, description: string, extra: Record<string, AmfValue> = {}): RtmpMessage {
  const info: StatusInfo = { level, code, description, ...extra };
  return { type: 'Command', amf: 0, name: 'onStatus', transactionId: 0, commandObject: null, args: [info], timestamp: 0, streamId, csid: 5 };
}

function isVideoKeyframe(m: Media): boolean {
  return m.type === 'Video' && m.payload.byteLength > 0 && ((m.payload[0] >> 4) & 7) === 1;
}

function isSequenceHeader(m: Media): boolean {
  if (m.type === 'Video') {
    const b = m.payload;
    if (b.byteLength < 2) return false;
    if (b[0] & 0x80) return (b[0] & 0x0f) === 0; // Enhanced RTMP: SequenceStart
    return b[1] === 0; // AVC/HEVC packet type 0
  }
  if (m.type === 'Audio') {
    const b = m.payload;
    if (b.byteLength < 2) return false;
    const format = b[0] >> 4;
    if (format === 9) return (b[0] & 0x0f) === 0;
    return format === 10 && b[1] === 0;
  }
  return false;
}

/**
 * One client connection on the embedded server: handshake (server role), then commands.
 * Serves many streams over one connection, each on its own message stream id.
 */
class ServerConnection {
  private readonly out = new Subject<OutboundItem>();
  private readonly subs = new Subscription();
  private nextStreamId = 1;
  private readonly publishing = new Map<number, string>();
  private readonly playing = new Map<number, Player>();
  closed = false;

  constructor(
    readonly socket: Socket,
    private readonly server: RtmpServer,
    private readonly options: Required<Pick<RtmpServerOptions, 'chunkSize' | 'playerHighWaterMark'>> & { limits: RtmpLimits },
  ) {
    socket.setNoDelay(true);
    this.subs.add(this.out.pipe(encodeRtmp(128)).subscribe({ next: (b) => this.write(b), error: () => this.close() }));
    this.subs.add(
      fromEvent<Buffer>(socket, 'data')
        .pipe(decodeRtmp({ handshake: new HandshakeServer(), limits: options.limits }))
        .subscribe({
          next: (item) => {
            if (item.kind === 'reply') this.write(item.bytes);
            else if (item.kind === 'message') this.onMessage(decodeMessage(item.message, options.limits));
          },
          error: (err) => {
            this.server.emit('connectionError', err);
            this.close();
          },
        }),
    );
    socket.on('error', () => this.close());
    socket.on('close', () => this.close());
  }

  get queuedBytes(): number {
    return this.socket.writableLength;
  }

  private write(bytes: Uint8Array): void {
    if (!this.closed && !this.socket.destroyed) this.socket.write(bytes);
  }

  send(message: RtmpMessage): void {
    if (!this.closed) this.out.next({ kind: 'message', message });
  }

  private reply(transactionId: number, commandObject: AmfValue, ...args: AmfValue[]): void {
    this.send({ type: 'Command', amf: 0, name: '_result', transactionId, commandObject, args, timestamp: 0, streamId: 0, csid: 3 });
  }

  private onMessage(m: RtmpMessage): void {
    switch (m.type) {
      case 'Command':
        this.onCommand(m);
        return;
      case 'Audio':
      case 'Video':
      case 'Data': {
        const name = this.publishing.get(m.streamId);
        if (name !== undefined) this.server.relay(name, m);
        return;
      }
      case 'UserControl':
        if (m.event === 'PingRequest') {
          this.send({ type: 'UserControl', event: 'PingResponse', time: m.time, timestamp: 0, streamId: 0 });
        }
        return;
      default:
        return;
    }
  }

  private onCommand(m: Extract<RtmpMessage, { type: 'Command' }>): void {
    const tid = m.transactionId;
    const arg = (i: number): AmfValue => m.args[i];
    switch (m.name) {
      case 'connect':
        this.send({ type: 'WindowAckSize', windowSize: 5_000_000, timestamp: 0, streamId: 0 });
        this.send({ type: 'SetPeerBandwidth', windowSize: 5_000_000, limitType: 2, timestamp: 0, streamId: 0 });
        this.out.next({ kind: 'setChunkSize', chunkSize: this.options.chunkSize });
        this.reply(
          tid,
          { fmsVer: 'FMS/3,0,1,123', capabilities: 31 },
          { level: 'status', code: 'NetConnection.Connect.Success', description: 'Connection succeeded.', objectEncoding: 0 },
        );
        return;
      case 'createStream':
        if (this.publishing.size + this.playing.size >= this.options.limits.maxStreams) {
          this.send({ type: 'Command', amf: 0, name: '_error', transactionId: tid, commandObject: null, args: [{ level: 'error', code: 'NetStream.Create.Failed', description: 'too many streams' }], timestamp: 0, streamId: 0, csid: 3 });
          return;
        }
        this.reply(tid, null, this.nextStreamId++);
        return;
      case 'releaseStream':
      case 'FCPublish':
      case 'FCUnpublish':
      case 'FCSubscribe':
      case 'getStreamLength':
        if (tid) this.reply(tid, null);
        return;
      case 'publish': {
        const name = String(arg(0) ?? '');
        if (!this.server.startPublishing(name, this, m.streamId)) {
          this.send(status(m.streamId, 'error', 'NetStream.Publish.BadName', `${name} is already being published`));
          return;
        }
        this.publishing.set(m.streamId, name);
        this.send({ type: 'UserControl', event: 'StreamBegin', streamId: m.streamId, timestamp: 0 } as RtmpMessage);
        this.send(status(m.streamId, 'status', 'NetStream.Publish.Start', `${name} is now published.`, { details: name }));
        return;
      }
      case 'play': {
        const name = String(arg(0) ?? '');
        const old = this.playing.get(m.streamId);
        if (old) this.server.removePlayer(old);
        const player: Player = { connection: this, streamId: m.streamId, name, waitingForKeyframe: true, dropped: 0 };
        if (!this.server.addPlayer(player)) {
          this.send(status(m.streamId, 'error', 'NetStream.Play.StreamNotFound', `no stream named ${name}`, { details: name }));
          return;
        }
        this.playing.set(m.streamId, player);
        return;
      }
      case 'deleteStream':
      case 'closeStream': {
        const id = m.name === 'deleteStream' ? Number(arg(0)) : m.streamId;
        this.endStream(id);
        return;
      }
      default:
        if (tid) {
          this.send({ type: 'Command', amf: 0, name: '_error', transactionId: tid, commandObject: null, args: [{ level: 'error', code: 'NetConnection.Call.Failed', description: `unknown command ${m.name}` }], timestamp: 0, streamId: 0, csid: 3 });
        }
    }
  }

  /** Sends the play preamble: StreamBegin, Play.Reset, Play.Start, |RtmpSampleAccess. */
  startPlayer(player: Player): void {
    const id = player.streamId;
    this.send({ type: 'UserControl', event: 'StreamBegin', streamId: id, timestamp: 0 } as RtmpMessage);
    this.send(status(id, 'status', 'NetStream.Play.Reset', `Playing and resetting ${player.name}.`, { details: player.name }));
    this.send(status(id, 'status', 'NetStream.Play.Start', `Started playing ${player.name}.`, { details: player.name }));
    this.send({ type: 'Data', amf: 0, name: '|RtmpSampleAccess', values: ['|RtmpSampleAccess', true, true], timestamp: 0, streamId: id, csid: 5 });
  }

  /** Sends one media message to a player, dropping non-key video while the player is backed up. */
  deliver(player: Player, m: Media): void {
    if (this.closed) return;
    if (m.type === 'Video' && !isSequenceHeader(m)) {
      const backedUp = this.queuedBytes > this.options.playerHighWaterMark;
      if (isVideoKeyframe(m) && !backedUp) player.waitingForKeyframe = false;
      else if (backedUp) player.waitingForKeyframe = true;
      if (player.waitingForKeyframe) {
        player.dropped++;
        return;
      }
    }
    this.send({ ...m, streamId: player.streamId, csid: undefined } as RtmpMessage);
  }

  private endStream(id: number): void {
    const name = this.publishing.get(id);
    if (name !== undefined) {
      this.publishing.delete(id);
      this.server.stopPublishing(name, this);
    }
    const player = this.playing.get(id);
    if (player) {
      this.playing.delete(id);
      this.server.removePlayer(player);
    }
  }

  close(): void {
    if (this.closed) return;
    for (const id of [...this.publishing.keys(), ...this.playing.keys()]) this.endStream(id);
    this.closed = true;
    this.subs.unsubscribe();
    this.out.complete();
    this.socket.destroy();
    this.server.connectionClosed(this);
  }
}

/**
 * The embedded RTMP server: accepts publishers and players of live streams, keeps metadata,
 * sequence headers and the last GOP per stream, and serves many streams per connection.
 */
export class RtmpServer extends EventEmitter {
  private server?: Server;
  private readonly connections = new Set<ServerConnection>();
  private readonly streams = new Map<string, LiveStream>();
  private readonly waiting = new Map<string, Set<Player>>();
  private readonly opts: Required<Omit<RtmpServerOptions, 'limits'>> & { limits: RtmpLimits };

  constructor(options: RtmpServerOptions = {}) {
    super();
    this.opts = {
      host: options.host ?? '127.0.0.1',
      port: options.port ?? 1935,
      chunkSize: options.chunkSize ?? 4096,
      limits: resolveLimits(options.limits),
      gopCache: options.gopCache ?? true,
      waitForPublisher: options.waitForPublisher ?? false,
      playerHighWaterMark: options.playerHighWaterMark ?? 4 * 1024 * 1024,
      maxGopBytes: options.maxGopBytes ?? 32 * 1024 * 1024,
    };
  }

  /** Starts listening; resolves with the bound address. */
  listen(): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      const server = createServer((socket) => {
        const c = new ServerConnection(socket, this, this.opts);
        this.connections.add(c);
        this.emit('connection', { remote: `${socket.remoteAddress}:${socket.remotePort}` });
      });
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.host, () => {
        this.server = server;
        const addr = server.address();
        const port = typeof addr === 'object' && addr ? addr.port : this.opts.port;
        resolve({ host: this.opts.host, port });
      });
    });
  }

  /** Stops accepting, closes every connection. */
  async close(): Promise<void> {
    for (const c of [...this.connections]) c.close();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** What the server is doing now. */
  stats(): { connections: number; streams: Array<{ name: string; publishing: boolean; players: number; dropped: number }> } {
    return {
      connections: this.connections.size,
      streams: [...this.streams.values()].map((s) => ({
        name: s.name,
        publishing: !!s.publisher,
        players: s.players.size,
        dropped: [...s.players].reduce((n, p) => n + p.dropped, 0),
      })),
    };
  }

  /** @internal */
  connectionClosed(c: ServerConnection): void {
    this.connections.delete(c);
  }

  private stream(name: string): LiveStream {
    let s = this.streams.get(name);
    if (!s) {
      s = { name, gop: [], gopBytes: 0, players: new Set() };
      this.streams.set(name, s);
    }
    return s;
  }

  /** @internal One publisher per name. */
  startPublishing(name: string, connection: ServerConnection, streamId: number): boolean {
    const s = this.stream(name);
    if (s.publisher) return false;
    s.publisher = { connection, streamId };
    s.metadata = s.videoConfig = s.audioConfig = undefined;
    s.gop = [];
    s.gopBytes = 0;
    this.emit('publish', { name });
    const waiting = this.waiting.get(name);
    if (waiting) {
      this.waiting.delete(name);
      for (const p of waiting) this.addPlayer(p);
    }
    for (const p of s.players) p.waitingForKeyframe = true;
    return true;
  }

  /** @internal */
  stopPublishing(name: string, connection: ServerConnection): void {
    const s = this.streams.get(name);
    if (!s || s.publisher?.connection !== connection) return;
    s.publisher = undefined;
    for (const p of s.players) {
      p.connection.send(status(p.streamId, 'status', 'NetStream.Play.UnpublishNotify', `${name} is now unpublished.`, { details: name }));
    }
    this.emit('unpublish', { name });
    if (s.players.size === 0) this.streams.delete(name);
  }

  /** @internal Adds a player; false when the name is unknown and players do not wait. */
  addPlayer(player: Player): boolean {
    const s = this.streams.get(player.name);
    if (!s?.publisher) {
      if (!this.opts.waitForPublisher) return false;
      let set = this.waiting.get(player.name);
      if (!set) this.waiting.set(player.name, (set = new Set()));
      set.add(player);
      return true;
    }
    s.players.add(player);
    player.connection.startPlayer(player);
    if (s.metadata) player.connection.deliver(player, s.metadata);
    if (s.videoConfig) player.connection.deliver(player, s.videoConfig);
    if (s.audioConfig) player.connection.deliver(player, s.audioConfig);
    for (const m of s.gop) player.connection.deliver(player, m);
    return true;
  }

  /** @internal */
  removePlayer(player: Player): void {
    this.waiting.get(player.name)?.delete(player);
    const s = this.streams.get(player.name);
    if (!s) return;
    s.players.delete(player);
    if (!s.publisher && s.players.size === 0) this.streams.delete(player.name);
  }

  /** @internal A publisher's media: update the caches, then relay to every player. */
  relay(name: string, m: Media): void {
    const s = this.streams.get(name);
    if (!s) return;
    let media: Media = m;
    if (m.type === 'Data') {
      if (m.name === '@setDataFrame') {
        media = { ...m, name: String(m.values[1] ?? 'onMetaData'), values: m.values.slice(1) };
      }
      if (media.type === 'Data' && media.name === 'onMetaData') s.metadata = media;
    } else if (isSequenceHeader(m)) {
      if (m.type === 'Video') s.videoConfig = m;
      else s.audioConfig = m;
    } else if (this.opts.gopCache) {
      if (isVideoKeyframe(m)) {
        s.gop = [];
        s.gopBytes = 0;
      }
      if (s.gop.length > 0 || isVideoKeyframe(m)) {
        const copy = { ...m, payload: Uint8Array.prototype.slice.call(m.payload) } as Media;
        s.gop.push(copy);
        s.gopBytes += m.payload.byteLength;
        if (s.gopBytes > this.opts.maxGopBytes) {
          s.gop = [];
          s.gopBytes = 0;
        }
      }
    }
    for (const p of s.players) p.connection.deliver(p, media);
  }
}
