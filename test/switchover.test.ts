import type { MediaMessage } from '../src/io/media';
import { SubjectSink } from '../src/io/media';
import { Switchover } from '../src/switchover';

/** Source frames: video every 33 ms (a keyframe every 10th), audio every 23 ms; payload = id. */
function sourceStream(): MediaMessage[] {
  const out: MediaMessage[] = [];
  let v = 0;
  let a = 0;
  while (v < 120 || a < 170) {
    const vt = v * 33;
    const at = a * 23;
    if (v < 120 && (vt <= at || a >= 170)) {
      const key = v % 10 === 0;
      out.push({
        type: 'Video',
        timestamp: vt,
        streamId: 1,
        payload: Buffer.from([key ? 0x17 : 0x27, 1, 0, 0, 0, v >> 8, v & 0xff]),
      });
      v++;
    } else {
      out.push({
        type: 'Audio',
        timestamp: at,
        streamId: 1,
        payload: Buffer.from([0xaf, 1, a >> 8, a & 0xff]),
      });
      a++;
    }
  }
  return out;
}

const id = (m: MediaMessage): string => (m.type === 'Data' ? 'data' : `${m.type[0]}${m.timestamp}`);

/**
 * Runs a switch: the old stream delivers `source` from index 0, the copy from `copyFrom` (its
 * first messages are ignored until a keyframe), interleaved `lead` messages ahead of the old.
 * Returns the output ids.
 */
function run(copyStart: number, lead: number, shift = 0): { out: string[]; sw: Switchover } {
  const source = sourceStream();
  const copy = source.slice(copyStart).map((m) => ({ ...m, timestamp: m.timestamp + shift }));
  const sw = new Switchover();
  const out: MediaMessage[] = [];
  const emit = (m: MediaMessage): void => {
    out.push(m);
  };
  let o = 0;
  let c = 0;
  // The old stream delivers 40 messages alone, then both go on, the copy `lead` ahead.
  for (; o < 40; o++) if (sw.fromOld(source[o], emit)) emit(source[o]);
  while (o < source.length || c < copy.length) {
    if (c < copy.length && (c < o - 40 + lead || o >= source.length)) {
      for (const m of sw.fromNew(copy[c++])) emit(m);
    } else if (o < source.length) {
      if (sw.fromOld(source[o], emit)) emit(source[o]);
      o++;
    }
  }
  return { out: out.map(id), sw };
}

function expectNoLossNoDuplicate(out: string[], shift = 0): void {
  const all = sourceStream().map(id);
  for (const kind of ['V', 'A']) {
    const got = out.filter((x) => x.startsWith(kind));
    const want = all.filter((x) => x.startsWith(kind));
    const first = want.indexOf(got[0]);
    if (shift === 0) expect(got).toEqual(want.slice(first));
    else expect(new Set(got).size).toBe(got.length);
  }
}

describe('Switchover (make-before-break at the copy keyframe)', () => {
  it('switches at once when the old stream is ahead of the copy keyframe, dropping the copy duplicates', () => {
    // The copy starts at source index 20 (before where the old stream is).
    const { out, sw } = run(20, 0);
    expectNoLossNoDuplicate(out);
    expect(sw.outcome).toMatchObject({ timeline: 'same', forced: false });
    expect(sw.outcome!.duplicatesDropped).toBeGreaterThan(0);
  });

  it('keeps delivering the old stream until it reaches the copy keyframe when the copy is ahead, then delivers the held copy frames', () => {
    const { out, sw } = run(90, 5);
    expectNoLossNoDuplicate(out);
    expect(sw.outcome).toMatchObject({ timeline: 'same', duplicatesDropped: 0, forced: false });
    expect(sw.outcome!.oldDropped).toBeGreaterThan(0);
  });

  it('shifts a copy on another timeline so that it follows the last delivered frame', () => {
    const { out, sw } = run(60, 3, 500_000);
    expect(sw.outcome!.timeline).toBe('shifted');
    const video = out.filter((x) => x.startsWith('V')).map((x) => Number(x.slice(1)));
    for (let i = 1; i < video.length; i++) expect(video[i]).toBeGreaterThan(video[i - 1]);
    expectNoLossNoDuplicate(out, 500_000);
  });

  it('forces the switch when the held copy frames exceed the budget, and says so', () => {
    const source = sourceStream();
    const sw = new Switchover({ maxBufferBytes: 20 });
    const emitted: MediaMessage[] = [];
    sw.fromOld(source[0], (m) => emitted.push(m));
    const key = source.findIndex((m, i) => i > 30 && m.type === 'Video' && m.payload[0] === 0x17);
    let out: MediaMessage[] = [];
    for (let i = key; i < key + 10 && sw.phase !== 'switched'; i++) out = sw.fromNew(source[i]);
    expect(sw.phase).toBe('switched');
    expect(sw.outcome!.forced).toBe(true);
    expect(out.length).toBeGreaterThan(0);
  });
});

