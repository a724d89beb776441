/**
 * nginx + nginx-rtmp as a real peer: its own prefix, config, pid file and temp dirs in a fresh
 * temporary folder; never the system service, never stopped by name.
 */
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePorts, waitForClosed, waitForListening } from './ports';
import {
  descendantsOf,
  isAlive,
  sleep,
  requireTool,
  spawnTracked,
  trackStoppable,
  waitFor,
  type TrackedProcess,
} from './processes';

/** The template lives beside this file in the source tree; compiled copies (dist/) look there too. */
export const NGINX_TEMPLATE =
  [
    join(__dirname, 'nginx-rtmp.conf.template'),
    join(__dirname, '..', '..', '..', 'test', 'helpers', 'nginx-rtmp.conf.template'),
  ].find((p) => existsSync(p)) ?? join(__dirname, 'nginx-rtmp.conf.template');
export const NGINX_MODULES_DIR = '/usr/lib/nginx/modules';
const DEFAULT_MEDIA_DIR = resolve(__dirname, '..', 'fixtures', 'media');

export interface NginxRtmpOptions {
  /** Folder served by `application vod` (default test/fixtures/media). */
  mediaDir?: string;
  /** Text added at the end of nginx.conf, in the main context (e.g. another `stream {}` block). */
  extraConfig?: string;
  /** Text added inside `rtmp { server { … } }` (e.g. another `application x { … }`). */
  extraRtmpConfig?: string;
  /** Put a TLS front (nginx stream module) before the RTMP port: rtmps://127.0.0.1:tlsPort/… */
  tls?: { cert: string; key: string };
  /** How long to wait for the port (default 10 s). */
  startTimeoutMs?: number;
}

export interface NginxRtmp {
  /** The RTMP port on 127.0.0.1. */
  readonly port: number;
  /** The HTTP port of `/stat` (nginx-rtmp XML statistics). */
  readonly statPort: number;
  /** The TLS port (only with `tls`). */
  readonly tlsPort?: number;
  /** The prefix folder: nginx.conf, nginx.pid, error.log, tmp/. */
  readonly runDir: string;
  /** The master process id (changes on restart). */
  readonly pid: number;
  /** Graceful stop: SIGTERM to the pid in the pid file, then wait until it exited and the port closed. */
  stop(): Promise<void>;
  /** Sends `signal` (default SIGKILL) to the master and its workers and waits until they are gone. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Stops (if running) and starts again on the same ports with the same config. */
  restart(): Promise<void>;
  /** The current contents of error.log. */
  errorLog(): string;
  /** The master and worker pids right now. */
  pids(): number[];
}

function fillTemplate(
  template: string,
  values: Record<'RUN' | 'MEDIA' | 'PORT' | 'STAT_PORT', string>,
  options: NginxRtmpOptions,
  tlsPort: number | undefined,
): string {
  let conf = template;
  for (const [key, value] of Object.entries(values)) conf = conf.split(`@${key}@`).join(value);
  // We run nginx in the foreground as our own child, so that Node reaps it and knows when it exits.
  if (!/^daemon\s+on;/m.test(conf)) throw new Error(`${NGINX_TEMPLATE}: no "daemon on;" line`);
  conf = conf.replace(/^daemon\s+on;/m, 'daemon off;');
  if (options.extraRtmpConfig) {
    const anchor = /(\n[ \t]*chunk_size[ \t]+\d+;[^\n]*\n)/;
    if (!anchor.test(conf)) throw new Error(`${NGINX_TEMPLATE}: no chunk_size line in rtmp server`);
    conf = conf.replace(anchor, `$1${options.extraRtmpConfig}\n`);
  }
  if (options.tls && tlsPort !== undefined) {
    const loadRtmp = /^(load_module[^\n]*ngx_rtmp_module\.so;[^\n]*\n)/m;
    const loadStream = `load_module ${NGINX_MODULES_DIR}/ngx_stream_module.so;\n`;
    conf = loadRtmp.test(conf) ? conf.replace(loadRtmp, `$1${loadStream}`) : loadStream + conf;
    conf += `
# TLS front for rtmps://127.0.0.1:${tlsPort}/ (added by the test harness)
stream {
    server {
        listen 127.0.0.1:${tlsPort} ssl;
        proxy_pass 127.0.0.1:${values.PORT};
        ssl_certificate ${options.tls.cert};
        ssl_certificate_key ${options.tls.key};
    }
}
`;
  }
  if (options.extraConfig) conf += `\n${options.extraConfig}\n`;
  return conf;
}

