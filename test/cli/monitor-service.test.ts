/**
 * `rtmp-actors monitor` as users run it (the built bin/rtmp-actors, its defaults) against
 * nginx-rtmp with live ffmpeg publishers: hundreds of targets from a targets file, the file
 * edited while it runs, the HTTP API, and a refusal's reason in the events and metrics.
 */
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  generateMedia,
  requireTool,
  runCommand,
  spawnTracked,
  startFfmpegPublisher,
  startNginxRtmp,
  stopAll,
  waitFor,
  type NginxRtmp,
  type PublisherHandle,
  type TrackedProcess,
} from '../helpers';

const BIN = join(__dirname, '..', '..', 'bin', 'rtmp-actors');
const PUBLISHERS = 5;

interface Line {
  kind: string;
  id?: string;
  event?: string;
  health?: string;
  state?: string;
  reason?: string;
  reasonMessage?: string;
  message?: string;
  fps?: number;
  arrivalFps?: number;
  videoBitrate?: number;
  messagesReceived?: number;
  exitCode?: number;
  streams?: number;
  healthy?: number;
  ok?: boolean;
  reconnects?: number;
  labels?: Record<string, string>;
}

/** A running monitor: its JSON lines as they come (the last stream line per id kept), stderr, exit. */
interface Running {
  proc: TrackedProcess;
  /** Last stream line per id. */
  latest: Map<string, Line>;
  /** Every non-stream line (events, targets, summary). */
  other: Line[];
  stderr(): string;
  metricsUrl(): Promise<string>;
}

function runMonitor(args: string[], openFiles?: number): Running {
  const latest = new Map<string, Line>();
  const other: Line[] = [];
  let rest = '';
  const command: [string, string[]] =
    openFiles === undefined
      ? [process.execPath, [BIN, 'monitor', ...args]]
      : // A lower file-descriptor limit for this process only (the shell's ulimit, then exec).
        [
          '/bin/sh',
          [
            '-c',
            `ulimit -n ${openFiles} && exec "$0" "$@"`,
            process.execPath,
            BIN,
            'monitor',
            ...args,
          ],
        ];
  const proc = spawnTracked('rtmp-actors-monitor', command[0], command[1], {
    parentDeathSignal: 'TERM',
    onStdout: (chunk) => {
      const text = rest + chunk.toString('utf8');
      const lines = text.split('\n');
      rest = lines.pop() ?? '';
      for (const l of lines) {
        if (l.trim() === '') continue;
        const line = JSON.parse(l) as Line;
        if (line.kind === 'stream' && line.id !== undefined) latest.set(line.id, line);
        else other.push(line);
      }
    },
  });
  return {
    proc,
    latest,
    other,
    stderr: () => proc.stderrTail(),
    metricsUrl: async () => {
      let url = '';
      await waitFor(() => {
        url = /metrics on (http:\/\/[^\s]+)\/metrics/.exec(proc.stderrTail())?.[1] ?? '';
        return url !== '';
      }, 20_000);
      if (!url) throw new Error(`no metrics address: ${proc.stderrTail()}`);
      return url;
    },
  };
}

function targetsYaml(
  entries: { id: string; url: string; labels?: Record<string, string> }[],
): string {
  return `streams:\n${entries
    .map(
      (e) =>
        `  - id: ${e.id}\n    url: "${e.url}"\n${e.labels ? `    labels: ${JSON.stringify(e.labels)}\n` : ''}`,
    )
    .join('')}`;
}

/** Writes a file the way editors and ConfigMaps do: a new file renamed over the old one. */
function replaceFile(path: string, text: string): void {
  writeFileSync(`${path}.new`, text);
  renameSync(`${path}.new`, path);
}

async function scrape(base: string, path = '/metrics'): Promise<string> {
  const res = await fetch(`${base}${path}`);
  return res.text();
}

