/**
 * RTMP URLs as librtmp (rtmpdump) and FFmpeg take them:
 *
 *     rtmp[s]://[user:pass@]host[:port]/app[/instance]/playpath[?query] [key=value ...]
 *
 * - Default port 1935 for rtmp, 443 for rtmps.
 * - `app` is the first path segment, plus the second when the path has three or more segments
 *   (FFmpeg's rule: `app/instance/playpath`). A segment that starts with `mp4:`, `mp3:`, `flv:`
 *   or `raw:` starts the playpath, so `vod/mp4:dir/file.mp4` has app `vod`. `ondemand/…` has
 *   app `ondemand` (both libraries). An explicit `app` override splits the path where it ends.
 * - The playpath is percent-decoded (librtmp); `.mp4/.f4v/.mov/.m4v/.m4a` get an `mp4:` prefix
 *   (extension kept, as FFmpeg and FMS/Wowza write it), `.mp3` becomes `mp3:name`, and a
 *   trailing `.flv` is stripped (librtmp and FFmpeg). The query string stays on the playpath
 *   (tokens for the server); with no playpath it stays on the app, and so in the tcUrl.
 * - tcUrl = `protocol://host[:port]/app`: no user info, no playpath; the port only when the URL
 *   names it (librtmp takes the URL's own prefix).
 * - librtmp options after spaces (`live=1 conn=S:foo token=x`, values escaped as `\20`) and
 *   FFmpeg's `rtmp_conn` string (`S:foo N:3 O:1 NS:k:v O:0`) give extra connect arguments.
 */
import type { AmfObject, AmfValue } from './protocol/amf/types';

export type UrlErrorCode =
  | 'BAD_SCHEME' // not rtmp:// or rtmps://
  | 'NO_HOST' // empty host, or an unclosed IPv6 bracket
  | 'NO_APP' // no application in the path and none given
  | 'BAD_PORT' // not an integer in 1 … 65535
  | 'BAD_CONN' // a conn / rtmp_conn item that librtmp's grammar rejects
  | 'BAD_OPTION'; // an unknown librtmp option, or a value of the wrong kind

/** The URL (or one of its options) cannot be used. Messages never repeat the URL's secrets. */
export class UrlError extends Error {
  readonly layer = 'url';
  constructor(
    readonly code: UrlErrorCode,
    message: string,
    readonly details: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
    this.name = 'UrlError';
  }
}

/** What can be set besides the URL (librtmp option names; FFmpeg's rtmp_app, rtmp_playpath …). */
export interface RtmpUrlOverrides {
  app?: string;
  /** Taken as is (no prefix or extension rules), like librtmp's `playpath=` and FFmpeg's `rtmp_playpath`. */
  playpath?: string;
  tcUrl?: string;
  pageUrl?: string;
  swfUrl?: string;
  flashVer?: string;
  /** Extra connect arguments: an FFmpeg `rtmp_conn` string, or librtmp `conn` items. Replaces the URL's. */
  conn?: string | readonly string[];
  /** Live stream: play with start -1 (librtmp `live=1`). */
  live?: boolean;
  /** Stream name for FCSubscribe (librtmp `subscribe=`). */
  subscribe?: string;
  /** Token for SecureToken responses (librtmp `token=`). */
  token?: string;
  /** Start (s) into a recorded stream (librtmp `start=`). */
  start?: number;
  /** Stop (s) into a recorded stream (librtmp `stop=`). */
  stop?: number;
  /** Buffer time in ms, sent as SetBufferLength (librtmp `buffer=`). */
  buffer?: number;
  /** Timeout in s without data (librtmp `timeout=`). */
  timeout?: number;
}

export type RtmpUrlOptions = Omit<RtmpUrlOverrides, 'app' | 'playpath' | 'tcUrl' | 'conn'>;

export interface RtmpUrl {
  protocol: 'rtmp' | 'rtmps';
  /** Host name or address; an IPv6 address without brackets. */
  host: string;
  port: number;
  app: string;
  /** The stream name sent in play/publish (may carry `?query`); '' when the URL has none. */
  playpath: string;
  tcUrl: string;
  user?: string;
  password?: string;
  /** The URL's query string without `?`, as written. */
  query?: string;
  /** Extra `connect` arguments (librtmp `conn=` / FFmpeg `rtmp_conn`), in order. */
  connArgs: AmfValue[];
  /** The other librtmp options that were given (URL options, then overrides). */
  options: RtmpUrlOptions;
}

export const DEFAULT_PORTS: Readonly<Record<RtmpUrl['protocol'], number>> = {
  rtmp: 1935,
  rtmps: 443,
};

const PLAYPATH_PREFIX = /^(mp4|mp3|flv|raw):/i;
const MP4_EXTENSIONS = ['.mp4', '.f4v', '.mov', '.m4v', '.m4a'];

