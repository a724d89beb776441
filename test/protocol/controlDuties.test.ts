import { ChunkDecoder, ChunkEncoder } from '../../src/protocol/chunk';
import {
  acknowledgement,
  ControlDuties,
  honouredAckWindow,
  pingResponse,
  RateLimiter,
  UNBOUNDED_DUTIES,
  windowAcknowledgementSize,
} from '../../src/protocol/controlDuties';
import { ChunkError } from '../../src/protocol/errors';
import { decodeMessage, encodeMessage, type RtmpMessage } from '../../src/protocol/message';
import { hex, thrown } from './amf/hex';

/** The server's bounds (RtmpServer defaults). */
const SERVER = { minAckWindow: 4096, maxPingsPerSecond: 50 };

/** What a peer's chunks say, decoded the way both runtimes decode them. */
function decode(bytes: Buffer): RtmpMessage[] {
  return new ChunkDecoder().push(bytes).map((raw) => decodeMessage(raw));
}

/** What we write, chunked the way both runtimes chunk it (default chunk size 128). */
function encode(messages: RtmpMessage[]): string {
  return new ChunkEncoder().encodeMany(messages.map(encodeMessage)).toString('hex');
}

/** Peer → us, and what the duties answer (golden chunk bytes both ways). */
const goldenPeer = {
  windowAck1: hex(`
    02                          // fmt 0, csid 2 (protocol control)
    00 00 00                    // timestamp 0
    00 00 04                    // message length 4
    05                          // type 5: Window Acknowledgement Size
    00 00 00 00                 // message stream id 0 (little-endian)
    00 00 00 01                 // u32 window 1 byte
  `),
  windowAck10000: hex(`
    02 00 00 00 00 00 04 05 00 00 00 00   // fmt 0, csid 2, type 5, length 4, stream 0
    00 00 27 10                           // u32 window 10000
  `),
  pingRequest: hex(`
    02                          // fmt 0, csid 2
    00 00 00                    // timestamp 0
    00 00 06                    // message length 6
    04                          // type 4: User Control
    00 00 00 00                 // message stream id 0
    00 06                       // u16 event 6: PingRequest
    00 01 e2 40                 // u32 time 123456
  `),
  setChunkSize4096: hex(`
    02 00 00 00 00 00 04 01 00 00 00 00   // fmt 0, csid 2, type 1: Set Chunk Size, length 4
    00 00 10 00                           // u32 chunk size 4096
  `),
};

const goldenOurs = {
  pingResponse: hex(`
    02                          // fmt 0, csid 2
    00 00 00                    // timestamp 0
    00 00 06                    // message length 6
    04                          // type 4: User Control
    00 00 00 00                 // message stream id 0
    00 07                       // u16 event 7: PingResponse
    00 01 e2 40                 // u32 time 123456 (the request's)
  `).toString('hex'),
  ack10000: hex(`
    02                          // fmt 0, csid 2
    00 00 00                    // timestamp 0
    00 00 04                    // message length 4
    03                          // type 3: Acknowledgement
    00 00 00 00                 // message stream id 0
    00 00 27 10                 // u32 sequence number 10000
  `).toString('hex'),
  ack4096: hex(`
    02 00 00 00 00 00 04 03 00 00 00 00   // fmt 0, csid 2, type 3: Acknowledgement, length 4
    00 00 10 00                           // u32 sequence number 4096
  `).toString('hex'),
  windowAck2500000: hex(`
    02 00 00 00 00 00 04 05 00 00 00 00   // fmt 0, csid 2, type 5: Window Ack Size, length 4
    00 26 25 a0                           // u32 window 2500000
  `).toString('hex'),
};

