/**
 * The server's inbound byte pipeline: `decodeRtmp` (src/pipeline/decode) with the chunk decoder
 * handed in, so the connection can read how many bytes of partial messages it holds (for the
 * server-wide memory budget). Socket bytes → handshake steps, replies, whole messages, byte
 * counts; one item per message, never per byte or chunk.
 */
import { Observable, type OperatorFunction } from '../rx';
import type { ChunkDecoder } from '../protocol/chunk';
import type { HandshakeServer } from '../protocol/handshake';
import type { InboundItem } from '../pipeline/decode';
import type { RawMessage } from '../protocol/types';

export function decodeServerInbound(
  decoder: ChunkDecoder,
  handshakeServer: HandshakeServer,
): OperatorFunction<Uint8Array, InboundItem> {
  return (source) =>
    new Observable<InboundItem>((subscriber) => {
      let handshake: HandshakeServer | undefined = handshakeServer;
      let total = 0;
      const onMessage = (message: RawMessage): void =>
        subscriber.next({ kind: 'message', message });
      const sub = source.subscribe({
        next(bytes) {
          total += bytes.byteLength;
          try {
            let rest: Uint8Array | undefined = bytes;
            if (handshake) {
              const progress = handshake.push(bytes);
              // Our answer leaves before anyone hears of the step (connect must follow S2).
              if (progress.send.byteLength > 0) {
                subscriber.next({ kind: 'reply', bytes: progress.send });
              }
              for (const e of progress.events) {
                subscriber.next(
                  e.step === 'peerHello'
                    ? { kind: 'handshake', step: 'peerHello', version: e.version, form: e.form }
                    : { kind: 'handshake', step: 'peerEcho' },
                );
              }
              if (progress.kind === 'completed') {
                handshake = undefined;
                rest = progress.remaining;
              } else {
                rest = undefined;
              }
            }
            if (rest && rest.byteLength > 0) decoder.pushTo(rest, onMessage);
            subscriber.next({ kind: 'bytes', total });
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
