/**
 * Types and small helpers shared by the sans-IO handshake client and server.
 */
import { HandshakeError } from '../errors';

/** Size of C1/S1/C2/S2 (RTMP spec 5.2). */
export const PACKET_SIZE = 1536;
/** The only C0/S0 version we speak: plain RTMP (6 would be RTMPE, not supported). */
export const RTMP_VERSION = 3;
/** An empty `send`: nothing to write. */
export const NOTHING: Uint8Array = new Uint8Array(0);

/** Simple (spec) handshake, or the Flash Player 9 HMAC-SHA256 digest ("complex") handshake. */
export type HandshakeForm = 'simple' | 'digest';

/** The four bytes of the C1/S1 version field, most significant first (e.g. `[9, 0, 124, 2]`). */
export type FourBytes = [number, number, number, number];

/** Options common to both roles; clock and randomness are injected for deterministic tests. */
export interface HandshakeCommonOptions {
  /** Milliseconds for the C1/S1 time field (taken modulo 2^32). Default `Date.now`. */
  clock?: () => number;
  /** Returns `n` random bytes. Default `crypto.randomBytes`. */
  random?: (n: number) => Uint8Array;
  /**
   * Fail with `BAD_ECHO` when a simple-form peer's C2/S2 does not echo our C1/S1 (bytes 8-1535).
   * Default `false`: real peers vary and librtmp/FFmpeg/nginx-rtmp only log it, so by default the
   * result is recorded in `peer.echoValid` instead.
   */
  strictEcho?: boolean;
}

/** A step the runtime turns into a transport event (HANDSHAKE.PEER_HELLO / HANDSHAKE.PEER_ECHO). */
export type HandshakeStep =
  { step: 'peerHello'; version: number; form: HandshakeForm } | { step: 'peerEcho' };

/** What we learnt about the peer during the handshake. */
export interface HandshakePeer {
  /** The peer's C0/S0 byte (always 3 once accepted). */
  version: number;
  /**
   * The form the handshake ran in: `digest` when both C1 and S1 carried valid FP9 digests,
   * `simple` otherwise (a simple-form client never looks at the server's digest).
   */
  form: HandshakeForm;
  /** The time field of the peer's C1/S1 (ms, u32). */
  epoch: number;
  /** The peer's C1/S1 version field (Flash Player or server version; zeros for simple). */
  peerVersion: FourBytes;
  /** Client role, digest form only: whether S2 ends with a valid FP9 response digest. */
  s2DigestValid?: boolean;
  /** Server role, digest form only: whether C2 ends with a valid FP9 response digest. */
  c2DigestValid?: boolean;
  /** Whether the peer's C2/S2 echoed our C1/S1 (bytes 8-1535; the time fields are ignored). */
  echoValid: boolean;
}

/** Result of feeding bytes to a handshake role (rml_rtmp style). */
export type HandshakeProgress =
  | { kind: 'inProgress'; send: Uint8Array; events: HandshakeStep[] }
  | {
      kind: 'completed';
      send: Uint8Array;
      /** Bytes after the handshake: the start of the chunk stream. May be a view of pushed bytes. */
      remaining: Uint8Array;
      events: HandshakeStep[];
      peer: HandshakePeer;
    };

/** Default clock: wall time in ms. */
export const defaultClock = (): number => Date.now();

/**
 * Default randomness for the handshake's filler bytes: Math.random. The RTMP specification
 * (5.2.3) asks for "something sufficiently random" to tell the two handshakes apart and says
 * there is no need for cryptographically secure randomness (the digest handshake's HMACs are
 * keyed with public constants); node:crypto would cost a connection milliseconds of loading.
 */
export const defaultRandom = (n: number): Uint8Array => {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 4) {
    const r = Math.floor(Math.random() * 0x100000000);
    out[i] = r & 0xff;
    if (i + 1 < n) out[i + 1] = (r >>> 8) & 0xff;
    if (i + 2 < n) out[i + 2] = (r >>> 16) & 0xff;
    if (i + 3 < n) out[i + 3] = r >>> 24;
  }
  return out;
};

/** Calls `random(n)` and checks it returned `n` bytes (a wrong length is our caller's bug). */
export function randomExactly(random: (n: number) => Uint8Array, n: number): Uint8Array {
  const bytes = random(n);
  if (bytes.length !== n) {
    throw new RangeError(`random(${n}) returned ${bytes.length} bytes`);
  }
  return bytes;
}

/** Concatenates byte arrays into one new array. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Byte-wise equality of two ranges. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Reads the big-endian u32 at `at`. */
export function readU32(bytes: Uint8Array, at: number): number {
  return ((bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3]) >>> 0;
}

/** Writes `value` as a big-endian u32 at `at`. */
export function writeU32(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = (value >>> 24) & 0xff;
  bytes[at + 1] = (value >>> 16) & 0xff;
  bytes[at + 2] = (value >>> 8) & 0xff;
  bytes[at + 3] = value & 0xff;
}

/** The time value for a C1/S1 time field: the clock's ms, as a u32. */
export function timeField(clock: () => number): number {
  return Math.floor(clock()) >>> 0;
}

/**
 * Keeps the pieces of partial reads and concatenates once, when enough bytes are there
 * (never a concat per read).
 */
export class ByteQueue {
  private parts: Uint8Array[] = [];
  private total = 0;

  /** Bytes held. */
  get length(): number {
    return this.total;
  }

  /** Appends a read (kept by reference, not copied). */
  push(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.parts.push(bytes);
    this.total += bytes.length;
  }