describe('the control duties both sides share', () => {
  it('acknowledges once a window of bytes has arrived since the last acknowledgement', () => {
    const d = new ControlDuties(UNBOUNDED_DUTIES, 0);
    expect(d.receive(decode(goldenPeer.windowAck10000)[0], 0)).toEqual([]);
    expect(d.ackWindow).toBe(10_000);
    expect(d.bytesReceived(9_999)).toBeUndefined();
    const due = d.bytesReceived(10_000);
    expect(due).toBe(10_000);
    expect(encode([acknowledgement(due!)])).toBe(goldenOurs.ack10000);
    // The next one counts from the last acknowledgement, not from a grid.
    expect(d.bytesReceived(19_999)).toBeUndefined();
    expect(d.bytesReceived(20_500)).toBe(20_500);
    expect(d.bytesReceived(30_499)).toBeUndefined();
    expect(d.acknowledged).toBe(20_500);
    expect(d.bytesIn).toBe(30_499);
  });

  it('sends no acknowledgement before the peer sets a window, nor with a window of 0', () => {
    const d = new ControlDuties(UNBOUNDED_DUTIES, 0);
    expect(d.bytesReceived(10_000_000)).toBeUndefined();
    d.setAckWindow(0);
    expect(d.bytesReceived(20_000_000)).toBeUndefined();
  });

  it('raises a window of 1 to minAckWindow, so a read is not answered byte by byte', () => {
    const d = new ControlDuties(SERVER, 0);
    d.receive(decode(goldenPeer.windowAck1)[0], 0);
    expect(d.ackWindow).toBe(4096);
    expect(d.bytesReceived(1)).toBeUndefined();
    expect(d.bytesReceived(4095)).toBeUndefined();
    const due = d.bytesReceived(4096);
    expect(encode([acknowledgement(due!)])).toBe(goldenOurs.ack4096);
    expect(honouredAckWindow(1, 4096)).toBe(4096);
    expect(honouredAckWindow(5_000_000, 4096)).toBe(5_000_000);
    expect(honouredAckWindow(0, 4096)).toBe(0);
  });

  it('acknowledges as the client asked when unbounded (a window of 1 stays 1)', () => {
    const d = new ControlDuties(UNBOUNDED_DUTIES, 0);
    d.receive(decode(goldenPeer.windowAck1)[0], 0);
    expect(d.ackWindow).toBe(1);
    expect(d.bytesReceived(1)).toBe(1);
  });

  it('numbers acknowledgements modulo 2^32 past 4 GiB', () => {
    const d = new ControlDuties(UNBOUNDED_DUTIES, 0);
    d.setAckWindow(10_000);
    expect(d.bytesReceived(2 ** 32 + 10)).toBe(10);
    expect(acknowledgement(2 ** 32 + 10)).toMatchObject({ sequenceNumber: 10 });
  });

  it('answers a PingRequest with a PingResponse carrying its time', () => {
    const d = new ControlDuties(SERVER, 0);
    const [request] = decode(goldenPeer.pingRequest);
    expect(request).toMatchObject({ type: 'UserControl', event: 'PingRequest', time: 123_456 });
    const replies = d.receive(request, 0);
    expect(replies).toEqual([pingResponse(123_456)]);
    expect(encode(replies)).toBe(goldenOurs.pingResponse);
  });

  it('answers at most maxPingsPerSecond pings a second, and again once the second passed', () => {
    const d = new ControlDuties(SERVER, 0);
    const [request] = decode(goldenPeer.pingRequest);
    let answered = 0;
    for (let i = 0; i < 200; i++) answered += d.receive(request, 500).length;
    expect(answered).toBe(50);
    expect(d.pingsRefused).toBe(150);
    expect(d.receive(request, 1_500)).toHaveLength(1);
  });

  it('answers every ping when unbounded', () => {
    const d = new ControlDuties(UNBOUNDED_DUTIES, 0);
    let answered = 0;
    for (let i = 0; i < 10_000; i++) answered += d.answerPing(i, 0) ? 1 : 0;
    expect(answered).toBe(10_000);
    expect(new RateLimiter(Number.POSITIVE_INFINITY, 0).take(0)).toBe(true);
  });

  it('keeps both chunk sizes, and refuses to announce an invalid one', () => {
    const d = new ControlDuties(UNBOUNDED_DUTIES, 0);
    expect([d.peerChunkSize, d.ourChunkSize]).toEqual([128, 128]);
    expect(d.receive(decode(goldenPeer.setChunkSize4096)[0], 0)).toEqual([]);
    expect(d.peerChunkSize).toBe(4096);
    expect(d.announceChunkSize(60_000)).toBe(60_000);
    expect(d.ourChunkSize).toBe(60_000);
    const err = thrown(() => d.announceChunkSize(0));
    expect(err).toBeInstanceOf(ChunkError);
    expect(d.ourChunkSize).toBe(60_000);
  });

  it('answers nothing to messages that need no answer', () => {
    const d = new ControlDuties(SERVER, 0);
    const quiet: RtmpMessage[] = [
      { type: 'Acknowledgement', sequenceNumber: 1, timestamp: 0, streamId: 0 },
      { type: 'SetPeerBandwidth', windowSize: 1, limitType: 2, timestamp: 0, streamId: 0 },
      { type: 'UserControl', event: 'PingResponse', time: 1, timestamp: 0, streamId: 0 },
      { type: 'Audio', payload: new Uint8Array([0xaf, 1]), timestamp: 0, streamId: 1 },
    ];
    for (const m of quiet) expect(d.receive(m, 0)).toEqual([]);
    expect(d.ackWindow).toBe(0);
  });

  it('builds the Window Acknowledgement Size we announce', () => {
    expect(encode([windowAcknowledgementSize(2_500_000)])).toBe(goldenOurs.windowAck2500000);
  });

  it('decodes each peer fixture whole, split at every offset, with nothing left over', () => {
    for (const bytes of Object.values(goldenPeer)) {
      const whole = decode(bytes);
      expect(whole).toHaveLength(1);
      for (let cut = 1; cut < bytes.length; cut++) {
        const dec = new ChunkDecoder();
        const got = [...dec.push(bytes.subarray(0, cut)), ...dec.push(bytes.subarray(cut))];
        expect(got.map((raw) => decodeMessage(raw))).toEqual(whole);
        expect(dec.bufferedBytes).toBe(0);
      }
    }
  });
});
