/**
 * Misbehaving RTMP peers on loopback, for resilience tests: each one accepts TCP on 127.0.0.1
 * (port chosen by the OS) and then fails in one named way, from never answering to sending
 * hostile bytes that a decoder must refuse with a typed error and bounded memory.
 *
 * Every server records, per connection, what the client sent (decoded with our own chunk and
 * message decoders) so a test can assert how the client reacted. `close()` destroys every socket
 * and stops every timer; every stream the servers send is bounded in bytes and every paced loop
 * in count.
 */
import * as net from 'node:net';
import { encodeAmf0Values } from '../protocol/amf';
import { ChunkDecoder, ChunkEncoder } from '../protocol/chunk';
import { HandshakeServer } from '../protocol/handshake';
import {
  StatusCode,
  buildError,
  buildResult,
  decodeMessage,
  encodeMessage,
  readConnect,
  type RtmpMessage,
} from '../protocol/message';
import { MessageTypeId } from '../protocol/types';

/** The ways a fault server misbehaves. */
export type FaultBehaviour =
  /** Accepts TCP and never writes a byte: the client's handshake timeout must fire. */
  | 'acceptAndSilence'
  /** Completes a real handshake, then never answers `connect`. */
  | 'handshakeThenSilence'
  /**
   * Sends S0+S1+S2 one byte every 100 ms (~10 B/s, 5 minutes in all): a timeout must cover the
   * whole phase, not each read. Should a client wait it out, it then answers nothing.
   */
  | 'tricklingHandshake'
  /** Completes the handshake (waits for C2), then closes the socket. */
  | 'closeAfterHandshake'
  /** Answers `connect` with `_error` and NetConnection.Connect.Rejected; keeps the socket open. */
  | 'rejectConnect'
  /**
   * A fmt-0 header claiming the largest length the 24-bit field holds (16 MiB − 1; 16 MiB + 1
   * cannot be written) and the first 4 KiB of its body, then silence.
   */
  | 'oversizedMessage'
  /**
   * Set Chunk Size 0x7FFFFFFF, then a video message header claiming 16 MiB − 1 and a body that
   * never ends: the message repeated with fmt-3 headers until ~64 MiB are sent, then silence.
   */
  | 'hugeChunkSizeThenEndless'
  /**
   * Set Chunk Size 1, then 65,000 chunk streams, each opened by a fmt-0 header of a 100-byte
   * message and its first (1-byte) chunk, so none completes.
   */
  | 'manyChunkStreams'
  /** An `onStatus` command whose argument nests 100,000 objects / strict arrays. */
  | 'deepAmf'
  /** Window Acknowledgement Size 1, then 200 ordinary audio messages in 20 paced batches. */
  | 'tinyAckWindow'
  /** 100,000 User Control PingRequests (time = 0 … 99,999) in 100 batches 10 ms apart. */
  | 'pingFlood'
  /**
   * An `onMetaData` data message as long as the wire allows (16 MiB − 1) whose ECMA array holds
   * a long string claiming 50,000,000 bytes (a 50 MB message cannot be framed: see below).
   */
  | 'hugeMetaData'
  /** 1 MiB of seeded pseudo-random bytes where chunks should be. */
  | 'randomBytes';

export const FAULT_BEHAVIOURS: readonly FaultBehaviour[] = [
  'acceptAndSilence',
  'handshakeThenSilence',
  'tricklingHandshake',
  'closeAfterHandshake',
  'rejectConnect',
  'oversizedMessage',
  'hugeChunkSizeThenEndless',
  'manyChunkStreams',
  'deepAmf',
  'tinyAckWindow',
  'pingFlood',
  'hugeMetaData',
  'randomBytes',
];

/** The hostile behaviours: they send their payload after the handshake (and connect, if asked). */
const HOSTILE: ReadonlySet<FaultBehaviour> = new Set<FaultBehaviour>([
  'oversizedMessage',
  'hugeChunkSizeThenEndless',
  'manyChunkStreams',
  'deepAmf',
  'tinyAckWindow',
  'pingFlood',
  'hugeMetaData',
  'randomBytes',
]);

