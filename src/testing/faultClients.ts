/**
 * Misbehaving RTMP clients on loopback, for resilience tests of a server (the mirror of
 * faultServers.ts): each one connects to a server and then misbehaves in one named way, from
 * sending nothing to sending hostile bytes that the server must refuse with a typed error and
 * bounded memory, while its legitimate clients keep streaming.
 *
 * Every client speaks real bytes (our own handshake, chunk and message codecs), may bind its
 * sockets to another loopback address (`localAddress: '127.0.0.2'`) to play an attacker apart
 * from the victims, and records per connection what the server sent back (decoded) and whether
 * the server closed it. `close()` destroys every socket and stops every timer; every stream the
 * clients send is bounded in bytes and every paced loop in count.
 */
import * as net from 'node:net';
import { encodeAmf0Values } from '../protocol/amf';
import { ChunkDecoder, ChunkEncoder } from '../protocol/chunk';
import { HandshakeClient } from '../protocol/handshake';
import { buildCommand, buildConnect, decodeMessage, encodeMessage } from '../protocol/message';
import type { RtmpMessage } from '../protocol/message/types';
import { MessageTypeId } from '../protocol/types';
import { deepAmfBody, fmt0Header, seededBytes } from './faultServers';

/** The ways a fault client misbehaves. */
export type FaultClientBehaviour =
  /**
   * After connect: Set Chunk Size 1, then fmt-0 headers claiming 16 MiB − 1 bytes on many chunk
   * streams, one body byte each (each opens a message the server must buffer).
   */
  | 'oversizedLengths'
  /** After connect: Set Chunk Size 2^31 − 1, then video messages of 16 MiB − 1 in one chunk each, up to a cap. */
  | 'hugeChunkSize'
  /** After connect: Set Chunk Size 1, then 65,000 chunk streams, each with one byte of a 100-byte message. */
  | 'manyChunkStreams'
  /** Right after the handshake: a `connect` whose command object nests 100,000 levels. */
  | 'deepAmfConnect'
  /** After connect: a `createStream` whose argument nests 100,000 levels. */
  | 'deepAmfCreateStream'
  /** 1 MiB of seeded random bytes instead of C0+C1. */
  | 'randomBeforeHandshake'
  /** The handshake, then 1 MiB of seeded random bytes instead of chunks. */
  | 'randomAfterHandshake'
  /** C0+C1 at one byte a second (a handshake that never ends). */
  | 'trickleHandshake'
  /** Handshake and connect, then a command one byte a second (a message that never ends). */
  | 'trickleAfterConnect'
  /** `count` connections (default 1,100) that finish the handshake and `connect`, then send nothing. */
  | 'idleConnections'
  /** One connection: 1,000 createStream + publish, each of its own name. */
  | 'manyStreams'
  /** Handshake, connect, createStream, publish; then never a byte of media. */
  | 'silentPublisher'
  /** After connect: 100,000 ping requests in 100 batches. */
  | 'pingFlood'
  /** After connect: Window Acknowledgement Size 1, then 2 MiB of small audio messages. */
  | 'tinyAckWindow';

export const FAULT_CLIENT_BEHAVIOURS: readonly FaultClientBehaviour[] = [
  'oversizedLengths',
  'hugeChunkSize',
  'manyChunkStreams',
  'deepAmfConnect',
  'deepAmfCreateStream',
  'randomBeforeHandshake',
  'randomAfterHandshake',
  'trickleHandshake',
  'trickleAfterConnect',
  'idleConnections',
  'manyStreams',
  'silentPublisher',
  'pingFlood',
  'tinyAckWindow',
];

