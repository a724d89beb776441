/**
 * What the ReconnectRequest end-to-end tests (test/integration/reconnect-request*.test.ts) share:
 * a source frame's identity, the source file's frames, which messages are sequence headers, and
 * waiting for a move to be abandoned.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { SessionEvent } from '../../src/client';
import { parseFlv } from '../../src/protocol/flv/reader';
import { waitFor } from './index';

/** A source (or received) frame, known by its content. */
export type Frame = { type: 'Audio' | 'Video'; timestamp: number; hash: string };

export const frameHash = (b: Uint8Array): string => createHash('sha1').update(b).digest('hex');

/** An AVC sequence header (video) or an AAC sequence header (audio). */
export function isSequenceHeader(type: 'Audio' | 'Video', b: Uint8Array): boolean {
  return (
    b.byteLength > 1 && b[1] === 0 && (type === 'Video' ? (b[0] & 0x0f) === 7 : b[0] >> 4 === 10)
  );
}

/**
 * The audio and video frames of the FLV file `file`, in file order; without the sequence headers
 * when `headers` is false.
 */
export function sourceFrames(file: string, { headers }: { headers: boolean }): Frame[] {
  return parseFlv(readFileSync(file))
    .tags.filter((t) => t.type === 8 || t.type === 9)
    .map((t) => ({ type: t.type === 8 ? ('Audio' as const) : ('Video' as const), t }))
    .filter(({ type, t }) => headers || !isSequenceHeader(type, t.data))
    .map(({ type, t }) => ({ type, timestamp: t.timestamp, hash: frameHash(t.data) }));
}

type Migration = Extract<SessionEvent, { type: 'session.migration' }>;

/** Waits (up to 20 s) for the session's move to be abandoned; returns that event, or fails. */
export async function abandonedMigration(events: SessionEvent[]): Promise<Migration> {
  const isAbandoned = (e: SessionEvent): e is Migration =>
    e.type === 'session.migration' && e.state === 'abandoned';
  if (!(await waitFor(() => events.some(isAbandoned), 20_000))) {
    throw new Error('the ReconnectRequest move was never abandoned');
  }
  return events.find(isAbandoned)!;
}
