import fc from 'fast-check';
import { redactText, redactUrl, secretsOf } from '../src/redact';

/** URL, what redactUrl must print, and the secrets it must hide. */
const table: Array<[string, string, string[]]> = [
  [
    'rtmp://live.example.com/app/sk_live_1234567890abcdef',
    'rtmp://live.example.com/app/sk***',
    ['sk_live_1234567890abcdef'],
  ],
  [
    'rtmps://user:hunter2pass@h:443/live/streamkey?token=tok123456&expires=1700000000',
    'rtmps://user:***@h:443/live/st***?token=***&expires=***',
    ['hunter2pass', 'streamkey', 'tok123456', '1700000000'],
  ],
  ['rtmp://h/app/inst/secretkey', 'rtmp://h/app/inst/se***', ['secretkey']],
  ['rtmp://h/vod/mp4:private/movie.mp4', 'rtmp://h/vod/mp***', ['mp4:private/movie.mp4']],
  ['rtmp://h/live?auth=appsecret99', 'rtmp://h/live?auth=***', ['appsecret99']],
  [
    'rtmp://h/live/key%21with%20escapes',
    'rtmp://h/live/ke***',
    ['key%21with%20escapes', 'key!with escapes'],
  ],
  ['rtmp://h/live/privkey.flv', 'rtmp://h/live/pr***', ['privkey.flv', 'privkey']],
  [
    'rtmp://u:p%40ssword@[::1]:1935/live/abcdef',
    'rtmp://u:***@[::1]:1935/live/ab***',
    ['p@ssword'],
  ],
  ['rtmp://h/live/key#fragmentsecret', 'rtmp://h/live/***#***', ['fragmentsecret']],
  ['rtmp://h/live/bare?justatoken', 'rtmp://h/live/***?***', ['justatoken', 'bare']],
  [
    'rtmp://h/app/name123 token=tokensecret conn=S:connsecret conn=NS:pw:objsecret playpath=pathsecret live=1',
    'rtmp://h/app/na*** token=*** conn=S:*** conn=NS:pw:*** playpath=pa*** live=1',
    ['name123', 'tokensecret', 'connsecret', 'objsecret', 'pathsecret'],
  ],
  [
    'rtmp://h/app tcUrl=rtmp://u:tcpass99@h/app?x=tcquery1 app=live?auth=appquery1',
    'rtmp://h/app tcUrl=rtmp://u:***@h/app?x=*** app=live?auth=***',
    ['tcpass99', 'tcquery1', 'appquery1'],
  ],
  ['rtmp://h/app conn=S:with\\20space', 'rtmp://h/app conn=S:***', ['with space']],
];

describe('redactUrl and secretsOf', () => {
  it.each(table)('masks %s', (url, redacted, secrets) => {
    expect(redactUrl(url)).toBe(redacted);
    expect(secretsOf(url)).toEqual(expect.arrayContaining(secrets));
  });

  it.each(table)('leaves no secret of %s in the redacted form', (url) => {
    const out = redactUrl(url);
    const secrets = secretsOf(url);
    expect(secrets.length).toBeGreaterThan(0);
    for (const secret of secrets)
      expect({ secret, found: out.includes(secret) }).toEqual({ secret, found: false });
  });

  it('keeps URLs without secrets as they are', () => {
    expect(redactUrl('rtmp://127.0.0.1:1935/live')).toBe('rtmp://127.0.0.1:1935/live');
    expect(redactUrl('rtmp://h/live/')).toBe('rtmp://h/live/');
    expect(secretsOf('rtmp://127.0.0.1:1935/live')).toEqual([]);
  });

  it('never throws, even on text that is not a URL', () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        expect(typeof redactUrl(text)).toBe('string');
        expect(Array.isArray(secretsOf(text))).toBe(true);
      }),
    );
  });

  it('hides any stream key of five or more characters', () => {
    const key = fc.stringMatching(/^[A-Za-z0-9_-]{5,40}$/);
    fc.assert(
      fc.property(key, (k) => {
        const out = redactUrl(`rtmp://ingest.example/live/${k}`);
        expect(out).toBe(`rtmp://ingest.example/live/${k.slice(0, 2)}***`);
        expect(out).not.toContain(k);
      }),
    );
  });

  it('lists the longest secrets first and leaves out ones too short to scrub safely', () => {
    const secrets = secretsOf('rtmp://h/live/streamkey?a=1&token=abcdefgh');
    expect(secrets).toEqual(['streamkey', 'abcdefgh']);
  });
});

describe('redactText', () => {
  it('replaces every occurrence of each secret, and of its URL-encoded form', () => {
    const text =
      'onStatus NetStream.Publish.BadName: sk live/1234 is taken; retry rtmp://h/live/sk%20live%2F1234 with a%20b%26c';
    const out = redactText(text, ['sk live/1234', 'a b&c']);
    expect(out).toBe(
      'onStatus NetStream.Publish.BadName: *** is taken; retry rtmp://h/live/*** with ***',
    );
  });

  it('scrubs a URL’s secrets from a peer error message', () => {
    const url = 'rtmps://ingest:passw0rd!@h/app/live_98765_abcdef?sig=deadbeef';
    const message = `Rejected: bad key live_98765_abcdef (sig deadbeef) for ingest:passw0rd!`;
    const out = redactText(message, secretsOf(url));
    for (const secret of ['live_98765_abcdef', 'deadbeef', 'passw0rd!'])
      expect(out).not.toContain(secret);
    expect(out).toContain('Rejected: bad key');
  });

  it('ignores empty secrets', () => {
    expect(redactText('nothing to hide', ['', 'zzz'])).toBe('nothing to hide');
  });
});