/**
 * The figures each behaviour uses, exported so tests assert against the same numbers.
 * The RTMP message length field is 24 bits: no message can claim more than 16 MiB − 1 bytes.
 */
export const FAULT_FIGURES = Object.freeze({
  /** Largest message length a chunk header can carry (2^24 − 1). */
  maxWireMessageLength: 0xffffff,
  /** tricklingHandshake: one byte each this many ms. */
  trickleIntervalMs: 100,
  /** oversizedMessage: body bytes sent after the header before going silent. */
  oversizedBodyBytes: 4096,
  /** hugeChunkSizeThenEndless: the Set Chunk Size value. */
  hugeChunkSize: 0x7fffffff,
  /** hugeChunkSizeThenEndless: stop writing once this many bytes of the endless body are sent. */
  endlessCapBytes: 64 * 1024 * 1024,
  /** manyChunkStreams: how many chunk streams, the first csid, and each message's claimed length. */
  manyChunkStreams: 65000,
  manyChunkStreamsFirstCsid: 64,
  manyChunkStreamsLength: 100,
  /** deepAmf: nesting levels (objects and strict arrays alternate, outermost an object). */
  deepAmfLevels: 100000,
  /** tinyAckWindow: the window, then `tinyAckBatches` × `tinyAckBatchSize` audio messages. */
  tinyAckWindow: 1,
  tinyAckBatches: 20,
  tinyAckBatchSize: 10,
  tinyAckAudioBytes: 256,
  tinyAckIntervalMs: 25,
  /** pingFlood: batches × batch size PingRequests, one batch each interval. */
  pingBatches: 100,
  pingBatchSize: 1000,
  pingIntervalMs: 10,
  /** hugeMetaData: the length its long string claims. */
  hugeMetaDataClaimedString: 50000000,
  /** randomBytes: how many random bytes. */
  randomBytes: 1024 * 1024,
  /** The chunk size the server announces with its connect answer. */
  serverChunkSize: 4096,
  /** The window in the normal connect answer (nginx-rtmp's default). */
  normalWindow: 5000000,
});

export interface FaultServerOptions {
  /** Seed of the PRNG behind `randomBytes` and the handshake's random bytes (default 1). */
  seed?: number;
  /**
   * Hostile behaviours: wait for `connect` and answer it normally (Window Ack Size, Set Peer
   * Bandwidth, Set Chunk Size, `_result` NetConnection.Connect.Success) before misbehaving.
   * Default true, except for `randomBytes` (false: the random bytes follow the handshake).
   */
  afterConnect?: boolean;
  /** Called with the server side of each accepted socket. */
  onClient?: (socket: net.Socket) => void;
}

/** One accepted connection, as the server saw it. */
export interface FaultConnection {
  /** 0 for the first accepted connection, and so on. */
  readonly index: number;
  /** The server side of the socket. */
  readonly socket: net.Socket;
  /** Messages the client sent after the handshake, decoded, in order. */
  received(): RtmpMessage[];
  /** Bytes read from the client, handshake included. */
  bytesReceived(): number;
  /** Bytes written to the client (handed to the socket). */
  bytesSent(): number;
  /** Whether the client completed the handshake (C2 received). */
  handshakeCompleted(): boolean;
  /**
   * The error our decoders raised on the client's bytes (decoding then stops), or a failure of
   * the behaviour itself (the socket is then destroyed); undefined when all went as planned.
   */
  decodeError(): unknown;
  /** Whether the socket has closed. */
  closed(): boolean;
  /** Resolves when the socket has closed. */
  whenClosed(): Promise<void>;
}

