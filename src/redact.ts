/**
 * Keeps stream keys, tokens and passwords out of logs. `redactUrl` masks the secret parts of an
 * RTMP URL (it never throws, even on text that is not a URL); `secretsOf` lists a URL's secrets
 * so that `redactText` can scrub them from anything else (peer messages, error texts).
 */
import {
  maskConnItem,
  normalizePlaypath,
  percentDecode,
  splitAppPlaypath,
  splitUrl,
  unescapeOptionValue,
} from './url';

export const MASK = '***';

/** Secrets shorter than this are not returned by `secretsOf`: scrubbing them would mangle text. */
export const MIN_SECRET_LENGTH = 4;

/** The first two characters and `***` (only `***` when the value is too short to show any). */
export function maskValue(value: string): string {
  return value.length > MIN_SECRET_LENGTH ? `${value.slice(0, 2)}${MASK}` : MASK;
}

function redactQuery(query: string): string {
  return query
    .split('&')
    .map((param) => {
      if (param === '') return param;
      const eq = param.indexOf('=');
      return eq < 0 ? MASK : `${param.slice(0, eq + 1)}${MASK}`;
    })
    .join('&');
}

/** Options whose values are secret, and how to mask them. */
const SECRET_OPTIONS: Readonly<Record<string, (value: string) => string>> = {
  playpath: maskValue,
  token: () => MASK,
  pubpasswd: () => MASK,
  subscribe: maskValue,
  conn: maskConnItem,
  tcurl: (value) => redactUrl(value),
  app: (value) => {
    const q = value.indexOf('?');
    return q < 0 ? value : `${value.slice(0, q + 1)}${redactQuery(value.slice(q + 1))}`;
  },
};

function redactOptionToken(token: string): string {
  const eq = token.indexOf('=');
  if (eq < 0) return token;
  const mask = SECRET_OPTIONS[token.slice(0, eq).toLowerCase()];
  return mask ? `${token.slice(0, eq + 1)}${mask(token.slice(eq + 1))}` : token;
}

/**
 * `url` with the password of the user info, every query value, the fragment and the
 * playpath (stream key: first two characters kept) masked; librtmp options after spaces have
 * their secret values (playpath, token, conn strings, subscribe) masked too.
 */
export function redactUrl(url: string): string {
  const lead = /^\s*/.exec(url)?.[0] ?? '';
  const body = url.slice(lead.length);
  const space = body.search(/\s/);
  const head = space < 0 ? body : body.slice(0, space);
  const tail = space < 0 ? '' : body.slice(space);

  const p = splitUrl(head);
  let out = p.scheme !== undefined ? `${p.scheme}://` : '';
  if (p.userinfo !== undefined) {
    const colon = p.userinfo.indexOf(':');
    out += colon < 0 ? `${p.userinfo}@` : `${p.userinfo.slice(0, colon)}:${MASK}@`;
  }
  out += p.hostport;
  if (p.hasPath) {
    const { app, playpath } = splitAppPlaypath(p.path);
    out += playpath === '' ? `/${p.path}` : `/${app}/${maskValue(playpath)}`;
  }
  if (p.query !== undefined) out += `?${redactQuery(p.query)}`;
  if (p.fragment !== undefined) out += `#${MASK}`;

  const redactedTail = tail
    .split(/(\s+)/)
    .map((part) => (/^\s*$/.test(part) ? part : redactOptionToken(part)))
    .join('');
  return `${lead}${out}${redactedTail}`;
}

function pushForms(into: Set<string>, value: string | undefined): void {
  if (value === undefined) return;
  for (const form of [value, percentDecode(value), unescapeOptionValue(value)]) {
    if (form.length >= MIN_SECRET_LENGTH) into.add(form);
  }
}

/**
 * The secret strings of an RTMP URL, longest first: the password, every query value, the
 * playpath (as written and as sent), and secret librtmp option values. Never throws.
 */
export function secretsOf(url: string): string[] {
  const p = splitUrl(url);
  const secrets = new Set<string>();
  if (p.userinfo !== undefined && p.userinfo.includes(':')) {
    pushForms(secrets, p.userinfo.slice(p.userinfo.indexOf(':') + 1));
  }
  const queryValues = (query: string | undefined): void => {
    for (const param of query?.split('&') ?? []) {
      const eq = param.indexOf('=');
      pushForms(secrets, eq < 0 ? param : param.slice(eq + 1));
    }
  };
  queryValues(p.query);
  pushForms(secrets, p.fragment);
  const { playpath } = splitAppPlaypath(p.path);
  if (playpath !== '') {
    pushForms(secrets, playpath);
    pushForms(secrets, normalizePlaypath(playpath));
  }
  for (const token of p.optionTokens) {
    const eq = token.indexOf('=');
    if (eq < 0) continue;
    const key = token.slice(0, eq).toLowerCase();
    const value = unescapeOptionValue(token.slice(eq + 1));
    if (key === 'playpath' || key === 'token' || key === 'pubpasswd' || key === 'subscribe') {
      pushForms(secrets, value);
    } else if (key === 'conn') {
      const masked = maskConnItem(value);
      if (masked.endsWith(MASK)) pushForms(secrets, value.slice(masked.length - MASK.length));
    } else if (key === 'tcurl') {
      for (const s of secretsOf(value)) secrets.add(s);
    } else if (key === 'app' && value.includes('?')) {
      queryValues(value.slice(value.indexOf('?') + 1));
    }
  }
  return [...secrets].sort((a, b) => b.length - a.length);
}

/** `text` with every occurrence of each secret (and its URL-encoded form) replaced by `***`. */
export function redactText(text: string, secrets: readonly string[]): string {
  const forms = new Set<string>();
  for (const s of secrets) {
    if (s === '') continue;
    forms.add(s);
    forms.add(encodeURIComponent(s));
  }
  let out = text;
  for (const s of [...forms].sort((a, b) => b.length - a.length)) out = out.split(s).join(MASK);
  return out;
}
