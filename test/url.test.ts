import fc from 'fast-check';
import { parseConnArgs, parseRtmpUrl, UrlError, type RtmpUrl, type UrlErrorCode } from '../src/url';

function codeOf(fn: () => unknown): UrlErrorCode | 'NO_ERROR' | 'OTHER_ERROR' {
  try {
    fn();
    return 'NO_ERROR';
  } catch (err) {
    return err instanceof UrlError ? err.code : 'OTHER_ERROR';
  }
}

describe('parseRtmpUrl', () => {
  const table: Array<[string, Partial<RtmpUrl>]> = [
    [
      'rtmp://127.0.0.1/live/stream',
      {
        protocol: 'rtmp',
        host: '127.0.0.1',
        port: 1935,
        app: 'live',
        playpath: 'stream',
        tcUrl: 'rtmp://127.0.0.1/live',
      },
    ],
    [
      'rtmp://example.com:1936/live/stream',
      { port: 1936, app: 'live', playpath: 'stream', tcUrl: 'rtmp://example.com:1936/live' },
    ],
    [
      'rtmps://example.com/live/key',
      { protocol: 'rtmps', port: 443, tcUrl: 'rtmps://example.com/live' },
    ],
    [
      'RTMP://Example.com/live/s',
      { protocol: 'rtmp', host: 'Example.com', tcUrl: 'rtmp://Example.com/live' },
    ],
    // FFmpeg: three or more segments -> app/instance
    [
      'rtmp://h/app/inst/stream',
      { app: 'app/inst', playpath: 'stream', tcUrl: 'rtmp://h/app/inst' },
    ],
    ['rtmp://h/a/b/c/d', { app: 'a/b', playpath: 'c/d' }],
    // a prefixed segment starts the playpath
    ['rtmp://h/vod/mp4:dir/file.mp4', { app: 'vod', playpath: 'mp4:dir/file.mp4' }],
    ['rtmp://h/vod/inst/mp3:music/song', { app: 'vod/inst', playpath: 'mp3:music/song' }],
    ['rtmp://h/vod/flv:small.flv', { app: 'vod', playpath: 'flv:small.flv' }],
    ['rtmp://h/vod/raw:dump', { app: 'vod', playpath: 'raw:dump' }],
    // extension rules
    ['rtmp://h/vod/file.mp4', { playpath: 'mp4:file.mp4' }],
    ['rtmp://h/vod/file.f4v', { playpath: 'mp4:file.f4v' }],
    ['rtmp://h/vod/clip.mov', { playpath: 'mp4:clip.mov' }],
    ['rtmp://h/vod/video.MP4', { playpath: 'mp4:video.MP4' }],
    ['rtmp://h/vod/song.mp3', { playpath: 'mp3:song' }],
    ['rtmp://h/vod/small.flv', { playpath: 'small' }],
    ['rtmp://h/vod/name.with.dots', { playpath: 'name.with.dots' }],
    // query strings stay with the playpath, or with the app when there is no playpath
    [
      'rtmp://h/live/stream?token=abc&exp=1',
      {
        app: 'live',
        playpath: 'stream?token=abc&exp=1',
        query: 'token=abc&exp=1',
        tcUrl: 'rtmp://h/live',
      },
    ],
    ['rtmp://h/vod/file.mp4?sig=x', { playpath: 'mp4:file.mp4?sig=x' }],
    ['rtmp://h/live?auth=x', { app: 'live?auth=x', playpath: '', tcUrl: 'rtmp://h/live?auth=x' }],
    ['rtmp://h/live/s?path=a/b', { app: 'live', playpath: 's?path=a/b' }],
    // user info never reaches the tcUrl
    [
      'rtmp://user:p%40ss@h/live/s',
      { user: 'user', password: 'p@ss', host: 'h', tcUrl: 'rtmp://h/live' },
    ],
    ['rtmp://onlyuser@h/live/s', { user: 'onlyuser', host: 'h', tcUrl: 'rtmp://h/live' }],
    ['rtmp://[::1]:1935/live/s', { host: '::1', port: 1935, tcUrl: 'rtmp://[::1]:1935/live' }],
    ['rtmp://[::1]/live/s', { host: '::1', port: 1935, tcUrl: 'rtmp://[::1]/live' }],
    ['rtmp://h/ondemand/a/b/c', { app: 'ondemand', playpath: 'a/b/c' }],
    ['rtmp://h/live/my%20stream', { playpath: 'my stream' }],
    ['rtmp://h/live/100%', { playpath: '100%' }],
    ['rtmp://h/live', { app: 'live', playpath: '' }],
    ['rtmp://h/live/', { app: 'live', playpath: '' }],
  ];

  it.each(table)('parses %s like librtmp and FFmpeg', (url, expected) => {
    expect(parseRtmpUrl(url)).toMatchObject(expected);
  });

  it('has no password, query or connect arguments when the URL has none', () => {
    const parsed = parseRtmpUrl('rtmp://onlyuser@h/live/s');
    expect(parsed).not.toHaveProperty('password');
    expect(parsed).not.toHaveProperty('query');
    expect(parsed.connArgs).toEqual([]);
    expect(parsed.options).toEqual({});
  });

  it('splits the path where an explicit app ends', () => {
    expect(parseRtmpUrl('rtmp://h/a/b/c/d', { app: 'a/b/c' })).toMatchObject({
      app: 'a/b/c',
      playpath: 'd',
      tcUrl: 'rtmp://h/a/b/c',
    });
  });

  it('takes a one-segment path as the playpath when the app is given (FFmpeg rtmp_app)', () => {
    expect(parseRtmpUrl('rtmp://h/stream', { app: 'live' })).toMatchObject({
      app: 'live',
      playpath: 'stream',
      tcUrl: 'rtmp://h/live',
    });
  });

  it('uses an explicit playpath and tcUrl as given, without prefix or extension rules', () => {
    expect(
      parseRtmpUrl('rtmp://h/live/ignored', { playpath: 'x.flv', tcUrl: 'rtmp://other:99/live' }),
    ).toMatchObject({ app: 'live', playpath: 'x.flv', tcUrl: 'rtmp://other:99/live' });
  });

  it('reads librtmp options after the URL into flags and typed connect arguments', () => {
    const parsed = parseRtmpUrl(
      'rtmp://h/app/name live=1 conn=S:foo conn=N:3 conn=B:1 conn=O:1 conn=NS:name:val conn=O:0',
    );
    expect(parsed.app).toBe('app');
    expect(parsed.playpath).toBe('name');
    expect(parsed.options.live).toBe(true);
    expect(parsed.connArgs).toEqual(['foo', 3, true, { name: 'val' }]);
  });

  it('applies librtmp app, playpath, flashVer and numeric options with \\XX escapes decoded', () => {
    const parsed = parseRtmpUrl(
      'rtmp://h:1940/x playpath=mp4:dir/f.mp4 app=vod/inst flashVer=FMLE/3.0\\20(compatible;\\20FMSc/1.0) buffer=36000000 start=5 stop=9 timeout=30 subscribe=s1 token=t pageUrl=http://p swfUrl=http://s.swf',
    );
    expect(parsed).toMatchObject({
      app: 'vod/inst',
      playpath: 'mp4:dir/f.mp4',
      tcUrl: 'rtmp://h:1940/vod/inst',
      options: {
        flashVer: 'FMLE/3.0 (compatible; FMSc/1.0)',
        buffer: 36000000,
        start: 5,
        stop: 9,
        timeout: 30,
        subscribe: 's1',
        token: 't',
        pageUrl: 'http://p',
        swfUrl: 'http://s.swf',
      },
    });
  });

  it('lets overrides win over the URL options, and override conn replace the URL conn', () => {
    const parsed = parseRtmpUrl('rtmp://h/app/s live=0 conn=S:fromurl', {
      live: true,
      conn: 'S:override N:1',
    });
    expect(parsed.options.live).toBe(true);
    expect(parsed.connArgs).toEqual(['override', 1]);
  });

  it.each<[string, UrlErrorCode]>([
    ['http://h/app/s', 'BAD_SCHEME'],
    ['rtmpe://h/app/s', 'BAD_SCHEME'],
    ['rtmpt://h/app/s', 'BAD_SCHEME'],
    ['h/app/s', 'BAD_SCHEME'],
    ['', 'BAD_SCHEME'],
    ['rtmp:///app/s', 'NO_HOST'],
    ['rtmp://user:pw@/app', 'NO_HOST'],
    ['rtmp://[::1/app/s', 'NO_HOST'],
    ['rtmp://h', 'NO_APP'],
    ['rtmp://h/', 'NO_APP'],
    ['rtmp://h:0/app', 'BAD_PORT'],
    ['rtmp://h:65536/app', 'BAD_PORT'],
    ['rtmp://h:abc/app', 'BAD_PORT'],
    ['rtmp://h:/app', 'BAD_PORT'],
    ['rtmp://[::1]x/app', 'BAD_PORT'],
    ['rtmp://h/app conn=X:1', 'BAD_CONN'],
    ['rtmp://h/app swfVfy=1', 'BAD_OPTION'],
    ['rtmp://h/app live=maybe', 'BAD_OPTION'],
    ['rtmp://h/app live', 'BAD_OPTION'],
    ['rtmp://h/app buffer=lots', 'BAD_OPTION'],
  ])('rejects %j with %s', (url, code) => {
    expect(codeOf(() => parseRtmpUrl(url))).toBe(code);
  });

  it('round-trips any app and stream name made of URL-safe characters', () => {
    const segment = fc.stringMatching(/^[A-Za-z0-9_-]{1,12}$/);
    fc.assert(
      fc.property(segment, segment, fc.integer({ min: 1, max: 65535 }), (app, stream, port) => {
        const parsed = parseRtmpUrl(`rtmp://host.example:${port}/${app}/${stream}`);
        expect(parsed).toMatchObject({
          app,
          playpath: stream,
          port,
          tcUrl: `rtmp://host.example:${port}/${app}`,
        });
      }),
    );
  });
});

