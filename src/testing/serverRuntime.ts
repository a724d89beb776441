/**
 * The embedded server's real connection runtime, in memory, for the server model tests: a real
 * serverConnection actor (its real serverStream children, its real handshake machine), its real
 * `connectionIo` (ServerConnection: the byte pipeline and the writes, the ServerSession's
 * decisions) on an in-memory socket, and a scripted client on the far end that speaks real RTMP
 * bytes (built with the project's codecs, as src/testing/faultClients.ts builds them) and
 * decodes what the server writes back. Everything runs synchronously on a simulated clock, so a
 * replay step's bytes have been answered when the step returns.
 *
 * What the test scripts besides the client: the stream registry's answers (the `host`: whether
 * a name is free to publish, whether a played name is on air) and the authorizer (each decision
 * is made by the test, at the step it chooses). No routing, reply or decision of the server is
 * copied here: they all run from src/server.
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import {
  createActor,
  SimulatedClock,
  type ActorLogic,
  type AnyActorRef,
  type EventObject,
  type InspectionEvent,
  type Snapshot,
} from 'xstate';
import type { ServerConnectionInput } from '../../machines/serverConnectionMachine';
import type { AuthorizeActorInput, AuthorizeActorOutput } from '../../machines/serverStreamMachine';
import { ChunkDecoder, ChunkEncoder } from '../protocol/chunk';
import { HandshakeClient } from '../protocol/handshake';
import { DEFAULT_LIMITS } from '../protocol/limits';
import {
  buildCommand,
  buildConnect,
  buildPlay,
  buildPublish,
  decodeMessage,
  encodeMessage,
  type RtmpMessage,
} from '../protocol/message';
import { ServerActors, type ServerMachines } from '../server/registry';
import type { AuthorizeRequest } from '../server/request';
import {
  connectionIo,
  type ConnectionEvent,
  type ConnectionHost,
  type ServerConnection,
  type ServerConnectionOptions,
} from '../server/connection';
import type { PlayerSink } from '../server/liveStream';
import { applyDecision, type ClaimOutcome, type LookUpOutcome } from '../server/session';

/** An in-memory socket: what the server writes is kept; the client's bytes are emitted. */
export class MemorySocket extends EventEmitter {
  readonly remoteAddress = '127.0.0.9';
  readonly remotePort = 40_000;
  destroyed = false;
  ended = false;
  writableLength = 0;
  private readonly sink: (bytes: Uint8Array) => void;

  constructor(sink: (bytes: Uint8Array) => void) {
    super();
    this.sink = sink;
  }

  setNoDelay(): this {
    return this;
  }

  write(bytes: Uint8Array): boolean {
    if (!this.destroyed && !this.ended) this.sink(bytes);
    return true;
  }

  end(): this {
    this.ended = true;
    return this;
  }

  destroy(): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    this.emit('close');
    return this;
  }
}

/** The stream registry, scripted: the test says what the next claim and look-up answer. */
export class ScriptedRegistry implements ConnectionHost {
  claim: ClaimOutcome = 'ok';
  lookUp: LookUpOutcome = 'playing';
  readonly log: ConnectionEvent[] = [];
  readonly published = new Set<string>();
  readonly players = new Map<string, PlayerSink>();
  readonly ended: AuthorizeRequest[] = [];
  connection: ServerConnection | undefined;

  connectionOpened(c: ServerConnection): void {
    this.connection = c;
  }
  startPublishing(_c: ServerConnection, _streamId: number, name: string): ClaimOutcome {
    if (this.claim === 'ok') this.published.add(name);
    return this.claim;
  }
  stopPublishing(_c: ServerConnection, _streamId: number, name: string): void {
    this.published.delete(name);
  }
  canPlay(): LookUpOutcome {
    return this.lookUp;
  }
  addPlayer(_c: ServerConnection, name: string, player: PlayerSink): void {
    this.players.set(name, player);
  }
  removePlayer(_c: ServerConnection, name: string): void {
    this.players.delete(name);
  }
  relay(): void {}
  connectionEvent(_c: ServerConnection, event: ConnectionEvent): void {
    this.log.push(event);
  }
  connectionClosed(): void {}
  hold(): undefined {
    return undefined;
  }
  streamEnded(_c: ServerConnection, request: AuthorizeRequest): void {
    this.ended.push(request);
  }
}