export interface FaultServer {
  readonly behaviour: FaultBehaviour;
  readonly port: number;
  /** `rtmp://127.0.0.1:<port>/<app>/<name>`. */
  url(app?: string, name?: string): string;
  /** Connections accepted so far (open or closed). */
  connections(): number;
  /** Every connection accepted so far, in order. */
  clients(): FaultConnection[];
  /** What the clients sent, decoded: every connection's messages, connection after connection. */
  received(): RtmpMessage[];
  /** Destroys every socket, stops every timer and closes the listener. Idempotent. */
  close(): Promise<void>;
}

/** A small seeded PRNG (mulberry32, all four bytes of each output): deterministic for a seed. */
export function seededBytes(seed: number): (n: number) => Uint8Array {
  let a = seed >>> 0;
  return (n: number): Uint8Array => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 4) {
      a = (a + 0x6d2b79f5) | 0;
      let t = Math.imul(a ^ (a >>> 15), a | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      t ^= t >>> 14;
      out[i] = t;
      if (i + 1 < n) out[i + 1] = t >>> 8;
      if (i + 2 < n) out[i + 2] = t >>> 16;
      if (i + 3 < n) out[i + 3] = t >>> 24;
    }
    return out;
  };
}

/** Basic header (1–3 bytes) for `fmt` and `csid`. */
function basicHeader(fmt: number, csid: number): Buffer {
  if (csid < 64) return Buffer.from([(fmt << 6) | csid]);
  if (csid < 320) return Buffer.from([fmt << 6, csid - 64]);
  const v = csid - 64;
  return Buffer.from([(fmt << 6) | 1, v & 0xff, v >>> 8]);
}

/** A fmt-0 chunk header (timestamp below 0xFFFFFF, so no extended timestamp). */
export function fmt0Header(
  csid: number,
  timestamp: number,
  length: number,
  typeId: number,
  streamId: number,
): Buffer {
  const bh = basicHeader(0, csid);
  const mh = Buffer.alloc(11);
  mh.writeUIntBE(timestamp, 0, 3);
  mh.writeUIntBE(length, 3, 3);
  mh[6] = typeId;
  mh.writeUInt32LE(streamId, 7);
  return Buffer.concat([bh, mh]);
}

const PIECE = 64 * 1024;

/**
 * The wire bytes of one message body split into chunks of `chunkSize`, the first chunk's header
 * being `header` and each later one a fmt-3 basic header. `body(offset, n)` returns body bytes.
 * Yields pieces of about 64 KiB, built lazily so the whole message never sits in memory.
 */
function* chunkedBody(
  header: Buffer,
  csid: number,
  length: number,
  chunkSize: number,
  body: (offset: number, n: number) => Uint8Array,
): Generator<Uint8Array> {
  const fmt3 = basicHeader(3, csid);
  let parts: Uint8Array[] = [header];
  let size = header.length;
  let off = 0;
  let inChunk = 0;
  while (off < length) {
    if (inChunk === chunkSize) {
      parts.push(fmt3);
      size += fmt3.length;
      inChunk = 0;
    }
    const n = Math.min(length - off, chunkSize - inChunk, PIECE);
    const part = body(off, n);
    off += n;
    inChunk += n;
    if (n >= PIECE / 2) {
      // A large body part goes out as it is (no copy, no garbage): flush what precedes it.
      if (size > 0) yield parts.length === 1 ? parts[0] : Buffer.concat(parts, size);
      parts = [];
      size = 0;
      yield part;
      continue;
    }
    parts.push(part);
    size += n;
    if (size >= PIECE) {
      yield Buffer.concat(parts, size);
      parts = [];
      size = 0;
    }
  }
  if (size > 0) yield parts.length === 1 ? parts[0] : Buffer.concat(parts, size);
}

/** Resolves on 'drain' or 'close', whichever comes first. */
function drainOrClose(socket: net.Socket): Promise<void> {
  if (socket.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}

function delay(ms: number, timers: Set<NodeJS.Timeout>): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      timers.delete(t);
      resolve();
    }, ms);
    timers.add(t);
  });
}

