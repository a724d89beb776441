import type { Socket } from 'node:net';
import { fromEvent, Subscription } from 'rxjs';
import { fromCallback } from 'xstate';
import type {
  HandshakeForm,
  HandshakeRole,
  TransportCommand,
  TransportErrorCode,
  TransportEvent,
  TransportTarget,
} from '../../machines/contract';
import { decodeRtmp, type InboundItem } from '../pipeline/decode';
import { encodeRtmp, type OutboundItem } from '../pipeline/encode';
import { AmfError, ChunkError, HandshakeError, MessageError } from '../protocol/errors';
import { HandshakeClient, HandshakeServer } from '../protocol/handshake';
import { resolveLimits, type RtmpLimits } from '../protocol/limits';
import { decodeMessage } from '../protocol/message';
import type { RtmpMessage } from '../protocol/message/types';
import { Subject } from 'rxjs';
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
  /** An already-connected socket (server role, or tests over an in-memory pair). */
  socket?: Socket;
}

/** What a transport shares with the rest of the session. */
export interface TransportDeps {
  router: MediaRouter;
  clock?: () => number;
  random?: (n: number) => Uint8Array;
  /** Counts every transport's bytes in and out (for progress and metrics). */
  onBytes?: (bytesIn: number, bytesOut: number) => void;
}

const DATA_FOR_MACHINES = new Set(['onStatus', 'onPlayStatus', 'onBWDone', 'onFCPublish', 'onFCUnpublish']);

function isControl(message: RtmpMessage): boolean {
  return message.type !== 'Audio' && message.type !== 'Video' && message.type !== 'Data';
}

function isKeyframe(payload: Uint8Array): boolean {
  // Classic and Enhanced RTMP both keep the frame type in bits 4-6 of the first byte.
  return payload.byteLength > 0 && ((payload[0] >> 4) & 0x07) === 1;
}

function protocolErrorCode(err: unknown): TransportErrorCode {
  if (err instanceof ChunkError) {
    return err.code === 'UNKNOWN_CHUNK_STREAM' || err.code === 'BAD_CSID' || err.code === 'LENGTH_MISMATCH'
      ? 'PROTOCOL'
      : 'LIMIT';
  }
  if (err instanceof AmfError) return err.code === 'TOO_DEEP' || err.code === 'STRING_TOO_LONG' || err.code === 'TOO_MANY_ENTRIES' ? 'LIMIT' : 'PROTOCOL';
  return 'PROTOCOL';
}

/**
 * The one place a NetConnection touches a socket: TCP/TLS, the handshake codec, the chunk
 * pipeline, acknowledgements and media routing. Implements `machines/contract.ts`.
 */
