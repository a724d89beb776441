/**
 * What the deploy tests share: live publishers on nginx-rtmp, a targets file, and the built CLI's
 * `monitor` run as its own process (as a pod runs it) with its metrics address read from stderr.
 */
import { writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import {
  spawnTracked,
  startFfmpegPublisher,
  waitFor,
  type NginxRtmp,
  type PublisherHandle,
  type TrackedProcess,
} from '../helpers';

export const ROOT = resolve(__dirname, '..', '..');
export const CLI = join(ROOT, 'bin', 'rtmp-actors');
export const SMALL_FLV = join(ROOT, 'test', 'fixtures', 'media', 'small.flv');

/** nginx-rtmp's /stat XML (empty text when it does not answer). */
export function nginxStat(nginx: NginxRtmp): Promise<string> {
  return new Promise((res) => {
    const req = get(`http://127.0.0.1:${nginx.statPort}/stat`, { timeout: 5000 }, (r) => {
      let body = '';
      r.on('data', (d: Buffer) => (body += d.toString('utf8')));
      r.on('end', () => res(body));
    });
    req.on('error', () => res(''));
    req.on('timeout', () => req.destroy());
  });
}

/** One looping real-time ffmpeg publisher of small.flv (1 Mbit/s, 30 fps) per name on live/. */
export async function startPublishers(
  nginx: NginxRtmp,
  names: readonly string[],
): Promise<PublisherHandle[]> {
  const pubs = names.map((n) =>
    startFfmpegPublisher(`rtmp://127.0.0.1:${nginx.port}/live/${n}`, { file: SMALL_FLV }),
  );
  const publishing = await waitFor(
    async () => {
      const xml = await nginxStat(nginx);
      return names.every((n) => xml.includes(`<name>${n}</name>`));
    },
    20_000,
    200,
  );
  if (!publishing) {
    throw new Error(
      `nginx-rtmp does not list every publisher: ${pubs.map((p) => p.stderr()).join('\n')}`,
    );
  }
  return pubs;
}

export interface Target {
  id: string;
  url: string;
  labels?: Record<string, string>;
}

/** Writes `{streams: [...]}` as YAML to `file`. */
export function writeTargets(file: string, streams: readonly Target[]): string {
  writeFileSync(file, stringify({ streams }));
  return file;
}

export interface MonitorProcess {
  readonly proc: TrackedProcess;
  /** The port of its HTTP side (`--metrics 127.0.0.1:0`). */
  readonly port: number;
  /** host:port, for a Prometheus target. */
  readonly address: string;
}

/**
 * Runs `bin/rtmp-actors monitor ARGS --metrics 127.0.0.1:0` and waits for its
 * `metrics on http://HOST:PORT/metrics` line on stderr.
 */
export async function startMonitor(args: readonly string[]): Promise<MonitorProcess> {
  const proc = spawnTracked('rtmp-actors-monitor', process.execPath, [
    CLI,
    'monitor',
    ...args,
    '--metrics',
    '127.0.0.1:0',
  ]);
  let port = 0;
  const found = await waitFor(
    () => {
      const m = /metrics on http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(proc.stderrTail());
      if (m) port = Number(m[1]);
      return port > 0 || !proc.running;
    },
    30_000,
    50,
  );
  if (!found || port === 0) {
    await proc.stop('SIGKILL', 2000);
    throw new Error(
      `monitor ${args.join(' ')} did not print its metrics address:\n${proc.stderrTail()}`,
    );
  }
  return { proc, port, address: `127.0.0.1:${port}` };
}
