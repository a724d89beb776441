/**
 * An in-memory scripted RTMP peer: a stand-in for the transport actor (machines/contract.ts)
 * whose far end is a fake server built from our own codecs. Nothing is mocked: the handshake runs
 * a real HandshakeClient against a real HandshakeServer, every message the machines send is
 * encoded (encodeMessage + ChunkEncoder) and decoded by the server (ChunkDecoder + decodeMessage),
 * and every message the server sends travels the same way back before it reaches the machines as
 * RTMP.MESSAGE. The server does nothing by itself: a test (or a path driver) scripts each step.
 */
import { fromCallback, type AnyEventObject } from 'xstate';
import type {
  HandshakeForm,
  HandshakeRole,
  TransportCommand,
  TransportErrorCode,
  TransportEvent,
} from '../../machines/contract';
import { ChunkDecoder, ChunkEncoder } from '../protocol/chunk';
import { HandshakeError } from '../protocol/errors';
import { HandshakeClient, HandshakeServer, PACKET_SIZE } from '../protocol/handshake';
import {
  buildError,
  buildOnStatus,
  buildResult,
  decodeMessage,
  encodeMessage,
  StatusCode,
} from '../protocol/message';
import type { RtmpMessage, StatusInfo } from '../protocol/message/types';

/** A fault the scripted far end injects into the handshake bytes. */
export type HandshakeFault = 'BAD_VERSION' | 'BAD_DIGEST' | 'BAD_ECHO';

export interface ScriptedPeerOptions {
  /** Form the far-end server answers in ('digest' answers each client in its own form). */
  serverForm?: HandshakeForm;
  /** Form the far-end client uses when the machine plays the server role. Default 'digest'. */
  clientForm?: HandshakeForm;
  /** Chunk size the far end sends with. Default 128. */
  chunkSize?: number;
  /** Seed of the deterministic bytes used in C1/S1. */
  seed?: number;
  /** Clock for the handshake time fields. Default: always 0. */
  clock?: () => number;
}

/** Deterministic pseudo-random bytes (xorshift32), for reproducible handshakes. */
export function seededBytes(seed = 1): (n: number) => Uint8Array {
  let state = seed >>> 0 || 1;
  return (n: number) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      state ^= state << 13;
      state >>>= 0;
      state ^= state >>> 17;
      state ^= state << 5;
      state >>>= 0;
      out[i] = state & 0xff;
    }
    return out;
  };
}

/** Raised when a script asks the peer for something the machines did not make possible. */
export class ScriptError extends Error {
  override name = 'ScriptError';
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** Data messages the runtime transport gives the machines rather than the media sinks. */
const DATA_FOR_MACHINES = new Set([
  'onStatus',
  'onPlayStatus',
  'onBWDone',
  'onFCPublish',
  'onFCUnpublish',
]);

/** An AVC keyframe NALU tag body: what the scripted server sends as media. */
const KEYFRAME = Uint8Array.from([0x17, 0x01, 0, 0, 0, 0, 0, 0, 1, 0x65]);

/**
 * One socket: created when a NetConnection invokes its transport, gone when that state exits.
 * `commands` is everything the machine told the transport; `received` is what the far-end
 * server decoded from the bytes the machine sent.
 */
export class PeerSocket {
  readonly commands: TransportCommand[] = [];
  readonly received: RtmpMessage[] = [];
  /** Every event this socket delivered to the machines. */
  readonly delivered: TransportEvent[] = [];
  /** Protocol mistakes of the machine (e.g. a message before the handshake completed). */
  readonly violations: string[] = [];
  private readonly answered = new Set<number>();
  private phase: 'new' | 'open' | 'handshaking' | 'established' | 'closed' = 'new';
  private stopped = false;
  private role: HandshakeRole = 'client';
  private local: HandshakeClient | HandshakeServer | undefined;
  private remote: HandshakeClient | HandshakeServer | undefined;
  /** Bytes the far end still has to deliver in the handshake (client role: S2; server: C2). */
  private heldEcho: Uint8Array | undefined;
  /** Bytes our side still has to deliver to the far end (client role: C2). */
  private toRemote: Uint8Array | undefined;
  private readonly clientEncoder = new ChunkEncoder();
  private readonly serverDecoder = new ChunkDecoder();
  private readonly serverEncoder: ChunkEncoder;
  private readonly clientDecoder = new ChunkDecoder();
  private readonly routes = new Map<number, string>();

