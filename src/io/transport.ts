import type { Socket } from 'node:net';
import { Subject, Subscription } from '../rx';
import { fromCallback } from 'xstate';
import type {
  HandshakeForm,
  HandshakeRole,
  TransportCommand,
  TransportErrorCode,
  TransportEvent,
  TransportTarget,
} from '../../machines/contract';
import { RtmpInboundDecoder, type InboundItem } from '../pipeline/decode';
import { encodeRtmp, type OutboundItem } from '../pipeline/encode';
import { ControlDuties, UNBOUNDED_DUTIES } from '../protocol/controlDuties';
import { AmfError, ChunkError, HandshakeError, MessageError } from '../protocol/errors';
import { HandshakeClient, HandshakeServer } from '../protocol/handshake';
import { resolveLimits, type RtmpLimits } from '../protocol/limits';
import { decodeMessage } from '../protocol/message';
import type { RtmpMessage } from '../protocol/message/types';
import { MessageTypeId } from '../protocol/types';
import { TransportError } from './errors';
import { classifySocketError, connectSocket } from './socket';
import type { MediaMessage, MediaRouter, MediaWriter, SubjectSink } from './media';

/** Options of one transport (one socket). */
export interface TransportInput {
  target: TransportTarget;
  connectTimeoutMs?: number;
  limits?: Partial<RtmpLimits>;
  /** Our outgoing chunk size, announced right after the handshake (default 4096). */
  chunkSize?: number;
  /** Least time between two MEDIA.TICK events for one stream. */
  mediaTickMs?: number;
  /** Bytes queued by media consumers above which the socket pauses. */
  highWaterMark?: number;
  /** ... and below which it resumes. */
  lowWaterMark?: number;
  /**
   * What a backed-up consumer does to the socket: 'pause' it (default; nothing is lost, the
   * server buffers or paces), or for live play 'dropToKeyframe': keep reading, drop non-key video
   * until the next keyframe once the backlog passes the high-water mark, and count the drops.
   */
  backpressure?: 'pause' | 'dropToKeyframe';
  /** An already-connected socket (server role, or tests over an in-memory pair). */
  socket?: Socket;
  /**
   * Read batching for live watching (default 0: off, every read as soon as it arrives). After
   * a read that carried audio or video, the socket rests this many milliseconds before it is
   * read again, so that the messages a server writes one by one (nginx-rtmp: one write per
   * message, ~77 a second for a 1 Mbit/s stream) arrive in one read: fewer system calls, fewer
   * callbacks, the same bytes. Media arrives up to this much later; reads that carry no media
   * (handshake, commands) never rest. One timer serves every socket resting the same time.
   */
  readBatchMs?: number;
}

/** What a transport shares with the rest of the session. */
export interface TransportDeps {
  router: MediaRouter;
  clock?: () => number;
  random?: (n: number) => Uint8Array;
  /** Counts every transport's bytes in and out (for progress and metrics). */
  onBytes?: (bytesIn: number, bytesOut: number) => void;
  /**
   * Every socket error as a TransportError (code, errno, host and port), with the id of the
   * actor that owns the transport (the NetConnection, `connection-<n>`): the machines only see
   * its code and message, the session keeps the error itself as a failed stream's `cause`.
   */
  onError?: (error: TransportError, ownerId: string | undefined) => void;
}

/**
 * Every plain-TCP transport of the process reads into this one buffer (allocated on first use):
 * JavaScript runs one read callback at a time and the pipeline copies whatever it keeps before
 * the callback returns, so one buffer serves any number of sockets. 1 MiB: a fast VOD download
 * drains up to that much per read (fewer, larger reads), and a thousand live sockets cost
 * nothing more. rtmps and sockets handed in (`input.socket`) use 'data' events instead.
 */
const SHARED_READ_BUFFER_SIZE = 1 << 20;
let sharedReadBuffer: Uint8Array | undefined;
function readBuffer(): Uint8Array {
  sharedReadBuffer ??= new Uint8Array(SHARED_READ_BUFFER_SIZE);
  return sharedReadBuffer;
}

