import { ChunkEncoder } from '../../src/protocol/chunk';
import { AmfError, ChunkError, MessageError } from '../../src/protocol/errors';
import { DEFAULT_LIMITS } from '../../src/protocol/limits';
import { StatusCode, readReply, type RtmpMessage } from '../../src/protocol/message';
import {
  FAULT_FIGURES as F,
  deepAmfBody,
  seededBytes,
  startFaultServer,
  type FaultServer,
} from '../../src/testing/faultServers';
import { GC_AVAILABLE, Probe, probe, reportFigures, waitFor, type ProbeResult } from './probe';

const MiB = 1024 * 1024;
const S0S1S2 = 1 + 2 * 1536;

/*
 * Memory bounds. The decoder's message buffers are Buffers: they count in
 * process.memoryUsage().arrayBuffers, not in heapUsed. The probe samples both after two full
 * collections (see GC_AVAILABLE), so the figures are live bytes: what the decoder holds (at most
 * the one claimed message it is filling, ≤ 16 MiB − 1, the 24-bit maximum) plus SLACK for what is
 * not the decoder's (socket reads and server pieces in flight; measured ≤ 0.2 MiB). Without a
 * collector V8 frees external memory only after ~64 MiB more has been allocated, so the slack
 * grows by that much. A decoder that kept what it read would break the bounds: the endless run
 * reads 64 MiB, hugeMetaData buffers 16 MiB and then decodes it.
 */
const SLACK = GC_AVAILABLE ? 8 * MiB : 80 * MiB;
/** heapUsed: message objects and decoder bookkeeping only (no payload bytes). */
const HEAP_BOUND = 16 * MiB;

let servers: FaultServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});

async function start(...args: Parameters<typeof startFaultServer>): Promise<FaultServer> {
  const server = await startFaultServer(...args);
  servers.push(server);
  return server;
}

/** The decoder stayed under maxBufferedBytes; live memory grew by at most `live` + SLACK. */
function expectBounded(r: ProbeResult, live = 0, limits = DEFAULT_LIMITS): void {
  expect(r.peakBuffered).toBeLessThanOrEqual(limits.maxBufferedBytes);
  expect(r.peakArrayBufferGrowth).toBeLessThan(live + SLACK);
  expect(r.peakHeapGrowth).toBeLessThan(HEAP_BOUND);
}

/** The client was `connected` (it decoded `_result` NetConnection.Connect.Success) first. */
function expectConnected(r: ProbeResult): void {
  const reply = r.messages.map(readReply).find((x) => x !== undefined);
  expect(reply).toMatchObject({
    ok: true,
    transactionId: 1,
    info: { code: StatusCode.ConnectSuccess },
  });
}

/** The client closed its socket because of the decoder error, and the server saw it go. */
async function expectClientClosed(server: FaultServer, r: ProbeResult): Promise<void> {
  expect(r.closedBy).toBe('decodeError');
  await server.clients()[0].whenClosed();
  expect(server.clients()[0].closed()).toBe(true);
}

function typed<E extends Error>(r: ProbeResult, cls: new (...a: never[]) => E): E {
  expect(r.error).toBeInstanceOf(cls);
  return r.error as E;
}