describe('parseConnArgs', () => {
  it('reads an FFmpeg rtmp_conn string into typed AMF values', () => {
    expect(parseConnArgs('B:1 S:authMe O:1 NN:code:1.23 NS:flag:ok O:0')).toEqual([
      true,
      'authMe',
      { code: 1.23, flag: 'ok' },
    ]);
  });

  it('reads nulls, false booleans, empty strings and nested named objects', () => {
    expect(
      parseConnArgs(['Z:', 'B:0', 'S:', 'O:1', 'NO:inner:1', 'NZ:n:', 'NB:b:0', 'O:0', 'O:0']),
    ).toEqual([null, false, '', { inner: { n: null, b: false } }]);
  });

  it('keeps spaces in librtmp items (one item per conn=)', () => {
    expect(parseConnArgs(['S:two words'])).toEqual(['two words']);
  });

  it('keeps a member named __proto__ as an ordinary member', () => {
    const [obj] = parseConnArgs('O:1 NS:__proto__:x O:0') as [Record<string, unknown>];
    expect(Object.keys(obj)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(obj)).toBe(Object.prototype);
  });

  it.each([
    ['X:1'],
    ['B:yes'],
    ['N:abc'],
    ['N:'],
    ['O:0'],
    ['O:2'],
    ['O:1'],
    ['NS:a:b'],
    ['O:1 S:x O:0'],
    ['O:1 NS:noval O:0'],
    ['plain'],
  ])('rejects %j with BAD_CONN', (spec) => {
    expect(codeOf(() => parseConnArgs(spec))).toBe('BAD_CONN');
  });

  it('never repeats a string value in its error message', () => {
    let message = '';
    try {
      parseConnArgs('O:1 S:supersecret O:0');
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('S:***');
    expect(message).not.toContain('supersecret');
  });
});
