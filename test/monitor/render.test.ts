import {
  eventJson,
  formatBitrate,
  formatBytes,
  formatDuration,
  LiveTable,
  overallExitCode,
  renderTable,
  snapshotJson,
} from '../../src/monitor/render';
import type { StreamSnapshot } from '../../src/monitor/stats';

function snapshot(overrides: Partial<StreamSnapshot> = {}): StreamSnapshot {
  return {
    id: 'cam1',
    labels: {},
    at: 0,
    state: 'playing',
    health: 'healthy',
    reason: undefined,
    reasonMessage: undefined,
    failures: {},
    videoBitrate: 1_000_000,
    audioBitrate: 128_000,
    fps: 30,
    arrivalFps: 24,
    keyframeInterval: 2,
    videoCodec: 'avc',
    videoFourCc: undefined,
    audioCodec: 'aac',
    audioFourCc: undefined,
    width: 640,
    height: 360,
    audioSampleRate: 48000,
    audioChannels: 2,
    lastMediaAgeMs: 40,
    driftMs: 120,
    avSkewMs: -30,
    stalls: 1,
    reconnects: 2,
    bytesReceived: 12_345_678,
    messagesReceived: 100,
    lastStatus: undefined,
    ...overrides,
  };
}

/** A writable that records what it is given, posing as a terminal or not. */
function fakeOutput(
  isTTY: boolean,
  columns = 200,
): { write(s: string): boolean; isTTY: boolean; columns: number; chunks: string[] } {
  const chunks: string[] = [];
  return { isTTY, columns, chunks, write: (s: string) => (chunks.push(s), true) };
}

describe('human units', () => {
  it('formats bitrates, byte counts and durations with units', () => {
    expect(formatBitrate(950)).toBe('950 bit/s');
    expect(formatBitrate(128_000)).toBe('128 kbit/s');
    expect(formatBitrate(1_000_080)).toBe('1.00 Mbit/s');
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(12_345_678)).toBe('12.3 MB');
    expect(formatDuration(40)).toBe('40 ms');
    expect(formatDuration(2500)).toBe('2.5 s');
    expect(formatDuration(185_000)).toBe('3m05s');
    expect(formatDuration(undefined)).toBe('-');
  });
});

describe('renderTable', () => {
  it('shows one row per stream with its figures in human units', () => {
    const text = renderTable([
      snapshot(),
      snapshot({ id: 'studio-b', health: 'stalled', videoFourCc: 'hvc1', videoCodec: 'hevc' }),
    ]);
    const lines = text.split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^ID\s+HEALTH\/STATE\s+REASON\s+VIDEO\s+AUDIO\s+FPS\s+ARRIVAL\s+GOP/);
    expect(lines[1]).toContain('cam1');
    expect(lines[1]).toContain('healthy/playing');
    expect(lines[1]).toContain('1.00 Mbit/s');
    expect(lines[1]).toContain('128 kbit/s');
    expect(lines[1]).toMatch(/30\.0\s+24\.0/);
    expect(lines[1]).toContain('2.0 s');
    expect(lines[1]).toContain('avc/aac');
    expect(lines[1]).toContain('640x360');
    expect(lines[1]).toContain('+120 ms');
    expect(lines[1]).toContain('-30 ms');
    expect(lines[1]).toContain('12.3 MB');
    expect(lines[2]).toContain('studio-b');
    expect(lines[2]).toContain('stalled/playing');
    expect(lines[2]).toContain('hvc1/aac');
    expect(text).not.toContain('\x1b[');
  });

  it('shows why a stream is not healthy in the reason column', () => {
    const text = renderTable([
      snapshot({
        id: 'cam-7',
        health: 'failed',
        state: 'failed',
        reason: 'MAX_CONNECTIONS',
        fps: undefined,
        arrivalFps: undefined,
      }),
    ]);
    expect(text.split('\n')[1]).toMatch(/^cam-7\s+failed\/failed\s+MAX_CONNECTIONS\s/);
  });

  it('leaves out trailing columns that do not fit the width', () => {
    const full = renderTable([snapshot()]);
    const narrow = renderTable([snapshot()], { width: 60 });
    for (const line of narrow.split('\n')) expect(line.length).toBeLessThanOrEqual(60);
    expect(narrow).toContain('cam1');
    expect(full).toContain('RECEIVED');
    expect(narrow).not.toContain('RECEIVED');
  });

  it('colours the health when asked to', () => {
    const text = renderTable([snapshot(), snapshot({ id: 'cam2', health: 'down' })], {
      color: true,
    });
    expect(text).toContain('\x1b[32mhealthy/playing');
    expect(text).toContain('\x1b[31mdown/playing');
  });
});