describe('oversizedMessage', () => {
  it('cannot frame a 16 MiB + 1 message: the chunk length field is 24 bits', () => {
    const tooBig = { csid: 6, timestamp: 0, typeId: 9, streamId: 1 };
    expect(() =>
      new ChunkEncoder().encode({ ...tooBig, payload: new Uint8Array(16 * MiB + 1) }),
    ).toThrow(
      expect.objectContaining({
        code: 'BAD_MESSAGE',
        details: expect.objectContaining({ limit: 0xffffff }),
      }),
    );
    expect(F.maxWireMessageLength).toBe(0xffffff);
  });

  it('fails a client whose maxMessageSize is below the claimed length with MESSAGE_TOO_LARGE before buffering', async () => {
    const server = await start('oversizedMessage');
    const limits = { ...DEFAULT_LIMITS, maxMessageSize: 1 * MiB };
    const r = await probe(server.port, { limits });
    reportFigures('oversizedMessage (maxMessageSize 1 MiB)', r);
    expectConnected(r);
    const e = typed(r, ChunkError);
    expect(e.code).toBe('MESSAGE_TOO_LARGE');
    expect(e.details).toMatchObject({ limit: 1 * MiB, length: F.maxWireMessageLength, csid: 6 });
    expect(r.peakBuffered).toBe(0);
    expectBounded(r, 0, limits);
    await expectClientClosed(server, r);
  });

  it('with the default limits buffers the never-ending message once, at its claimed length, and no more', async () => {
    const server = await start('oversizedMessage');
    const p = new Probe(server.port);
    await waitFor(() => p.decoder.bufferedBytes > 0);
    await waitFor(() => server.clients()[0].bytesSent() > F.oversizedBodyBytes);
    p.stop('until');
    const r = await p.done;
    reportFigures('oversizedMessage (defaults)', r);
    expect(r.error).toBeUndefined();
    expect(r.peakBuffered).toBe(F.maxWireMessageLength);
    expectBounded(r, F.maxWireMessageLength);
  });
});

describe('hugeChunkSizeThenEndless', () => {
  it('fails with CHUNK_SIZE_TOO_LARGE naming maxChunkSize, and the server stops streaming', async () => {
    const server = await start('hugeChunkSizeThenEndless');
    const r = await probe(server.port);
    reportFigures('hugeChunkSizeThenEndless (defaults)', r);
    expectConnected(r);
    const e = typed(r, ChunkError);
    expect(e.code).toBe('CHUNK_SIZE_TOO_LARGE');
    expect(e.details).toMatchObject({ chunkSize: 0x7fffffff, limit: DEFAULT_LIMITS.maxChunkSize });
    expectBounded(r);
    await expectClientClosed(server, r);
    expect(server.clients()[0].bytesSent()).toBeLessThan(F.endlessCapBytes + 1024);
  });

  it('streams at most ~64 MiB to a client that allows the chunk size, which never buffers more than one message', async () => {
    const server = await start('hugeChunkSizeThenEndless');
    const limits = { maxChunkSize: 0x7fffffff };
    const p = new Probe(server.port, {
      limits,
      until: (x) => x.bytesRead >= S0S1S2 + F.endlessCapBytes,
      timeoutMs: 15_000,
    });
    const r = await p.done;
    reportFigures('hugeChunkSizeThenEndless (maxChunkSize 0x7FFFFFFF)', r);
    expect(r.error).toBeUndefined();
    expect(r.closedBy).toBe('until');
    expect(r.counts.Video).toBe(3); // 64 MiB holds three whole 16 MiB − 1 messages
    expect(r.peakBuffered).toBeLessThanOrEqual(F.maxWireMessageLength);
    expectBounded(r, F.maxWireMessageLength);
    const sent = server.clients()[0].bytesSent();
    expect(sent).toBeGreaterThanOrEqual(F.endlessCapBytes);
    // The cap plus the handshake and the connect answer.
    expect(sent).toBeLessThan(F.endlessCapBytes + S0S1S2 + 1024);
  }, 20_000);
});

describe('manyChunkStreams', () => {
  it('fails with TOO_MANY_CHUNK_STREAMS at maxChunkStreams, with the partial messages bounded', async () => {
    const server = await start('manyChunkStreams');
    const r = await probe(server.port);
    reportFigures('manyChunkStreams', r);
    expectConnected(r);
    const e = typed(r, ChunkError);
    expect(e.code).toBe('TOO_MANY_CHUNK_STREAMS');
    expect(e.details).toMatchObject({ limit: DEFAULT_LIMITS.maxChunkStreams });
    expect(r.chunkStreams).toBe(DEFAULT_LIMITS.maxChunkStreams);
    // csids 2 and 3 (connect answer) count too: the rest each hold one 100-byte partial message.
    expect(r.peakBuffered).toBeLessThanOrEqual(
      DEFAULT_LIMITS.maxChunkStreams * F.manyChunkStreamsLength,
    );
    expectBounded(r);
    await expectClientClosed(server, r);
  });
});

