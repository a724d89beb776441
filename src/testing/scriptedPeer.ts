/**
 * An in-memory scripted RTMP peer: the far end of the runtime transport (src/io/transport.ts),
 * reached over an in-memory socket (memorySocket.ts). The transport is the real one (the same
 * handshake codec, chunk pipeline, routing, media ticks and acknowledgements as in production);
 * the peer only writes the far end's bytes and reads the bytes the transport writes. Its far end
 * is built from our own codecs (HandshakeServer/HandshakeClient, ChunkEncoder/ChunkDecoder,
 * encodeMessage/decodeMessage) and does nothing by itself: a test (or a path driver) scripts each
 * step. Socket-level events (connect refused, reset, closed by the peer) are what a socket would
 * raise; protocol errors are broken bytes.
 */
import { fromCallback, createActor, type AnyActorRef, type AnyEventObject } from 'xstate';
import type {
  HandshakeForm,
  HandshakeRole,
  TransportCommand,
  TransportErrorCode,
  TransportEvent,
  TransportTarget,
} from '../../machines/contract';
import { MediaRouter, type SubjectSink } from '../io/media';
import { runTransport, type TransportConnector, type TransportDeps } from '../io/transport';
import { ChunkDecoder, ChunkEncoder } from '../protocol/chunk';
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
import { MemorySocket } from './memorySocket';

/**
 * A fault the scripted far end injects into its first handshake packet. (BAD_ECHO is not one: the
 * runtime accepts any echo, as nginx-rtmp and FFmpeg do, so it never reports BAD_ECHO.)
 */
export type HandshakeFault = 'BAD_VERSION' | 'BAD_DIGEST';