/** The parts of a URL before any meaning is given to them. Never throws. */
export interface UrlParts {
  scheme?: string;
  userinfo?: string;
  hostport: string;
  /** The path without its leading '/', without query. */
  path: string;
  /** False when nothing (not even '/') follows the host. */
  hasPath: boolean;
  query?: string;
  fragment?: string;
  /** The librtmp options after the URL (whitespace-separated tokens). */
  optionTokens: string[];
}

export function splitUrl(input: string): UrlParts {
  const trimmed = input.trim();
  const space = trimmed.search(/\s/);
  const url = space < 0 ? trimmed : trimmed.slice(0, space);
  const optionTokens = space < 0 ? [] : trimmed.slice(space).trim().split(/\s+/);
  const m = /^(?:([A-Za-z][A-Za-z0-9+.-]*):\/\/)?([^/?#]*)([^?#]*)(?:\?([^#]*))?(?:#(.*))?$/s.exec(
    url,
  ) as RegExpExecArray; // every string matches: each group may be empty
  const authority = m[2];
  const at = authority.lastIndexOf('@');
  return {
    scheme: m[1],
    userinfo: at >= 0 ? authority.slice(0, at) : undefined,
    hostport: at >= 0 ? authority.slice(at + 1) : authority,
    path: m[3].replace(/^\//, ''),
    hasPath: m[3] !== '',
    query: m[4],
    fragment: m[5],
    optionTokens,
  };
}

/**
 * Splits a URL path (no leading '/', no query) into app and playpath by the rules above.
 * The playpath is returned as written (no decoding, prefix or extension rules).
 */
export function splitAppPlaypath(
  path: string,
  explicitApp?: string,
): { app: string; playpath: string } {
  if (explicitApp !== undefined) {
    if (path === explicitApp) return { app: explicitApp, playpath: '' };
    if (path.startsWith(`${explicitApp}/`)) {
      return { app: explicitApp, playpath: path.slice(explicitApp.length + 1) };
    }
    // FFmpeg: with the app given by the user, a one-segment path is the playpath.
    const split = splitAppPlaypath(path);
    return { app: explicitApp, playpath: path.includes('/') ? split.playpath : path };
  }
  if (path.startsWith('ondemand/')) return { app: 'ondemand', playpath: path.slice(9) };
  const segments = path.split('/');
  const prefixed = segments.findIndex((s, i) => i >= 1 && PLAYPATH_PREFIX.test(s));
  if (prefixed >= 1) {
    return {
      app: segments.slice(0, prefixed).join('/'),
      playpath: segments.slice(prefixed).join('/'),
    };
  }
  if (segments.length >= 3) {
    return { app: `${segments[0]}/${segments[1]}`, playpath: segments.slice(2).join('/') };
  }
  return { app: segments[0], playpath: segments[1] ?? '' };
}

/** Decodes valid `%XX` escapes (as UTF-8) and leaves any other `%` as it is. */
export function percentDecode(text: string): string {
  if (!text.includes('%')) return text;
  return text.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) =>
    Buffer.from(run.replace(/%/g, ''), 'hex').toString('utf8'),
  );
}

/** The stream name servers expect for a playpath taken from a URL (see the rules above). */
export function normalizePlaypath(raw: string): string {
  const name = percentDecode(raw);
  if (PLAYPATH_PREFIX.test(name)) return name;
  const dot = name.lastIndexOf('.');
  const ext = dot > name.lastIndexOf('/') && dot >= 0 ? name.slice(dot).toLowerCase() : '';
  if (MP4_EXTENSIONS.includes(ext)) return `mp4:${name}`;
  if (ext === '.mp3') return `mp3:${name.slice(0, -4)}`;
  if (ext === '.flv') return name.slice(0, -4);
  return name;
}

/** librtmp's option escape: a backslash and two hex digits (`\20` is a space, `\5c` a backslash). */
export function unescapeOptionValue(value: string): string {
  return value.replace(/\\([0-9A-Fa-f]{2})/g, (_m, hex: string) =>
    String.fromCharCode(parseInt(hex, 16)),
  );
}

/** A conn item with its value hidden unless it is a number, boolean, null or object marker. */
export function maskConnItem(item: string): string {
  if (item[1] === ':') return 'BNOZ'.includes(item[0]) ? item : `${item.slice(0, 2)}***`;
  if (item[0] === 'N' && item[2] === ':') {
    const colon = item.indexOf(':', 3);
    if (colon >= 0 && 'BNOZ'.includes(item[1])) return item;
    return colon >= 0 ? `${item.slice(0, colon + 1)}***` : `${item.slice(0, 3)}***`;
  }
  return item.length > 4 ? `${item.slice(0, 2)}***` : '***';
}