/** The figures each behaviour uses, exported so tests assert against the same numbers. */
export const FAULT_CLIENT_FIGURES = Object.freeze({
  /** Largest message length a chunk header can carry (2^24 − 1). */
  maxWireMessageLength: 0xffffff,
  /** oversizedLengths: how many chunk streams (csid 3 upwards) claim the largest length. */
  oversizedStreams: 100,
  /** hugeChunkSize: the Set Chunk Size value, and the bytes sent before stopping. */
  hugeChunkSize: 0x7fffffff,
  hugeBodyCapBytes: 64 * 1024 * 1024,
  /** manyChunkStreams: how many, from which csid, each message's claimed length. */
  manyChunkStreams: 65000,
  manyChunkStreamsFirstCsid: 64,
  manyChunkStreamsLength: 100,
  /** deepAmf*: nesting levels. */
  deepAmfLevels: 100000,
  /** random*: how many bytes. */
  randomBytes: 1024 * 1024,
  /** trickle*: one byte each this many ms, at most this many bytes. */
  trickleIntervalMs: 1000,
  trickleMaxBytes: 1537,
  /** idleConnections: how many connections by default. */
  idleConnections: 1100,
  /** manyStreams: createStream + publish pairs on one connection. */
  manyStreams: 1000,
  /** pingFlood: batches × batch size, one batch each interval. */
  pingBatches: 100,
  pingBatchSize: 1000,
  pingIntervalMs: 10,
  /** tinyAckWindow: the window, then this many bytes of 256-byte audio messages. */
  tinyAckWindow: 1,
  tinyAckBytes: 2 * 1024 * 1024,
});

export interface FaultClientOptions {
  port: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** The local address the sockets bind to (another 127.0.0.0/8 address plays another host). */
  localAddress?: string;
  /** The application for `connect`. Default `live`. */
  app?: string;
  /** idleConnections: how many connections. Default 1,100. */
  count?: number;
  /** oversizedLengths: how many chunk streams claim the largest length. Default 100. */
  streams?: number;
  /** Seed of the random bytes. Default 1. */
  seed?: number;
}

/** One connection of a fault client, as the client saw it. */
export interface FaultClientConnection {
  readonly index: number;
  /** Messages the server sent after the handshake, decoded, in order. */
  received(): RtmpMessage[];
  bytesSent(): number;
  handshakeCompleted(): boolean;
  /** The server answered `connect` with `_result`. */
  connected(): boolean;
  /** The socket closed, and not because this client closed it. */
  closedByServer(): boolean;
  closed(): boolean;
  whenClosed(): Promise<void>;
}

export interface FaultClient {
  readonly behaviour: FaultClientBehaviour;
  /** Every connection opened so far. */
  connections(): FaultClientConnection[];
  /** Resolves when the script has done all it does (the sockets may stay open). */
  readonly scripted: Promise<void>;
  /** Connections the server has closed so far. */
  closedByServer(): number;
  /** Destroys every socket and stops every timer. Idempotent. */
  close(): Promise<void>;
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

/**
 * 'connect' (or `name`), transaction id `tid`, then `levels` nested values: even levels objects
 * `{ a: … }`, odd levels strict arrays `[ … ]`, null innermost. Built without recursion.
 */
export function deepCommandBody(name: string, tid: number, levels: number): Buffer {
  return deepAmfBody(levels, encodeAmf0Values([name, tid]));
}

class Connection implements FaultClientConnection {
  readonly socket: net.Socket;
  private readonly messages: RtmpMessage[] = [];
  private readonly decoder = new ChunkDecoder({ maxMessageSize: 0xffffff });
  readonly encoder = new ChunkEncoder();
  private handshake = new HandshakeClient({ form: 'simple' });
  private handshakeDone = false;
  private connectDone = false;
  private out = 0;
  private isClosed = false;
  private weClosed = false;
  private readonly closedPromise: Promise<void>;
  private waiters: Array<() => void> = [];

  constructor(
    readonly index: number,
    options: FaultClientOptions,
  ) {
    this.socket = net.connect({
      port: options.port,
      host: options.host ?? '127.0.0.1',
      localAddress: options.localAddress,
    });
    this.socket.setNoDelay(true);
    this.socket.on('error', () => undefined); // a reset by the server is expected here
    this.closedPromise = new Promise((resolve) => {
      this.socket.once('close', () => {
        this.isClosed = true;
        this.wake();
        resolve();
      });
    });
    this.socket.on('data', (d: Buffer) => this.onData(d));
  }