/** Players (not publishers) nginx-rtmp lists for stream `name` on its stat page. */
async function nginxPlayers(statPort: number, name: string): Promise<number> {
  const xml = await scrape(`http://127.0.0.1:${statPort}`, '/stat');
  const stream = (xml.match(/<stream>.*?<\/stream>/gs) ?? []).find((b) =>
    b.includes(`<name>${name}</name>`),
  );
  if (!stream) return 0;
  return (stream.match(/<client>.*?<\/client>/gs) ?? []).filter((c) => !c.includes('<publishing/>'))
    .length;
}

/** Video tag bytes per second and frames per second of an FLV file, from its tags. */
function flvVideoFigures(path: string): { bitrate: number; fps: number } {
  const flv = readFileSync(path);
  let p = 13;
  let bytes = 0;
  let frames = 0;
  let first: number | undefined;
  let last = 0;
  while (p + 11 <= flv.length) {
    const type = flv[p];
    const size = flv.readUIntBE(p + 1, 3);
    const ts = flv.readUIntBE(p + 4, 3) | (flv[p + 7] << 24);
    if (type === 9 && size > 1 && flv[p + 12] === 1) {
      // An AVC coded frame (not the sequence header).
      bytes += size;
      frames++;
      first ??= ts;
      last = ts;
    }
    p += 11 + size + 4;
  }
  const seconds = (last - (first ?? 0)) / 1000 + 1 / (frames / ((last - (first ?? 0)) / 1000 || 1));
  return { bitrate: (bytes * 8) / seconds, fps: frames / seconds };
}

async function json<T>(res: Response): Promise<T> {
  return (await res.json()) as T;
}

async function post(base: string, body: string, type = 'application/json'): Promise<Response> {
  return fetch(`${base}/streams`, { method: 'POST', headers: { 'content-type': type }, body });
}

