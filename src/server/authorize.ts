/**
 * Who may publish and play on the embedded server.
 *
 * `RtmpServerOptions.authorize` is called for every `publish` and `play`; the NetStream waits in
 * its `authorizing` state (machines/serverStreamMachine, bounded by the `authorizeTimeout`
 * delay) for the answer. `httpHooks` is one implementation: nginx-rtmp's `on_publish` /
 * `on_play` / `on_done` HTTP notifications, form fields and all, so an existing nginx-rtmp auth
 * backend decides unchanged.
 *
 * nginx-rtmp (ngx_rtmp_notify_module.c, ngx_rtmp_netcall_module.c) POSTs
 * `application/x-www-form-urlencoded`: the session's `app`, `flashver`, `swfurl`, `tcurl`,
 * `pageurl`, `addr`, `clientid`, then `call=publish` with `name` and `type`, or `call=play` with
 * `name`, `start`, `duration`, `reset`, and the stream name's query arguments appended as fields
 * of their own. A 2xx answer allows; 3xx allows too, and a `Location` header that is a plain name
 * renames the stream (one starting with `rtmp://` asks nginx to relay, which we do not: refused);
 * anything else refuses.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';

import type { AuthorizeRequest } from './request';

export type { AuthorizeAction, AuthorizeRequest } from './request';
export { RefusalStatus, splitStreamName } from './request';

/** A decision with its reason (for the log) and, optionally, the name to use instead. */
export interface AuthorizeDecision {
  allowed: boolean;
  /** Why (logged, and sent to the client in the refusal's description). */
  reason?: string;
  /** Publish or play this name instead (nginx-rtmp's 3xx redirect with a plain name). */
  name?: string;
}

/**
 * Decides whether a client may publish or play. Return (or resolve to) true to allow; false, a
 * rejection or an exception refuses (fail closed), as does taking longer than the server's
 * `authorizeTimeoutMs`.
 */
export type Authorize = (
  request: AuthorizeRequest,
) => boolean | AuthorizeDecision | Promise<boolean | AuthorizeDecision>;

/** Normalizes what an authorizer returned. */
export function toDecision(value: unknown): AuthorizeDecision {
  if (value === true) return { allowed: true };
  if (value === false || value === undefined || value === null) {
    return { allowed: false, reason: 'refused by the authorizer' };
  }
  if (typeof value === 'object' && typeof (value as AuthorizeDecision).allowed === 'boolean') {
    const d = value as AuthorizeDecision;
    return {
      allowed: d.allowed,
      reason: d.reason ?? (d.allowed ? undefined : 'refused by the authorizer'),
      name: typeof d.name === 'string' && d.name !== '' ? d.name : undefined,
    };
  }
  return { allowed: false, reason: 'the authorizer answered neither true nor false' };
}

/** The fields nginx-rtmp's notify module sends for `call`, in its order. */
export function hookForm(
  call: 'publish' | 'play' | 'done',
  r: Pick<
    AuthorizeRequest,
    | 'app'
    | 'name'
    | 'query'
    | 'remote'
    | 'connection'
    | 'flashVer'
    | 'tcUrl'
    | 'swfUrl'
    | 'pageUrl'
    | 'type'
    | 'start'
    | 'duration'
    | 'reset'
  >,
): URLSearchParams {
  const form = new URLSearchParams();
  form.append('app', r.app);
  form.append('flashver', r.flashVer);
  form.append('swfurl', r.swfUrl);
  form.append('tcurl', r.tcUrl);
  form.append('pageurl', r.pageUrl);
  form.append('addr', hostOf(r.remote));
  form.append('clientid', String(r.connection));
  form.append('call', call);
  form.append('name', r.name);
  if (call === 'publish') form.append('type', r.type ?? 'live');
  if (call === 'play') {
    form.append('start', String(Math.max(0, Math.trunc(r.start ?? 0)) >>> 0));
    form.append('duration', String(Math.max(0, Math.trunc(r.duration ?? 0)) >>> 0));
    form.append('reset', r.reset ? '1' : '0');
  }
  for (const [k, v] of Object.entries(r.query)) form.append(k, v);
  return form;
}