  constructor(
    readonly connectionId: string,
    /** Where this socket's events go (the transport's parent). */
    public deliver: (event: TransportEvent) => void,
    private readonly options: ScriptedPeerOptions = {},
  ) {
    this.serverEncoder = new ChunkEncoder({ chunkSize: options.chunkSize ?? 128 });
    if (options.chunkSize && options.chunkSize !== 128) this.pendingServerChunkSize = true;
  }

  private pendingServerChunkSize = false;

  /** Whether the transport actor that owns this socket was stopped. */
  get isStopped(): boolean {
    return this.stopped;
  }

  get state(): string {
    return this.phase;
  }

  /** True once the machine sent a command of this type. */
  hasCommand(type: TransportCommand['type']): boolean {
    return this.commands.some((c) => c.type === type);
  }

  /** The last command of this type the machine sent, if any. */
  lastCommand<T extends TransportCommand['type']>(
    type: T,
  ): Extract<TransportCommand, { type: T }> | undefined {
    for (let i = this.commands.length - 1; i >= 0; i--) {
      const c = this.commands[i];
      if (c.type === type) return c as Extract<TransportCommand, { type: T }>;
    }
    return undefined;
  }

  /** Commands (name) the server received that have not been answered, oldest first. */
  pending(name: string): Extract<RtmpMessage, { type: 'Command' }>[] {
    return this.received.filter(
      (m): m is Extract<RtmpMessage, { type: 'Command' }> =>
        m.type === 'Command' && m.name === name && !this.answered.has(m.transactionId),
    );
  }

  /** The last received command with this name (answered or not). */
  lastReceived(name: string): Extract<RtmpMessage, { type: 'Command' }> | undefined {
    for (let i = this.received.length - 1; i >= 0; i--) {
      const m = this.received[i];
      if (m.type === 'Command' && m.name === name) return m;
    }
    return undefined;
  }

  /** Messages of a type the server received. */
  receivedOf<T extends RtmpMessage['type']>(type: T): Extract<RtmpMessage, { type: T }>[] {
    return this.received.filter((m): m is Extract<RtmpMessage, { type: T }> => m.type === type);
  }

  /** Called by the transport actor for every command. */
  onCommand(command: TransportCommand): void {
    this.commands.push(command);
    switch (command.type) {
      case 'TRANSPORT.OPEN':
        if (this.phase === 'new') this.phase = 'open';
        return;
      case 'TRANSPORT.HANDSHAKE_START':
        this.startHandshake(command.role, command.form);
        return;
      case 'TRANSPORT.SEND':
        this.clientSends(command.message);
        return;
      case 'TRANSPORT.SET_CHUNK_SIZE':
        this.clientSends({
          type: 'SetChunkSize',
          chunkSize: command.chunkSize,
          timestamp: 0,
          streamId: 0,
        });
        this.clientEncoder.setChunkSize(command.chunkSize);
        return;
      case 'TRANSPORT.ROUTE_MEDIA':
        this.routes.set(command.streamId, command.sinkKey);
        return;
      case 'TRANSPORT.UNROUTE_MEDIA':
        if (this.routes.get(command.streamId) === command.sinkKey) {
          this.routes.delete(command.streamId);
        }
        return;
      case 'TRANSPORT.SET_ACK_WINDOW':
      case 'TRANSPORT.CLOSE':
        return;
    }
  }

  /** Called when the transport actor stops (its state was exited). */
  onStopped(): void {
    this.stopped = true;
    this.phase = 'closed';
  }

  private emit(event: TransportEvent): void {
    if (this.stopped) throw new ScriptError(`socket ${this.connectionId} is closed`);
    this.delivered.push(event);
    this.deliver(event);
  }

  // ---------------------------------------------------------------- socket level

  /** The TCP connection succeeded (needs TRANSPORT.OPEN from the machine). */
  accept(): void {
    if (!this.hasCommand('TRANSPORT.OPEN')) {
      throw new ScriptError('accept(): the machine never sent TRANSPORT.OPEN');
    }
    this.phase = 'open';
    this.emit({ type: 'TRANSPORT.CONNECTED' });
  }