type AuthorizerSnapshot = Snapshot<AuthorizeActorOutput> & { input: AuthorizeActorInput };

type AuthorizerEvent =
  | { type: 'AUTHORIZER.DECIDE'; output: AuthorizeActorOutput }
  | { type: 'AUTHORIZER.FAIL'; error: Error };

/**
 * An authorizer the test answers, synchronously: send it AUTHORIZER.DECIDE (done, with the
 * decision) or AUTHORIZER.FAIL (error). Until then it waits, as a slow hook does.
 */
export const scriptedAuthorizer: ActorLogic<
  AuthorizerSnapshot,
  AuthorizerEvent,
  AuthorizeActorInput
> = {
  config: 'scriptedAuthorizer',
  transition: (snapshot, event) => {
    if (snapshot.status !== 'active') return snapshot;
    if (event.type === 'AUTHORIZER.DECIDE') {
      return { ...snapshot, status: 'done', output: event.output };
    }
    if (event.type === 'AUTHORIZER.FAIL')
      return { ...snapshot, status: 'error', error: event.error };
    return snapshot;
  },
  getInitialSnapshot: (_scope, input) => ({
    status: 'active',
    output: undefined,
    error: undefined,
    input,
  }),
  getPersistedSnapshot: (snapshot) => snapshot,
};

/** The server connection's options in the tests (the server's defaults, small timeouts). */
export const TEST_CONNECTION_OPTIONS: Omit<ServerConnectionOptions, 'now'> = {
  chunkSize: 4096,
  limits: { ...DEFAULT_LIMITS, maxStreams: 4 },
  playerHighWaterMark: 1 << 20,
  maxQueuedBytes: 1 << 24,
  windowAckSize: 2_500_000,
  maxPingsPerSecond: 50,
  minAckWindow: 4096,
  receivingReportMs: 250,
};

/** A real server connection runtime and the scripted client facing it. */
export class ServerRuntime {
  readonly clock = new SimulatedClock();
  readonly registry = new ScriptedRegistry();
  readonly socket: MemorySocket;
  readonly actor;
  /** What the server wrote, decoded (after the handshake). */
  readonly received: RtmpMessage[] = [];
  private readonly handshake = new HandshakeClient({ form: 'simple' });
  private c2: Uint8Array | undefined;
  private handshakeDone = false;
  private readonly decoder = new ChunkDecoder({ maxMessageSize: 0xffffff });
  private readonly encoder = new ChunkEncoder();
  private nextTransactionId = 2;
  /** The NetStream actors, run outside the connection's children map as in the server. */
  private readonly actors = new ServerActors();
  private readonly connectionId: number;

  /**
   * @param machines The serverConnection and serverStream machines to run: the originals unless
   *   given (the mutation suite gives a mutant). The connection's logic is composed by the
   *   server's own registry (ServerActors.connectionLogic), as RtmpServer composes it.
   */
  constructor(
    input: ServerConnectionInput,
    inspect?: (ev: InspectionEvent) => void,
    options: Partial<Omit<ServerConnectionOptions, 'now'>> = {},
    machines: Partial<Pick<ServerMachines, 'connection' | 'stream'>> = {},
  ) {
    this.socket = new MemorySocket((bytes) => this.onServerBytes(bytes));
    const socket = this.socket as unknown as Socket;
    const io = connectionIo(
      this.registry,
      { ...TEST_CONNECTION_OPTIONS, ...options, now: () => this.clock.now() },
      () => socket,
    );
    const machine = this.actors.connectionLogic({
      io,
      authorize: scriptedAuthorizer as never,
      machines,
    });
    this.connectionId = input.connectionId;
    this.actor = createActor(machine, { input, clock: this.clock, inspect });
    this.actor.start();
  }

  private onServerBytes(bytes: Uint8Array): void {
    let rest = bytes;
    if (!this.handshakeDone) {
      const p = this.handshake.push(bytes);
      if (p.kind !== 'completed') return;
      this.handshakeDone = true;
      this.c2 = p.send;
      rest = p.remaining;
    }
    this.decoder.pushTo(rest, (raw) => this.received.push(decodeMessage(raw)));
  }