/**
 * Sockets resting between batched reads (`readBatchMs`), by resting time: one timer per
 * distinct time resumes all of them, whatever the number of sockets.
 */
const restingGroups = new Map<number, { resume: Array<() => void>; timer: NodeJS.Timeout }>();
function restThenResume(ms: number, resume: () => void): void {
  let group = restingGroups.get(ms);
  if (!group) {
    const created = {
      resume: [] as Array<() => void>,
      timer: setTimeout(() => {
        restingGroups.delete(ms);
        for (const f of created.resume) f();
      }, ms),
    };
    restingGroups.set(ms, created);
    group = created;
  }
  group.resume.push(resume);
}

const DATA_FOR_MACHINES = new Set([
  'onStatus',
  'onPlayStatus',
  'onBWDone',
  'onFCPublish',
  'onFCUnpublish',
]);

function isControl(message: RtmpMessage): boolean {
  return message.type !== 'Audio' && message.type !== 'Video' && message.type !== 'Data';
}

/** A video sequence header (AVC/HEVC config, or Enhanced RTMP SequenceStart): never dropped. */
function isVideoConfig(payload: Uint8Array): boolean {
  if (payload.byteLength < 2) return false;
  return payload[0] & 0x80 ? (payload[0] & 0x0f) === 0 : payload[1] === 0;
}

function isKeyframe(payload: Uint8Array): boolean {
  // Classic and Enhanced RTMP both keep the frame type in bits 4-6 of the first byte.
  return payload.byteLength > 0 && ((payload[0] >> 4) & 0x07) === 1;
}

function protocolErrorCode(err: unknown): TransportErrorCode {
  if (err instanceof ChunkError) {
    return err.code === 'UNKNOWN_CHUNK_STREAM' ||
      err.code === 'BAD_CSID' ||
      err.code === 'LENGTH_MISMATCH'
      ? 'PROTOCOL'
      : 'LIMIT';
  }
  if (err instanceof AmfError)
    return err.code === 'TOO_DEEP' ||
      err.code === 'STRING_TOO_LONG' ||
      err.code === 'TOO_MANY_ENTRIES'
      ? 'LIMIT'
      : 'PROTOCOL';
  return 'PROTOCOL';
}

/**
 * The one place a NetConnection touches a socket: TCP/TLS, the handshake codec, the chunk
 * pipeline, acknowledgements and media routing. Implements `machines/contract.ts`.
 */