export function createTransportLogic(deps: TransportDeps) {
  const clock = deps.clock ?? Date.now;
  // The NetConnection passes its `transport` input through untyped (`unknown`): it is ours.
  return fromCallback<TransportCommand, unknown>(({ input: rawInput, sendBack, receive }) => {
    const input = rawInput as TransportInput;
    const limits = resolveLimits(input.limits);
    const tickMs = input.mediaTickMs ?? 250;
    const highWater = input.highWaterMark ?? 8 * 1024 * 1024;
    const lowWater = input.lowWaterMark ?? 1024 * 1024;
    let socket: Socket | undefined;
    let closedByUs = false;
    let finished = false;
    let ackWindow = 0;
    let nextAckAt = 0;
    let bytesIn = 0;
    let pausedForBacklog = false;
    const routes = new Map<number, string>();
    const writers = new Map<string, MediaWriter>();
    const lastTick = new Map<number, { at: number; key: boolean }>();
    const subs = new Subscription();
    const outbound = new Subject<OutboundItem>();
    const controlQueue: Uint8Array[] = [];
    const mediaQueue: Uint8Array[] = [];
    let pendingHandshakeStart: { role: HandshakeRole; form: HandshakeForm } | undefined;

    const send = (event: TransportEvent): void => {
      if (!finished) sendBack(event);
    };

    const fail = (code: TransportErrorCode, message: string): void => {
      send({ type: 'TRANSPORT.ERROR', code, message });
      finished = true;
      socket?.destroy();
    };

    const write = (bytes: Uint8Array, control: boolean): void => {
      if (!socket || socket.destroyed) return;
      if (socket.writableNeedDrain) {
        (control ? controlQueue : mediaQueue).push(bytes);
        return;
      }
      socket.write(bytes);
      deps.onBytes?.(0, bytes.byteLength);
    };

    const flushQueues = (): void => {
      while (socket && !socket.writableNeedDrain && (controlQueue.length || mediaQueue.length)) {
        const next = controlQueue.length ? controlQueue.shift()! : mediaQueue.shift()!;
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

    const deliverMedia = (message: MediaMessage): boolean => {
      const sink = sinkFor(message.streamId);
      if (!sink) return false;
      sink.next(message);
      const key = message.type === 'Video' && isKeyframe(message.payload);
      const now = clock();
      const last = lastTick.get(message.streamId);
      if (!last || now - last.at >= tickMs) {
        lastTick.set(message.streamId, { at: now, key: false });
        send({ type: 'MEDIA.TICK', streamId: message.streamId, keyframe: key || (last?.key ?? false), timestamp: message.timestamp });
      } else if (key) {
        last.key = true;
      }
      checkBacklog(sink);
      return true;
    };

    const onMessage = (message: RtmpMessage): void => {
      if (message.type === 'Aggregate') {
        for (const m of message.messages) onMessage(m);
        return;
      }
      if (message.type === 'Audio' || message.type === 'Video') {
        deliverMedia(message);
        return;
      }
      if (message.type === 'Data' && !DATA_FOR_MACHINES.has(message.name)) {
        if (deliverMedia(message)) return;
      }
      send({ type: 'RTMP.MESSAGE', message });
    };

    const onInbound = (item: InboundItem): void => {
      switch (item.kind) {
        case 'handshake':
          if (item.step === 'peerHello') {
            send({ type: 'HANDSHAKE.PEER_HELLO', version: item.version ?? 3, form: item.form ?? 'simple' });
          } else {
            send({ type: 'HANDSHAKE.PEER_ECHO' });
          }
          return;
        case 'reply':
          write(item.bytes, true);
          return;
        case 'bytes':
          bytesIn = item.total;
          if (ackWindow > 0 && bytesIn >= nextAckAt) {
            while (nextAckAt <= bytesIn) nextAckAt += ackWindow;
            send({ type: 'TRANSPORT.ACK_DUE', sequenceNumber: bytesIn >>> 0 });
          }
          return;
        case 'message':
          onMessage(decodeMessage(item.message, limits));
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
      subs.add(
        fromEvent<Buffer>(s, 'data')
          .pipe(decodeRtmp({ handshake, limits, reportBytes: true }))
          .subscribe({
            next: (item) => {
              try {
                onInbound(item);
              } catch (err) {
                onPipelineError(err);
              }
            },
            error: (err) => onPipelineError(err),
          }),
      );
      s.on('data', (chunk: Buffer) => deps.onBytes?.(chunk.byteLength, 0));
      if (role === 'client') write((handshake as HandshakeClient).start(), true);
      s.resume();
    };

    const onPipelineError = (err: unknown): void => {
      if (err instanceof HandshakeError && (err.code === 'BAD_VERSION' || err.code === 'BAD_DIGEST' || err.code === 'BAD_ECHO')) {
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

    const attach = (s: Socket): void => {
      socket = s;
      s.pause();
      s.on('drain', flushQueues);
      s.on('error', (err) => {
        const e = classifySocketError(err);
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
            attach(input.socket);
            send({ type: 'TRANSPORT.CONNECTED' });
            return;
          }
          connectSocket(input.target, { timeoutMs: input.connectTimeoutMs ?? 10_000 }).then(
            (s) => {
              if (finished || closedByUs) {
                s.destroy();
                return;
              }
              attach(s);
              send({ type: 'TRANSPORT.CONNECTED' });
            },
            (err: unknown) => {
              const e = classifySocketError(err);
              send({ type: 'TRANSPORT.ERROR', code: e.code, message: e.message });
            },
          );
          return;
        case 'TRANSPORT.HANDSHAKE_START':
          if (socket) startPipeline(command.role, command.form);
          else pendingHandshakeStart = { role: command.role, form: command.form };
          return;
        case 'TRANSPORT.SEND':
          sendItem({ kind: 'message', message: command.message }, isControl(command.message));
          return;
        case 'TRANSPORT.SET_CHUNK_SIZE':
          sendItem({ kind: 'setChunkSize', chunkSize: command.chunkSize }, true);
          return;
        case 'TRANSPORT.SET_ACK_WINDOW':
          ackWindow = command.windowSize;
          nextAckAt = bytesIn + ackWindow;
          return;
        case 'TRANSPORT.ROUTE_MEDIA': {
          routes.set(command.streamId, command.sinkKey);
          const streamId = command.streamId;
          const writer: MediaWriter = {
            write: (message) => {
              sendItem({ kind: 'message', message: { ...message, streamId, csid: undefined } as RtmpMessage }, false);
              return !!socket && !socket.writableNeedDrain && mediaQueue.length === 0;
            },
            queued: () => (socket ? socket.writableLength : 0) + mediaQueue.reduce((n, b) => n + b.byteLength, 0),
            drained: () =>
              new Promise<void>((resolve) => {
                if (!socket || socket.destroyed || (!socket.writableNeedDrain && mediaQueue.length === 0)) resolve();
                else socket.once('drain', () => resolve());
              }),
          };
          writers.set(command.sinkKey, writer);
          deps.router.attachWriter(command.sinkKey, writer);
          return;
        }
        case 'TRANSPORT.UNROUTE_MEDIA':
          if (routes.get(command.streamId) === command.sinkKey) routes.delete(command.streamId);
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
      for (const [key, w] of writers) deps.router.detachWriter(key, w);
      finished = true;
      closedByUs = true;
      subs.unsubscribe();
      outbound.complete();
      socket?.destroy();
    };
  });
}