class Connection implements FaultConnection {
  private readonly messages: RtmpMessage[] = [];
  private readonly decoder = new ChunkDecoder();
  private readonly encoder = new ChunkEncoder();
  private handshake: HandshakeServer | undefined;
  private inBytes = 0;
  private outBytes = 0;
  private handshakeDone = false;
  private error: unknown;
  private isClosed = false;
  private readonly closedPromise: Promise<void>;
  private connectAnswered = false;
  private hostileStarted = false;

  constructor(
    readonly index: number,
    readonly socket: net.Socket,
    private readonly behaviour: FaultBehaviour,
    private readonly afterConnect: boolean,
    private readonly seed: number,
    private readonly timers: Set<NodeJS.Timeout>,
  ) {
    this.closedPromise = new Promise((resolve) => {
      socket.once('close', () => {
        this.isClosed = true;
        resolve();
      });
    });
    socket.on('error', () => undefined); // a client reset is expected here
    socket.setNoDelay(true);
    if (behaviour !== 'acceptAndSilence') {
      const random = seededBytes(seed ^ 0x9e3779b9);
      this.handshake = new HandshakeServer({ random });
    }
    socket.on('data', (d: Buffer) => this.onData(d));
  }

  received(): RtmpMessage[] {
    return this.messages.slice();
  }
  bytesReceived(): number {
    return this.inBytes;
  }
  bytesSent(): number {
    return this.outBytes;
  }
  handshakeCompleted(): boolean {
    return this.handshakeDone;
  }
  decodeError(): unknown {
    return this.error;
  }
  closed(): boolean {
    return this.isClosed;
  }
  whenClosed(): Promise<void> {
    return this.closedPromise;
  }

  /** Writes bytes unless the socket is gone; returns false when the caller should wait. */
  private write(bytes: Uint8Array): boolean {
    if (this.isClosed || this.socket.destroyed) return false;
    this.outBytes += bytes.byteLength;
    return this.socket.write(bytes);
  }

  private send(msgs: RtmpMessage[]): boolean {
    return this.write(this.encoder.encodeMany(msgs.map(encodeMessage)));
  }

  /** Writes every piece with backpressure, stopping at `cap` bytes or when the socket closes. */
  private async pump(pieces: Iterable<Uint8Array>, cap = Number.POSITIVE_INFINITY): Promise<void> {
    let sent = 0;
    for (const piece of pieces) {
      if (this.isClosed || this.socket.destroyed || sent >= cap) return;
      const p = sent + piece.byteLength > cap ? piece.subarray(0, cap - sent) : piece;
      sent += p.byteLength;
      if (!this.write(p)) await drainOrClose(this.socket);
    }
  }

  private onData(d: Buffer): void {
    this.inBytes += d.length;
    let rest: Uint8Array = d;
    if (this.handshake) {
      let progress;
      try {
        progress = this.handshake.push(d);
      } catch (e) {
        this.error = e;
        this.socket.destroy();
        return;
      }
      if (progress.send.byteLength > 0) this.onHandshakeReply(progress.send);
      if (progress.kind !== 'completed') return;
      this.handshake = undefined;
      this.handshakeDone = true;
      rest = progress.remaining;
      this.onHandshakeCompleted();
    } else if (!this.handshakeDone) {
      return; // acceptAndSilence: bytes are counted, nothing else
    }
    if (this.error !== undefined || rest.byteLength === 0) return;
    try {
      this.decoder.pushTo(rest, (raw) => {
        const msg = decodeMessage(raw);
        this.messages.push(msg);
        this.onMessage(msg);
      });
    } catch (e) {
      this.error = e;
    }
  }

  private onHandshakeReply(bytes: Uint8Array): void {
    if (this.behaviour !== 'tricklingHandshake') {
      this.write(bytes);
      return;
    }
    const copy = Buffer.from(bytes);
    let i = 0;
    const tick = (): void => {
      if (this.isClosed || i >= copy.length) return;
      this.write(copy.subarray(i, i + 1));
      i++;
      const t = setTimeout(() => {
        this.timers.delete(t);
        tick();
      }, FAULT_FIGURES.trickleIntervalMs);
      this.timers.add(t);
    };
    tick();
  }

