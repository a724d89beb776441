/**
 * A publish or play request as the authorizer and the server session see it, and the pure
 * helpers around it (no IO: the session imports it; authorize.ts re-exports it).
 */

/** What a client asks to do. */
export type AuthorizeAction = 'publish' | 'play';

/** One publish or play, as the authorizer sees it. */
export interface AuthorizeRequest {
  action: AuthorizeAction;
  /** The application the client connected to. */
  app: string;
  /** The stream name without its query: a stream key, a secret. */
  name: string;
  /** The stream name's query arguments (`cam1?token=abc` → `{ token: 'abc' }`). */
  query: Record<string, string>;
  /** The client's address and port (`127.0.0.1:53211`). */
  remote: string;
  /** The server's number for the connection (nginx-rtmp's `clientid`). */
  connection: number;
  /** What the client's `connect` said. */
  flashVer: string;
  tcUrl: string;
  swfUrl: string;
  pageUrl: string;
  /** publish: `live`, `record` or `append` as sent; play: `start`, `duration`, `reset` as sent. */
  type?: string;
  start?: number;
  duration?: number;
  reset?: boolean;
}

/** The status a refused client gets. */
export const RefusalStatus = {
  /** Publish refused by the authorizer (the connection stays; the name is not taken). */
  publish: 'NetStream.Publish.Unauthorized',
  /**
   * Play refused. `NetStream.Play.Failed` rather than an invented code: rtmpdump, ffmpeg and
   * GStreamer all stop on it.
   */
  play: 'NetStream.Play.Failed',
} as const;

/** Splits `cam1?token=abc&x=1` into the name and its query arguments. */
export function splitStreamName(full: string): { name: string; query: Record<string, string> } {
  const q = full.indexOf('?');
  if (q < 0) return { name: full, query: {} };
  const query: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(full.slice(q + 1))) {
    if (k !== '' && !(k in query)) query[k] = v;
  }
  return { name: full.slice(0, q), query };
}
