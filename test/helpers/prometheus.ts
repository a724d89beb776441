/**
 * Prometheus (Debian package `prometheus`) as a real peer: its own config and TSDB in a fresh
 * temporary folder, listening on a loopback port the harness picks, scraping the targets it is
 * given; never the system service, stopped by its pid.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort, waitForClosed, waitForListening } from './ports';
import {
  requireTool,
  spawnTracked,
  trackStoppable,
  waitFor,
  type TrackedProcess,
} from './processes';

export interface PrometheusTarget {
  /** host:port of a /metrics endpoint. */
  address: string;
  /** Labels added to every series scraped from it (e.g. { pod: 'monitor-0' }). */
  labels?: Record<string, string>;
}

export interface PrometheusOptions {
  /** What to scrape, as one job. */
  targets?: readonly PrometheusTarget[];
  /** The job label (default 'rtmp-actors-monitor', as deploy/kubernetes names it). */
  job?: string;
  /** Scrape and rule-evaluation interval in seconds (default 1). */
  intervalS?: number;
  /** Rule files to load (absolute paths). */
  ruleFiles?: readonly string[];
  /** How long to wait for /-/ready (default 30 s). */
  startTimeoutMs?: number;
}

/** The JSON envelope of Prometheus' HTTP API. */
export interface PromApiResponse<T = unknown> {
  status: 'success' | 'error';
  data?: T;
  errorType?: string;
  error?: string;
  warnings?: string[];
}

export interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface PromVectorResult {
  resultType: 'vector' | 'matrix' | 'scalar' | 'string';
  result: PromSample[] | [number, string];
}

export interface Prometheus {
  readonly port: number;
  /** http://127.0.0.1:PORT */
  readonly url: string;
  /** The folder holding prometheus.yml and the TSDB. */
  readonly runDir: string;
  readonly pid: number;
  /** GET /api/v1/query?query=EXPR (an instant query now); never throws on a PromQL error. */
  query(expr: string): Promise<PromApiResponse<PromVectorResult>>;
  /** GET any API path (e.g. '/api/v1/targets', '/api/v1/rules') as parsed JSON. */
  api<T = unknown>(path: string): Promise<PromApiResponse<T>>;
  /** Waits until every configured target was scraped with health "up"; false after `timeoutMs`. */
  waitForTargetsUp(timeoutMs: number): Promise<boolean>;
  /** Prometheus' own output so far (its log goes to stderr). */
  log(): string;
  /** SIGTERM to its pid, SIGKILL after 10 s; removes the folder. */
  stop(): Promise<void>;
}

function httpGetJson<T>(url: string, timeoutMs = 10_000): Promise<{ status: number; body: T }> {
  return new Promise((resolve, reject) => {
    const req = get(url, { timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as T });
        } catch {
          reject(new Error(`${url}: HTTP ${res.statusCode}, not JSON: ${text.slice(0, 200)}`));
        }
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${url}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

function httpStatus(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = get(url, { timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

/** Starts Prometheus on a free loopback port, scraping `targets` every `intervalS` seconds. */
export async function startPrometheus(options: PrometheusOptions = {}): Promise<Prometheus> {
  const bin = requireTool('prometheus', 'prometheus');
  const runDir = mkdtempSync(join(tmpdir(), 'rtmp-actors-prometheus-'));
  const job = options.job ?? 'rtmp-actors-monitor';
  const interval = `${options.intervalS ?? 1}s`;
  const config = {
    global: { scrape_interval: interval, evaluation_interval: interval, scrape_timeout: interval },
    ...(options.ruleFiles?.length ? { rule_files: [...options.ruleFiles] } : {}),
    scrape_configs: [
      {
        job_name: job,
        metrics_path: '/metrics',
        static_configs: (options.targets ?? []).map((t) => ({
          targets: [t.address],
          ...(t.labels ? { labels: t.labels } : {}),
        })),
      },
    ],
  };
  const configPath = join(runDir, 'prometheus.yml');
  writeFileSync(configPath, stringify(config));
  const startTimeoutMs = options.startTimeoutMs ?? 30_000;

  let proc: TrackedProcess | undefined;
  let port = 0;
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    port = await freePort();
    const p = spawnTracked(
      'prometheus',
      bin,
      [
        `--config.file=${configPath}`,
        `--storage.tsdb.path=${join(runDir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      { cwd: runDir, parentDeathSignal: 'TERM' },
    );
    try {
      await waitForListening(port, startTimeoutMs, () => p.running);
      const ready = await waitFor(
        async () => (await httpStatus(`http://127.0.0.1:${port}/-/ready`)) === 200 || !p.running,
        startTimeoutMs,
        100,
      );
      if (!ready || !p.running) throw new Error('not ready');
      proc = p;
      lastError = undefined;
      break;
    } catch (err) {
      lastError = new Error(
        `prometheus did not start on 127.0.0.1:${port} (${(err as Error).message}).\n` +
          `stderr:\n${p.stderrTail().trim().split('\n').slice(-15).join('\n')}\nconfig: ${configPath}`,
      );
      await p.stop('SIGKILL', 2000);
      // Another process took the port between freePort and prometheus' bind: try another.
      if (!/address already in use/i.test(p.stderrTail())) break;
    }
  }
  if (!proc || lastError) throw lastError ?? new Error('prometheus did not start');
  const running = proc;
  const url = `http://127.0.0.1:${port}`;

  const api = async <T>(path: string): Promise<PromApiResponse<T>> =>
    (await httpGetJson<PromApiResponse<T>>(`${url}${path}`)).body;

  const handle: Prometheus = {
    port,
    url,
    runDir,
    pid: running.pid,
    query: (expr) => api<PromVectorResult>(`/api/v1/query?query=${encodeURIComponent(expr)}`),
    api,
    waitForTargetsUp: (timeoutMs) =>
      waitFor(
        async () => {
          const r = await api<{ activeTargets: Array<{ health: string }> }>('/api/v1/targets');
          const active = r.data?.activeTargets ?? [];
          return (
            active.length === (options.targets ?? []).length &&
            active.every((t) => t.health === 'up')
          );
        },
        timeoutMs,
        250,
      ),
    log: () => running.stderrTail(),
    stop: async () => {
      if (running.running) {
        await running.stop('SIGTERM', 10_000);
        await waitForClosed(port, 2000);
      }
      rmSync(runDir, { recursive: true, force: true });
    },
  };
  trackStoppable(handle);
  return handle;
}