describe('LiveTable', () => {
  it('redraws in place on a terminal: cursor up over the previous block, clearing each line', () => {
    const out = fakeOutput(true);
    const live = new LiveTable(out);
    live.draw('a\nb\nc');
    expect(out.chunks[0]).not.toContain('\x1b[3A');
    expect(out.chunks[0]).toContain('\x1b[2Ka\n');
    live.draw('d\ne\nf');
    expect(out.chunks[1].startsWith('\r\x1b[3A')).toBe(true);
    expect(out.chunks[1]).toContain('\x1b[2Kd\n\x1b[2Ke\n\x1b[2Kf\n');
  });

  it('counts lines that wrap on a narrow terminal when moving the cursor up', () => {
    const out = fakeOutput(true, 10);
    const live = new LiveTable(out);
    live.draw('x'.repeat(25) + '\nshort');
    live.draw('next');
    expect(out.chunks[1].startsWith('\r\x1b[4A')).toBe(true);
  });

  it('just writes each table after the last when the output is not a terminal', () => {
    const out = fakeOutput(false);
    const live = new LiveTable(out);
    live.draw('a\nb');
    live.draw('c\nd');
    expect(out.chunks).toEqual(['a\nb\n', 'c\nd\n']);
  });
});

describe('JSON lines', () => {
  it('describes a stream snapshot as one JSON line of kind "stream"', () => {
    const line = snapshotJson(snapshot({ fps: 29.97003 }), Date.UTC(2025, 0, 2, 3, 4, 5));
    expect(line).not.toContain('\n');
    const parsed = JSON.parse(line) as Record<string, unknown>;
    expect(parsed).not.toHaveProperty('url');
    expect(parsed).toMatchObject({
      kind: 'stream',
      time: '2025-01-02T03:04:05.000Z',
      id: 'cam1',
      health: 'healthy',
      videoBitrate: 1_000_000,
      fps: 29.97,
      arrivalFps: 24,
      width: 640,
      bytesReceived: 12_345_678,
    });
  });

  it('describes an event as one JSON line of kind "event"', () => {
    const parsed = JSON.parse(
      eventJson({ id: 'cam1', event: 'stall', at: 0, state: 'playing', lastMediaAgeMs: 5001 }),
    ) as Record<string, unknown>;
    expect(parsed).toEqual({
      kind: 'event',
      at: 0,
      time: '1970-01-01T00:00:00.000Z',
      id: 'cam1',
      event: 'stall',
      state: 'playing',
      lastMediaAgeMs: 5001,
    });
  });
});

describe('JSON lines of refusals', () => {
  it('carries the reason of a failure event and of a failed stream', () => {
    const event = JSON.parse(
      eventJson({
        id: 'cam-7',
        event: 'failure',
        at: 0,
        state: 'failed',
        reason: 'MAX_CONNECTIONS',
        message: 'maxConnections 2 reached (--max-connections 2)',
      }),
    ) as Record<string, unknown>;
    expect(event).toMatchObject({ id: 'cam-7', event: 'failure', reason: 'MAX_CONNECTIONS' });
    expect(event.message).toContain('--max-connections 2');
    const stream = JSON.parse(
      snapshotJson(
        snapshot({
          id: 'cam-7',
          health: 'failed',
          reason: 'MAX_CONNECTIONS',
          failures: { MAX_CONNECTIONS: 1 },
          labels: { site: 'paris' },
        }),
        0,
      ),
    ) as Record<string, unknown>;
    expect(stream).toMatchObject({
      id: 'cam-7',
      labels: { site: 'paris' },
      reason: 'MAX_CONNECTIONS',
      failures: { MAX_CONNECTIONS: 1 },
    });
  });
});

describe('overallExitCode', () => {
  it('is 0 when every stream is healthy', () => {
    expect(overallExitCode([snapshot(), snapshot({ id: 'cam2' })])).toBe(0);
  });

  it('is 7 when some stream is unhealthy', () => {
    expect(overallExitCode([snapshot(), snapshot({ health: 'stalled' })])).toBe(7);
    expect(overallExitCode([snapshot(), snapshot({ health: 'failed', bytesReceived: 0 })])).toBe(7);
  });

  it('is 7 when every stream is down but one had received media', () => {
    expect(
      overallExitCode([
        snapshot({ health: 'down', bytesReceived: 10 }),
        snapshot({ health: 'failed', bytesReceived: 0 }),
      ]),
    ).toBe(7);
  });

  it('is 3 when no stream could connect', () => {
    expect(
      overallExitCode([
        snapshot({ health: 'down', bytesReceived: 0 }),
        snapshot({ health: 'failed', bytesReceived: 0 }),
      ]),
    ).toBe(3);
  });
});
