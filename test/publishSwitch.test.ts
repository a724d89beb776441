import type { MediaMessage } from '../src/io/media';
import { PublishSwitch, type PublishRoute } from '../src/publishSwitch';

const video = (timestamp: number, key: boolean, header = false): MediaMessage => ({
  type: 'Video',
  timestamp,
  streamId: 1,
  payload: Buffer.from([key ? 0x17 : 0x27, header ? 0 : 1, 0, 0, 0]),
});
const audio = (timestamp: number, header = false): MediaMessage => ({
  type: 'Audio',
  timestamp,
  streamId: 1,
  payload: Buffer.from([0xaf, header ? 0 : 1, 0]),
});
const metadata = (timestamp: number): MediaMessage =>
  ({
    type: 'Data',
    timestamp,
    streamId: 1,
    amf: 0,
    csid: 4,
    name: '@setDataFrame',
    values: ['@setDataFrame', 'onMetaData', { width: 320 }],
  }) as unknown as MediaMessage;

function routes(sw: PublishSwitch, ms: MediaMessage[]): PublishRoute[] {
  return ms.map((m) => sw.route(m));
}

describe('PublishSwitch (a publish moving to a new connection)', () => {
  it('sends everything to the old stream until the copy is ready, even keyframes', () => {
    const sw = new PublishSwitch();
    expect(routes(sw, [video(0, true), audio(10), video(33, false), video(66, true)])).toEqual([
      'old',
      'old',
      'old',
      'old',
    ]);
    expect(sw.phase).toBe('waiting');
  });

  it('switches at the first video keyframe after the copy is ready, and sends everything after it to the copy', () => {
    const sw = new PublishSwitch();
    sw.route(video(0, true, true));
    sw.route(video(0, true));
    sw.copyReady();
    expect(
      routes(sw, [
        audio(20),
        video(33, false),
        audio(43),
        video(66, true),
        audio(70),
        video(99, false),
      ]),
    ).toEqual(['old', 'old', 'old', 'switch', 'new', 'new']);
    expect(sw.phase).toBe('switched');
    expect(sw.switchAt).toBe(66);
  });

  it('never switches at a sequence header or metadata: they go to the old stream (the copy gets the last ones at the switch)', () => {
    const sw = new PublishSwitch();
    sw.route(video(0, true, true));
    sw.copyReady();
    expect(
      routes(sw, [metadata(10), video(10, true, true), audio(10, true), video(33, true)]),
    ).toEqual(['old', 'old', 'old', 'switch']);
  });

  it('started mid-stream, knows the source has video: the copy ready before the next video frame still waits for a keyframe, not an audio frame', () => {
    const sw = new PublishSwitch({ sawVideo: true });
    sw.copyReady();
    expect(
      routes(sw, [audio(515), audio(536), video(534, false), audio(558), video(2000, true)]),
    ).toEqual(['old', 'old', 'old', 'old', 'switch']);
  });

  it('switches an audio-only source at its next audio frame', () => {
    const sw = new PublishSwitch();
    sw.route(audio(0, true));
    sw.route(audio(0));
    sw.copyReady();
    expect(routes(sw, [metadata(5), audio(23), audio(46)])).toEqual(['old', 'switch', 'new']);
  });

  it('switches exactly once: each message goes to one stream, none to both, none to neither', () => {
    const sw = new PublishSwitch();
    const ms: MediaMessage[] = [];
    for (let i = 0; i < 60; i++) ms.push(i % 2 ? audio(i * 10) : video(i * 10, i % 20 === 0));
    const out = ms.map((m, i) => {
      if (i === 25) sw.copyReady();
      return sw.route(m);
    });
    expect(out.filter((r) => r === 'switch')).toHaveLength(1);
    const at = out.indexOf('switch');
    expect(at).toBe(40);
    expect(out.slice(0, at).every((r) => r === 'old')).toBe(true);
    expect(out.slice(at + 1).every((r) => r === 'new')).toBe(true);
  });

  it('is ready only once: a second copyReady after the switch changes nothing', () => {
    const sw = new PublishSwitch();
    sw.route(video(0, true));
    sw.copyReady();
    expect(sw.route(video(33, true))).toBe('switch');
    sw.copyReady();
    expect(sw.phase).toBe('switched');
    expect(sw.route(video(66, true))).toBe('new');
  });
});
