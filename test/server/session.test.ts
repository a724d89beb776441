import { UNBOUNDED_DUTIES } from '../../src/protocol/controlDuties';
import {
  buildCommand,
  buildConnect,
  buildPlay,
  buildPublish,
  type RtmpMessage,
} from '../../src/protocol/message';
import { ServerSession, type SessionEffect } from '../../src/server/session';

function session(maxStreams = 2): ServerSession {
  const s = new ServerSession({
    connectionId: 7,
    remote: '127.0.0.1:5000',
    chunkSize: 4096,
    windowAckSize: 2_500_000,
    maxStreams,
    duties: { minAckWindow: 4096, maxPingsPerSecond: 50 },
    receivingReportMs: 250,
    now: 0,
  });
  s.handshakeDone();
  return s;
}

/** The messages among `effects`. */
function sent(effects: readonly SessionEffect[]): RtmpMessage[] {
  return effects.flatMap((e) => (e.kind === 'send' ? [e.message] : []));
}

function codes(effects: readonly SessionEffect[]): string[] {
  return sent(effects).flatMap((m) =>
    m.type === 'Command' && m.name === 'onStatus'
      ? [String((m.args[0] as { code?: unknown }).code)]
      : [],
  );
}

function reports(effects: readonly SessionEffect[]): unknown[] {
  return effects.flatMap((e) => (e.kind === 'report' ? [e.event] : []));
}

/** A session past connect (accepted), with NetStream 1 created. */
function connected(maxStreams = 2): ServerSession {
  const s = session(maxStreams);
  s.message(buildConnect({ app: '/live/', tcUrl: 'rtmp://h/live', flashVer: 'T' }), 0);
  s.acceptConnect();
  s.message(buildCommand('createStream', null, [], { transactionId: 2 }), 0);
  return s;
}

