/**
 * Sans-IO RTMP handshake, server role: `push(bytes)` takes what the client sent and says what to
 * write back (S0+S1+S2 in one piece once C0+C1 are in). Clock and RNG are injected.
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
  FLASH_MEDIA_SERVER_KEY_PARTIAL,
  FLASH_PLAYER_KEY,
  digestAt,
  imprintDigest,
  makeResponse,
  validateClientDigest,
  validateResponse,
} from './digest';

/** Options of a {@link HandshakeServer}. */
export interface HandshakeServerOptions extends HandshakeCommonOptions {
  /**
   * `digest` (default): answer each client in its own form (see {@link HandshakeServer}).
   * `simple`: always answer with the simple form, even to a digest C1.
   */
  form?: HandshakeForm;
  /** S1 version field in the digest form. Default `[13, 14, 10, 13]` (nginx-rtmp's). Non-zero. */
  serverVersion?: FourBytes;
}

/** The S1 version field nginx-rtmp sends (0x0d0e0a0d). */
export const DEFAULT_SERVER_VERSION: FourBytes = [13, 14, 10, 13];

/**
 * The server side of the handshake. It answers either form:
 * - C1 version field (bytes 4-7) zero: simple form; S1 = time, zeros, random; S2 echoes C1.
 * - Otherwise the Flash Player digest is checked with both offset schemes (bytes 8-11, then
 *   772-775). If one verifies: S1 carries a Media Server digest at the same scheme and S2 is the FP9
 *   response to C1's digest. If none verifies the server falls back to the simple form instead of
 *   failing, as nginx-rtmp and FFmpeg's listener do: old or odd clients still connect.
 *
 * C2 is never rejected in the digest form (FFmpeg, publishing, echoes S1 instead of signing it):
 * `peer.c2DigestValid` and `peer.echoValid` record what arrived. In the simple form a non-echo C2
 * fails with `BAD_ECHO` only when `strictEcho` is set. Bytes after C2 are `remaining` (chunks).
 */
export class HandshakeServer extends HandshakeEndpoint {
  private readonly serverVersion: FourBytes;
  private s1: Uint8Array | undefined;
  private s1Digest: Uint8Array | undefined;

  /** Creates a server waiting for C0+C1. */
  constructor(opts: HandshakeServerOptions = {}) {
    super({ self: 'HandshakeServer', peer: 'client', version: 'C0' }, 'awaitingVersion', {
      ...opts,
      form: opts.form ?? 'digest',
    });
    this.serverVersion = checkFourBytes(
      opts.serverVersion ?? DEFAULT_SERVER_VERSION,
      'serverVersion',
    );
    if (this.serverVersion.every((b) => b === 0)) {
      throw new RangeError('serverVersion must be non-zero');
    }
  }

  /** Returns S0+S1+S2. */
  protected onHello(c1: Uint8Array): Uint8Array {
    const clientSigned = this.peerVersionField.some((b) => b !== 0);
    const location = this.form === 'digest' && clientSigned ? validateClientDigest(c1) : null;

    const out = new Uint8Array(1 + 2 * PACKET_SIZE);
    out[0] = RTMP_VERSION;
    const s1 = out.subarray(1, 1 + PACKET_SIZE);
    writeU32(s1, 0, timeField(this.clock));
    s1.set(randomExactly(this.random, PACKET_SIZE - 8), 8);

    if (location !== null) {
      this.peerForm = 'digest';
      s1.set(this.serverVersion, 4);
      const offset = imprintDigest(s1, location.scheme, FLASH_MEDIA_SERVER_KEY_PARTIAL);
      this.s1Digest = s1.slice(offset, offset + DIGEST_SIZE);
      const body = randomExactly(this.random, PACKET_SIZE - DIGEST_SIZE);
      out.set(makeResponse(body, digestAt(c1, location), FLASH_MEDIA_SERVER_KEY), 1 + PACKET_SIZE);
    } else {
      this.peerForm = 'simple';
      out.set(c1, 1 + PACKET_SIZE); // S2 echoes C1 byte for byte, as nginx-rtmp does
    }
    this.s1 = s1.slice();
    return out;
  }

  protected onEcho(c2: Uint8Array): HandshakePeer {
    const s1 = this.s1 as Uint8Array;
    const echoValid = bytesEqual(c2.subarray(8), s1.subarray(8));
    const peer: HandshakePeer = {
      version: this.peerVersion,
      form: this.peerForm,
      epoch: this.peerEpoch,
      peerVersion: this.peerVersionField,
      echoValid,
    };
    if (this.peerForm === 'digest') {
      peer.c2DigestValid = validateResponse(c2, this.s1Digest as Uint8Array, FLASH_PLAYER_KEY);
    } else if (!echoValid && this.strictEcho) {
      throw new HandshakeError('BAD_ECHO', 'C2 does not echo S1', { packet: 'C2' });
    }
    return peer;
  }
}