  /** A socket error (REFUSED, RESET, ... PROTOCOL, LIMIT). */
  fail(code: TransportErrorCode, message = `scripted ${code}`): void {
    this.emit({ type: 'TRANSPORT.ERROR', code, message });
  }

  /** The far end closed the socket. */
  hangUp(): void {
    this.phase = 'closed';
    this.emit({ type: 'TRANSPORT.CLOSED', byPeer: true });
  }

  /** The close the machine asked for completed (needs TRANSPORT.CLOSE from the machine). */
  confirmClose(): void {
    if (!this.hasCommand('TRANSPORT.CLOSE')) {
      throw new ScriptError('confirmClose(): the machine never sent TRANSPORT.CLOSE');
    }
    this.phase = 'closed';
    this.emit({ type: 'TRANSPORT.CLOSED', byPeer: false });
  }

  /** Bytes received passed the acknowledgement window. */
  ackDue(sequenceNumber: number): void {
    this.emit({ type: 'TRANSPORT.ACK_DUE', sequenceNumber });
  }

  // ---------------------------------------------------------------- handshake

  private startHandshake(role: HandshakeRole, form: HandshakeForm): void {
    const random = seededBytes(this.options.seed ?? 7);
    const clock = this.options.clock ?? (() => 0);
    this.role = role;

    this.phase = 'handshaking';
    if (role === 'client') {
      // Our side is the client (strict about echoes, unlike the runtime, so BAD_ECHO is testable).
      this.local = new HandshakeClient({ form, random, clock, strictEcho: true });
      this.remote = new HandshakeServer({
        form: this.options.serverForm ?? 'digest',
        random,
        clock,
      });
    } else {
      this.local = new HandshakeServer({ form: 'digest', random, clock, strictEcho: true });
      this.remote = new HandshakeClient({
        form: this.options.clientForm ?? form,
        random,
        clock,
      });
    }
  }

  /** Whether the handshake has started (TRANSPORT.HANDSHAKE_START) and is not finished. */
  get handshaking(): boolean {
    return this.phase === 'handshaking';
  }

  /**
   * Delivers the far end's first handshake packet (client role: S0+S1; server role: C0+C1) through
   * the real codecs. Returns the event the transport reported: HANDSHAKE.PEER_HELLO, or
   * HANDSHAKE.FAILED when `fault` breaks the bytes (BAD_VERSION, or BAD_DIGEST in the client's
   * digest form).
   */
  hello(fault?: HandshakeFault): TransportEvent {
    if (!this.local || !this.remote || this.phase !== 'handshaking') {
      throw new ScriptError('hello(): no TRANSPORT.HANDSHAKE_START from the machine');
    }
    let bytes: Uint8Array;
    if (this.role === 'client') {
      const c0c1 = (this.local as HandshakeClient).start();
      const answer = (this.remote as HandshakeServer).push(c0c1).send.slice();
      bytes = answer.subarray(0, 1 + PACKET_SIZE);
      this.heldEcho = answer.subarray(1 + PACKET_SIZE);
    } else {
      bytes = (this.remote as HandshakeClient).start().slice();
    }
    if (fault === 'BAD_VERSION') bytes[0] = 4;
    if (fault === 'BAD_DIGEST') bytes[1 + 1500] ^= 0xff;
    const event = this.feedLocal(bytes);
    if (event.type !== 'HANDSHAKE.FAILED' && this.role === 'server') {
      // The far-end client reads S0+S1+S2 and answers C2, which waits for echo().
      const progress = (this.remote as HandshakeClient).push(this.toRemote ?? new Uint8Array());
      this.toRemote = undefined;
      this.heldEcho = progress.send.slice();
    }
    this.emit(event);
    return event;
  }