describe('the server session (sans-IO decisions)', () => {
  it('reports connect with the application trimmed of slashes and query, and answers nothing before the machine decides', () => {
    const s = session();
    const out = s.message(
      buildConnect({ app: '/live/?token=x', tcUrl: 'rtmp://h/live', flashVer: 'T' }),
      0,
    );
    expect(reports(out)).toEqual([{ type: 'SERVER.CONNECT', app: 'live' }]);
    expect(sent(out)).toEqual([]);
  });

  it('answers an accepted connect with window, bandwidth, chunk size, StreamBegin and _result', () => {
    const s = session();
    s.message(buildConnect({ app: 'live', tcUrl: 'rtmp://h/live', flashVer: 'T' }), 0);
    const out = s.acceptConnect();
    expect(out.map((e) => (e.kind === 'send' ? e.message.type : e.kind))).toEqual([
      'WindowAckSize',
      'SetPeerBandwidth',
      'setChunkSize',
      'UserControl',
      'Command',
      'log',
    ]);
    expect(codes(out)).toEqual([]);
    const result = sent(out).at(-1);
    expect(result).toMatchObject({ name: '_result', transactionId: 1 });
    expect(s.phase).toBe('connected');
    expect(s.duties.ourChunkSize).toBe(4096);
  });

  it('answers a refused connect with _error NetConnection.Connect.Rejected and closes after it', () => {
    const s = session();
    s.message(buildConnect({ app: 'other', tcUrl: 'rtmp://h/other', flashVer: 'T' }), 0);
    const out = s.rejectConnect('application "other" is not served');
    expect(sent(out)[0]).toMatchObject({ name: '_error', transactionId: 1 });
    expect(out.at(-1)).toEqual({
      kind: 'close',
      reason: 'connect rejected: application "other" is not served',
      linger: true,
    });
  });

  it('answers any command before connect with _error', () => {
    const out = session().message(buildCommand('createStream', null, [], { transactionId: 2 }), 0);
    expect(sent(out)[0]).toMatchObject({ name: '_error', transactionId: 2 });
  });

  it('gives createStream the next free id and refuses beyond maxStreams', () => {
    const s = connected(2);
    const second = s.message(buildCommand('createStream', null, [], { transactionId: 3 }), 0);
    expect(reports(second)).toEqual([{ type: 'SERVER.STREAM_CREATED', streamId: 2 }]);
    expect(sent(second)[0]).toMatchObject({ name: '_result', args: [2] });
    const third = s.message(buildCommand('createStream', null, [], { transactionId: 4 }), 0);
    expect(reports(third)).toEqual([]);
    expect(sent(third)[0]).toMatchObject({ name: '_error', transactionId: 4 });
  });

  it('answers a publish without a name with BadName and asks nobody', () => {
    const out = connected().message(buildPublish('', 'live', { streamId: 1 }), 0);
    expect(codes(out)).toEqual(['NetStream.Publish.BadName']);
    expect(reports(out)).toEqual([]);
  });

  it('asks the authorizer first, with the masked name only, and claims nothing before it answers', () => {
    const s = connected();
    const out = s.message(buildPublish('secretkey?token=abc', 'live', { streamId: 1 }), 0);
    expect(reports(out)).toEqual([
      {
        type: 'SERVER.STREAM',
        streamId: 1,
        event: { type: 'STREAM.REQUEST', action: 'publish', label: 'se***?***' },
      },
    ]);
    expect(out.some((e) => e.kind === 'claim')).toBe(false);
    expect(s.pendingRequest(1)?.request).toMatchObject({
      action: 'publish',
      app: 'live',
      name: 'secretkey',
      query: { token: 'abc' },
      connection: 7,
      remote: '127.0.0.1:5000',
      type: 'live',
    });
  });

  it('claims the name the authorizer renamed to, keeping the query, and starts publishing when it is free', () => {
    const s = connected();
    s.message(buildPublish('cam?k=1', 'live', { streamId: 1 }), 0);
    s.pendingRequest(1)!.renamed = 'cam2';
    expect(s.authorization(1, 'publish', true, undefined)).toEqual([
      { kind: 'claim', streamId: 1, name: 'cam2?k=1' },
    ]);
    const out = s.claimed(1, 'ok');
    expect(codes(out)).toEqual(['NetStream.Publish.Start']);
    expect(s.roleOf(1)).toBe('publishing');
    // The publish names the stream, as the registry knows it: without the request's query (the
    // stand-in model in src/testing/models/server.ts reports the same); `cam2` is short enough to
    // be masked whole, and no `?***` follows.
    expect(reports(out)).toEqual([
      {
        type: 'SERVER.STREAM',
        streamId: 1,
        event: { type: 'STREAM.PUBLISH', label: '***', outcome: 'ok' },
      },
    ]);
    const audio: RtmpMessage = {
      type: 'Audio',
      payload: new Uint8Array([0xaf]),
      timestamp: 0,
      streamId: 1,
    };
    expect(s.message(audio, 0)).toEqual([{ kind: 'relay', name: 'cam2?k=1', message: audio }]);
  });

  it('answers BadName when the registry says the name is taken, and the stream then ends', () => {
    const s = connected();
    s.message(buildPublish('cam', 'live', { streamId: 1 }), 0);
    s.authorization(1, 'publish', true, undefined);
    const out = s.claimed(1, 'badName');
    expect(codes(out)).toEqual(['NetStream.Publish.BadName']);
    expect(s.roleOf(1)).toBe('ended');
    // A new publish on the id makes the NetStream anew.
    const again = s.message(buildPublish('cam', 'live', { streamId: 1 }), 0);
    expect(reports(again)[0]).toEqual({ type: 'SERVER.STREAM_CREATED', streamId: 1 });
  });

  it('answers a refused publish with Publish.Unauthorized and a refused play with Play.Failed, with the reason', () => {
    const s = connected();
    s.message(buildPublish('cam', 'live', { streamId: 1 }), 0);
    const refused = s.authorization(1, 'publish', false, 'hook answered 403');
    expect(codes(refused)).toEqual(['NetStream.Publish.Unauthorized']);
    expect(sent(refused)[0]).toMatchObject({
      args: [
        expect.objectContaining({
          description: 'Publishing cam is not allowed: hook answered 403.',
        }),
      ],
    });
    s.message(buildPlay('cam', {}, { streamId: 1 }), 0);
    expect(codes(s.authorization(1, 'play', false, undefined))).toEqual(['NetStream.Play.Failed']);
  });

  it('answers a play the registry cannot find with StreamNotFound, and one it finds with the play preamble', () => {
    const s = connected();
    s.message(buildPlay('cam', {}, { streamId: 1 }), 0);
    expect(s.authorization(1, 'play', true, undefined)).toEqual([
      { kind: 'lookUp', streamId: 1, name: 'cam' },
    ]);
    expect(codes(s.lookedUp(1, 'notFound'))).toEqual(['NetStream.Play.StreamNotFound']);
    s.message(buildPlay('cam', {}, { streamId: 1 }), 0);
    s.authorization(1, 'play', true, undefined);
    const out = s.lookedUp(1, 'waiting');
    expect(codes(out)).toEqual(['NetStream.Play.Reset', 'NetStream.Play.Start']);
    expect(out.map((e) => e.kind)).toContain('addPlayer');
    expect(codes(s.message(buildCommand('pause', null, [true, 0], { streamId: 1 }), 0))).toEqual([
      'NetStream.Pause.Notify',
    ]);
  });

  it('ignores media on a NetStream that does not publish', () => {
    const s = connected();
    const video: RtmpMessage = {
      type: 'Video',
      payload: new Uint8Array([0x17]),
      timestamp: 0,
      streamId: 1,
    };
    expect(s.message(video, 0)).toEqual([]);
  });

  it('ends a publishing NetStream on deleteStream: Unpublish.Success, release, on_done', () => {
    const s = connected();
    s.message(buildPublish('cam', 'live', { streamId: 1 }), 0);
    s.authorization(1, 'publish', true, undefined);
    s.claimed(1, 'ok');
    const out = s.message(buildCommand('deleteStream', null, [1]), 0);
    expect(out.map((e) => e.kind)).toEqual(['release', 'send', 'log', 'ended', 'report']);
    expect(codes(out)).toEqual(['NetStream.Unpublish.Success']);
    expect(s.roleOf(1)).toBeUndefined();
  });

  it('ends every NetStream quietly when the connection closes', () => {
    const s = connected();
    s.message(buildPublish('cam', 'live', { streamId: 1 }), 0);
    s.authorization(1, 'publish', true, undefined);
    s.claimed(1, 'ok');
    const out = s.close();
    expect(out.map((e) => e.kind)).toEqual(['release', 'log', 'ended']);
    expect(s.phase).toBe('closed');
    expect(s.close()).toEqual([]);
  });

  it('acknowledges a window of bytes and reports receiving at most once per receivingReportMs', () => {
    const s = connected();
    s.message({ type: 'WindowAckSize', windowSize: 1, timestamp: 0, streamId: 0 }, 0);
    const first = s.bytesReceived(5_000, 1_000);
    expect(first.map((e) => e.kind)).toEqual(['report', 'send']);
    expect(sent(first)[0]).toMatchObject({ type: 'Acknowledgement', sequenceNumber: 5_000 });
    expect(s.bytesReceived(5_100, 1_100)).toEqual([]);
  });

  it('answers pings through the shared duties, within maxPingsPerSecond', () => {
    const s = connected();
    const ping: RtmpMessage = {
      type: 'UserControl',
      event: 'PingRequest',
      time: 9,
      timestamp: 0,
      streamId: 0,
    };
    let answered = 0;
    for (let i = 0; i < 100; i++) answered += s.message(ping, 0).length;
    expect(answered).toBe(50);
    expect(UNBOUNDED_DUTIES.maxPingsPerSecond).toBe(Number.POSITIVE_INFINITY);
  });
});