/**
 * The sequence the integration test hit: the old stream's sink delivered `before` messages,
 * then the switch begins and the copy's first burst (a server's cached GOP from its last
 * keyframe, `burst` messages from `copyStart`) arrives before the old stream's next frame. The
 * switch is wired like the client's: the old sink's gate asks the switchover, the copy's
 * messages are injected.
 */
function runLateCopy(
  copyStart: number,
  burst: number,
  before = 40,
): { out: string[]; sw: Switchover } {
  const source = sourceStream();
  const copy = source.slice(copyStart);
  const sink = new SubjectSink();
  const out: MediaMessage[] = [];
  sink.media$.subscribe((m) => out.push(m));
  let o = 0;
  for (; o < before; o++) sink.next(source[o]);
  const sw = new Switchover({ delivered: sink.delivered() });
  sink.gate = (m) => sw.fromOld(m, (x) => sink.inject(x, false));
  let c = 0;
  // The copy's burst first, then both go on, one message each in turn.
  for (; c < burst; c++) for (const m of sw.fromNew(copy[c])) sink.inject(m, false);
  while (o < source.length || c < copy.length) {
    if (o < source.length) sink.next(source[o++]);
    if (c < copy.length) for (const m of sw.fromNew(copy[c++])) sink.inject(m, false);
  }
  return { out: out.map(id), sw };
}

describe('Switchover started after the old stream delivered frames (the copy keyframe comes first)', () => {
  it('drops the duplicates of a copy whose cached GOP starts behind what the old stream delivered before the switch began', () => {
    // The copy's first keyframe is source video #0 (ts 0); the old stream delivered up to ts ~660.
    const { out, sw } = runLateCopy(0, 30);
    expectNoLossNoDuplicate(out);
    expect(sw.outcome).toMatchObject({ timeline: 'same', offset: 0, forced: false });
    expect(sw.outcome!.switchAt).toBe(0);
    expect(sw.outcome!.duplicatesDropped).toBeGreaterThan(0);
  });

  it('holds a copy whose first keyframe is ahead of what the old stream delivered before the switch began, until the old stream reaches it', () => {
    // The copy's first keyframe is source video #60 (ts 1980); the old stream is at ts ~660.
    const keyAt = sourceStream().findIndex((m) => m.type === 'Video' && m.timestamp === 60 * 33);
    const { out, sw } = runLateCopy(keyAt, 5);
    expectNoLossNoDuplicate(out);
    expect(sw.outcome).toMatchObject({
      timeline: 'same',
      offset: 0,
      duplicatesDropped: 0,
      forced: false,
      switchAt: 60 * 33,
    });
    expect(sw.outcome!.oldDropped).toBeGreaterThan(0);
  });

  it('keeps what the sink delivered per type and its last sequence headers, not what a switch injected', () => {
    const sink = new SubjectSink();
    const header: MediaMessage = {
      type: 'Video',
      timestamp: 0,
      streamId: 1,
      payload: Buffer.from([0x17, 0, 0, 0, 0]),
    };
    sink.next(header);
    for (const m of sourceStream().slice(0, 10)) sink.next(m);
    sink.inject({ ...header, timestamp: 99_999, payload: Buffer.from([0x27, 1, 0, 0, 0]) }, false);
    const delivered = sink.delivered();
    const source = sourceStream().slice(0, 10);
    const lastOf = (t: 'Audio' | 'Video'): number =>
      source.filter((m) => m.type === t).slice(-1)[0].timestamp;
    expect(delivered).toMatchObject({ Audio: lastOf('Audio'), Video: lastOf('Video') });
    expect(delivered.config).toEqual([header]);
  });
});

/**
 * A switch wired like the client's (the old sink's gate asks the switchover, the copy's messages
 * are injected), driven by a script: `old` and `copy` are the source indexes each connection
 * sends, in its order; `order` says whose message comes next ('o' or 'c'; the rest of both
 * follow in turn). The old sink delivered `before` source messages before the switch began.
 */
function script(
  before: number,
  old: number[],
  copy: number[],
  order: string,
): { out: string[]; sw: Switchover } {
  const source = sourceStream();
  const sink = new SubjectSink();
  const out: MediaMessage[] = [];
  sink.media$.subscribe((m) => out.push(m));
  for (let i = 0; i < before; i++) sink.next(source[i]);
  const sw = new Switchover({ delivered: sink.delivered() });
  sink.gate = (m) => sw.fromOld(m, (x) => sink.inject(x, false));
  let o = 0;
  let c = 0;
  const step = (who: string): void => {
    if (who === 'o' && o < old.length) sink.next(source[old[o++]]);
    if (who === 'c' && c < copy.length)
      for (const m of sw.fromNew(source[copy[c++]])) sink.inject(m, false);
  };
  for (const who of order) step(who);
  while (o < old.length || c < copy.length) {
    step('o');
    step('c');
  }
  return { out: out.map(id), sw };
}