describe('rtmp-actors monitor as a service, against nginx-rtmp with live ffmpeg publishers', () => {
  let nginx: NginxRtmp;
  let dir: string;
  let base: string;
  let media: string;
  const publishers: PublisherHandle[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rtmp-actors-monitor-service-'));
    nginx = await startNginxRtmp();
    base = `rtmp://127.0.0.1:${nginx.port}/live`;
    const file = (media = await generateMedia(dir, {
      seconds: 4,
      width: 160,
      height: 90,
      fps: 30,
      videoBitrate: '100k',
      gop: 30,
    }));
    for (let i = 0; i < PUBLISHERS; i++)
      publishers.push(startFfmpegPublisher(`${base}/pub${i}`, { file }));
    const published = await waitFor(
      async () => {
        try {
          const xml = await scrape(`http://127.0.0.1:${nginx.statPort}`, '/stat');
          return (
            (xml.match(/<client>.*?<\/client>/gs) ?? []).filter((c) => c.includes('<publishing/>'))
              .length === PUBLISHERS
          );
        } catch {
          return false;
        }
      },
      20_000,
      200,
    );
    if (!published) throw new Error(`publishers did not start: ${publishers[0].stderr()}`);
  }, 90_000);

  afterAll(async () => {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reports all 200 targets of a targets file healthy with its defaults, and exits 0', async () => {
    const file = join(dir, 'two-hundred.yaml');
    const entries = Array.from({ length: 200 }, (_, i) => ({
      id: `cam-${String(i).padStart(3, '0')}`,
      // 200 plays of 5 published streams: nginx-rtmp ignores the query when it looks the name up.
      url: `${base}/pub${i % PUBLISHERS}?viewer=${i}`,
      labels: { site: i % 2 === 0 ? 'paris' : 'lyon' },
    }));
    writeFileSync(file, targetsYaml(entries));
    const run = runMonitor(['--targets', file, '--json', '--duration', '15']);
    const code = await run.proc.exited;
    const summary = run.other.find((l) => l.kind === 'summary');
    const unhealthy = [...run.latest.values()].filter((l) => l.health !== 'healthy');
    expect({
      code,
      summary,
      unhealthy: unhealthy.slice(0, 3),
      stderr: code === 0 ? '' : run.stderr(),
    }).toMatchObject({
      code: 0,
      summary: { exitCode: 0, streams: 200, healthy: 200 },
      unhealthy: [],
    });
    expect(run.latest.size).toBe(200);
    // nginx-rtmp serves one stream per connection: the streams that tried to share one were moved
    // to connections of their own, and that is no failure.
    expect(run.other.filter((l) => l.event === 'failure' || l.state === 'failed')).toEqual([]);
    expect(run.other.find((l) => l.kind === 'targets')).toMatchObject({
      ok: true,
      total: 200,
      watching: 200,
    });
    expect(run.stderr()).toMatch(/targets: 200 loaded from .*two-hundred\.yaml, 200 watched/);
    // No URL, no stream key in what the monitor printed.
    expect(run.stderr()).not.toContain('viewer=');
    expect(run.stderr()).not.toContain('pub0');
  }, 60_000);

  it('applies an edit of the targets file within 5 s: added starts, removed stops, untouched keeps counting', async () => {
    const file = join(dir, 'edited.yaml');
    writeFileSync(
      file,
      targetsYaml([
        { id: 'keep', url: `${base}/pub0?edit=keep`, labels: { site: 'paris' } },
        { id: 'drop', url: `${base}/pub1?edit=drop` },
      ]),
    );
    const run = runMonitor(['--targets', file, '--json', '--metrics', '127.0.0.1:0']);
    const http = await run.metricsUrl();
    const healthy = (ids: string[]) => ids.every((id) => run.latest.get(id)?.health === 'healthy');
    expect(await waitFor(() => healthy(['keep', 'drop']), 20_000, 100)).toBe(true);
    expect(await nginxPlayers(nginx.statPort, 'pub1')).toBe(1);
    const keepBefore = run.latest.get('keep')?.messagesReceived ?? 0;

    replaceFile(
      file,
      targetsYaml([
        { id: 'keep', url: `${base}/pub0?edit=keep`, labels: { site: 'paris' } },
        { id: 'added', url: `${base}/pub2?edit=added`, labels: { site: 'lyon' } },
      ]),
    );
    const editedAt = Date.now();
    const applied = await waitFor(
      async () => {
        const streams = await json<Line[]>(await fetch(`${http}/streams`));
        const ids = streams.map((s) => s.id).sort();
        return ids.join() === 'added,keep';
      },
      5000,
      50,
    );
    expect({ applied, within: Date.now() - editedAt }).toMatchObject({ applied: true });
    expect(Date.now() - editedAt).toBeLessThanOrEqual(5000);
    // The removed stream was stopped on the server (deleteStream), the added one plays.
    expect(
      await waitFor(async () => (await nginxPlayers(nginx.statPort, 'pub1')) === 0, 5000, 100),
    ).toBe(true);
    expect(await waitFor(() => healthy(['added']), 15_000, 100)).toBe(true);
    // The untouched stream was not restarted: same play, counters still growing.
    await waitFor(
      () => (run.latest.get('keep')?.messagesReceived ?? 0) > keepBefore + 30,
      5000,
      100,
    );
    expect(run.latest.get('keep')).toMatchObject({ health: 'healthy', reconnects: 0 });
    expect(run.latest.get('keep')?.messagesReceived).toBeGreaterThan(keepBefore + 30);
    let metrics = await scrape(http);
    expect(metrics).toContain('rtmp_monitor_targets 2');
    expect(metrics).toContain('rtmp_stream_up{id="added",site="lyon"} 1');
    expect(metrics).not.toContain('id="drop"');
    expect(metrics).toContain('rtmp_monitor_targets_reload_success 1');

    // A file that does not parse keeps the last good targets, and says so in the metrics.
    replaceFile(file, 'streams:\n  - id: [broken\n');
    expect(
      await waitFor(
        async () => (await scrape(http)).includes('rtmp_monitor_targets_reload_success 0'),
        5000,
        100,
      ),
    ).toBe(true);
    metrics = await scrape(http);
    expect(metrics).toContain('rtmp_monitor_targets_reload_failures_total 1');
    expect(metrics).toContain('rtmp_monitor_targets 2');
    expect(run.stderr()).toMatch(
      /reload failed, keeping the last good 2 target\(s\): .*not valid YAML/,
    );
    expect(run.other.some((l) => l.kind === 'targets' && l.ok === false)).toBe(true);

    // Fixed and signalled (SIGHUP): read again at once.
    writeFileSync(
      file,
      targetsYaml([{ id: 'keep', url: `${base}/pub0?edit=keep`, labels: { site: 'paris' } }]),
    );
    process.kill(run.proc.pid, 'SIGHUP');
    expect(
      await waitFor(
        async () => (await scrape(http)).includes('rtmp_monitor_targets 1\n'),
        5000,
        100,
      ),
    ).toBe(true);
    expect(await scrape(http)).toContain('rtmp_monitor_targets_reload_success 1');
    run.proc.child.kill('SIGTERM');
    expect(await run.proc.exited).toBe(0);
    expect(run.other[run.other.length - 1]).toMatchObject({
      kind: 'summary',
      exitCode: 0,
      streams: 1,
    });
  }, 60_000);

  it('serves /healthz, /readyz and a /streams API that adds and removes targets and refuses bad requests with 4xx', async () => {
    const file = join(dir, 'api.yaml');
    writeFileSync(file, targetsYaml([{ id: 'from-file', url: `${base}/pub3?api=file` }]));
    const run = runMonitor(['--targets', file, '--json', '--http', '127.0.0.1:0']);
    const http = await run.metricsUrl();
    expect((await fetch(`${http}/healthz`)).status).toBe(200);
    expect(
      await waitFor(async () => (await fetch(`${http}/readyz`)).status === 200, 10_000, 100),
    ).toBe(true);
    // The process's own metrics, as Prometheus exporters have them.
    const own = await scrape(http);
    const value = (name: string): number =>
      Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(own)?.[1] ?? NaN);
    expect(value('process_resident_memory_bytes')).toBeGreaterThan(10e6);
    expect(value('process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(value('process_open_fds')).toBeGreaterThan(2);
    expect(value('process_open_fds')).toBeLessThan(value('process_max_fds'));
    expect(Date.now() / 1000 - value('process_start_time_seconds')).toBeLessThan(120);
    expect(own).toMatch(/^nodejs_eventloop_lag_seconds \S+$/m);
    expect(own).toMatch(/^nodejs_heap_size_used_bytes \S+$/m);
    // promtool's lint finds nothing in them; its one complaint is the bitrates' unit (bits,
    // as video bitrates are given, where it wants bytes).
    const scraped = join(dir, 'scraped.prom');
    writeFileSync(scraped, own);
    const lint = await runCommand('sh', [
      '-c',
      `"${requireTool('promtool', 'prometheus')}" check metrics < "${scraped}"`,
    ]);
    const complaints = `${lint.stdout.toString()}${lint.stderr}`
      .split('\n')
      .filter((l) => l.trim() !== '');
    // 0: clean, 3: lint complaints (a text it cannot parse is 1).
    expect([0, 3]).toContain(lint.code);
    expect(complaints.filter((l) => !/^rtmp_stream_(audio|video)_bitrate_bits /.test(l))).toEqual(
      [],
    );

    const created = await post(
      http,
      JSON.stringify({ id: 'api-1', url: `${base}/pub4?api=1`, labels: { site: 'nice' } }),
    );
    expect(created.status).toBe(201);
    expect(await created.json()).toEqual({ id: 'api-1' });
    expect(
      await waitFor(
        async () => {
          const s = await json<Line>(await fetch(`${http}/streams/api-1`));
          return s.health === 'healthy';
        },
        15_000,
        100,
      ),
    ).toBe(true);
    const all = await json<Line[]>(await fetch(`${http}/streams`));
    expect(all.map((s) => s.id).sort()).toEqual(['api-1', 'from-file']);
    expect(all.find((s) => s.id === 'api-1')).toMatchObject({
      labels: { site: 'nice' },
      health: 'healthy',
    });
    expect(JSON.stringify(all)).not.toContain('api=1');

    const refusals: [Response, number, string][] = [
      [await post(http, JSON.stringify({ id: 'api-1', url: `${base}/pub4` })), 409, 'DUPLICATE_ID'],
      [
        await post(http, JSON.stringify({ id: 'from-file', url: `${base}/pub4` })),
        409,
        'DUPLICATE_ID',
      ],
      [await post(http, '{"id": "x", '), 400, 'BAD_JSON'],
      [
        await post(http, JSON.stringify({ id: 'x', url: 'http://example.com/live/x' })),
        400,
        'BAD_URL',
      ],
      [
        await post(http, JSON.stringify({ id: 'x', url: `${base}/x`, labels: { state: 'y' } })),
        400,
        'BAD_LABEL',
      ],
      [await post(http, JSON.stringify({ url: `${base}/x` })), 400, 'BAD_ID'],
      [
        await post(http, JSON.stringify({ id: 'x', url: `${base}/x`, pad: 'p'.repeat(70_000) })),
        413,
        'BODY_TOO_LARGE',
      ],
      [
        await post(http, 'id=x', 'application/x-www-form-urlencoded'),
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      ],
      [await fetch(`${http}/streams/nope`, { method: 'DELETE' }), 404, 'NOT_FOUND'],
      [await fetch(`${http}/streams`, { method: 'PUT', body: '{}' }), 405, 'METHOD_NOT_ALLOWED'],
      [await fetch(`${http}/nothing-here`), 404, 'NOT_FOUND'],
    ];
    for (const [res, status, code] of refusals) {
      expect({ status: res.status, body: await res.json() }).toMatchObject({
        status,
        body: { error: { code } },
      });
    }
    // Nothing changed.
    expect((await json<Line[]>(await fetch(`${http}/streams`))).map((s) => s.id).sort()).toEqual([
      'api-1',
      'from-file',
    ]);

    const deleted = await fetch(`${http}/streams/api-1`, { method: 'DELETE' });
    expect(deleted.status).toBe(204);
    expect((await fetch(`${http}/streams/api-1`, { method: 'DELETE' })).status).toBe(404);
    expect(
      await waitFor(async () => (await nginxPlayers(nginx.statPort, 'pub4')) === 0, 5000, 100),
    ).toBe(true);
    expect((await json<Line[]>(await fetch(`${http}/streams`))).map((s) => s.id)).toEqual([
      'from-file',
    ]);
    run.proc.child.kill('SIGINT');
    expect(await run.proc.exited).toBe(0);
  }, 60_000);

  it('shows a refusal with its reason in the JSON events, the stream lines and the metrics', async () => {
    const file = join(dir, 'refused.yaml');
    writeFileSync(
      file,
      targetsYaml(
        Array.from({ length: 4 }, (_, i) => ({ id: `r-${i}`, url: `${base}/pub${i}?r=${i}` })),
      ),
    );
    const run = runMonitor([
      '--targets',
      file,
      '--json',
      '--duration',
      '6',
      '--max-connections',
      '2',
      '--metrics',
      '127.0.0.1:0',
    ]);
    const http = await run.metricsUrl();
    let metrics = '';
    await waitFor(
      async () => {
        metrics = await scrape(http).catch(() => metrics);
        return /rtmp_stream_failures_total\{id="r-\d",reason="MAX_CONNECTIONS"\} 1/.test(metrics);
      },
      15_000,
      200,
    );
    const code = await run.proc.exited;
    expect(metrics).toMatch(/rtmp_stream_failures_total\{id="r-\d",reason="MAX_CONNECTIONS"\} 1/);
    expect(code).toBe(7);
    const failures = run.other.filter((l) => l.kind === 'event' && l.event === 'failure');
    expect(failures.length).toBeGreaterThanOrEqual(2);
    expect(failures[0]).toMatchObject({ reason: 'MAX_CONNECTIONS' });
    expect(failures[0].message).toMatch(/^maxConnections 2 reached \(--max-connections 2\)/);
    const lines = [...run.latest.values()];
    expect(lines.filter((l) => l.health === 'healthy')).toHaveLength(2);
    expect(
      lines.filter((l) => l.health === 'failed' && l.reason === 'MAX_CONNECTIONS'),
    ).toHaveLength(2);
  }, 40_000);

  it('measures the frame rate and bitrate the ffmpeg publisher sends, in media and arrival rate', async () => {
    const expected = flvVideoFigures(media);
    const run = runMonitor([`${base}/pub0?rates=1`, '--json', '--duration', '8']);
    expect(await run.proc.exited).toBe(0);
    const last = [...run.latest.values()][0];
    expect(last.health).toBe('healthy');
    expect(Math.abs((last.fps ?? 0) - 30) / 30).toBeLessThan(0.1);
    expect(Math.abs((last.arrivalFps ?? 0) - 30) / 30).toBeLessThan(0.1);
    expect(Math.abs((last.videoBitrate ?? 0) - expected.bitrate) / expected.bitrate).toBeLessThan(
      0.25,
    );
  }, 30_000);

  it('names the file-descriptor limit when it is what refuses a stream', async () => {
    // ulimit -n 84: 84 - 64 (FD_RESERVE) = 20 connections for 24 targets on a server that wants one each.
    const file = join(dir, 'fd-limit.yaml');
    writeFileSync(
      file,
      targetsYaml(
        Array.from({ length: 24 }, (_, i) => ({
          id: `fd-${i}`,
          url: `${base}/pub${i % PUBLISHERS}?fd=${i}`,
        })),
      ),
    );
    const run = runMonitor(['--targets', file, '--json', '--duration', '8'], 84);
    expect(await run.proc.exited).toBe(7);
    const lines = [...run.latest.values()];
    expect(lines.filter((l) => l.health === 'healthy')).toHaveLength(20);
    const refused = lines.filter((l) => l.health === 'failed');
    expect(refused).toHaveLength(4);
    for (const l of refused) {
      expect(l.reason).toBe('MAX_CONNECTIONS');
      expect(l.reasonMessage).toMatch(
        /^maxConnections 20 reached \(the file-descriptor limit \(ulimit -n 84\) less 64/,
      );
    }
  }, 40_000);

  it('shows a stream whose publisher stopped as retrying, never failed, and healthy again when it is back', async () => {
    const url = `${base}/comeback`;
    let publisher = startFfmpegPublisher(url, { file: media });
    const run = runMonitor([`${url}?watch=1`, '--json', '--stall', '2']);
    const state = (): Line | undefined => [...run.latest.values()][0];
    expect(await waitFor(() => state()?.health === 'healthy', 20_000, 100)).toBe(true);
    await publisher.stop();
    expect(await waitFor(() => state()?.state === 'retrying', 20_000, 100)).toBe(true);
    // Offline for a while: still retrying, not failed, not flapping back to healthy.
    const offline: Line[] = [];
    const until = Date.now() + 6000;
    while (Date.now() < until) {
      const s = state();
      if (s) offline.push(s);
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(offline.filter((s) => s.health === 'failed' || s.health === 'healthy')).toEqual([]);
    publisher = startFfmpegPublisher(url, { file: media });
    expect(await waitFor(() => state()?.health === 'healthy', 60_000, 100)).toBe(true);
    expect(state()?.reconnects).toBeGreaterThanOrEqual(1);
    expect(run.other.some((l) => l.kind === 'event' && l.state === 'failed')).toBe(false);
    run.proc.child.kill('SIGTERM');
    expect(await run.proc.exited).toBe(0);
    await publisher.stop();
  }, 120_000);
});