/** `127.0.0.1` of `127.0.0.1:5000`, `::1` of `::1:5000`. */
function hostOf(remote: string): string {
  const c = remote.lastIndexOf(':');
  return c < 0 ? remote : remote.slice(0, c);
}

export interface HttpHooksOptions {
  /** nginx-rtmp's `on_publish`. */
  onPublish?: string;
  /** nginx-rtmp's `on_play`. */
  onPlay?: string;
  /** nginx-rtmp's `on_done` (`call=done` when a publish or play ends; the answer is ignored). */
  onDone?: string;
  /** Milliseconds a hook may take; then the request is abandoned (and a publish or play refused). */
  timeoutMs: number;
}

/** What one POST came to. */
export interface HookAnswer {
  status: number;
  location: string | undefined;
}

/** POSTs `form` to `url`; resolves with the status, rejects on a network error or timeout. */
export function postForm(
  url: string,
  form: URLSearchParams,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<HookAnswer> {
  const body = form.toString();
  const target = new URL(url);
  const request = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<HookAnswer>((resolve, reject) => {
    const req = request(
      target,
      {
        method: 'POST',
        // One connection per call: no pooled keep-alive socket outlives the answer.
        agent: false,
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'content-length': Buffer.byteLength(body),
        },
        signal,
      },
      (res: IncomingMessage) => {
        res.resume(); // the body does not matter, only the status (and Location)
        const location = res.headers.location;
        resolve({ status: res.statusCode ?? 0, location });
      },
    );
    req.setTimeout(timeoutMs, () => {
      req.destroy(new Error(`no answer within ${timeoutMs} ms`));
    });
    req.on('error', (e) => reject(e));
    req.end(body);
  });
}

/** The decision of an `on_publish` / `on_play` answer (nginx-rtmp's rules). */
export function decisionOf(answer: HookAnswer): AuthorizeDecision {
  const { status, location } = answer;
  if (status >= 200 && status < 300) return { allowed: true };
  if (status >= 300 && status < 400) {
    if (!location) return { allowed: true };
    if (/^rtmp:\/\//i.test(location)) {
      return {
        allowed: false,
        reason: `hook answered ${status} with an rtmp:// Location (relay redirects are not supported)`,
      };
    }
    return { allowed: true, name: location };
  }
  return { allowed: false, reason: `hook answered ${status}` };
}

/** nginx-rtmp-style HTTP hooks: `authorize` for the server, `done` for ended publishes and plays. */
export interface HttpHooks {
  authorize: (request: AuthorizeRequest, signal?: AbortSignal) => Promise<AuthorizeDecision>;
  /** Tells the on_done hook (if any) that a publish or play ended; never throws. */
  done: (request: AuthorizeRequest) => void;
}

export function httpHooks(options: HttpHooksOptions): HttpHooks {
  for (const [key, url] of [
    ['onPublish', options.onPublish],
    ['onPlay', options.onPlay],
    ['onDone', options.onDone],
  ] as const) {
    if (url === undefined) continue;
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new RangeError(`${key} must be an http:// or https:// URL, got ${url}`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new RangeError(`${key} must be an http:// or https:// URL, got ${url}`);
    }
  }
  return {
    async authorize(request, signal) {
      const url = request.action === 'publish' ? options.onPublish : options.onPlay;
      if (url === undefined) return { allowed: true };
      try {
        const answer = await postForm(
          url,
          hookForm(request.action, request),
          options.timeoutMs,
          signal,
        );
        return decisionOf(answer);
      } catch (e) {
        return {
          allowed: false,
          reason: `hook unreachable: ${(e as Error).message}`,
        };
      }
    },
    done(request) {
      if (options.onDone === undefined) return;
      postForm(options.onDone, hookForm('done', request), options.timeoutMs).catch(() => undefined);
    },
  };
}