  /**
   * Delivers the far end's second packet (client role: S2; server role: C2). `BAD_ECHO` breaks it
   * (simple form, where echoes are checked).
   */
  echo(fault?: HandshakeFault): TransportEvent {
    if (!this.heldEcho || this.phase !== 'handshaking') {
      throw new ScriptError('echo(): hello() has not been delivered');
    }
    const bytes = this.heldEcho.slice();
    this.heldEcho = undefined;
    if (fault === 'BAD_ECHO') bytes[100] ^= 0xff;
    const event = this.feedLocal(bytes);
    if (event.type === 'HANDSHAKE.PEER_ECHO') {
      // Both sides are done before the transport reports it: chunks may follow at once.
      if (this.role === 'client' && this.toRemote) {
        (this.remote as HandshakeServer).push(this.toRemote);
        this.toRemote = undefined;
      }
      this.phase = 'established';
    }
    this.emit(event);
    if (event.type === 'HANDSHAKE.PEER_ECHO' && this.pendingServerChunkSize) {
      this.pendingServerChunkSize = false;
      this.send({
        type: 'SetChunkSize',
        chunkSize: this.options.chunkSize ?? 128,
        timestamp: 0,
        streamId: 0,
      });
    }
    return event;
  }

  private feedLocal(bytes: Uint8Array): TransportEvent {
    try {
      const progress = this.local!.push(bytes);
      if (progress.send.byteLength > 0) {
        this.toRemote = this.toRemote
          ? concat(this.toRemote, progress.send)
          : progress.send.slice();
      }
      const step = progress.events[progress.events.length - 1];
      if (!step) throw new ScriptError('the handshake codec made no progress');
      return step.step === 'peerHello'
        ? { type: 'HANDSHAKE.PEER_HELLO', version: step.version, form: step.form }
        : { type: 'HANDSHAKE.PEER_ECHO' };
    } catch (err) {
      if (err instanceof HandshakeError && err.code !== 'TRUNCATED' && err.code !== 'TIMEOUT') {
        const code = err.code as 'BAD_VERSION' | 'BAD_DIGEST' | 'BAD_ECHO';
        return { type: 'HANDSHAKE.FAILED', code, message: err.message };
      }
      throw err;
    }
  }

  /** The whole handshake (hello then echo). */
  completeHandshake(): void {
    if (!this.heldEcho) this.hello();
    this.echo();
  }

  // ---------------------------------------------------------------- messages

  private clientSends(message: RtmpMessage): void {
    if (this.phase !== 'established') {
      // Thrown here it would only fail the transport actor; record it for the test to see.
      this.violations.push(
        `the machine sent ${message.type} ${'name' in message ? message.name : ''} while the socket was ${this.phase}`,
      );
      return;
    }
    const bytes = this.clientEncoder.encode(encodeMessage(message));
    for (const raw of this.serverDecoder.push(bytes)) this.received.push(decodeMessage(raw));
  }

  /**
   * The server sends `message`: encoded, chunked, de-chunked and decoded, then delivered as the
   * runtime transport would (RTMP.MESSAGE; audio/video on a routed stream become MEDIA.TICK).
   * A `_result`/`_error` must answer a command the server received and has not answered yet.
   * Returns the decoded message.
   */
  send(message: RtmpMessage): RtmpMessage {
    if (this.phase !== 'established') {
      throw new ScriptError('send(): the handshake has not completed');
    }
    if (message.type === 'Command' && (message.name === '_result' || message.name === '_error')) {
      const asked = this.received.some(
        (m) =>
          m.type === 'Command' &&
          m.transactionId === message.transactionId &&
          !this.answered.has(m.transactionId),
      );
      if (!asked) {
        throw new ScriptError(
          `send(): no unanswered command with transaction ${message.transactionId}`,
        );
      }
      this.answered.add(message.transactionId);
    }
    const bytes = this.serverEncoder.encode(encodeMessage(message));
    if (message.type === 'SetChunkSize') this.serverEncoder.setChunkSize(message.chunkSize);
    const decoded = this.clientDecoder.push(bytes).map((raw) => decodeMessage(raw));
    if (decoded.length !== 1) throw new ScriptError(`send(): ${decoded.length} messages decoded`);
    const out = decoded[0];
    if (out.type === 'Audio' || out.type === 'Video') {
      if (this.routes.has(out.streamId) || this.routes.size === 1) {
        this.emit({
          type: 'MEDIA.TICK',
          streamId: out.streamId,
          keyframe: out.type === 'Video' && ((out.payload[0] >> 4) & 0x07) === 1,
          timestamp: out.timestamp,
        });
      }
      return out;
    }
    if (out.type === 'Data' && !DATA_FOR_MACHINES.has(out.name) && this.routes.size > 0) {
      return out; // media data (onMetaData...) goes to the stream's sink, not to the machines
    }
    this.emit({ type: 'RTMP.MESSAGE', message: out });
    return out;
  }

