/**
 * Proves the real-peer harness: each peer starts on loopback, speaks RTMP to the reference
 * clients (rtmpdump, ffmpeg, ffprobe), and is gone afterwards.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  ffprobeJson,
  freePort,
  generateMedia,
  isAlive,
  isListening,
  makeTestCertificates,
  runningProcesses,
  runRtmpdump,
  startFfmpegListenServer,
  startFfmpegPublisher,
  startNginxRtmp,
  startNodeMediaServer,
  stopAll,
  type FfprobeResult,
  type NginxRtmp,
} from '../helpers';

jest.setTimeout(30_000);

const MEDIA_DIR = resolve(__dirname, '..', 'fixtures', 'media');
const SMALL_FLV = join(MEDIA_DIR, 'small.flv');

function codecs(probe: FfprobeResult): string[] {
  return probe.streams.map((s) => s.codec_name ?? '?').sort();
}

describe('the real-peer harness', () => {
  let nginx: NginxRtmp;
  let outDir: string;
  /** Every pid any peer had, to prove at the end that none is left. */
  const pids = new Set<number>();
  const ports = new Set<number>();

  beforeAll(async () => {
    outDir = mkdtempSync(join(tmpdir(), 'rtmp-actors-harness-'));
    const certs = await makeTestCertificates(join(outDir, 'certs'), { hostname: 'localhost' });
    nginx = await startNginxRtmp({
      mediaDir: MEDIA_DIR,
      tls: { cert: certs.certPath, key: certs.keyPath },
    });
    for (const pid of nginx.pids()) pids.add(pid);
    ports.add(nginx.port);
  });

  afterAll(async () => {
    await stopAll();
  });

  it('lets rtmpdump download a VOD file from nginx-rtmp that ffprobe reads as H.264 + AAC', async () => {
    const out = join(outDir, 'vod.flv');
    const result = await runRtmpdump(
      ['-r', `rtmp://127.0.0.1:${nginx.port}/vod/small.flv`, '-o', out, '--stop', '5'],
      { timeoutMs: 20_000 },
    );
    // 0: complete, 2: stopped early (--stop) or "may be incomplete"
    expect([0, 2]).toContain(result.code);
    const probe = await ffprobeJson(out, { countPackets: true });
    expect(codecs(probe)).toEqual(['aac', 'h264']);
    const video = probe.streams.find((s) => s.codec_type === 'video');
    expect(video?.width).toBe(640);
    expect(Number(video?.nb_read_packets)).toBeGreaterThan(100);
  });

  it('serves the same VOD file over rtmps through the nginx TLS front', async () => {
    expect(nginx.tlsPort).toBeDefined();
    const probe = await ffprobeJson(`rtmps://127.0.0.1:${nginx.tlsPort}/vod/small.flv`, {
      timeoutMs: 15_000,
    });
    expect(codecs(probe)).toEqual(['aac', 'h264']);
  });

  it('carries an ffmpeg live publish through nginx-rtmp to an ffprobe player', async () => {
    const url = `rtmp://127.0.0.1:${nginx.port}/live/harness`;
    const publisher = startFfmpegPublisher(url, { file: SMALL_FLV });
    pids.add(publisher.pid);
    const probe = await ffprobeJson(url, { timeoutMs: 15_000 });
    expect(codecs(probe)).toEqual(['aac', 'h264']);
    await publisher.stop();
    expect(isAlive(publisher.pid)).toBe(false);
  });

  it('restarts nginx-rtmp on the same ports with a new master process', async () => {
    const before = { port: nginx.port, statPort: nginx.statPort, pid: nginx.pid };
    await nginx.restart();
    for (const pid of nginx.pids()) pids.add(pid);
    expect(nginx.port).toBe(before.port);
    expect(nginx.statPort).toBe(before.statPort);
    expect(nginx.pid).not.toBe(before.pid);
    expect(isAlive(before.pid)).toBe(false);
    expect(isListening(nginx.port)).toBe(true);
    const res = await fetch(`http://127.0.0.1:${nginx.statPort}/stat`);
    expect(await res.text()).toContain('<rtmp>');
  });

  it('plays from node-media-server while ffmpeg publishes to it (rtmpdump --live, 3 s)', async () => {
    const nms = await startNodeMediaServer();
    pids.add(nms.pid);
    ports.add(nms.port);
    const url = `rtmp://127.0.0.1:${nms.port}/live/harness`;
    const publisher = startFfmpegPublisher(url, { file: SMALL_FLV });
    pids.add(publisher.pid);
    // node-media-server answers a play before the publish with StreamNotFound: wait for the publish.
    await ffprobeJson(url, { timeoutMs: 15_000 });
    const out = join(outDir, 'nms-live.flv');
    // rtmpdump ignores --stop on live streams; the harness stops it with SIGINT instead.
    const result = await runRtmpdump(['-r', url, '--live', '-o', out], {
      stopAfterMs: 3000,
      timeoutMs: 20_000,
    });
    expect(result).toMatchObject({ code: 2, stoppedEarly: true, timedOut: false });
    expect(codecs(await ffprobeJson(out))).toEqual(['aac', 'h264']);
    await publisher.stop();
    await nms.stop();
    expect(isAlive(nms.pid)).toBe(false);
    expect(isListening(nms.port)).toBe(false);
  });

  it('plays from ffmpeg acting as a one-peer RTMP server (-listen 1) with rtmpdump', async () => {
    const port = await freePort();
    ports.add(port);
    const server = await startFfmpegListenServer(SMALL_FLV, port, 'live', 'one');
    pids.add(server.pid);
    const out = join(outDir, 'listen.flv');
    const result = await runRtmpdump(['-r', server.url, '--live', '-o', out], {
      stopAfterMs: 2500,
      timeoutMs: 20_000,
    });
    expect(result).toMatchObject({ code: 2, stoppedEarly: true, timedOut: false });
    expect(codecs(await ffprobeJson(out))).toEqual(['aac', 'h264']);
    await server.stop();
    expect(isAlive(server.pid)).toBe(false);
  });

  it('generates H.264 + AAC test media of the asked size, cached by parameters', async () => {
    const options = { seconds: 2, width: 160, height: 90, fps: 10, gop: 10 };
    const first = await generateMedia(join(outDir, 'gen1'), options);
    const probe = await ffprobeJson(first, { countPackets: true });
    expect(codecs(probe)).toEqual(['aac', 'h264']);
    const video = probe.streams.find((s) => s.codec_type === 'video');
    expect({ width: video?.width, height: video?.height }).toEqual({ width: 160, height: 90 });
    expect(Number(video?.nb_read_packets)).toBe(20);
    const again = await generateMedia(join(outDir, 'gen2'), options);
    expect(readFileSync(again).equals(readFileSync(first))).toBe(true);
  });

  it('reports a broken nginx config with nginx’s own error and the config path', async () => {
    await expect(startNginxRtmp({ extraConfig: 'no_such_directive on;' })).rejects.toThrow(
      /unknown directive "no_such_directive"[\s\S]*nginx\.conf/,
    );
  });

  it('stops every peer it started and leaves no process or port behind', async () => {
    expect(pids.size).toBeGreaterThanOrEqual(7);
    await stopAll();
    expect(runningProcesses()).toEqual([]);
    for (const pid of pids) expect({ pid, alive: isAlive(pid) }).toEqual({ pid, alive: false });
    for (const port of ports)
      expect({ port, listening: isListening(port) }).toEqual({ port, listening: false });
  });
});