  private onHandshakeCompleted(): void {
    if (this.behaviour === 'closeAfterHandshake') {
      this.socket.end();
      return;
    }
    if (HOSTILE.has(this.behaviour) && !this.afterConnect) this.startHostile();
  }

  private onMessage(msg: RtmpMessage): void {
    const connect = readConnect(msg);
    if (!connect || this.connectAnswered) return;
    this.connectAnswered = true;
    const tid = connect.transactionId;
    if (this.behaviour === 'rejectConnect') {
      this.send([
        buildError(tid, null, {
          level: 'error',
          code: StatusCode.ConnectRejected,
          description: 'Connection rejected by the fault server.',
        }),
      ]);
      return;
    }
    if (!HOSTILE.has(this.behaviour) || !this.afterConnect) return; // handshakeThenSilence
    this.sendNormalConnectAnswer(tid);
    this.startHostile();
  }

  private sendNormalConnectAnswer(tid: number): void {
    const window = FAULT_FIGURES.normalWindow;
    this.send([
      { type: 'WindowAckSize', windowSize: window, timestamp: 0, streamId: 0 },
      { type: 'SetPeerBandwidth', windowSize: window, limitType: 2, timestamp: 0, streamId: 0 },
      {
        type: 'SetChunkSize',
        chunkSize: FAULT_FIGURES.serverChunkSize,
        timestamp: 0,
        streamId: 0,
      },
    ]);
    this.encoder.setChunkSize(FAULT_FIGURES.serverChunkSize);
    this.send([
      buildResult(
        tid,
        { fmsVer: 'FMS/3,0,1,123', capabilities: 31 },
        {
          level: 'status',
          code: StatusCode.ConnectSuccess,
          description: 'Connection succeeded.',
          objectEncoding: 0,
        },
      ),
    ]);
  }

  private startHostile(): void {
    if (this.hostileStarted) return;
    this.hostileStarted = true;
    // Errors here can only be ours (a destroyed socket is checked before each write).
    void this.hostile().catch((e: unknown) => {
      this.error ??= e;
      this.socket.destroy();
    });
  }

  private chunkSize(): number {
    return this.encoder.chunkSize;
  }

