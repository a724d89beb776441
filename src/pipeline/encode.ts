import { Observable, type OperatorFunction } from '../rx';
import { ChunkEncoder } from '../protocol/chunk';
import { encodeMessage } from '../protocol/message';
import type { RtmpMessage } from '../protocol/message/types';

/** What the outbound pipeline takes: messages, and changes of our own chunk size. */
export type OutboundItem =
  | { kind: 'message'; message: RtmpMessage }
  | { kind: 'setChunkSize'; chunkSize: number }
  | { kind: 'raw'; bytes: Uint8Array };

/**
 * Messages → bytes: one chunk encoder per subscription; every message leaves as ONE buffer
 * (all its chunks, headers and payload together), so a chunk never straddles two writes.
 * A chunk-size change sends Set Chunk Size first, then switches the encoder.
 */
export function encodeRtmp(initialChunkSize = 128): OperatorFunction<OutboundItem, Uint8Array> {
  return (source) =>
    new Observable<Uint8Array>((subscriber) => {
      const encoder = new ChunkEncoder({ chunkSize: initialChunkSize });
      const sub = source.subscribe({
        next(item) {
          try {
            if (item.kind === 'raw') {
              subscriber.next(item.bytes);
            } else if (item.kind === 'setChunkSize') {
              subscriber.next(
                encoder.encode(
                  encodeMessage({
                    type: 'SetChunkSize',
                    chunkSize: item.chunkSize,
                    timestamp: 0,
                    streamId: 0,
                  }),
                ),
              );
              encoder.setChunkSize(item.chunkSize);
            } else {
              subscriber.next(encoder.encode(encodeMessage(item.message)));
            }
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