  received(): RtmpMessage[] {
    return this.messages.slice();
  }
  bytesSent(): number {
    return this.out;
  }
  handshakeCompleted(): boolean {
    return this.handshakeDone;
  }
  connected(): boolean {
    return this.connectDone;
  }
  closedByServer(): boolean {
    return this.isClosed && !this.weClosed;
  }
  closed(): boolean {
    return this.isClosed;
  }
  whenClosed(): Promise<void> {
    return this.closedPromise;
  }

  destroy(): void {
    if (!this.isClosed) this.weClosed = true;
    this.socket.destroy();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Resolves when `test()` holds or the socket closes. */
  until(test: () => boolean): Promise<boolean> {
    return new Promise((resolve) => {
      const check = (): void => {
        if (test()) resolve(true);
        else if (this.isClosed) resolve(false);
        else this.waiters.push(check);
      };
      check();
    });
  }

  private onData(d: Buffer): void {
    let rest: Uint8Array = d;
    if (!this.handshakeDone) {
      let p;
      try {
        p = this.handshake.push(d);
      } catch {
        this.destroy();
        return;
      }
      if (p.send.byteLength > 0) this.write(p.send);
      if (p.kind !== 'completed') {
        this.wake();
        return;
      }
      this.handshakeDone = true;
      rest = p.remaining;
    }
    try {
      this.decoder.pushTo(rest, (raw) => {
        const m = decodeMessage(raw);
        this.messages.push(m);
        if (
          m.type === 'Command' &&
          m.name === '_result' &&
          m.transactionId === 1 &&
          !this.connectDone
        ) {
          this.connectDone = true;
        }
      });
    } catch {
      // what the server sends is not what we test; stop decoding
    }
    this.wake();
  }

  /** Writes bytes; resolves once the socket takes more (or closed). */
  async write(bytes: Uint8Array): Promise<void> {
    if (this.isClosed || this.socket.destroyed) return;
    this.out += bytes.byteLength;
    if (!this.socket.write(bytes)) await drainOrClose(this.socket);
  }

  send(messages: RtmpMessage[]): Promise<void> {
    return this.write(this.encoder.encodeMany(messages.map(encodeMessage)));
  }

  async startHandshake(): Promise<boolean> {
    await this.write(this.handshake.start());
    return this.until(() => this.handshakeDone);
  }

  async connect(app: string): Promise<boolean> {
    await this.send([buildConnect({ app, tcUrl: `rtmp://127.0.0.1/${app}`, flashVer: 'FAULT' })]);
    return this.until(() => this.connectDone);
  }

  /** Sends createStream (transaction `tid`) and waits for its `_result`: the stream id. */
  async createStream(tid: number): Promise<number | undefined> {
    await this.send([buildCommand('createStream', null, [], { transactionId: tid })]);
    let id: number | undefined;
    await this.until(() => {
      const r = this.messages.find(
        (m) => m.type === 'Command' && m.name === '_result' && m.transactionId === tid,
      );
      if (r && r.type === 'Command' && typeof r.args[0] === 'number') id = r.args[0];
      return r !== undefined;
    });
    return id;
  }

  get isOpen(): boolean {
    return !this.isClosed && !this.socket.destroyed;
  }
}

/** Waits `ms` unless the client closes first. */
function pause(ms: number, timers: Set<NodeJS.Timeout>): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      timers.delete(t);
      resolve();
    }, ms);
    timers.add(t);
  });
}

/** Pieces of about 64 KiB of `total` bytes, built lazily. */
function* pieces(total: number, make: (n: number) => Uint8Array): Generator<Uint8Array> {
  const PIECE = 64 * 1024;
  for (let off = 0; off < total; off += PIECE) yield make(Math.min(PIECE, total - off));
}

/** A raw message with a body of `body`, framed by our chunk encoder on `csid`. */
function raw(c: Connection, csid: number, typeId: number, streamId: number, body: Uint8Array) {
  return c.encoder.encode({ csid, timestamp: 0, typeId, streamId, payload: body });
}

