/**
 * A minimal protocol-level RTMP client for the fault tests, made only of our protocol core on a
 * plain node:net socket: HandshakeClient, then `connect` (buildConnect + encodeMessage +
 * ChunkEncoder), then every read into one ChunkDecoder + decodeMessage. On the first decoder
 * error it records the error and destroys the socket, as a real client must.
 */
import * as net from 'node:net';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { ChunkDecoder, ChunkEncoder } from '../../src/protocol/chunk';
import { HandshakeClient } from '../../src/protocol/handshake';
import type { RtmpLimits } from '../../src/protocol/limits';
import {
  buildConnect,
  decodeMessage,
  encodeMessage,
  type RtmpMessage,
} from '../../src/protocol/message';
import { seededBytes } from '../../src/testing/faultServers';

export interface ProbeOptions {
  limits?: Partial<RtmpLimits>;
  /** Send `connect` once the handshake completes (default true). */
  connect?: boolean;
  /** Called for every decoded message. */
  onMessage?: (msg: RtmpMessage, probe: Probe) => void;
  /** Checked after every read: when it returns true the probe closes the socket. */
  until?: (probe: Probe) => boolean;
  /** Hard stop: the probe closes the socket after this many ms (default 10 s). */
  timeoutMs?: number;
  /** Sample memory (default true; with a collector each sample costs two full collections). */
  measure?: boolean;
}

/** Message types the probe counts but does not keep (floods and big payloads). */
const COUNTED_ONLY: ReadonlySet<RtmpMessage['type']> = new Set<RtmpMessage['type']>([
  'Audio',
  'Video',
  'UserControl',
  'Unknown',
]);

export type ClosedBy = 'decodeError' | 'until' | 'timeout' | 'server';

export interface ProbeResult {
  /** The first error the decoders threw, if any. */
  error: unknown;
  closedBy: ClosedBy;
  /** Decoded messages except media, user control and unknown ones (those are only counted). */
  messages: RtmpMessage[];
  /** Count of every decoded message by type (User Control by event). */
  counts: Record<string, number>;
  bytesRead: number;
  reads: number;
  handshakeDone: boolean;
  /** Highest ChunkDecoder.bufferedBytes seen (after each read and at each message). */
  peakBuffered: number;
  /** ChunkDecoder.chunkStreams when the probe stopped. */
  chunkStreams: number;
  /**
   * Peak growth over the baseline taken at start (bytes). With a collector (GC_AVAILABLE) it is
   * sampled after a full collection every GC_EVERY_BYTES read and at the end, so it counts live
   * bytes only; without one, after every read, garbage included.
   */
  peakHeapGrowth: number;
  peakArrayBufferGrowth: number;
  elapsedMs: number;
}

/**
 * A full garbage collection, so memory figures are live bytes rather than collector lag:
 * global.gc when Node runs with --expose-gc, else the same function obtained at run time
 * (V8 flag + a fresh context); undefined if neither works, and the tests widen their margins.
 */
function findGc(): (() => void) | undefined {
  const own = (globalThis as { gc?: () => void }).gc;
  if (own) return own;
  try {
    v8.setFlagsFromString('--expose-gc');
    const fn: unknown = vm.runInNewContext('gc');
    return typeof fn === 'function' ? (fn as () => void) : undefined;
  } catch {
    return undefined;
  }
}
const gc = findGc();

/** Whether the probe measures live memory (a collector is callable). */
export const GC_AVAILABLE = gc !== undefined;
/** With a collector, the probe collects and samples each time this many more bytes are read. */
export const GC_EVERY_BYTES = 8 * 1024 * 1024;

function sampleMemory(): { heap: number; ab: number } {
  const m = process.memoryUsage();
  return { heap: m.heapUsed, ab: m.arrayBuffers };
}

/** One probe connection; `done` resolves when its socket has closed. */
export class Probe {
  readonly socket: net.Socket;
  readonly done: Promise<ProbeResult>;
  readonly decoder: ChunkDecoder;
  readonly encoder = new ChunkEncoder();
  private readonly result: ProbeResult;
  private closedBy: ClosedBy | undefined;
  private handshake: HandshakeClient | undefined;
  private readonly base: { heap: number; ab: number };
  private readonly started = Date.now();
  private sinceGc = 0;
  private readonly measure: boolean;