  private async hostile(): Promise<void> {
    const F = FAULT_FIGURES;
    switch (this.behaviour) {
      case 'oversizedMessage': {
        const length = F.maxWireMessageLength;
        const header = fmt0Header(6, 0, length, MessageTypeId.Video, 1);
        const zeros = Buffer.alloc(F.oversizedBodyBytes);
        await this.pump(
          chunkedBody(header, 6, F.oversizedBodyBytes, this.chunkSize(), (_o, n) =>
            zeros.subarray(0, n),
          ),
        );
        return; // then silence: the message never completes
      }
      case 'hugeChunkSizeThenEndless': {
        this.send([
          { type: 'SetChunkSize', chunkSize: F.hugeChunkSize, timestamp: 0, streamId: 0 },
        ]);
        this.encoder.setChunkSize(F.hugeChunkSize);
        await this.pump(endless(F.endlessCapBytes), F.endlessCapBytes);
        return;
      }
      case 'manyChunkStreams': {
        // Chunk size 1, so each chunk carries the one payload byte and the next header follows.
        this.send([{ type: 'SetChunkSize', chunkSize: 1, timestamp: 0, streamId: 0 }]);
        this.encoder.setChunkSize(1);
        await this.pump(manyChunkStreams());
        return;
      }
      case 'deepAmf': {
        const body = deepAmfBody(F.deepAmfLevels);
        // csid 7: raw framing on csid 3 would bypass the encoder's state for it.
        const header = fmt0Header(7, 0, body.length, MessageTypeId.CommandAmf0, 0);
        await this.pump(
          chunkedBody(header, 7, body.length, this.chunkSize(), (o, n) => body.subarray(o, o + n)),
        );
        return;
      }
      case 'tinyAckWindow': {
        this.send([
          { type: 'WindowAckSize', windowSize: F.tinyAckWindow, timestamp: 0, streamId: 0 },
        ]);
        const audio = Buffer.alloc(F.tinyAckAudioBytes, 0xaf);
        let ts = 0;
        for (let b = 0; b < F.tinyAckBatches && !this.isClosed; b++) {
          const batch: RtmpMessage[] = [];
          for (let i = 0; i < F.tinyAckBatchSize; i++) {
            batch.push({ type: 'Audio', payload: audio, timestamp: ts, streamId: 1 });
            ts += 23;
          }
          if (!this.send(batch)) await drainOrClose(this.socket);
          await delay(F.tinyAckIntervalMs, this.timers);
        }
        return;
      }
      case 'pingFlood': {
        let time = 0;
        for (let b = 0; b < F.pingBatches && !this.isClosed; b++) {
          const batch: RtmpMessage[] = [];
          for (let i = 0; i < F.pingBatchSize; i++) {
            batch.push({
              type: 'UserControl',
              event: 'PingRequest',
              time: time++,
              timestamp: 0,
              streamId: 0,
            });
          }
          if (!this.send(batch)) await drainOrClose(this.socket);
          await delay(F.pingIntervalMs, this.timers);
        }
        return;
      }
      case 'hugeMetaData': {
        const prefix = hugeMetaDataPrefix(F.hugeMetaDataClaimedString);
        const length = F.maxWireMessageLength;
        const header = fmt0Header(5, 0, length, MessageTypeId.DataAmf0, 1);
        const zeros = Buffer.alloc(PIECE);
        const body = (o: number, n: number): Uint8Array => {
          if (o >= prefix.length) return zeros.subarray(0, n);
          const out = Buffer.alloc(n);
          prefix.copy(out, 0, o, Math.min(prefix.length, o + n));
          return out;
        };
        await this.pump(chunkedBody(header, 5, length, this.chunkSize(), body));
        return;
      }
      case 'randomBytes': {
        const rnd = seededBytes(this.seed);
        const total = F.randomBytes;
        const pieces = function* (): Generator<Uint8Array> {
          for (let off = 0; off < total; off += PIECE) yield rnd(Math.min(PIECE, total - off));
        };
        await this.pump(pieces());
        return;
      }
      default:
        return;
    }
  }
}

/**
 * hugeChunkSizeThenEndless: a 16 MiB − 1 video message in one chunk (chunk size 0x7FFFFFFF), then
 * the same message again with a fmt-3 header, and again: a body that never ends, up to `cap`.
 */
function* endless(cap: number): Generator<Uint8Array> {
  const length = FAULT_FIGURES.maxWireMessageLength;
  const zeros = Buffer.alloc(PIECE);
  const csid = 6;
  let sent = 0;
  let first = true;
  while (sent < cap) {
    const header = first
      ? fmt0Header(csid, 0, length, MessageTypeId.Video, 1)
      : basicHeader(3, csid);
    first = false;
    for (const piece of chunkedBody(header, csid, length, FAULT_FIGURES.hugeChunkSize, (_o, n) =>
      zeros.subarray(0, n),
    )) {
      if (sent >= cap) return;
      sent += piece.length;
      yield piece;
    }
  }
}

/** manyChunkStreams: fmt-0 header (100-byte message) + 1 payload byte on each of 65,000 csids. */
function* manyChunkStreams(): Generator<Buffer> {
  const F = FAULT_FIGURES;
  let parts: Buffer[] = [];
  let size = 0;
  for (let i = 0; i < F.manyChunkStreams; i++) {
    const csid = F.manyChunkStreamsFirstCsid + i;
    const h = fmt0Header(csid, 0, F.manyChunkStreamsLength, MessageTypeId.Audio, 1);
    const chunk = Buffer.concat([h, Buffer.from([0xaf])]);
    parts.push(chunk);
    size += chunk.length;
    if (size >= PIECE) {
      yield Buffer.concat(parts, size);
      parts = [];
      size = 0;
    }
  }
  if (size > 0) yield Buffer.concat(parts, size);
}

