import { createReadStream } from 'node:fs';
import { Observable } from '../rx';
import { FlvReader, type FlvTag } from '../protocol/flv';
import { decodeAmf0Values } from '../protocol/amf';
import type { MediaMessage } from '../io/media';

/** Options of a file source. */
export interface FlvSourceOptions {
  /** Start again at the end, with timestamps continuing from the last one (rebased). */
  loop?: boolean;
  /** Pace by the tags' timestamps (default), or send as fast as the consumer takes them. */
  realtime?: boolean;
  /** Stop after this much media time (ms). */
  durationMs?: number;
  /** Injected for tests. */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Converts one FLV tag into the message we send (script data becomes a Data message). */
export function tagToMessage(tag: FlvTag, timestamp: number): MediaMessage | undefined {
  if (tag.type === 8) return { type: 'Audio', payload: tag.data, timestamp, streamId: 0 };
  if (tag.type === 9) return { type: 'Video', payload: tag.data, timestamp, streamId: 0 };
  if (tag.type === 18) {
    const values = decodeAmf0Values(tag.data);
    const name = typeof values[0] === 'string' ? values[0] : '';
    if (name === 'onMetaData') {
      // Publishers send metadata as @setDataFrame so the server keeps it for later players.
      return {
        type: 'Data',
        amf: 0,
        name: '@setDataFrame',
        values: ['@setDataFrame', ...values],
        timestamp,
        streamId: 0,
      };
    }
    return { type: 'Data', amf: 0, name, values, timestamp, streamId: 0 };
  }
  return undefined;
}

async function* readTags(file: string): AsyncGenerator<FlvTag> {
  const reader = new FlvReader({ previousTagSize: 'allowZero' });
  for await (const chunk of createReadStream(file, { highWaterMark: 256 * 1024 })) {
    const { tags } = reader.push(chunk as Buffer);
    for (const t of tags) yield t;
  }
  reader.end();
}

/**
 * Media messages from an FLV file: paced in real time by default, optionally looped with
 * timestamps rebased so they keep increasing. The consumer may return a promise from
 * `next` through `backpressure` to slow the source down.
 */
export function flvFileSource(
  file: string,
  options: FlvSourceOptions = {},
  backpressure?: () => Promise<void> | undefined,
): Observable<MediaMessage> {
  return new Observable<MediaMessage>((subscriber) => {
    let stopped = false;
    const now = options.now ?? Date.now;
    const sleep = options.sleep ?? defaultSleep;
    const run = async (): Promise<void> => {
      const realtime = options.realtime ?? true;
      const start = now();
      let offset = 0; // added to file timestamps (loop rebasing)
      let last = 0;
      let firstInFile: number | undefined;
      let pass = 0;
      do {
        firstInFile = undefined;
        let sawMedia = false;
        for await (const tag of readTags(file)) {
          if (stopped) return;
          // On later passes, sequence headers and metadata are repeated by the file itself.
          if (firstInFile === undefined) firstInFile = tag.timestamp;
          const ts = (offset + tag.timestamp - firstInFile) >>> 0;
          if (options.durationMs !== undefined && ts > options.durationMs) return;
          if (pass > 0 && tag.type === 18) continue;
          const message = tagToMessage(tag, ts);
          if (!message) continue;
          if (realtime) {
            const due = start + ts - now();
            if (due > 5) await sleep(due);
            if (stopped) return;
          }
          subscriber.next(message);
          sawMedia = true;
          // The latest timestamp of any type: a file's last audio may come after its last video.
          if (ts > last) last = ts;
          const wait = backpressure?.();
          if (wait) await wait;
        }
        if (!sawMedia) break;
        // One frame after the file's latest tag: no type's timestamps go back on the next pass.
        offset = last + 33;
        pass++;
      } while (options.loop && !stopped);
    };
    run().then(
      () => subscriber.complete(),
      (err) => subscriber.error(err),
    );
    return () => {
      stopped = true;
    };
  });
}