export interface ScriptedPeerOptions {
  /** Form the far-end server answers in ('digest' answers each client in its own form). */
  serverForm?: HandshakeForm;
  /** Form the far-end client uses when the machine plays the server role. Default: the machine's. */
  clientForm?: HandshakeForm;
  /** Chunk size the far end sends with (announced after the handshake). Default 128. */
  chunkSize?: number;
  /** Seed of the deterministic bytes used in C1/S1. */
  seed?: number;
  /** Clock for the handshake time fields and the transport. Default: always 0. */
  clock?: () => number;
  /**
   * The transport's `mediaTickMs` when its input names none. Default 0: every audio or video
   * message ticks (the models run on a simulated clock; the throttling itself is tested in
   * test/io/units/mediaTicker.test.ts).
   */
  mediaTickMs?: number;
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

/** Where the transport believes it connects (nothing listens there: the socket is in memory). */
const MEMORY_TARGET: TransportTarget = { protocol: 'rtmp', host: '127.0.0.1', port: 1935 };

/** The Node error code a socket raises for each transport error code. */
const ERRNO: Partial<Record<TransportErrorCode, string>> = {
  REFUSED: 'ECONNREFUSED',
  RESET: 'ECONNRESET',
  TIMEOUT: 'ETIMEDOUT',
  DNS: 'ENOTFOUND',
  CLOSED: 'ERR_SOCKET_CLOSED',
  TLS: 'ERR_TLS_CERT_ALTNAME_INVALID',
};
/** Errors only a connect attempt raises. */
const CONNECT_ONLY: ReadonlySet<TransportErrorCode> = new Set(['REFUSED', 'DNS']);

function socketError(code: TransportErrorCode, message: string): Error {
  return Object.assign(new Error(message), { code: ERRNO[code], syscall: 'read' });
}

/** An AVC keyframe NALU tag body: what the scripted server sends as media. */
const KEYFRAME = Uint8Array.from([0x17, 0x01, 0, 0, 0, 0, 0, 0, 1, 0x65]);

/**
 * The session side of the transport: every routed stream has a sink, as in a client where a play
 * or a publish registers its sink before its stream exists.
 */
class SinkForEveryStream extends MediaRouter {
  override get(key: string): SubjectSink | undefined {
    return this.sink(key);
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/**
 * One socket: created when a NetConnection invokes its transport, gone when that state exits.
 * `commands` is everything the machine told the transport (observed, not acted on: the real
 * transport acts); `delivered` is every event the transport sent the machine; `received` is what
 * the far end decoded from the bytes the transport wrote.
 */
export class PeerSocket {
  readonly commands: TransportCommand[] = [];
  readonly received: RtmpMessage[] = [];
  /** Every event the transport delivered to the machines. */
  readonly delivered: TransportEvent[] = [];
  /** Protocol mistakes of the machine (e.g. a message before the handshake completed). */
  readonly violations: string[] = [];
  private readonly answered = new Set<number>();
  private phase: 'new' | 'connecting' | 'open' | 'handshaking' | 'established' | 'closed' = 'new';
  private stopped = false;
  private role: HandshakeRole = 'client';
  private form: HandshakeForm = 'digest';
  private near: MemorySocket | undefined;
  private pendingConnect:
    | { done: (err: unknown, socket?: MemorySocket) => void; onData?: (b: Uint8Array) => void }
    | undefined;
  /** The far end's handshake codec (a server when the machine is the client). */
  private remote: HandshakeClient | HandshakeServer | undefined;
  private remoteDone = false;
  /** What the far end answered so far and has not delivered (client role: S0+S1+S2). */
  private answer: Uint8Array = new Uint8Array(0);
  /** The far end's second packet, held for echo() (client role: S2; server role: C2). */
  private heldEcho: Uint8Array | undefined;
  private readonly serverDecoder = new ChunkDecoder();
  private readonly serverEncoder: ChunkEncoder;
  private pendingServerChunkSize = false;

  constructor(
    readonly connectionId: string,
    private readonly options: ScriptedPeerOptions = {},
  ) {
    this.serverEncoder = new ChunkEncoder({ chunkSize: options.chunkSize ?? 128 });
    if (options.chunkSize && options.chunkSize !== 128) this.pendingServerChunkSize = true;
  }

  /** The transport's socket opener: the connection waits for accept() or fail(). */
  readonly connector: TransportConnector = (_target, options, done) => {
    this.phase = 'connecting';
    this.pendingConnect = { done, onData: options.readInto?.onData };
  };

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

  /** @internal Sees each command before the transport acts on it. */
  observeCommand(command: TransportCommand): void {
    this.commands.push(command);
    if (command.type === 'TRANSPORT.HANDSHAKE_START') {
      this.role = command.role;
      this.form = command.form;
      this.phase = 'handshaking';
      if (command.role === 'client') {
        this.remote = new HandshakeServer({
          form: this.options.serverForm ?? 'digest',
          random: seededBytes((this.options.seed ?? 7) + 1),
          clock: this.options.clock ?? (() => 0),
        });
      }
    }
  }

  /** @internal Sees each event the transport sends the machine. */
  observeEvent(event: TransportEvent): void {
    this.delivered.push(event);
  }

  /** @internal The transport actor stopped (its state was exited). */
  onStopped(): void {
    this.stopped = true;
    this.phase = 'closed';
  }

  /** Delivers far-end bytes to the transport and returns the events it sent meanwhile. */
  private toTransport(bytes: Uint8Array): TransportEvent[] {
    if (this.stopped) throw new ScriptError(`socket ${this.connectionId} is closed`);
    if (!this.near || this.near.destroyed) {
      throw new ScriptError(`socket ${this.connectionId} is not connected`);
    }
    const before = this.delivered.length;
    this.near.deliver(bytes);
    return this.delivered.slice(before);
  }

  /** The bytes the transport wrote: the far end's handshake codec, then its chunk decoder. */
  private fromTransport(bytes: Uint8Array): void {
    if (this.phase !== 'handshaking' && this.phase !== 'established') {
      this.violations.push(`the transport wrote ${bytes.byteLength} bytes while ${this.phase}`);
      return;
    }
    let rest = bytes;
    if (!this.remoteDone) {
      if (!this.remote) {
        this.violations.push('the transport wrote before the handshake started');
        return;
      }
      const progress = this.remote.push(bytes);
      if (progress.send.byteLength > 0) {
        if (this.role === 'client') this.answer = concat(this.answer, progress.send);
        else this.heldEcho = progress.send.slice();
      }
      if (progress.kind !== 'completed') return;
      this.remoteDone = true;
      rest = progress.remaining;
    }
    if (rest.byteLength === 0) return;
    if (this.phase !== 'established') {
      this.violations.push(
        `the transport wrote ${rest.byteLength} bytes of chunks before the handshake completed`,
      );
      return;
    }
    for (const raw of this.serverDecoder.push(rest)) this.received.push(decodeMessage(raw));
  }

  // ---------------------------------------------------------------- socket level

  /** The TCP connection succeeded (needs TRANSPORT.OPEN from the machine). */
  accept(): void {
    if (!this.pendingConnect) {
      throw new ScriptError('accept(): the transport is not connecting (no TRANSPORT.OPEN)');
    }
    const { done, onData } = this.pendingConnect;
    this.pendingConnect = undefined;
    this.near = new MemorySocket((bytes) => this.fromTransport(bytes));
    this.near.onData = onData;
    this.phase = 'open';
    done(undefined, this.near);
  }

  /**
   * A transport error. While connecting: the connect fails (REFUSED, RESET, TIMEOUT, DNS, CLOSED,
   * TLS). Connected: the socket raises it (RESET, TIMEOUT, CLOSED, TLS), or, for PROTOCOL and
   * LIMIT once the handshake is done, the far end sends bytes the transport must refuse (a chunk
   * on a chunk stream never opened; a Set Chunk Size above the limit).
   */
  fail(code: TransportErrorCode, message = `scripted ${code}`): void {
    if (this.pendingConnect) {
      if (!ERRNO[code]) throw new ScriptError(`fail(${code}): a connect cannot fail that way`);
      const { done } = this.pendingConnect;
      this.pendingConnect = undefined;
      this.phase = 'closed';
      done(socketError(code, message));
      return;
    }
    if (!this.near) throw new ScriptError(`fail(${code}): no connection`);
    if (code === 'PROTOCOL' || code === 'LIMIT') {
      if (this.phase !== 'established') {
        throw new ScriptError(`fail(${code}): no chunks flow before the handshake completed`);
      }
      this.toTransport(
        code === 'PROTOCOL'
          ? Uint8Array.of(0xc0 | 50, 0, 0, 0) // fmt 3 on chunk stream 50, never opened
          : this.serverEncoder.encode(
              encodeMessage({
                type: 'SetChunkSize',
                chunkSize: 0x20000,
                timestamp: 0,
                streamId: 0,
              }),
            ),
      );
      return;
    }
    if (CONNECT_ONLY.has(code)) {
      throw new ScriptError(`fail(${code}): only a connect fails that way`);
    }
    if (!this.near.destroyed) this.near.fail(socketError(code, message));
  }

  /** The far end closed the socket. */
  hangUp(): void {
    if (!this.near) throw new ScriptError('hangUp(): the socket never connected');
    this.phase = 'closed';
    this.near.hangUp();
  }

  /** The close the machine asked for completed (needs TRANSPORT.CLOSE from the machine). */
  confirmClose(): void {
    if (!this.hasCommand('TRANSPORT.CLOSE')) {
      throw new ScriptError('confirmClose(): the machine never sent TRANSPORT.CLOSE');
    }
    if (!this.near?.ended) {
      throw new ScriptError('confirmClose(): the transport did not end a connected socket');
    }
    this.phase = 'closed';
    this.near.hangUp();
  }

  /**
   * The far end sends bytes (Acknowledgement messages) until bytes received pass the window the
   * machine set (TRANSPORT.SET_ACK_WINDOW): returns the TRANSPORT.ACK_DUE the transport raised.
   */
  ackDue(): Extract<TransportEvent, { type: 'TRANSPORT.ACK_DUE' }> {
    const window = this.lastCommand('TRANSPORT.SET_ACK_WINDOW')?.windowSize;
    if (!window) throw new ScriptError('ackDue(): the machine set no acknowledgement window');
    let sent = 0;
    while (sent <= window) {
      const bytes = this.serverEncoder.encode(
        encodeMessage({ type: 'Acknowledgement', sequenceNumber: 0, timestamp: 0, streamId: 0 }),
      );
      sent += bytes.byteLength;
      const due = this.toTransport(bytes).find((e) => e.type === 'TRANSPORT.ACK_DUE');
      if (due) return due as Extract<TransportEvent, { type: 'TRANSPORT.ACK_DUE' }>;
    }
    throw new ScriptError(`ackDue(): no TRANSPORT.ACK_DUE after ${window} bytes`);
  }

  // ---------------------------------------------------------------- handshake

  /** Whether the handshake has started (TRANSPORT.HANDSHAKE_START) and is not finished. */
  get handshaking(): boolean {
    return this.phase === 'handshaking';
  }

  /**
   * Delivers the far end's first handshake packet (client role: S0+S1; server role: C0+C1).
   * Returns the event the transport reported: HANDSHAKE.PEER_HELLO, or HANDSHAKE.FAILED when
   * `fault` breaks the bytes (BAD_VERSION, or BAD_DIGEST in the client's digest form).
   */
  hello(fault?: HandshakeFault): TransportEvent {
    if (this.phase !== 'handshaking') {
      throw new ScriptError('hello(): no TRANSPORT.HANDSHAKE_START from the machine');
    }
    let bytes: Uint8Array;
    if (this.role === 'client') {
      if (this.answer.byteLength < 1 + PACKET_SIZE) {
        throw new ScriptError('hello(): the transport has not written C0+C1');
      }
      bytes = this.answer.slice(0, 1 + PACKET_SIZE);
      this.heldEcho = this.answer.slice(1 + PACKET_SIZE);
      this.answer = new Uint8Array(0);
    } else {
      const client = new HandshakeClient({
        form: this.options.clientForm ?? this.form,
        random: seededBytes((this.options.seed ?? 7) + 2),
        clock: this.options.clock ?? (() => 0),
      });
      this.remote = client;
      bytes = client.start().slice();
    }
    if (fault === 'BAD_VERSION') bytes[0] = 4;
    if (fault === 'BAD_DIGEST') bytes[1 + 1500] ^= 0xff;
    return this.lastOf(this.toTransport(bytes), 'hello()');
  }

  /** Delivers the far end's second packet (client role: S2; server role: C2). */
  echo(): TransportEvent {
    if (!this.heldEcho || this.phase !== 'handshaking') {
      throw new ScriptError('echo(): hello() has not been delivered');
    }
    const bytes = this.heldEcho;
    this.heldEcho = undefined;
    // Chunks may follow at once: the far end is done before the transport reports it.
    this.phase = 'established';
    const event = this.lastOf(this.toTransport(bytes), 'echo()');
    if (event.type !== 'HANDSHAKE.PEER_ECHO') this.phase = 'closed';
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

  private lastOf(events: TransportEvent[], what: string): TransportEvent {
    const event = events[events.length - 1];
    if (!event) throw new ScriptError(`${what}: the transport reported nothing`);
    return event;
  }

  /** The whole handshake (hello then echo). */
  completeHandshake(): void {
    if (!this.heldEcho) this.hello();
    this.echo();
  }

  // ---------------------------------------------------------------- messages

  private sendRaw(message: RtmpMessage): TransportEvent[] {
    const bytes = this.serverEncoder.encode(encodeMessage(message));
    if (message.type === 'SetChunkSize') this.serverEncoder.setChunkSize(message.chunkSize);
    return this.toTransport(bytes);
  }

  /**
   * The server sends `message`, encoded and chunked, to the transport, which routes it as it
   * does in production. A `_result`/`_error` must answer a command the server received and has
   * not answered yet. Returns the message.
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
    this.sendRaw(message);
    return message;
  }

  /** A keyframe on message stream `streamId` at `timestamp` (the transport ticks the machines). */
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
 * `transport` (the runtime transport over an in-memory socket); every invocation opens a new
 * PeerSocket, found with `socket(connectionId)`.
 */
export class ScriptedPeer {
  readonly sockets: PeerSocket[] = [];
  /** The media sinks of the streams the transports route (one per sink key). */
  readonly router: MediaRouter = new SinkForEveryStream();
  readonly transport;

  constructor(readonly options: ScriptedPeerOptions = {}) {
    this.transport = fromCallback<TransportCommand, unknown, AnyEventObject>(
      ({ input, sendBack, receive, self }) => {
        const connectionId =
          (self as unknown as { _parent?: { id: string } })._parent?.id ?? 'connection';
        return this.run(connectionId, input, sendBack, receive, self);
      },
    );
  }

  private run(
    connectionId: string,
    input: unknown,
    sendBack: (event: TransportEvent) => void,
    receive: (listener: (command: TransportCommand) => void) => void,
    self?: unknown,
  ): () => void {
    const socket = new PeerSocket(connectionId, this.options);
    this.sockets.push(socket);
    const given = (input ?? {}) as { target?: TransportTarget; mediaTickMs?: number };
    const deps: TransportDeps = {
      router: this.router,
      clock: this.options.clock ?? (() => 0),
      random: seededBytes(this.options.seed ?? 7),
      connect: socket.connector,
    };
    const stop = runTransport(deps, {
      input: {
        ...given,
        target: given.target ?? MEMORY_TARGET,
        mediaTickMs: given.mediaTickMs ?? this.options.mediaTickMs ?? 0,
      },
      sendBack: (event) => {
        socket.observeEvent(event);
        sendBack(event);
      },
      receive: (listener) =>
        receive((command) => {
          socket.observeCommand(command);
          listener(command);
        }),
      self,
    });
    return () => {
      stop();
      socket.onStopped();
    };
  }

  /**
   * A connected transport that is not a NetConnection's child (for testing the handshake machine
   * on its own): its events go to `deliver`, `transport` takes the machine's commands.
   */
  detached(
    deliver: (event: TransportEvent) => void,
    connectionId = 'detached',
  ): { socket: PeerSocket; transport: AnyActorRef } {
    let command: ((c: TransportCommand) => void) | undefined;
    const transport = createActor(
      fromCallback<TransportCommand>(({ receive }) =>
        this.run(
          connectionId,
          undefined,
          (event) => deliver(event),
          (listener) => {
            command = listener;
            receive(listener);
          },
        ),
      ),
    ).start();
    const socket = this.sockets[this.sockets.length - 1];
    command?.({ type: 'TRANSPORT.OPEN' });
    socket.accept();
    return { socket, transport };
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
