import {
  classifyInbound,
  classifyInboundEach,
  DATA_FOR_MACHINES,
  visitRoute,
  type InboundRoutes,
} from '../../../src/io/classifyInbound';
import { buildCommand, buildOnStatus } from '../../../src/protocol/message';
import type { RtmpMessage } from '../../../src/protocol/message/types';

const routes = (
  streams: Array<[number, string]>,
  sinks: string[] = streams.map(([, k]) => k),
  role: 'client' | 'server' = 'client',
): InboundRoutes => ({
  streams: new Map(streams),
  hasSink: (key) => sinks.includes(key),
  role,
});
const video = (streamId: number): RtmpMessage => ({
  type: 'Video',
  payload: Uint8Array.of(0x17, 1),
  streamId,
  timestamp: 40,
});
const data = (name: string, streamId = 1): RtmpMessage => ({
  type: 'Data',
  amf: 0,
  name,
  values: [],
  streamId,
  timestamp: 0,
});
const where = (m: RtmpMessage, r: InboundRoutes) =>
  classifyInbound(m, r).map((x) => ('sinkKey' in x ? `${x.to}:${x.sinkKey}` : x.to));

describe('classifyInbound', () => {
  it('sends audio and video to the sink of their stream', () => {
    expect(
      where(
        video(1),
        routes([
          [1, 'a'],
          [2, 'b'],
        ]),
      ),
    ).toEqual(['media:a']);
    expect(
      where(
        video(2),
        routes([
          [1, 'a'],
          [2, 'b'],
        ]),
      ),
    ).toEqual(['media:b']);
  });

  it('sends media of an unknown stream to the only route there is (everything on stream 0)', () => {
    expect(where(video(0), routes([[1, 'a']]))).toEqual(['media:a']);
  });

  it('drops media nobody takes: no route among several, or no sink', () => {
    expect(
      where(
        video(7),
        routes([
          [1, 'a'],
          [2, 'b'],
        ]),
      ),
    ).toEqual(['dropped']);
    expect(where(video(1), routes([]))).toEqual(['dropped']);
    expect(where(video(1), routes([[1, 'a']], []))).toEqual(['dropped']);
  });

  it('sends media data (onMetaData, |RtmpSampleAccess) to the sink, or to the machines without one', () => {
    expect(where(data('onMetaData'), routes([[1, 'a']]))).toEqual(['data:a']);
    expect(where(data('|RtmpSampleAccess'), routes([[1, 'a']]))).toEqual(['data:a']);
    expect(where(data('onMetaData'), routes([]))).toEqual(['machines']);
  });

  it('sends status and bandwidth notices sent as data to the machines', () => {
    for (const name of DATA_FOR_MACHINES) {
      expect(where(data(name), routes([[1, 'a']]))).toEqual(['machines']);
    }
  });

  it('sends commands and control messages to the machines', () => {
    const r = routes([[1, 'a']]);
    expect(where(buildOnStatus({ level: 'status', code: 'x' }, { streamId: 1 }), r)).toEqual([
      'machines',
    ]);
    expect(where({ type: 'SetChunkSize', chunkSize: 4096, timestamp: 0, streamId: 0 }, r)).toEqual([
      'machines',
    ]);
  });

  it('splits an aggregate into its messages, each routed on its own', () => {
    const aggregate: RtmpMessage = {
      type: 'Aggregate',
      messages: [video(1), data('onMetaData'), data('onStatus')],
      streamId: 1,
      timestamp: 0,
    } as RtmpMessage;
    expect(where(aggregate, routes([[1, 'a']]))).toEqual(['media:a', 'data:a', 'machines']);
  });

  it('hands collected decisions to a visitor as classifyInboundEach hands them (visitRoute)', () => {
    const aggregate: RtmpMessage = {
      type: 'Aggregate',
      messages: [video(1), data('onMetaData'), data('onStatus'), video(7)],
      streamId: 1,
      timestamp: 0,
    } as RtmpMessage;
    const r = routes([[1, 'a']], ['a']);
    const logger = (log: string[]) => ({
      media: (_m: unknown, key: string) => log.push(`media:${key}`),
      data: (_m: unknown, key: string) => log.push(`data:${key}`),
      machines: () => log.push('machines'),
      dropped: () => log.push('dropped'),
    });
    const each: string[] = [];
    classifyInboundEach(aggregate, r, logger(each));
    const visited: string[] = [];
    for (const route of classifyInbound(aggregate, r)) visitRoute(route, logger(visited));
    expect(visited).toEqual(['media:a', 'data:a', 'machines', 'media:a']);
    expect(visited).toEqual(each);
  });

  it("adds StreamEOF after a server's deleteStream of a stream we play", () => {
    const out = classifyInbound(
      buildCommand('deleteStream', null, [1]),
      routes([
        [1, 'a'],
        [2, 'b'],
      ]),
    );
    expect(out.map((x) => x.to)).toEqual(['machines', 'machines']);
    expect(out[1].message).toEqual({
      type: 'UserControl',
      event: 'StreamEOF',
      streamId: 1,
      timestamp: 0,
    });
  });

  it("reads deleteStream(0) as the end of the only stream (FFmpeg's listener)", () => {
    const out = classifyInbound(buildCommand('deleteStream', null, [0]), routes([[1, 'a']]));
    expect(out[1]?.message).toMatchObject({ event: 'StreamEOF', streamId: 1 });
  });

  it('adds no StreamEOF for a stream it does not route, nor on the server side', () => {
    const del = buildCommand('deleteStream', null, [5]);
    expect(
      classifyInbound(
        del,
        routes([
          [1, 'a'],
          [2, 'b'],
        ]),
      ),
    ).toHaveLength(1);
    expect(
      classifyInbound(buildCommand('deleteStream', null, [1]), routes([[1, 'a']], ['a'], 'server')),
    ).toHaveLength(1);
  });

  it('hands each decision over one by one, and decides a StreamEOF before the machines hear of the deleteStream', () => {
    const streams = new Map([[1, 'a']]);
    const r: InboundRoutes = { streams, hasSink: () => true, role: 'client' };
    const seen: string[] = [];
    classifyInboundEach(buildCommand('deleteStream', null, [1]), r, {
      media: () => seen.push('media'),
      data: () => seen.push('data'),
      // The machines unroute the stream as they take the deleteStream.
      machines: (m) => {
        seen.push(m.type === 'UserControl' ? `machines:${m.event}` : `machines:${m.type}`);
        streams.delete(1);
      },
      dropped: () => seen.push('dropped'),
    });
    expect(seen).toEqual(['machines:Command', 'machines:StreamEOF']);
    classifyInboundEach(
      video(2),
      { streams: new Map(), hasSink: () => false, role: 'client' },
      {
        media: () => seen.push('media'),
        data: () => seen.push('data'),
        machines: () => seen.push('machines'),
        dropped: () => seen.push('dropped'),
      },
    );
    expect(seen.at(-1)).toBe('dropped');
  });
});