  constructor(
    port: number,
    private readonly opts: ProbeOptions = {},
  ) {
    this.decoder = new ChunkDecoder(opts.limits);
    this.measure = opts.measure ?? true;
    if (this.measure) {
      gc?.();
      gc?.();
    }
    this.base = sampleMemory();
    this.result = {
      error: undefined,
      closedBy: 'server',
      messages: [],
      counts: {},
      bytesRead: 0,
      reads: 0,
      handshakeDone: false,
      peakBuffered: 0,
      chunkStreams: 0,
      peakHeapGrowth: 0,
      peakArrayBufferGrowth: 0,
      elapsedMs: 0,
    };
    this.handshake = new HandshakeClient({ form: 'simple', random: seededBytes(42) });
    const socket = net.connect({ host: '127.0.0.1', port });
    this.socket = socket;
    socket.setNoDelay(true);
    const timer = setTimeout(() => this.stop('timeout'), opts.timeoutMs ?? 10_000);
    this.done = new Promise((resolve) => {
      socket.once('close', () => {
        clearTimeout(timer);
        this.result.closedBy = this.closedBy ?? 'server';
        this.result.chunkStreams = this.decoder.chunkStreams;
        this.result.elapsedMs = Date.now() - this.started;
        this.sample(); // what the probe and its decoder still hold at the end
        resolve(this.result);
      });
    });
    socket.on('error', () => undefined);
    socket.on('connect', () => socket.write(this.handshake?.start() ?? new Uint8Array(0)));
    socket.on('data', (d: Buffer) => this.onData(d));
  }

  /** Encodes and sends messages (ignored once the socket is gone). */
  send(...msgs: RtmpMessage[]): void {
    if (this.socket.destroyed) return;
    this.socket.write(this.encoder.encodeMany(msgs.map(encodeMessage)));
  }

  /** Closes the socket (the client's side of "then closes"). */
  stop(by: ClosedBy): void {
    this.closedBy ??= by;
    this.socket.destroy();
  }

  get bytesRead(): number {
    return this.result.bytesRead;
  }

  get counts(): Readonly<Record<string, number>> {
    return this.result.counts;
  }

  /** Records memory growth: after a full collection when one is available, so live bytes. */
  private sample(): void {
    if (!this.measure) return;
    if (gc) {
      // Twice: V8 sweeps dead ArrayBuffers after a collection, and the next one finishes that.
      gc();
      gc();
      this.sinceGc = 0;
    }
    const m = sampleMemory();
    const r = this.result;
    r.peakHeapGrowth = Math.max(r.peakHeapGrowth, m.heap - this.base.heap);
    r.peakArrayBufferGrowth = Math.max(r.peakArrayBufferGrowth, m.ab - this.base.ab);
  }

  private onData(d: Buffer): void {
    const r = this.result;
    r.bytesRead += d.length;
    r.reads++;
    try {
      let rest: Uint8Array = d;
      if (this.handshake) {
        const progress = this.handshake.push(d);
        const out: Uint8Array[] = [progress.send];
        if (progress.kind === 'completed') {
          this.handshake = undefined;
          r.handshakeDone = true;
          rest = progress.remaining;
          if (this.opts.connect ?? true) {
            const connect = buildConnect({
              app: 'live',
              flashVer: 'LNX 9,0,124,2',
              tcUrl: `rtmp://127.0.0.1:${this.socket.remotePort ?? 0}/live`,
            });
            out.push(this.encoder.encode(encodeMessage(connect)));
          }
        } else {
          rest = new Uint8Array(0);
        }
        const bytes = Buffer.concat(out);
        if (bytes.length > 0) this.socket.write(bytes);
      }
      if (rest.byteLength > 0) {
        this.decoder.pushTo(rest, (raw) => {
          if (this.decoder.bufferedBytes > r.peakBuffered)
            r.peakBuffered = this.decoder.bufferedBytes;
          const msg = decodeMessage(raw, this.opts.limits);
          const key = msg.type === 'UserControl' ? `UserControl.${msg.event}` : msg.type;
          r.counts[key] = (r.counts[key] ?? 0) + 1;
          if (!COUNTED_ONLY.has(msg.type)) {
            r.messages.push(msg);
          }
          this.opts.onMessage?.(msg, this);
        });
      }
    } catch (e) {
      r.error ??= e;
      this.stop('decodeError');
    }
    if (this.decoder.bufferedBytes > r.peakBuffered) r.peakBuffered = this.decoder.bufferedBytes;
    this.sinceGc += d.length;
    if (!gc || this.sinceGc >= GC_EVERY_BYTES) this.sample();
    if (!this.socket.destroyed && this.opts.until?.(this)) this.stop('until');
  }
}

/** Connects a probe and resolves with its result once the socket has closed. */
export function probe(port: number, opts?: ProbeOptions): Promise<ProbeResult> {
  return new Probe(port, opts).done;
}

/** Milliseconds to wait, as a promise. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const MiB = 1024 * 1024;

/** Formats a byte figure for the optional heap report (FAULT_HEAP_REPORT=1). */
export function reportFigures(name: string, r: ProbeResult): void {
  if (!process.env.FAULT_HEAP_REPORT) return;
  const f = (n: number): string => `${(n / MiB).toFixed(1)} MiB`;
  process.stderr.write(
    `[fault] ${name}: heap +${f(r.peakHeapGrowth)}, arrayBuffers +${f(r.peakArrayBufferGrowth)}, ` +
      `peakBuffered ${f(r.peakBuffered)}, read ${f(r.bytesRead)} in ${r.reads} reads, ${r.elapsedMs} ms\n`,
  );
}

/** Polls `cond` every 10 ms until it holds; throws after `timeoutMs`. */
export async function waitFor(cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(10);
  }
}