describe('deepAmf', () => {
  it('builds 100,000 nested levels: objects and strict arrays alternating', () => {
    const body = deepAmfBody(F.deepAmfLevels);
    const objects = F.deepAmfLevels / 2;
    expect(body.length).toBe(21 + objects * 7 + objects * 5 + 1);
    expect(body.subarray(21, 30)).toEqual(Buffer.from([3, 0, 1, 0x61, 10, 0, 0, 0, 1]));
    expect(body.subarray(body.length - 3)).toEqual(Buffer.from([0, 0, 9]));
  });

  it('fails with AmfError TOO_DEEP naming maxAmfDepth, never a stack overflow', async () => {
    const server = await start('deepAmf');
    const r = await probe(server.port);
    reportFigures('deepAmf', r);
    expectConnected(r);
    expect(r.error).not.toBeInstanceOf(RangeError);
    const e = typed(r, AmfError);
    expect(e.code).toBe('TOO_DEEP');
    expect(e.details).toMatchObject({ limit: DEFAULT_LIMITS.maxAmfDepth });
    expectBounded(r);
    await expectClientClosed(server, r);
  });
});

describe('hugeMetaData', () => {
  it('fails with AmfError STRING_TOO_LONG naming maxAmfStringLength, after buffering one wire-maximum message', async () => {
    const server = await start('hugeMetaData');
    const r = await probe(server.port);
    reportFigures('hugeMetaData (defaults)', r);
    expectConnected(r);
    const e = typed(r, AmfError);
    expect(e.code).toBe('STRING_TOO_LONG');
    expect(e.details).toMatchObject({
      length: F.hugeMetaDataClaimedString,
      limit: DEFAULT_LIMITS.maxAmfStringLength,
    });
    expect(r.peakBuffered).toBe(F.maxWireMessageLength);
    expectBounded(r, F.maxWireMessageLength);
    await expectClientClosed(server, r);
  });

  it('fails with MESSAGE_TOO_LARGE at the header when maxMessageSize is lower', async () => {
    const server = await start('hugeMetaData');
    const limits = { ...DEFAULT_LIMITS, maxMessageSize: 4 * MiB };
    const r = await probe(server.port, { limits });
    const e = typed(r, ChunkError);
    expect(e.code).toBe('MESSAGE_TOO_LARGE');
    expect(e.details).toMatchObject({ limit: 4 * MiB, length: F.maxWireMessageLength, csid: 5 });
    expect(r.peakBuffered).toBe(0);
    await expectClientClosed(server, r);
  });
});

describe('randomBytes', () => {
  const TYPED = [ChunkError, MessageError, AmfError];

  it('generates the same bytes for the same seed and different ones for another', () => {
    expect(seededBytes(7)(64)).toEqual(seededBytes(7)(64));
    expect(seededBytes(7)(64)).not.toEqual(seededBytes(8)(64));
  });

  it('makes the decoder fail with a typed error, never a RangeError or TypeError, for 8 seeds', async () => {
    for (let seed = 1; seed <= 8; seed++) {
      // Seeds 1-4 right after the handshake (the default), 5-8 once the client is connected.
      const server = await start('randomBytes', { seed, afterConnect: seed > 4 });
      const r = await probe(server.port, {
        until: (x) => x.bytesRead >= S0S1S2 + F.randomBytes,
        timeoutMs: 5000,
        measure: seed === 1,
      });
      if (seed === 1) reportFigures('randomBytes (seed 1)', r);
      expect(r.handshakeDone).toBe(true);
      if (seed > 4) expectConnected(r);
      if (seed === 1) expectBounded(r);
      expect(r.peakBuffered).toBeLessThanOrEqual(DEFAULT_LIMITS.maxBufferedBytes);
      expect(r.error).not.toBeInstanceOf(RangeError);
      expect(r.error).not.toBeInstanceOf(TypeError);
      expect(TYPED.some((cls) => r.error instanceof cls)).toBe(true);
      expect(r.closedBy).toBe('decodeError');
    }
  });
});

