import { Observable, type OperatorFunction } from '../rx';
import { ChunkDecoder, LendPool } from '../protocol/chunk';
import { DEFAULT_LIMITS, type RtmpLimits } from '../protocol/limits';
import type { RawMessage } from '../protocol/types';

/**
 * What the inbound pipeline emits: handshake progress (with the bytes to answer), then one item
 * per reassembled message. Never one per byte or per chunk.
 */
export type InboundItem =
  | {
      kind: 'handshake';
      step: 'peerHello' | 'peerEcho';
      version?: number;
      form?: 'simple' | 'digest';
    }
  | { kind: 'reply'; bytes: Uint8Array }
  | { kind: 'message'; message: RawMessage }
  | { kind: 'bytes'; total: number };

/** The sans-IO handshake objects (client or server role) share this shape. */
export interface HandshakeLike {
  push(
    bytes: Uint8Array,
  ):
    | { kind: 'inProgress'; send: Uint8Array; events: HandshakeStepLike[] }
    | { kind: 'completed'; send: Uint8Array; remaining: Uint8Array; events: HandshakeStepLike[] };
}
type HandshakeStepLike =
  { step: 'peerHello'; version: number; form: 'simple' | 'digest' } | { step: 'peerEcho' };

export interface DecodeOptions {
  /** The handshake to run first; omit for a stream that starts at the first chunk. */
  handshake?: HandshakeLike;
  limits?: Partial<RtmpLimits>;
  /** Emit a `bytes` item after each read (for acknowledgements and progress). */
  reportBytes?: boolean;
  /**
   * The source reuses each buffer it emits once `next` returns (a socket reading into one fixed
   * buffer): everything kept or emitted downstream is then copied, never a view of it. Such
   * decoders, read one at a time by the same thread, share one pool of lent reassembly buffers
   * (`sharedLendPool`) instead of keeping one of their own each, unless `limits` gives them a
   * `maxLendPoolBytes` other than the default.
   */
  reusedInput?: boolean;
  /** Which messages may be lent (see ChunkDecoderOptions.lend): valid only during `next`. */
  lend?: (typeId: number, streamId: number) => boolean;
  /**
   * The chunk decoder to use, made by the caller so it can read its state (the server counts
   * `bufferedBytes` against its memory budget); `limits`, `reusedInput` and `lend` then do not
   * apply. Default: a new one per subscription.
   */
  decoder?: ChunkDecoder;
}

/**
 * Lent reassembly buffers kept between messages by all the decoders of the process that read a
 * reused buffer (`DecodeOptions.reusedInput`: the transport's sockets), at most this many bytes.
 * A buffer is out of the pool only while a message split over reads is being reassembled, so a
 * thousand watched streams keep a handful of buffers, not one each (64 KiB per stream before);
 * 2 MiB holds the buffers of a 1080p download's largest frames, and what a burst of many streams
 * needed at once goes to the GC afterwards.
 */
export const SHARED_LEND_POOL_BYTES = 2 * 1024 * 1024;
let sharedPool: LendPool | undefined;
/** The process's shared pool of lent reassembly buffers (see SHARED_LEND_POOL_BYTES). */
export function sharedLendPool(): LendPool {
  sharedPool ??= new LendPool(SHARED_LEND_POOL_BYTES);
  return sharedPool;
}

/**
 * Socket bytes → handshake steps and whole messages, without RxJS: `push` hands every item to
 * the callback it was made with, synchronously. `decodeRtmp` wraps one of these per
 * subscription; the transport calls one directly from its socket callback (no operator hops per
 * read or per message). Set Chunk Size and Abort are applied by the chunk decoder itself, before
 * it reads the next header of the same read.
 */
export class RtmpInboundDecoder {
  private readonly decoder: ChunkDecoder;
  private readonly reused: boolean;
  private readonly reportBytes: boolean;
  private handshake: HandshakeLike | undefined;
  private total = 0;
  private readonly onMessage: (message: RawMessage) => void;

  constructor(
    private readonly emit: (item: InboundItem) => void,
    options: DecodeOptions = {},
  ) {
    this.reused = options.reusedInput ?? false;
    this.reportBytes = options.reportBytes ?? false;
    this.decoder =
      options.decoder ??
      new ChunkDecoder(options.limits, {
        reusedInput: this.reused,
        lend: options.lend,
        // A connection given a maxLendPoolBytes of its own (not the default, which the transport
        // passes resolved) keeps its own pool of that size.
        ...(this.reused &&
        (options.limits?.maxLendPoolBytes ?? DEFAULT_LIMITS.maxLendPoolBytes) ===
          DEFAULT_LIMITS.maxLendPoolBytes
          ? { lendPool: sharedLendPool() }
          : {}),
      });
    this.handshake = options.handshake;
    this.onMessage = (message) => emit({ kind: 'message', message });
  }

  /** Decodes one read; throws what the handshake or the chunk decoder throws. */
  push(bytes: Uint8Array): void {
    this.total += bytes.byteLength;
    let rest: Uint8Array | undefined = bytes;
    const handshake = this.handshake;
    if (handshake) {
      // The handshake keeps views of what it is given until it has whole packets.
      const progress = handshake.push(this.reused ? bytes.slice() : bytes);
      // Our answer (C2, or S0+S1+S2) leaves before anyone hears of the step: a peer-echo
      // listener may send `connect` at once, and it must follow C2 on the wire.
      if (progress.send.byteLength > 0) this.emit({ kind: 'reply', bytes: progress.send });
      for (const e of progress.events) {
        this.emit(
          e.step === 'peerHello'
            ? { kind: 'handshake', step: 'peerHello', version: e.version, form: e.form }
            : { kind: 'handshake', step: 'peerEcho' },
        );
      }
      if (progress.kind === 'completed') {
        this.handshake = undefined;
        rest = progress.remaining;
      } else {
        rest = undefined;
      }
    }
    if (rest && rest.byteLength > 0) this.decoder.pushTo(rest, this.onMessage);
    if (this.reportBytes) this.emit({ kind: 'bytes', total: this.total });
  }
}

/**
 * Socket bytes → handshake steps and whole messages. One handshake and one chunk decoder per
 * subscription (an RtmpInboundDecoder).
 */
export function decodeRtmp(options: DecodeOptions = {}): OperatorFunction<Uint8Array, InboundItem> {
  return (source) =>
    new Observable<InboundItem>((subscriber) => {
      const decoder = new RtmpInboundDecoder((item) => subscriber.next(item), options);
      const sub = source.subscribe({
        next(bytes) {
          try {
            decoder.push(bytes);
          } catch (err) {
            subscriber.error(err);
          }
        },
        error: (err) => subscriber.error(err),
        complete: () => subscriber.complete(),
      });
      return () => sub.unsubscribe();
    });
}