/**
 * Extra connect arguments from FFmpeg's `rtmp_conn` string (space-separated) or librtmp `conn`
 * items: `B:1` boolean, `N:3.5` number, `S:text` string, `Z:` null, `O:1` … `O:0` an object
 * whose members are named: `NB:name:0`, `NN:name:1`, `NS:name:text`, `NZ:name:`, `NO:name:1`.
 */
export function parseConnArgs(spec: string | readonly string[]): AmfValue[] {
  const items = typeof spec === 'string' ? spec.split(/\s+/).filter(Boolean) : spec;
  const top: AmfValue[] = [];
  const stack: AmfObject[] = [];
  const bad = (item: string, why: string): UrlError => {
    // Strings may be credentials: name the item by its type (and member name) only.
    const shown = maskConnItem(item);
    return new UrlError('BAD_CONN', `conn item "${shown}": ${why}`, { item: shown });
  };

  for (const item of items) {
    let type: string;
    let name: string | undefined;
    let value: string;
    if (item[1] === ':') {
      type = item[0];
      value = item.slice(2);
    } else if (item[0] === 'N' && item[2] === ':') {
      type = item[1];
      const colon = item.indexOf(':', 3);
      if (colon < 0) throw bad(item, 'a named item is N<type>:name:value');
      name = item.slice(3, colon);
      value = item.slice(colon + 1);
    } else {
      throw bad(item, 'expected B:, N:, S:, Z:, O: or a named NB:/NN:/NS:/NZ:/NO: item');
    }
    if (name !== undefined && stack.length === 0) {
      throw bad(item, 'named items belong inside an object (O:1 … O:0)');
    }
    if (name === undefined && stack.length > 0 && !(type === 'O' && value === '0')) {
      throw bad(item, 'items inside an object need a name (NS:name:value)');
    }
    let parsed: AmfValue;
    switch (type) {
      case 'B':
        if (!/^\d+$/.test(value)) throw bad(item, 'a boolean is 0 or 1');
        parsed = Number(value) !== 0;
        break;
      case 'N':
        parsed = Number(value);
        if (value.trim() === '' || !Number.isFinite(parsed)) throw bad(item, 'not a number');
        break;
      case 'S':
        parsed = value;
        break;
      case 'Z':
        parsed = null;
        break;
      case 'O':
        if (value === '0') {
          if (stack.length === 0) throw bad(item, 'O:0 closes no object');
          stack.pop();
          continue;
        }
        if (value !== '1') throw bad(item, 'an object item is O:1 (open) or O:0 (close)');
        parsed = {};
        break;
      default:
        throw bad(item, `unknown type "${type}"`);
    }
    const parent = stack[stack.length - 1];
    if (parent && name !== undefined) {
      // defineProperty: a member named "__proto__" must stay a member
      Object.defineProperty(parent, name, {
        value: parsed,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    } else {
      top.push(parsed);
    }
    if (type === 'O') stack.push(parsed as AmfObject);
  }
  if (stack.length > 0) {
    throw new UrlError('BAD_CONN', `conn: ${stack.length} object(s) not closed with O:0`, {
      open: stack.length,
    });
  }
  return top;
}

type OptionKind = 'string' | 'bool' | 'number' | 'conn';
const OPTION_KINDS: Readonly<Record<string, [keyof RtmpUrlOverrides, OptionKind]>> = {
  app: ['app', 'string'],
  playpath: ['playpath', 'string'],
  tcurl: ['tcUrl', 'string'],
  pageurl: ['pageUrl', 'string'],
  swfurl: ['swfUrl', 'string'],
  flashver: ['flashVer', 'string'],
  conn: ['conn', 'conn'],
  live: ['live', 'bool'],
  subscribe: ['subscribe', 'string'],
  token: ['token', 'string'],
  start: ['start', 'number'],
  stop: ['stop', 'number'],
  buffer: ['buffer', 'number'],
  timeout: ['timeout', 'number'],
};

function parseBool(key: string, value: string): boolean {
  const v = value.toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  throw new UrlError('BAD_OPTION', `option ${key}: "${value}" is not a boolean (1/0)`, { key });
}

/** librtmp options (`key=value` tokens after the URL) as overrides; `conn` items collect in order. */
export function parseLibrtmpOptions(tokens: readonly string[]): RtmpUrlOverrides {
  const out: Record<string, unknown> = {};
  const conn: string[] = [];
  for (const token of tokens) {
    const eq = token.indexOf('=');
    const key = eq < 0 ? token : token.slice(0, eq);
    const known = OPTION_KINDS[key.toLowerCase()];
    if (!known) {
      throw new UrlError('BAD_OPTION', `unknown or unsupported librtmp option "${key}"`, { key });
    }
    if (eq < 0) throw new UrlError('BAD_OPTION', `option ${key} needs a value (${key}=…)`, { key });
    const value = unescapeOptionValue(token.slice(eq + 1));
    const [field, kind] = known;
    if (kind === 'conn') conn.push(value);
    else if (kind === 'bool') out[field] = parseBool(key, value);
    else if (kind === 'number') {
      const n = Number(value);
      if (value === '' || !Number.isFinite(n)) {
        throw new UrlError('BAD_OPTION', `option ${key}: "${value}" is not a number`, { key });
      }
      out[field] = n;
    } else out[field] = value;
  }
  if (conn.length > 0) out.conn = conn;
  return out as RtmpUrlOverrides;
}

function parseHostPort(
  hostport: string,
  protocol: RtmpUrl['protocol'],
): { host: string; port: number; explicitPort?: string; hostForUrl: string } {
  let host: string;
  let rest: string;
  if (hostport.startsWith('[')) {
    const close = hostport.indexOf(']');
    if (close < 0) throw new UrlError('NO_HOST', 'unclosed "[" in the host', {});
    host = hostport.slice(1, close);
    rest = hostport.slice(close + 1);
  } else {
    const colon = hostport.indexOf(':');
    host = colon < 0 ? hostport : hostport.slice(0, colon);
    rest = colon < 0 ? '' : hostport.slice(colon);
  }
  if (host === '') throw new UrlError('NO_HOST', 'the URL names no host', {});
  const hostForUrl = host.includes(':') ? `[${host}]` : host;
  if (rest === '') return { host, port: DEFAULT_PORTS[protocol], hostForUrl };
  const portText = rest.startsWith(':') ? rest.slice(1) : rest;
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535) {
    throw new UrlError('BAD_PORT', `port "${portText}" is not a number in 1…65535`, {
      port: portText,
    });
  }
  return { host, port, explicitPort: portText, hostForUrl };
}

/**
 * Parses an RTMP URL (with optional librtmp options after spaces) the way librtmp and FFmpeg do;
 * `overrides` win over the URL and its options. Throws UrlError.
 */
export function parseRtmpUrl(url: string, overrides: RtmpUrlOverrides = {}): RtmpUrl {
  const parts = splitUrl(url);
  const scheme = parts.scheme?.toLowerCase();
  if (scheme !== 'rtmp' && scheme !== 'rtmps') {
    throw new UrlError(
      'BAD_SCHEME',
      parts.scheme === undefined
        ? 'not an RTMP URL: expected rtmp://host/app/stream'
        : `unsupported scheme "${parts.scheme}": only rtmp:// and rtmps://`,
      { scheme: parts.scheme },
    );
  }
  const protocol = scheme;
  const { host, port, explicitPort, hostForUrl } = parseHostPort(parts.hostport, protocol);

  const given: RtmpUrlOverrides = { ...parseLibrtmpOptions(parts.optionTokens) };
  for (const [key, value] of Object.entries(overrides)) {
    if (value !== undefined) (given as Record<string, unknown>)[key] = value;
  }

  const split = splitAppPlaypath(parts.path, given.app);
  let app = split.app;
  let playpath = split.playpath === '' ? '' : normalizePlaypath(split.playpath);
  const query = parts.query !== undefined && parts.query !== '' ? parts.query : undefined;
  if (query !== undefined) {
    if (playpath !== '') playpath = `${playpath}?${query}`;
    else if (given.app === undefined && app !== '') app = `${app}?${query}`;
  }
  if (given.playpath !== undefined) playpath = given.playpath;
  if (app === '') {
    throw new UrlError('NO_APP', 'the URL names no application (rtmp://host/app/stream)', {});
  }

  let user: string | undefined;
  let password: string | undefined;
  if (parts.userinfo !== undefined) {
    const colon = parts.userinfo.indexOf(':');
    user = percentDecode(colon < 0 ? parts.userinfo : parts.userinfo.slice(0, colon));
    if (colon >= 0) password = percentDecode(parts.userinfo.slice(colon + 1));
  }

  const options: RtmpUrlOptions = {};
  for (const key of [
    'pageUrl',
    'swfUrl',
    'flashVer',
    'live',
    'subscribe',
    'token',
    'start',
    'stop',
    'buffer',
    'timeout',
  ] as const) {
    if (given[key] !== undefined) (options as Record<string, unknown>)[key] = given[key];
  }

  const result: RtmpUrl = {
    protocol,
    host,
    port,
    app,
    playpath,
    tcUrl:
      given.tcUrl ??
      `${protocol}://${hostForUrl}${explicitPort !== undefined ? `:${explicitPort}` : ''}/${app}`,
    connArgs: given.conn !== undefined ? parseConnArgs(given.conn) : [],
    options,
  };
  if (user !== undefined) result.user = user;
  if (password !== undefined) result.password = password;
  if (query !== undefined) result.query = query;
  return result;
}