  /** A keyframe on message stream `streamId` at `timestamp` (becomes a MEDIA.TICK). */
  sendKeyframe(streamId: number, timestamp: number): void {
    this.send({ type: 'Video', payload: KEYFRAME, streamId, timestamp });
  }

  /** Answers the pending `connect`: success, or `_error` with `code`/`description`. */
  answerConnect(
    outcome: { ok: true } | { ok: false; code: string; description?: string } = { ok: true },
  ): RtmpMessage {
    const connect = this.pending('connect')[0];
    if (!connect) throw new ScriptError('answerConnect(): no connect received');
    if (outcome.ok) {
      return this.send(
        buildResult(
          connect.transactionId,
          { fmsVer: 'FMS/3,0,1,123', capabilities: 31 },
          {
            level: 'status',
            code: StatusCode.ConnectSuccess,
            description: 'Connection succeeded.',
            objectEncoding: 0,
          },
        ),
      );
    }
    const info: StatusInfo = { level: 'error', code: outcome.code };
    if (outcome.description !== undefined) info.description = outcome.description;
    return this.send(buildError(connect.transactionId, null, info));
  }

  /** Answers the oldest pending `createStream` with `streamId`, or `_error` when null. */
  answerCreateStream(streamId: number | null): RtmpMessage {
    const request = this.pending('createStream')[0];
    if (!request) throw new ScriptError('answerCreateStream(): no createStream received');
    if (streamId === null) {
      return this.send(
        buildError(request.transactionId, null, {
          level: 'error',
          code: 'NetConnection.Call.Failed',
        }),
      );
    }
    return this.send(buildResult(request.transactionId, null, streamId));
  }

  /** Sends onStatus(level, code) on message stream `streamId`. */
  sendStatus(streamId: number, code: string, level = 'status', description?: string): RtmpMessage {
    const info: StatusInfo = { level, code };
    if (description !== undefined) info.description = description;
    return this.send(buildOnStatus(info, { streamId }));
  }
}

/**
 * The scripted peer: `transport` is the actor logic to provide as the NetConnection's
 * `transport`; every invocation opens a new PeerSocket, found with `socket(connectionId)`.
 */
export class ScriptedPeer {
  readonly sockets: PeerSocket[] = [];
  readonly transport;

  constructor(readonly options: ScriptedPeerOptions = {}) {
    this.transport = fromCallback<TransportCommand, unknown, AnyEventObject>(
      ({ sendBack, receive, self }) => {
        const connectionId =
          (self as unknown as { _parent?: { id: string } })._parent?.id ?? 'connection';
        const socket = new PeerSocket(connectionId, (event) => sendBack(event), this.options);
        this.sockets.push(socket);
        receive((command) => socket.onCommand(command));
        return () => socket.onStopped();
      },
    );
  }

  /** A socket that is not a transport actor (for testing the handshake machine on its own). */
  detachedSocket(deliver: (event: TransportEvent) => void, connectionId = 'detached'): PeerSocket {
    const socket = new PeerSocket(connectionId, deliver, this.options);
    this.sockets.push(socket);
    return socket;
  }

  /** The latest socket of `connectionId` (any connection when omitted). */
  socket(connectionId?: string): PeerSocket {
    for (let i = this.sockets.length - 1; i >= 0; i--) {
      const s = this.sockets[i];
      if (connectionId === undefined || s.connectionId === connectionId) return s;
    }
    throw new ScriptError(`no socket for ${connectionId ?? 'any connection'}`);
  }

  /** Whether a socket exists for `connectionId`. */
  hasSocket(connectionId?: string): boolean {
    return this.sockets.some((s) => connectionId === undefined || s.connectionId === connectionId);
  }
}

/** Creates a scripted peer (see {@link ScriptedPeer}). */
export function createScriptedPeer(options: ScriptedPeerOptions = {}): ScriptedPeer {
  return new ScriptedPeer(options);
}
