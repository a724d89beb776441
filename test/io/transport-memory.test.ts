/**
 * The transport as the composition of its units, over an in-memory socket to a scripted far end:
 * inbound routing (classifyInbound), media ticks, acknowledgements, and the write path.
 */
import type { TransportEvent } from '../../machines/contract';
import type { MediaMessage } from '../../src/io/media';
import { buildCommand, buildOnStatus } from '../../src/protocol/message';
import type { RtmpMessage } from '../../src/protocol/message/types';
import { createScriptedPeer } from '../../src/testing/scriptedPeer';

function connected() {
  const peer = createScriptedPeer();
  const events: TransportEvent[] = [];
  const { socket, transport } = peer.detached((e) => events.push(e));
  transport.send({ type: 'TRANSPORT.HANDSHAKE_START', role: 'client', form: 'digest' });
  socket.completeHandshake();
  const media: MediaMessage[] = [];
  transport.send({ type: 'TRANSPORT.ROUTE_MEDIA', streamId: 1, sinkKey: 'play' });
  peer.router.sink('play').media$.subscribe((m) => media.push(m));
  events.length = 0;
  return { peer, socket, transport, events, media };
}
const video = (timestamp: number, key = true): RtmpMessage => ({
  type: 'Video',
  payload: Uint8Array.of(key ? 0x17 : 0x27, 1, 0, 0, 0),
  streamId: 1,
  timestamp,
});

describe('the transport over an in-memory socket', () => {
  it('hands audio and video to the sink and only a tick to the machines', () => {
    const { socket, transport, events, media } = connected();
    socket.send(video(40));
    expect(media.map((m) => m.timestamp)).toEqual([40]);
    expect(events).toEqual([{ type: 'MEDIA.TICK', streamId: 1, keyframe: true, timestamp: 40 }]);
    transport.stop();
  });

  it('splits an aggregate: its video to the sink, its status to the machines', () => {
    const { socket, transport, events, media } = connected();
    const status = buildOnStatus(
      { level: 'status', code: 'NetStream.Play.Start' },
      { streamId: 1 },
    );
    socket.send({
      type: 'Aggregate',
      messages: [
        video(80),
        { ...status, type: 'Data', amf: 0, name: 'onStatus', values: status.args } as RtmpMessage,
      ],
      streamId: 1,
      timestamp: 80,
    } as RtmpMessage);
    expect(media.map((m) => m.type)).toEqual(['Video']);
    expect(events.map((e) => e.type)).toEqual(['MEDIA.TICK', 'RTMP.MESSAGE']);
    transport.stop();
  });

  it('sends onMetaData to the sink and onStatus sent as data to the machines', () => {
    const { socket, transport, events, media } = connected();
    socket.send({
      type: 'Data',
      amf: 0,
      name: 'onMetaData',
      values: [{ duration: 1 }],
      streamId: 1,
      timestamp: 0,
    });
    socket.send({
      type: 'Data',
      amf: 0,
      name: 'onStatus',
      values: [{ code: 'x' }],
      streamId: 1,
      timestamp: 0,
    });
    expect(media.map((m) => (m.type === 'Data' ? m.name : m.type))).toEqual(['onMetaData']);
    expect(events.map((e) => e.type)).toEqual(['RTMP.MESSAGE']);
    transport.stop();
  });

  it("follows a server's deleteStream of the played stream with StreamEOF", () => {
    const { socket, transport, events } = connected();
    socket.send(buildCommand('deleteStream', null, [1]));
    expect(events.map((e) => (e.type === 'RTMP.MESSAGE' ? e.message.type : e.type))).toEqual([
      'Command',
      'UserControl',
    ]);
    expect(events[1]).toMatchObject({ message: { event: 'StreamEOF', streamId: 1 } });
    transport.stop();
  });

  it('raises ACK_DUE once the bytes received pass the window, and writes what it is told', () => {
    const { socket, transport, events } = connected();
    transport.send({ type: 'TRANSPORT.SET_ACK_WINDOW', windowSize: 1000 });
    const due = socket.ackDue();
    expect(due.sequenceNumber).toBeGreaterThanOrEqual(1000);
    expect(events.filter((e) => e.type === 'TRANSPORT.ACK_DUE')).toHaveLength(1);
    transport.send({
      type: 'TRANSPORT.SEND',
      message: {
        type: 'Acknowledgement',
        sequenceNumber: due.sequenceNumber,
        timestamp: 0,
        streamId: 0,
      },
    });
    expect(socket.receivedOf('Acknowledgement').at(-1)?.sequenceNumber).toBe(due.sequenceNumber);
    transport.stop();
  });

  it('publishes through the writer it attaches for a routed stream', () => {
    const { peer, socket, transport } = connected();
    const writer = peer.router.writer('play');
    expect(writer).toBeDefined();
    expect(
      writer!.write({
        type: 'Audio',
        payload: Uint8Array.of(0xaf, 1, 2),
        streamId: 9,
        timestamp: 5,
      }),
    ).toBe(true);
    expect(socket.receivedOf('Audio')).toMatchObject([{ streamId: 1, timestamp: 5 }]);
    transport.stop();
  });
});
