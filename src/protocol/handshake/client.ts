/**
 * Sans-IO RTMP handshake, client role: `start()` gives C0+C1, `push(bytes)` takes what the server
 * sent and says what to write back. No sockets, clock or RNG of its own (both injected).
 */
import { HandshakeError } from '../errors';
import {
  HandshakeEndpoint,
  type FourBytes,
  type HandshakeCommonOptions,
  type HandshakeForm,
  type HandshakePeer,
  PACKET_SIZE,
  RTMP_VERSION,
  bytesEqual,
  checkFourBytes,
  randomExactly,
  timeField,
  writeU32,
} from './common';
import {
  DIGEST_SIZE,
  FLASH_MEDIA_SERVER_KEY,
  FLASH_PLAYER_KEY,
  FLASH_PLAYER_KEY_PARTIAL,
  digestAt,
  imprintDigest,
  makeResponse,
  validateResponse,
  validateServerDigest,
} from './digest';

/** Options of a {@link HandshakeClient}. */
export interface HandshakeClientOptions extends HandshakeCommonOptions {
  /** `simple`: zero version field, no digest. `digest`: FP9 digest in C1 (what rtmpdump/FFmpeg send). */
  form: HandshakeForm;
  /** C1 version field in the digest form. Default `[9, 0, 124, 2]` (FFmpeg's). Must be non-zero. */
  flashVersion?: FourBytes;
}

/** The Flash Player version FFmpeg puts in its C1. */
export const DEFAULT_FLASH_VERSION: FourBytes = [9, 0, 124, 2];

/**
 * The client side of the handshake.
 *
 * - C2 is returned as soon as S0+S1 are in (servers send S0+S1+S2 together and do not wait).
 * - Digest form: a server S1 with a zero version field is a simple-form answer and is accepted
 *   (nginx-rtmp answers that way); a non-zero version field must carry a valid Media Server digest
 *   (scheme 0 or 1) or the handshake fails with `BAD_DIGEST`.
 * - S2 is never rejected in the digest form: its response digest is checked and the result is
 *   recorded in `peer.s2DigestValid`, because real servers differ (some echo C1, some sign it).
 *   In the simple form a non-echo S2 fails with `BAD_ECHO` only when `strictEcho` is set.
 * - Bytes after S2 are returned as `remaining`: they are chunks.
 */
export class HandshakeClient extends HandshakeEndpoint {
  private readonly flashVersion: FourBytes;
  private c1: Uint8Array | undefined;
  private c1Digest: Uint8Array | undefined;

  /** Creates a client; nothing is sent until {@link HandshakeClient.start}. */
  constructor(opts: HandshakeClientOptions) {
    super({ self: 'HandshakeClient', peer: 'server', version: 'S0' }, 'idle', opts);
    this.flashVersion = checkFourBytes(opts.flashVersion ?? DEFAULT_FLASH_VERSION, 'flashVersion');
    if (this.form === 'digest' && this.flashVersion.every((b) => b === 0)) {
      throw new RangeError('flashVersion must be non-zero in the digest form');
    }
  }

  /** Returns C0+C1 (1537 bytes) to send first. Call once. */
  start(): Uint8Array {
    if (this.state !== 'idle') throw new Error('HandshakeClient.start() called twice');
    const out = new Uint8Array(1 + PACKET_SIZE);
    out[0] = RTMP_VERSION;
    const c1 = out.subarray(1);
    writeU32(c1, 0, timeField(this.clock));
    if (this.form === 'digest') c1.set(this.flashVersion, 4);
    c1.set(randomExactly(this.random, PACKET_SIZE - 8), 8);
    if (this.form === 'digest') {
      const offset = imprintDigest(c1, 0, FLASH_PLAYER_KEY_PARTIAL);
      this.c1Digest = c1.slice(offset, offset + DIGEST_SIZE);
    }
    this.c1 = c1.slice();
    this.state = 'awaitingVersion';
    return out;
  }

  protected onHello(s1: Uint8Array): Uint8Array {
    const serverSigned = this.peerVersionField.some((b) => b !== 0);
    if (this.form === 'digest' && serverSigned) {
      const location = validateServerDigest(s1);
      if (location === null) {
        throw new HandshakeError('BAD_DIGEST', 'S1 carries no valid Flash Media Server digest', {
          packet: 'S1',
          serverVersion: this.peerVersionField.join('.'),
        });
      }
      this.peerForm = 'digest';
      const body = randomExactly(this.random, PACKET_SIZE - DIGEST_SIZE);
      return makeResponse(body, digestAt(s1, location), FLASH_PLAYER_KEY);
    }
    this.peerForm = 'simple';
    return s1.slice(); // C2 echoes S1 byte for byte, as librtmp and nginx-rtmp do
  }

  protected onEcho(s2: Uint8Array): HandshakePeer {
    const c1 = this.c1 as Uint8Array;
    const echoValid = bytesEqual(s2.subarray(8), c1.subarray(8));
    const peer: HandshakePeer = {
      version: this.peerVersion,
      form: this.peerForm,
      epoch: this.peerEpoch,
      peerVersion: this.peerVersionField,
      echoValid,
    };
    if (this.peerForm === 'digest') {
      peer.s2DigestValid = validateResponse(
        s2,
        this.c1Digest as Uint8Array,
        FLASH_MEDIA_SERVER_KEY,
      );
    } else if (!echoValid && this.strictEcho) {
      throw new HandshakeError('BAD_ECHO', 'S2 does not echo C1', { packet: 'S2' });
    }
    return peer;
  }
}