/** Starts a fault client against the server at `options.port`. */
export function startFaultClient(
  behaviour: FaultClientBehaviour,
  options: FaultClientOptions,
): FaultClient {
  if (!FAULT_CLIENT_BEHAVIOURS.includes(behaviour)) {
    throw new RangeError(`unknown fault client behaviour ${String(behaviour)}`);
  }
  const F = FAULT_CLIENT_FIGURES;
  const app = options.app ?? 'live';
  const conns: Connection[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let closing = false;
  const open = (): Connection => {
    const c = new Connection(conns.length, options);
    conns.push(c);
    return c;
  };
  const ready = async (c: Connection): Promise<boolean> =>
    (await c.startHandshake()) && (await c.connect(app));

  const script = async (): Promise<void> => {
    switch (behaviour) {
      case 'oversizedLengths': {
        const c = open();
        if (!(await ready(c))) return;
        // Chunk size 1: each header's one body byte is a whole chunk, so the next header follows.
        await c.send([{ type: 'SetChunkSize', chunkSize: 1, timestamp: 0, streamId: 0 }]);
        for (let i = 0; i < (options.streams ?? F.oversizedStreams) && c.isOpen; i++) {
          const csid = 3 + i;
          const header = fmt0Header(csid, 0, F.maxWireMessageLength, MessageTypeId.Video, 1);
          await c.write(Buffer.concat([header, Buffer.from([0x17])]));
        }
        return;
      }
      case 'hugeChunkSize': {
        const c = open();
        if (!(await ready(c))) return;
        await c.send([
          { type: 'SetChunkSize', chunkSize: F.hugeChunkSize, timestamp: 0, streamId: 0 },
        ]);
        const zeros = Buffer.alloc(64 * 1024);
        let sent = 0;
        while (sent < F.hugeBodyCapBytes && c.isOpen) {
          // One message of 16 MiB − 1 in one chunk: its fmt-0 header, then its body in pieces.
          await c.write(fmt0Header(6, 0, F.maxWireMessageLength, MessageTypeId.Video, 1));
          for (const p of pieces(F.maxWireMessageLength, (n) => zeros.subarray(0, n))) {
            if (!c.isOpen || sent >= F.hugeBodyCapBytes) return;
            sent += p.byteLength;
            await c.write(p);
          }
        }
        return;
      }
      case 'manyChunkStreams': {
        const c = open();
        if (!(await ready(c))) return;
        await c.send([{ type: 'SetChunkSize', chunkSize: 1, timestamp: 0, streamId: 0 }]);
        let parts: Buffer[] = [];
        let size = 0;
        for (let i = 0; i < F.manyChunkStreams && c.isOpen; i++) {
          const h = fmt0Header(
            F.manyChunkStreamsFirstCsid + i,
            0,
            F.manyChunkStreamsLength,
            MessageTypeId.Audio,
            1,
          );
          parts.push(h, Buffer.from([0xaf]));
          size += h.length + 1;
          if (size >= 64 * 1024) {
            await c.write(Buffer.concat(parts, size));
            parts = [];
            size = 0;
          }
        }
        if (size > 0) await c.write(Buffer.concat(parts, size));
        return;
      }
      case 'deepAmfConnect': {
        const c = open();
        if (!(await c.startHandshake())) return;
        await c.write(
          raw(c, 3, MessageTypeId.CommandAmf0, 0, deepCommandBody('connect', 1, F.deepAmfLevels)),
        );
        return;
      }
      case 'deepAmfCreateStream': {
        const c = open();
        if (!(await ready(c))) return;
        await c.write(
          raw(
            c,
            3,
            MessageTypeId.CommandAmf0,
            0,
            deepCommandBody('createStream', 2, F.deepAmfLevels),
          ),
        );
        return;
      }
      case 'randomBeforeHandshake':
      case 'randomAfterHandshake': {
        const c = open();
        if (behaviour === 'randomAfterHandshake' && !(await c.startHandshake())) return;
        const rnd = seededBytes(options.seed ?? 1);
        for (const p of pieces(F.randomBytes, rnd)) {
          if (!c.isOpen) return;
          await c.write(p);
        }
        return;
      }
      case 'trickleHandshake':
      case 'trickleAfterConnect': {
        const c = open();
        let bytes: Uint8Array;
        if (behaviour === 'trickleHandshake') {
          bytes = new HandshakeClient({ form: 'simple' }).start();
        } else {
          if (!(await ready(c))) return;
          bytes = c.encoder.encode(
            encodeMessage(
              buildCommand('createStream', null, ['x'.repeat(2000)], { transactionId: 2 }),
            ),
          );
        }
        for (let i = 0; i < Math.min(bytes.byteLength, F.trickleMaxBytes) && c.isOpen; i++) {
          if (closing) return;
          await c.write(bytes.subarray(i, i + 1));
          await pause(F.trickleIntervalMs, timers);
        }
        return;
      }
      case 'idleConnections': {
        const count = options.count ?? F.idleConnections;
        const all: Array<Promise<boolean>> = [];
        for (let i = 0; i < count && !closing; i++) {
          const c = open();
          all.push(ready(c));
          // Open them in batches, as a script would, without waiting on the server.
          if (i % 100 === 99) await pause(1, timers);
        }
        await Promise.all(all);
        return;
      }
      case 'manyStreams': {
        const c = open();
        if (!(await ready(c))) return;
        for (let i = 0; i < F.manyStreams && c.isOpen; i++) {
          const tid = 2 + i;
          await c.send([buildCommand('createStream', null, [], { transactionId: tid })]);
        }
        // The stream ids the server gave, in order; then a publish on each.
        // Every createStream answered (_result, or _error once the server's limit is reached).
        await c.until(
          () =>
            c
              .received()
              .filter(
                (m) =>
                  m.type === 'Command' &&
                  (m.name === '_result' || m.name === '_error') &&
                  m.transactionId >= 2,
              ).length >= F.manyStreams,
        );
        const ids = c
          .received()
          .filter(
            (m): m is Extract<RtmpMessage, { type: 'Command' }> =>
              m.type === 'Command' && m.name === '_result' && m.transactionId >= 2,
          )
          .map((m) => m.args[0])
          .filter((v): v is number => typeof v === 'number');
        for (let i = 0; i < ids.length && c.isOpen; i++) {
          await c.send([
            {
              ...buildCommand('publish', null, [`flood-${i}`, 'live'], { transactionId: 0 }),
              streamId: ids[i],
            },
          ]);
        }
        return;
      }
      case 'silentPublisher': {
        const c = open();
        if (!(await ready(c))) return;
        const id = await c.createStream(2);
        if (id === undefined) return;
        await c.send([
          {
            ...buildCommand('publish', null, [`silent-${c.index}`, 'live'], { transactionId: 0 }),
            streamId: id,
          },
        ]);
        return;
      }
      case 'pingFlood': {
        const c = open();
        if (!(await ready(c))) return;
        let time = 0;
        for (let b = 0; b < F.pingBatches && c.isOpen && !closing; b++) {
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
          await c.send(batch);
          await pause(F.pingIntervalMs, timers);
        }
        return;
      }
      case 'tinyAckWindow': {
        const c = open();
        if (!(await ready(c))) return;
        await c.send([
          { type: 'WindowAckSize', windowSize: F.tinyAckWindow, timestamp: 0, streamId: 0 },
        ]);
        const audio = Buffer.alloc(256, 0xaf);
        let sent = 0;
        let ts = 0;
        while (sent < F.tinyAckBytes && c.isOpen && !closing) {
          const batch: RtmpMessage[] = [];
          for (let i = 0; i < 64; i++) {
            batch.push({ type: 'Audio', payload: audio, timestamp: ts, streamId: 1 });
            ts += 23;
          }
          sent += 64 * 256;
          await c.send(batch);
        }
        return;
      }
    }
  };

  const scripted = script().catch(() => undefined);
  return {
    behaviour,
    connections: () => conns.slice(),
    scripted,
    closedByServer: () => conns.filter((c) => c.closedByServer()).length,
    close: async () => {
      closing = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const c of conns) c.destroy();
      await Promise.all(conns.map((c) => c.whenClosed()));
    },
  };
}