export function createTransportLogic(deps: TransportDeps) {
  const clock = deps.clock ?? Date.now;
  // The NetConnection passes its `transport` input through untyped (`unknown`): it is ours.
  return fromCallback<TransportCommand, unknown>(({ input: rawInput, sendBack, receive, self }) => {
    const input = rawInput as TransportInput;
    const ownerId = (self as { _parent?: { id?: string } })._parent?.id;
    const reportError = (e: TransportError): void => deps.onError?.(e, ownerId);
    const limits = resolveLimits(input.limits);
    const tickMs = input.mediaTickMs ?? 250;
    const highWater = input.highWaterMark ?? 8 * 1024 * 1024;
    const lowWater = Math.min(input.lowWaterMark ?? 1024 * 1024, highWater / 2);
    let socket: Socket | undefined;
    let closedByUs = false;
    let finished = false;
    const duties = new ControlDuties(UNBOUNDED_DUTIES, clock());
    let pausedForBacklog = false;
    const routes = new Map<number, string>();
    const writers = new Map<string, MediaWriter>();
    const ticks = new Map<
      number,
      {
        at: number;
        pending: { timestamp: number; keyframe: boolean } | undefined;
        timer: NodeJS.Timeout | undefined;
      }
    >();
    const subs = new Subscription();
    const outbound = new Subject<OutboundItem>();
    const controlQueue: Uint8Array[] = [];
    const mediaQueue: Uint8Array[] = [];
    let mediaQueuedBytes = 0;
    let pendingHandshakeStart: { role: HandshakeRole; form: HandshakeForm } | undefined;
    let role: HandshakeRole = 'client';
    /**
     * The inbound pipeline (handshake, chunks, messages), called straight from the socket
     * callback once it runs; before that reads wait in `early` (copied). After it failed, or
     * once the transport is torn down, reads are ignored.
     */
    let inbound: RtmpInboundDecoder | undefined;
    let inboundStopped = false;
    const early: Uint8Array[] = [];
    /** Whether reads arrive as views of the shared read buffer (see `readBuffer`). */
    let readsReused = false;
    const feed = (bytes: Uint8Array): void => {
      if (inboundStopped || !inbound) return;
      try {
        inbound.push(bytes);
      } catch (err) {
        inboundStopped = true;
        onPipelineError(err);
      }
    };
    const readBatchMs = Math.max(0, input.readBatchMs ?? 0);
    /** Audio or video was delivered during the current read (`readBatchMs`). */
    let readCarriedMedia = false;
    /** The socket rests between batched reads. */
    let resting = false;
    const resumeAfterRest = (): void => {
      resting = false;
      if (!finished && !pausedForBacklog && socket && !socket.destroyed) socket.resume();
    };
    const onRead = (bytes: Uint8Array): void => {
      deps.onBytes?.(bytes.byteLength, 0);
      if (inbound) feed(bytes);
      else early.push(readsReused ? bytes.slice() : bytes);
      if (readCarriedMedia) {
        readCarriedMedia = false;
        if (!resting && !pausedForBacklog && !finished && socket && !socket.destroyed) {
          resting = true;
          socket.pause();
          restThenResume(readBatchMs, resumeAfterRest);
        }
      }
    };

    const send = (event: TransportEvent): void => {
      if (!finished) sendBack(event);
    };

    const fail = (code: TransportErrorCode, message: string): void => {
      if (!finished) reportError(new TransportError(code, message));
      send({ type: 'TRANSPORT.ERROR', code, message });
      finished = true;
      socket?.destroy();
    };

    const write = (bytes: Uint8Array, control: boolean): void => {
      if (!socket || socket.destroyed) return;
      if (socket.writableNeedDrain || (!control && mediaQueue.length > 0)) {
        if (control) controlQueue.push(bytes);
        else {
          mediaQueue.push(bytes);
          mediaQueuedBytes += bytes.byteLength;
        }
        return;
      }
      socket.write(bytes);
      deps.onBytes?.(0, bytes.byteLength);
    };

    const flushQueues = (): void => {
      while (socket && !socket.writableNeedDrain && (controlQueue.length || mediaQueue.length)) {
        let next: Uint8Array;
        if (controlQueue.length) next = controlQueue.shift()!;
        else {
          next = mediaQueue.shift()!;
          mediaQueuedBytes -= next.byteLength;
        }
        socket.write(next);
        deps.onBytes?.(0, next.byteLength);
      }
    };

    let writingControl = true;
    subs.add(
      outbound.pipe(encodeRtmp(128)).subscribe({
        next: (bytes) => write(bytes, writingControl),
        error: (err) => fail('PROTOCOL', `could not encode a message: ${(err as Error).message}`),
      }),
    );
    const sendItem = (item: OutboundItem, control: boolean): void => {
      writingControl = control;
      outbound.next(item);
    };

    const sinkFor = (streamId: number): SubjectSink | undefined => {
      let key = routes.get(streamId);
      if (key === undefined && routes.size === 1) key = routes.values().next().value;
      return key === undefined ? undefined : deps.router.get(key);
    };

    const checkBacklog = (sink: SubjectSink): void => {
      if (!pausedForBacklog && sink.backlog() > highWater && socket) {
        pausedForBacklog = true;
        socket.pause();
        const off = sink.onDrain(() => {
          if (sink.backlog() <= lowWater) {
            off();
            pausedForBacklog = false;
            socket?.resume();
          }
        });
      }
    };

    /**
     * MEDIA.TICK, at most every `tickMs` per stream: the first media message of a quiet stream
     * ticks at once; later ones within the window are summed up by one trailing tick at its end,
     * so the machines' last tick is never older than the last media message (stall timers count
     * from real silence, not from up to `tickMs` before it).
     */
    const tick = (streamId: number, timestamp: number, keyframe: boolean): void => {
      const now = clock();
      const state = ticks.get(streamId);
      if (!state) {
        ticks.set(streamId, { at: now, pending: undefined, timer: undefined });
        send({ type: 'MEDIA.TICK', streamId, keyframe, timestamp });
        return;
      }
      if (state.timer === undefined && now - state.at >= tickMs) {
        state.at = now;
        send({ type: 'MEDIA.TICK', streamId, keyframe, timestamp });
        return;
      }
      state.pending = { timestamp, keyframe: keyframe || (state.pending?.keyframe ?? false) };
      if (state.timer === undefined) {
        state.timer = setTimeout(() => flushTick(streamId), Math.max(0, tickMs - (now - state.at)));
      }
    };

    const flushTick = (streamId: number): void => {
      const state = ticks.get(streamId);
      if (!state) return;
      state.timer = undefined;
      const pending = state.pending;
      state.pending = undefined;
      if (!pending) return;
      state.at = clock();
      send({
        type: 'MEDIA.TICK',
        streamId,
        keyframe: pending.keyframe,
        timestamp: pending.timestamp,
      });
    };

    /** Audio and video of a stream nobody takes as owned (`media$`) are lent by the decoder. */
    const lend = (typeId: number, streamId: number): boolean =>
      (typeId === MessageTypeId.Audio || typeId === MessageTypeId.Video) &&
      sinkFor(streamId)?.canLend() === true;

    const deliverMedia = (message: MediaMessage, lent = false): boolean => {
      const sink = sinkFor(message.streamId);
      if (!sink) return false;
      if (dropPolicy && message.type === 'Video' && shouldDrop(sink, message)) {
        sink.dropped++;
        return true;
      }
      if (lent) sink.lend(message);
      else sink.next(message);
      if (readBatchMs > 0 && message.type !== 'Data') readCarriedMedia = true;
      // Only audio and video are media flowing: |RtmpSampleAccess or onMetaData alone (what
      // nginx-rtmp sends a play of a name nobody publishes) must not make a play `flowing`.
      if (message.type !== 'Data') {
        tick(
          message.streamId,
          message.timestamp,
          message.type === 'Video' && isKeyframe(message.payload),
        );
      }
      if (!dropPolicy) checkBacklog(sink);
      return true;
    };

    const dropPolicy = input.backpressure === 'dropToKeyframe';
    /** Live policy: from the high-water mark on, non-key video waits for the next keyframe. */
    const shouldDrop = (
      sink: SubjectSink,
      message: Extract<MediaMessage, { type: 'Video' }>,
    ): boolean => {
      const key = isKeyframe(message.payload) || isVideoConfig(message.payload);
      if (!sink.dropping) {
        if (key || sink.backlog() <= highWater) return false;
        sink.dropping = true;
        return true;
      }
      if (key && sink.backlog() <= lowWater) {
        sink.dropping = false;
        return false;
      }
      return true;
    };

    const onMessage = (message: RtmpMessage, lent = false): void => {
      if (message.type === 'Aggregate') {
        for (const m of message.messages) onMessage(m);
        return;
      }
      if (message.type === 'Audio' || message.type === 'Video') {
        deliverMedia(message, lent);
        return;
      }
      if (message.type === 'Data' && !DATA_FOR_MACHINES.has(message.name)) {
        if (deliverMedia(message)) return;
      }
      send({ type: 'RTMP.MESSAGE', message });
      const ended = role === 'client' ? deletedByPeer(message) : undefined;
      if (ended !== undefined) {
        send({
          type: 'RTMP.MESSAGE',
          message: {
            type: 'UserControl',
            event: 'StreamEOF',
            streamId: ended,
            timestamp: 0,
          } as RtmpMessage,
        });
      }
    };

    /**
     * FFmpeg's `-listen` server ends a play the way a publisher ends a publish: FCUnpublish and
     * `deleteStream(0)`, then it closes the socket. To a client, a server's deleteStream for a
     * stream we play means its end: the stream id it names (0 = the only stream we have).
     */
    const deletedByPeer = (message: RtmpMessage): number | undefined => {
      if (message.type !== 'Command' || message.name !== 'deleteStream') return undefined;
      const named = typeof message.args[0] === 'number' ? message.args[0] : 0;
      if (routes.has(named)) return named;
      if (routes.size === 1) return routes.keys().next().value;
      return undefined;
    };

    const onInbound = (item: InboundItem): void => {
      switch (item.kind) {
        case 'handshake':
          if (item.step === 'peerHello') {
            send({
              type: 'HANDSHAKE.PEER_HELLO',
              version: item.version ?? 3,
              form: item.form ?? 'simple',
            });
          } else {
            send({ type: 'HANDSHAKE.PEER_ECHO' });
          }
          return;
        case 'reply':
          write(item.bytes, true);
          return;
        case 'bytes': {
          const due = duties.bytesReceived(item.total);
          if (due !== undefined) send({ type: 'TRANSPORT.ACK_DUE', sequenceNumber: due });
          return;
        }
        case 'message':
          onMessage(decodeMessage(item.message, limits), item.message.lent === true);
          return;
      }
    };

    const startPipeline = (role: HandshakeRole, form: HandshakeForm): void => {
      if (!socket) return;
      const handshake =
        role === 'client'
          ? new HandshakeClient({ form, clock, random: deps.random })
          : new HandshakeServer({ clock, random: deps.random });
      const s = socket;
      inbound = new RtmpInboundDecoder(
        (item) => {
          try {
            onInbound(item);
          } catch (err) {
            onPipelineError(err);
          }
        },
        { handshake, limits, reportBytes: true, reusedInput: readsReused, lend },
      );
      if (role === 'client') write((handshake as HandshakeClient).start(), true);
      for (const bytes of early.splice(0)) feed(bytes);
      s.resume();
    };

    const onPipelineError = (err: unknown): void => {
      if (
        err instanceof HandshakeError &&
        (err.code === 'BAD_VERSION' || err.code === 'BAD_DIGEST' || err.code === 'BAD_ECHO')
      ) {
        send({ type: 'HANDSHAKE.FAILED', code: err.code, message: err.message });
        finished = true;
        socket?.destroy();
        return;
      }
      if (err instanceof ChunkError || err instanceof AmfError || err instanceof MessageError) {
        fail(protocolErrorCode(err), `${err.name} ${err.code}: ${err.message}`);
        return;
      }
      fail('PROTOCOL', (err as Error)?.message ?? String(err));
    };

    /** `viaReadBuffer`: the socket was opened with `readInto` (reads arrive through `onRead`). */
    const attach = (s: Socket, viaReadBuffer: boolean): void => {
      socket = s;
      s.pause();
      if (!viaReadBuffer) s.on('data', onRead);
      s.on('drain', flushQueues);
      s.on('error', (err) => {
        const e = classifySocketError(err);
        if (!closedByUs && !finished) reportError(e);
        if (!closedByUs) send({ type: 'TRANSPORT.ERROR', code: e.code, message: e.message });
      });
      s.on('close', () => {
        send({ type: 'TRANSPORT.CLOSED', byPeer: !closedByUs });
        finished = true;
      });
      if (pendingHandshakeStart) {
        startPipeline(pendingHandshakeStart.role, pendingHandshakeStart.form);
        pendingHandshakeStart = undefined;
      }
    };

    receive((command) => {
      if (finished) return;
      switch (command.type) {
        case 'TRANSPORT.OPEN':
          if (input.socket) {
            attach(input.socket, false);
            send({ type: 'TRANSPORT.CONNECTED' });
            return;
          }
          // Plain TCP reads into the shared buffer; rtmps reads its 'data' events.
          readsReused = input.target.protocol !== 'rtmps';
          connectSocket(input.target, {
            timeoutMs: input.connectTimeoutMs ?? 10_000,
            ...(readsReused ? { readInto: { buffer: readBuffer(), onData: onRead } } : {}),
          }).then(
            (s) => {
              if (finished || closedByUs) {
                s.destroy();
                return;
              }
              attach(s, readsReused);
              send({ type: 'TRANSPORT.CONNECTED' });
            },
            (err: unknown) => {
              const e = classifySocketError(err);
              if (!finished) reportError(e);
              send({ type: 'TRANSPORT.ERROR', code: e.code, message: e.message });
            },
          );
          return;
        case 'TRANSPORT.HANDSHAKE_START':
          role = command.role;
          if (socket) startPipeline(command.role, command.form);
          else pendingHandshakeStart = { role: command.role, form: command.form };
          return;
        case 'TRANSPORT.SEND':
          sendItem({ kind: 'message', message: command.message }, isControl(command.message));
          return;
        case 'TRANSPORT.SET_CHUNK_SIZE':
          // Never ahead of media already encoded with the old size.
          sendItem({ kind: 'setChunkSize', chunkSize: command.chunkSize }, mediaQueue.length === 0);
          return;
        case 'TRANSPORT.SET_ACK_WINDOW':
          duties.setAckWindow(command.windowSize);
          return;
        case 'TRANSPORT.ROUTE_MEDIA': {
          routes.set(command.streamId, command.sinkKey);
          const streamId = command.streamId;
          const writer: MediaWriter = {
            write: (message) => {
              sendItem(
                {
                  kind: 'message',
                  message: { ...message, streamId, csid: undefined } as RtmpMessage,
                },
                false,
              );
              return !!socket && !socket.writableNeedDrain && mediaQueue.length === 0;
            },
            queued: () => (socket ? socket.writableLength : 0) + mediaQueuedBytes,
            drained: () =>
              new Promise<void>((resolve) => {
                // Our own queues refill the socket on 'drain': wait until both are empty.
                const check = (): void => {
                  const s = socket;
                  if (!s || s.destroyed || finished) return resolve();
                  if (!s.writableNeedDrain && mediaQueue.length === 0 && controlQueue.length === 0)
                    return resolve();
                  const again = (): void => {
                    s.off('drain', again);
                    s.off('close', again);
                    setImmediate(check);
                  };
                  s.on('drain', again);
                  s.on('close', again);
                };
                check();
              }),
          };
          writers.set(command.sinkKey, writer);
          deps.router.attachWriter(command.sinkKey, writer);
          return;
        }
        case 'TRANSPORT.UNROUTE_MEDIA':
          if (routes.get(command.streamId) === command.sinkKey) {
            routes.delete(command.streamId);
            clearTimeout(ticks.get(command.streamId)?.timer);
            ticks.delete(command.streamId);
          }
          deps.router.detachWriter(command.sinkKey, writers.get(command.sinkKey));
          writers.delete(command.sinkKey);
          return;
        case 'TRANSPORT.CLOSE':
          closedByUs = true;
          if (!socket || socket.destroyed) {
            send({ type: 'TRANSPORT.CLOSED', byPeer: false });
            finished = true;
            return;
          }
          flushQueues();
          socket.end();
          setTimeout(() => socket?.destroy(), 2000).unref();
          return;
      }
    });

    return () => {
      for (const state of ticks.values()) clearTimeout(state.timer);
      ticks.clear();
      for (const [key, w] of writers) deps.router.detachWriter(key, w);
      finished = true;
      closedByUs = true;
      subs.unsubscribe();
      outbound.complete();
      inboundStopped = true;
      socket?.destroy();
    };
  });
}