/**
 * deepAmf: 'onStatus', 0, null, then `levels` nested containers: even levels objects
 * `{ a: … }`, odd levels strict arrays `[ … ]`, null innermost. Built without recursion.
 */
export function deepAmfBody(
  levels: number,
  // 'onStatus', transaction id 0, null command object: encoded by our own AMF0 writer.
  head: Buffer = encodeAmf0Values(['onStatus', 0, null]),
): Buffer {
  const objOpen = Buffer.from([0x03, 0x00, 0x01, 0x61]); // object, key 'a'
  const objClose = Buffer.from([0x00, 0x00, 0x09]); // empty key + object end
  const arrOpen = Buffer.from([0x0a, 0x00, 0x00, 0x00, 0x01]); // strict array of 1
  let objects = 0;
  for (let i = 0; i < levels; i++) if (i % 2 === 0) objects++;
  const size =
    head.length +
    objects * (objOpen.length + objClose.length) +
    (levels - objects) * arrOpen.length +
    1;
  const out = Buffer.alloc(size);
  let p = head.copy(out, 0);
  for (let i = 0; i < levels; i++) p += (i % 2 === 0 ? objOpen : arrOpen).copy(out, p);
  out[p++] = 0x05; // null innermost
  for (let i = levels - 1; i >= 0; i--) if (i % 2 === 0) p += objClose.copy(out, p);
  return out;
}

/** hugeMetaData: 'onMetaData', ECMA array { blob: long string claiming `claimed` bytes } … */
function hugeMetaDataPrefix(claimed: number): Buffer {
  const b = Buffer.alloc(32);
  let p = 0;
  b[p++] = 0x02; // string
  p = b.writeUInt16BE(10, p);
  p += b.write('onMetaData', p, 'latin1');
  b[p++] = 0x08; // ECMA array
  p = b.writeUInt32BE(1, p);
  p = b.writeUInt16BE(4, p);
  p += b.write('blob', p, 'latin1');
  b[p++] = 0x0c; // long string
  p = b.writeUInt32BE(claimed, p);
  return b.subarray(0, p);
}

/** Starts a fault server on 127.0.0.1 with an OS-chosen port. */
export function startFaultServer(
  behaviour: FaultBehaviour,
  opts: FaultServerOptions = {},
): Promise<FaultServer> {
  if (!FAULT_BEHAVIOURS.includes(behaviour)) {
    return Promise.reject(new RangeError(`unknown fault behaviour ${String(behaviour)}`));
  }
  const seed = opts.seed ?? 1;
  const afterConnect = opts.afterConnect ?? behaviour !== 'randomBytes';
  const conns: Connection[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let closing: Promise<void> | undefined;
  const server = net.createServer((socket) => {
    if (closing) {
      socket.destroy();
      return;
    }
    const conn = new Connection(conns.length, socket, behaviour, afterConnect, seed, timers);
    conns.push(conn);
    opts.onClient?.(socket);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      const port = (server.address() as net.AddressInfo).port;
      resolve({
        behaviour,
        port,
        url: (app = 'live', name = 'x') => `rtmp://127.0.0.1:${port}/${app}/${name}`,
        connections: () => conns.length,
        clients: () => conns.slice(),
        received: () => conns.flatMap((c) => c.received()),
        close: () => {
          closing ??= new Promise<void>((done) => {
            for (const t of timers) clearTimeout(t);
            timers.clear();
            for (const c of conns) c.socket.destroy();
            server.close(() => done());
          });
          return closing;
        },
      });
    });
  });
}