const range = (from: number, to: number): number[] =>
  Array.from({ length: to - from }, (_, i) => from + i);
/** Source index of video frame `n` (a keyframe when n % 10 === 0). */
const videoAt = (n: number): number =>
  sourceStream().findIndex((m) => m.type === 'Video' && m.timestamp === n * 33);
const END = sourceStream().length;

describe('Switchover for every order of the old stream and its copy', () => {
  it('switches at once when the copy is behind the old stream, and delivers the copy frames past what the old stream delivered as they come', () => {
    // The old stream delivered up to video #25; the copy starts at keyframe #10 and is slow:
    // its frames past #25 come after the switch.
    const { out, sw } = script(
      videoAt(25) + 1,
      range(videoAt(25) + 1, END),
      range(videoAt(10), END),
      'c'.repeat(8),
    );
    expectNoLossNoDuplicate(out);
    expect(sw.outcome).toMatchObject({
      timeline: 'same',
      switchAt: 10 * 33,
      forced: false,
      repeatsDropped: 0,
    });
    expect(sw.outcome!.duplicatesDropped).toBeGreaterThan(0);
  });

  it('switches at once when the old stream delivered the copy keyframe itself, and delivers that keyframe once', () => {
    const { out, sw } = script(
      videoAt(20) + 1,
      range(videoAt(20) + 1, END),
      range(videoAt(20), END),
      'ccc',
    );
    expectNoLossNoDuplicate(out);
    expect(out.filter((x) => x === `V${20 * 33}`)).toHaveLength(1);
    expect(sw.outcome).toMatchObject({ switchAt: 20 * 33, forced: false });
  });

  it('keeps the old stream until it reaches a copy keyframe several GOPs ahead, then delivers the held copy frames', () => {
    const { out, sw } = script(
      videoAt(5),
      range(videoAt(5), END),
      range(videoAt(40), END),
      'c'.repeat(30),
    );
    expectNoLossNoDuplicate(out);
    expect(sw.outcome).toMatchObject({
      switchAt: 40 * 33,
      duplicatesDropped: 0,
      repeatsDropped: 0,
      forced: false,
    });
    expect(sw.phase).toBe('switched');
  });

  it('delivers a frame the copy sends again while it is held only once', () => {
    // The copy's keyframe #40 is ahead; it sends #40-#45 again (its server re-sent its GOP).
    const copy = [...range(videoAt(40), videoAt(46)), ...range(videoAt(40), END)];
    const { out, sw } = script(videoAt(5), range(videoAt(5), END), copy, 'c'.repeat(40));
    expectNoLossNoDuplicate(out);
    expect(sw.outcome!.repeatsDropped).toBeGreaterThan(0);
  });

  it('delivers a frame the copy sends again after the switch only once', () => {
    const copy = [...range(videoAt(10), videoAt(50)), ...range(videoAt(40), END)];
    const { out, sw } = script(videoAt(30), range(videoAt(30), END), copy, 'c'.repeat(20));
    expectNoLossNoDuplicate(out);
    expect(sw.outcome!.repeatsDropped).toBeGreaterThan(0);
  });

  it('delivers a frame the old stream sends again before the switch (its play started over) only once', () => {
    // The old stream delivered up to #25, then sends again from keyframe #20 (a new play of a
    // live stream starts at the server's cached GOP); the copy's keyframe #40 is ahead.
    const old = [...range(videoAt(25), videoAt(28)), ...range(videoAt(20), END)];
    const { out, sw } = script(videoAt(25), old, range(videoAt(40), END), 'oooooooooooooooocc');
    expectNoLossNoDuplicate(out);
    expect(sw.outcome!.repeatsDropped).toBeGreaterThan(0);
    expect(sw.outcome!.duplicatesDropped).toBe(0);
  });
});

describe('Switchover after the switch', () => {
  it('delivers the copy frames of a timeline that started again (its publisher restarted, timestamps back at 0) instead of dropping them as repeats', () => {
    const source = sourceStream();
    const sw = new Switchover();
    const out: MediaMessage[] = [];
    const emit = (m: MediaMessage): void => {
      out.push(m);
    };
    // The old stream delivered up to about 12 s of a long stream.
    const late = (m: MediaMessage): MediaMessage => ({ ...m, timestamp: m.timestamp + 12_000 });
    for (const m of source.slice(0, 40)) if (sw.fromOld(late(m), emit)) emit(late(m));
    // The copy joins at a keyframe behind the old stream, then its publisher restarts at 0.
    for (const m of source.slice(20, 60)) for (const x of sw.fromNew(late(m))) emit(x);
    expect(sw.phase).toBe('switched');
    const before = out.length;
    for (const m of source.slice(0, 30)) for (const x of sw.fromNew(m)) emit(x);
    expect(out.slice(before).map(id)).toEqual(source.slice(0, 30).map(id));
    expect(sw.outcome!.repeatsDropped).toBe(0);
  });
});