  /** The client writes raw bytes. */
  write(bytes: Uint8Array): void {
    this.socket.emit('data', Buffer.from(bytes));
  }

  /** C0+C1 (the server answers S0+S1+S2). `version`: C0's version byte. */
  hello(version = 3): void {
    const c0c1 = Buffer.from(this.handshake.start());
    c0c1[0] = version;
    this.write(c0c1);
  }

  /** C2, the echo of S1 (after hello). */
  echo(): void {
    if (!this.c2) throw new Error('no S0+S1+S2 to echo');
    this.write(this.c2);
  }

  /** Messages, chunked by the client's encoder (chunk size 128). */
  send(...messages: RtmpMessage[]): void {
    this.write(this.encoder.encodeMany(messages.map(encodeMessage)));
  }

  /** connect; `capsEx`: the Enhanced RTMP CapsEx bits the client advertises (none: legacy). */
  connect(app: string, capsEx?: number): void {
    this.send(
      buildConnect({
        app,
        tcUrl: `rtmp://127.0.0.1/${app}`,
        flashVer: 'MODEL',
        ...(capsEx !== undefined ? { capsEx } : {}),
      } as Parameters<typeof buildConnect>[0]),
    );
  }

  /** createStream; returns its transaction id. */
  createStream(): number {
    const tid = this.nextTransactionId++;
    this.send(buildCommand('createStream', null, [], { transactionId: tid }));
    return tid;
  }

  publish(streamId: number, name: string): void {
    this.send(buildPublish(name, 'live', { streamId }));
  }

  play(streamId: number, name: string): void {
    this.send(buildPlay(name, {}, { streamId }));
  }

  closeStream(streamId: number): void {
    this.send(buildCommand('closeStream', null, [], { transactionId: 0, streamId }));
  }

  deleteStream(streamId: number): void {
    this.send(buildCommand('deleteStream', null, [streamId], { transactionId: 0 }));
  }

  /** The client hangs up. */
  hangUp(): void {
    this.socket.emit('end');
  }

  /** The serverStream actor of NetStream `streamId`, if any. */
  stream(streamId: number): AnyActorRef | undefined {
    return this.actors.streamActor(this.connectionId, streamId);
  }

  /** The pending authorizer of NetStream `streamId`. */
  authorizer(streamId: number): AnyActorRef | undefined {
    const s = this.stream(streamId);
    return (s?.getSnapshot().children as Record<string, AnyActorRef | undefined> | undefined)
      ?.authorize;
  }

  /**
   * The authorizer of NetStream `streamId` decides (or fails); `name`: it allows the request
   * under that name (nginx-rtmp's redirect), applied as the server applies its authorizer's.
   */
  authorize(streamId: number, decision: (AuthorizeActorOutput & { name?: string }) | Error): void {
    const a = this.authorizer(streamId);
    if (!a) throw new Error(`no authorizer pending on stream ${streamId}`);
    if (decision instanceof Error) {
      a.send({ type: 'AUTHORIZER.FAIL', error: decision } satisfies AuthorizerEvent);
      return;
    }
    const pending = this.registry.connection?.pendingRequest(streamId);
    if (pending) applyDecision(pending, decision);
    const output: AuthorizeActorOutput =
      decision.reason === undefined
        ? { allowed: decision.allowed }
        : { allowed: decision.allowed, reason: decision.reason };
    a.send({ type: 'AUTHORIZER.DECIDE', output } satisfies AuthorizerEvent);
  }

  /** The server's replies of `name` (commands), or of `type`. */
  commands(name?: string): Array<Extract<RtmpMessage, { type: 'Command' }>> {
    return this.received.filter(
      (m): m is Extract<RtmpMessage, { type: 'Command' }> =>
        m.type === 'Command' && (name === undefined || m.name === name),
    );
  }

  /** The status codes of onStatus replies on NetStream `streamId`, in order. */
  statusCodes(streamId: number): string[] {
    return this.commands('onStatus')
      .filter((m) => m.streamId === streamId)
      .map((m) => String((m.args[0] as { code?: unknown } | undefined)?.code));
  }

  stop(): void {
    if (this.actor.getSnapshot().status === 'active') this.actor.stop();
  }
}

export type { EventObject };