describe('tinyAckWindow', () => {
  it('sends Window Acknowledgement Size 1 and then 200 ordinary audio messages', async () => {
    const server = await start('tinyAckWindow');
    const total = F.tinyAckBatches * F.tinyAckBatchSize;
    let acks = 0;
    const order: string[] = [];
    const r = await probe(server.port, {
      onMessage: (m) => {
        if (m.type === 'WindowAckSize') order.push(`window ${m.windowSize}`);
        if (m.type === 'Audio' && order[order.length - 1] !== 'audio') order.push('audio');
        if (m.type === 'Audio') expect(m.payload.length).toBe(F.tinyAckAudioBytes);
      },
      until: (p) => {
        // One acknowledgement per read, so the server's record can be checked.
        p.send({ type: 'Acknowledgement', sequenceNumber: p.bytesRead, timestamp: 0, streamId: 0 });
        acks++;
        return (p.counts.Audio ?? 0) >= total;
      },
    });
    expectConnected(r);
    expect(r.error).toBeUndefined();
    expect(order).toEqual([`window ${F.normalWindow}`, `window ${F.tinyAckWindow}`, 'audio']);
    expect(r.counts.Audio).toBe(total);
    await server.clients()[0].whenClosed();
    const recorded = server.received().filter((m) => m.type === 'Acknowledgement');
    expect(recorded).toHaveLength(acks);
    expect(recorded[recorded.length - 1]).toMatchObject({ sequenceNumber: r.bytesRead });
  });
});

describe('pingFlood', () => {
  it('sends 100,000 PingRequests, numbered in order, in paced batches, and records the responses', async () => {
    const server = await start('pingFlood');
    const total = F.pingBatches * F.pingBatchSize;
    let next = 0;
    let inOrder = true;
    const r = await probe(server.port, {
      onMessage: (m: RtmpMessage, p) => {
        if (m.type !== 'UserControl' || m.event !== 'PingRequest') return;
        if (m.time !== next++) inOrder = false;
        if (m.time % 1000 === 0) {
          p.send({
            type: 'UserControl',
            event: 'PingResponse',
            time: m.time,
            timestamp: 0,
            streamId: 0,
          });
        }
      },
      until: (p) => (p.counts['UserControl.PingRequest'] ?? 0) >= total,
    });
    reportFigures('pingFlood', r);
    expect(r.error).toBeUndefined();
    expect(r.counts['UserControl.PingRequest']).toBe(total);
    expect(inOrder).toBe(true);
    // Paced: 100 batches 10 ms apart take about a second and arrive in many reads.
    expect(r.elapsedMs).toBeGreaterThanOrEqual((F.pingBatches - 1) * F.pingIntervalMs * 0.8);
    expect(r.reads).toBeGreaterThanOrEqual(F.pingBatches / 2);
    expectBounded(r);
    await server.clients()[0].whenClosed();
    const responses = server
      .received()
      .filter((m) => m.type === 'UserControl' && m.event === 'PingResponse');
    expect(
      responses.map((m) => (m.type === 'UserControl' && m.event === 'PingResponse' ? m.time : -1)),
    ).toEqual(Array.from({ length: F.pingBatches }, (_, i) => i * F.pingBatchSize));
  });
});

describe('afterConnect', () => {
  it('sends the hostile payload right after the handshake when afterConnect is false', async () => {
    const server = await start('deepAmf', { afterConnect: false });
    const r = await probe(server.port, { connect: false });
    expect(r.messages.map(readReply).filter((x) => x !== undefined)).toEqual([]);
    expect(typed(r, AmfError).code).toBe('TOO_DEEP');
    expect(server.received()).toEqual([]); // it did not wait for a connect that never came
  });
});
