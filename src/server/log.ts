/** One log line per server event, with stream keys and URL secrets masked (src/redact.ts). */
import { maskValue, redactUrl } from '../redact';
import type { ServerEvent } from './events';

/** `ab***` (or `ab***?***` with a query): a stream name masked as a stream key. */
export function maskStreamName(name: string): string {
  const q = name.indexOf('?');
  const base = q < 0 ? name : name.slice(0, q);
  return `${maskValue(base)}${q < 0 ? '' : '?***'}`;
}

/** `live/ab***`: the app, and the stream name masked as a stream key. */
function streamLabel(app: string, name: string): string {
  return `${app}/${maskStreamName(name)}`;
}

/** A human line for `e` (no timestamp, no newline); stream names and URLs are redacted. */
export function formatServerEvent(e: ServerEvent): string {
  switch (e.type) {
    case 'listening':
      return `listening on rtmp://${e.host}:${e.port}/`;
    case 'shutdown':
      return 'stopped';
    default:
  }
  const who = `#${e.connection} ${e.remote}`;
  switch (e.type) {
    case 'connection':
      return `${who} connected`;
    case 'refused':
      return `${who} refused (${e.reason})`;
    case 'connect':
      return `${who} connect app=${e.app || '(none)'} tcUrl=${redactUrl(e.tcUrl)}${e.flashVer ? ` flashVer=${JSON.stringify(e.flashVer)}` : ''}`;
    case 'publish':
      return `${who} publish ${streamLabel(e.app, e.name)} (stream ${e.streamId})`;
    case 'badName':
      return `${who} publish ${streamLabel(e.app, e.name)} refused: already published (BadName)`;
    case 'unpublish':
      return `${who} unpublish ${streamLabel(e.app, e.name)}`;
    case 'play':
      return `${who} play ${streamLabel(e.app, e.name)} (stream ${e.streamId})${e.waiting ? ', waiting for its publisher' : ''}`;
    case 'notFound':
      return `${who} play ${streamLabel(e.app, e.name)} refused: no such stream (StreamNotFound)`;
    case 'stop':
      return `${who} stop ${streamLabel(e.app, e.name)}${e.dropped ? ` (${e.dropped} messages dropped for a slow connection)` : ''}`;
    case 'error':
      return `${who} error: ${e.message}`;
    case 'close':
      return `${who} closed (${e.reason})`;
  }
}

/** The same event as a JSON-safe object, names redacted. */
export function serverEventJson(e: ServerEvent, at: number): Record<string, unknown> {
  const out: Record<string, unknown> = {
    kind: 'server',
    at,
    time: new Date(at).toISOString(),
    ...e,
  };
  if ('name' in e) out.name = streamLabel(e.app, e.name).slice(e.app.length + 1);
  if ('tcUrl' in e) out.tcUrl = redactUrl(e.tcUrl);
  return out;
}