/** Starts nginx-rtmp from test/helpers/nginx-rtmp.conf.template on fresh loopback ports. */
/** Inodes of the sockets listening on `port` (from /proc/net/tcp: no connection is made). */
function listeningInodes(port: number): Set<string> {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const inodes = new Set<string>();
  for (const line of readFileSync('/proc/net/tcp', 'latin1').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length > 9 && f[3] === '0A' && f[1].endsWith(hex)) inodes.add(f[9]);
  }
  return inodes;
}

/** Pids of the nginx processes holding a listening socket on one of `ports`. */
function nginxListeners(ports: number[]): number[] {
  const inodes = new Set(ports.flatMap((p) => [...listeningInodes(p)]));
  const pids: number[] = [];
  if (inodes.size === 0) return pids;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (!readFileSync(`/proc/${entry}/cmdline`, 'latin1').startsWith('nginx')) continue;
      for (const fd of readdirSync(`/proc/${entry}/fd`)) {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${entry}/fd/${fd}`));
        if (m && inodes.has(m[1])) {
          pids.push(Number(entry));
          break;
        }
      }
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

export async function startNginxRtmp(options: NginxRtmpOptions = {}): Promise<NginxRtmp> {
  const nginxBin = requireTool('nginx', 'nginx');
  if (!existsSync(join(NGINX_MODULES_DIR, 'ngx_rtmp_module.so'))) {
    throw new Error(
      `${NGINX_MODULES_DIR}/ngx_rtmp_module.so is missing (Debian package libnginx-mod-rtmp)`,
    );
  }
  if (options.tls && !existsSync(join(NGINX_MODULES_DIR, 'ngx_stream_module.so'))) {
    throw new Error(
      `${NGINX_MODULES_DIR}/ngx_stream_module.so is missing (Debian package libnginx-mod-stream)`,
    );
  }
  const template = readFileSync(NGINX_TEMPLATE, 'utf8');
  const mediaDir = resolve(options.mediaDir ?? DEFAULT_MEDIA_DIR);
  const runDir = mkdtempSync(join(tmpdir(), 'rtmp-actors-nginx-'));
  mkdirSync(join(runDir, 'tmp'), { recursive: true });
  for (const sub of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) {
    mkdirSync(join(runDir, 'tmp', sub), { recursive: true });
  }
  const confPath = join(runDir, 'nginx.conf');
  const pidPath = join(runDir, 'nginx.pid');
  const errorLogPath = join(runDir, 'error.log');
  const startTimeoutMs = options.startTimeoutMs ?? 10_000;

  let ports: number[] = [];
  let proc: TrackedProcess | undefined;
  const errorLog = (): string =>
    existsSync(errorLogPath) ? readFileSync(errorLogPath, 'utf8') : '';

  const launch = async (): Promise<void> => {
    const [port, statPort, tlsPort] = ports;
    const p = spawnTracked('nginx', nginxBin, ['-p', `${runDir}/`, '-c', confPath], {
      // SIGTERM on our death lets the master stop its workers too.
      parentDeathSignal: 'TERM',
    });
    proc = p;
    const fail = (why: string): Error =>
      new Error(
        `nginx-rtmp did not start (${why}).\nstderr:\n${p.stderrTail().trim()}\n` +
          `error.log (${errorLogPath}):\n${errorLog().trim().split('\n').slice(-15).join('\n')}\n` +
          `config: ${confPath}`,
      );
    try {
      for (const wanted of tlsPort !== undefined ? [port, statPort, tlsPort] : [port, statPort]) {
        await waitForListening(wanted, startTimeoutMs, () => p.running);
      }
      const pidOk = await waitFor(() => readPid() === p.pid, startTimeoutMs);
      if (!pidOk) throw new Error(`no pid file ${pidPath} naming ${p.pid}`);
    } catch (err) {
      await p.stop('SIGKILL', 2000);
      throw fail((err as Error).message);
    }
  };

  const readPid = (): number | undefined => {
    try {
      const n = Number(readFileSync(pidPath, 'utf8').trim());
      return Number.isInteger(n) && n > 0 ? n : undefined;
    } catch {
      return undefined;
    }
  };

  const waitGone = async (pids: number[], timeoutMs: number): Promise<boolean> =>
    waitFor(() => pids.every((pid) => !isAlive(pid)), timeoutMs);

  const stop = async (): Promise<void> => {
    const p = proc;
    if (!p || !p.running) return;
    const workers = descendantsOf(p.pid);
    const pid = readPid() ?? p.pid;
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // already gone
    }
    const graceful = await waitGone([p.pid, ...workers], 5000);
    if (!graceful) {
      for (const w of [p.pid, ...workers]) {
        try {
          process.kill(w, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
    await p.exited;
    await waitGone(workers, 2000);
    await waitForClosed(ports[0], 2000);
  };

  const kill = async (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
    const p = proc;
    if (!p || !p.running) return;
    const workers = descendantsOf(p.pid);
    const send = (pid: number): void => {
      try {
        process.kill(pid, signal);
      } catch {
        // gone
      }
    };
    // The master first, so it cannot respawn a worker; with SIGKILL the workers cannot be stopped
    // by their master, so they get the signal too, then any worker it started meanwhile.
    send(p.pid);
    if (signal === 'SIGKILL') {
      for (const pid of workers) send(pid);
      await Promise.race([p.exited, waitGone([p.pid], 5000)]);
      for (const pid of descendantsOf(p.pid)) send(pid);
    } else {
      await Promise.race([p.exited, waitGone([p.pid], 5000)]);
    }
    await waitGone(workers, 5000);
    if (signal === 'SIGKILL') {
      // A worker the master respawned at the last moment is orphaned and keeps serving our
      // ports: find whatever nginx process still listens on them and kill it by its pid.
      for (let i = 0; i < 20; i++) {
        const left = nginxListeners(ports.slice(0, 2));
        if (left.length === 0) return;
        for (const pid of left) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // gone
          }
        }
        await sleep(50);
      }
      throw new Error(`nginx still listens on ${ports.join(', ')} after SIGKILL`);
    }
  };

  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    ports = await freePorts(options.tls ? 3 : 2);
    const [port, statPort, tlsPort] = ports;
    writeFileSync(
      confPath,
      fillTemplate(
        template,
        { RUN: runDir, MEDIA: mediaDir, PORT: String(port), STAT_PORT: String(statPort) },
        options,
        options.tls ? tlsPort : undefined,
      ),
    );
    try {
      await launch();
      lastError = undefined;
      break;
    } catch (err) {
      lastError = err;
      // Another process took a port between freePorts and nginx's bind: try new ports.
      if (!/Address already in use/.test(String((err as Error).message))) break;
    }
  }
  if (lastError) throw lastError;

  const handle: NginxRtmp = {
    get port() {
      return ports[0];
    },
    get statPort() {
      return ports[1];
    },
    get tlsPort() {
      return options.tls ? ports[2] : undefined;
    },
    runDir,
    get pid() {
      return proc?.pid ?? -1;
    },
    stop,
    kill,
    restart: async () => {
      await stop();
      await launch();
    },
    errorLog,
    pids: () => (proc && proc.running ? [proc.pid, ...descendantsOf(proc.pid)] : []),
  };
  trackStoppable(handle);
  return handle;
}