  /** Removes and returns the first `n` bytes, or `undefined` when fewer are held. */
  take(n: number): Uint8Array | undefined {
    if (this.total < n) return undefined;
    const first = this.parts[0];
    if (first !== undefined && first.length >= n) {
      const out = first.subarray(0, n);
      if (first.length === n) this.parts.shift();
      else this.parts[0] = first.subarray(n);
      this.total -= n;
      return out;
    }
    const all = this.parts.length === 1 ? this.parts[0] : concatBytes(this.parts);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.parts = rest.length > 0 ? [rest] : [];
    this.total = rest.length;
    return out;
  }

  /** Removes and returns everything held (a view when it is a single piece). */
  drain(): Uint8Array {
    const all =
      this.parts.length === 0
        ? NOTHING
        : this.parts.length === 1
          ? this.parts[0]
          : concatBytes(this.parts);
    this.parts = [];
    this.total = 0;
    return all;
  }
}

/** Reads the four version-field bytes (4-7) of a C1/S1. */
export function versionField(packet: Uint8Array): FourBytes {
  return [packet[4], packet[5], packet[6], packet[7]];
}

/** Checks a caller-supplied four-byte version. */
export function checkFourBytes(v: FourBytes, what: string): FourBytes {
  if (v.length !== 4 || v.some((b) => !Number.isInteger(b) || b < 0 || b > 255)) {
    throw new RangeError(`${what} must be four integers 0-255`);
  }
  return v;
}

/** Where one side of the handshake stands: the peer's version byte, its first packet, its echo. */
export type EndpointState =
  'idle' | 'awaitingVersion' | 'awaitingHello' | 'awaitingEcho' | 'completed' | 'failed';

/**
 * What the client and server roles share: they read the same three things from their peer —
 * the version byte (S0/C0), the first packet (S1/C1) and the echo (S2/C2) — in any split, and
 * differ only in what they answer and check. Subclasses implement `onHello` and `onEcho`.
 */
export abstract class HandshakeEndpoint {
  protected readonly queue = new ByteQueue();
  protected state: EndpointState;
  protected failure: HandshakeError | undefined;
  protected readonly form: HandshakeForm;
  protected readonly clock: () => number;
  protected readonly random: (n: number) => Uint8Array;
  protected readonly strictEcho: boolean;
  protected peerVersion = 0;
  protected peerForm: HandshakeForm = 'simple';
  /** Time field of the peer's first packet. */
  protected peerEpoch = 0;
  /** Version field (bytes 4-7) of the peer's first packet: zero in the simple form. */
  protected peerVersionField: FourBytes = [0, 0, 0, 0];

  protected constructor(
    private readonly names: { self: string; peer: string; version: string },
    initial: EndpointState,
    opts: HandshakeCommonOptions & { form: HandshakeForm },
  ) {
    if (opts.form !== 'simple' && opts.form !== 'digest') {
      throw new RangeError(`unknown handshake form ${String(opts.form)}`);
    }
    this.state = initial;
    this.form = opts.form;
    this.clock = opts.clock ?? defaultClock;
    this.random = opts.random ?? defaultRandom;
    this.strictEcho = opts.strictEcho ?? false;
  }

  /** Whether the handshake has completed. */
  get completed(): boolean {
    return this.state === 'completed';
  }

  /** The peer's first packet arrived: check it and return what to send. */
  protected abstract onHello(packet: Uint8Array): Uint8Array;

  /** The peer's echo arrived: check it and describe the peer. */
  protected abstract onEcho(packet: Uint8Array): HandshakePeer;

  /**
   * Feeds bytes from the peer (any split). Throws HandshakeError on BAD_VERSION, BAD_DIGEST or
   * (with `strictEcho`) BAD_ECHO; short input is `inProgress`, never an error.
   */
  push(bytes: Uint8Array): HandshakeProgress {
    const { self } = this.names;
    if (this.state === 'failed') throw this.failure;
    if (this.state === 'idle') throw new Error(`${self}.push() before start()`);
    if (this.state === 'completed') throw new Error(`${self}.push() after completion`);
    this.queue.push(bytes);
    const events: HandshakeStep[] = [];
    let send: Uint8Array = NOTHING;
    try {
      if (this.state === 'awaitingVersion') {
        const v = this.queue.take(1);
        if (v === undefined) return { kind: 'inProgress', send, events };
        if (v[0] !== RTMP_VERSION) {
          const { peer, version } = this.names;
          throw new HandshakeError(
            'BAD_VERSION',
            `${peer} sent ${version} version ${v[0]}, expected 3`,
            {
              version: v[0],
              expected: RTMP_VERSION,
            },
          );
        }
        this.peerVersion = v[0];
        this.state = 'awaitingHello';
      }
      if (this.state === 'awaitingHello') {
        const hello = this.queue.take(PACKET_SIZE);
        if (hello === undefined) return { kind: 'inProgress', send, events };
        this.peerEpoch = readU32(hello, 0);
        this.peerVersionField = versionField(hello);
        send = this.onHello(hello);
        events.push({ step: 'peerHello', version: this.peerVersion, form: this.peerForm });
        this.state = 'awaitingEcho';
      }
      const echo = this.queue.take(PACKET_SIZE);
      if (echo === undefined) return { kind: 'inProgress', send, events };
      const peer = this.onEcho(echo);
      events.push({ step: 'peerEcho' });
      this.state = 'completed';
      return { kind: 'completed', send, remaining: this.queue.drain(), events, peer };
    } catch (e) {
      this.state = 'failed';
      this.failure = e as HandshakeError;
      this.queue.drain();
      throw e;
    }
  }
}
