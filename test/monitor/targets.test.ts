import {
  TargetsError,
  diffTargets,
  parseTargets,
  targetsFromUrls,
  validateTarget,
} from '../../src/monitor/targets';

function errorOf(f: () => unknown): TargetsError {
  try {
    f();
  } catch (e) {
    if (e instanceof TargetsError) return e;
    throw e;
  }
  throw new Error('did not throw');
}

describe('targets file', () => {
  it('reads YAML and JSON with ids, URLs and optional labels', () => {
    const yaml = parseTargets(
      [
        'streams:',
        '  - id: cam-001',
        '    url: rtmp://media.example/live/cam1?token=secret',
        '    labels: { site: paris, floor: 2 }',
        '  - id: cam-002',
        '    url: rtmp://media.example/live/cam2',
      ].join('\n'),
    );
    expect(yaml).toEqual([
      {
        id: 'cam-001',
        url: 'rtmp://media.example/live/cam1?token=secret',
        labels: { site: 'paris', floor: '2' },
      },
      { id: 'cam-002', url: 'rtmp://media.example/live/cam2' },
    ]);
    const json = parseTargets(
      JSON.stringify({ streams: [{ id: 'a', url: 'rtmp://h/live/a', labels: { site: 'x' } }] }),
    );
    expect(json).toEqual([{ id: 'a', url: 'rtmp://h/live/a', labels: { site: 'x' } }]);
    expect(parseTargets('streams: []')).toEqual([]);
  });

  it('refuses a duplicate id, naming both entries', () => {
    const e = errorOf(() =>
      parseTargets(
        'streams:\n - {id: a, url: "rtmp://h/live/a"}\n - {id: a, url: "rtmp://h/live/b"}',
      ),
    );
    expect(e.code).toBe('DUPLICATE_ID');
    expect(e.message).toBe('streams[1]: id "a" is already used by streams[0]');
  });

  it('refuses label names Prometheus would not take, and the ones the monitor sets itself', () => {
    const bad = (labels: string) =>
      errorOf(() =>
        parseTargets(`streams:\n - {id: a, url: "rtmp://h/live/a", labels: ${labels}}`),
      );
    expect(bad('{ "site-name": x }').message).toMatch(
      /streams\[0\] \(id "a"\): label name "site-name" is not a Prometheus label name/,
    );
    expect(bad('{ __x: y }').code).toBe('BAD_LABEL');
    for (const reserved of ['id', 'state', 'reason']) {
      expect(bad(`{ ${reserved}: y }`).message).toMatch(new RegExp(`"${reserved}" is reserved`));
    }
    expect(bad('{ site: [1] }').message).toMatch(/must be a string, number or boolean/);
  });

  it('names the entry of a bad URL without its secrets', () => {
    const e = errorOf(() =>
      parseTargets('streams:\n - {id: cam-9, url: "http://h/live/supersecretkey?token=abcdef"}'),
    );
    expect(e.code).toBe('BAD_URL');
    expect(e.message).toMatch(/^streams\[0\] \(id "cam-9"\): url /);
    expect(e.message).not.toContain('supersecretkey');
    expect(e.message).not.toContain('abcdef');
    expect(errorOf(() => validateTarget({ id: 'x', url: 'rtmp://h/live' })).message).toMatch(
      /names no stream/,
    );
  });

  it('refuses a file that does not parse or has the wrong shape, without quoting it', () => {
    const e = errorOf(() =>
      parseTargets('streams:\n  - id: [unclosed\n    url: rtmp://h/live/key1234', 'f.yaml'),
    );
    expect(e.code).toBe('PARSE');
    expect(e.message).toMatch(/^f\.yaml: not valid YAML or JSON \(line \d+, column \d+\)$/);
    expect(errorOf(() => parseTargets('[1, 2]')).code).toBe('SHAPE');
    expect(errorOf(() => parseTargets('')).message).toMatch(/empty/);
    expect(
      errorOf(() => parseTargets('streams: [{id: a, url: "rtmp://h/l/a", extra: 1}]')).message,
    ).toMatch(/unknown field "extra"/);
  });
});

describe('targets from URLs on the command line', () => {
  it('names each by its redacted URL, and tells apart URLs that differ only in secrets', () => {
    const { targets, duplicates } = targetsFromUrls([
      'rtmp://127.0.0.1:19350/live/s1?token=aaaaaa',
      'rtmp://127.0.0.1:19350/live/s1?token=bbbbbb',
      'rtmp://127.0.0.1:19350/live/camera-two',
      'rtmp://127.0.0.1:19350/live/s1?token=aaaaaa',
    ]);
    expect(targets.map((t) => t.id)).toEqual([
      'rtmp://127.0.0.1:19350/live/***?token=***',
      'rtmp://127.0.0.1:19350/live/***?token=***#2',
      'rtmp://127.0.0.1:19350/live/ca***',
    ]);
    expect(duplicates).toEqual(['rtmp://127.0.0.1:19350/live/***?token=***']);
    for (const t of targets) expect(t.id).not.toMatch(/aaaaaa|bbbbbb|camera-two/);
  });

  it('gives the same ids on every run for the same command line', () => {
    const urls = ['rtmp://h/live/one?k=1', 'rtmp://h/live/one?k=2'];
    expect(targetsFromUrls(urls).targets).toEqual(targetsFromUrls(urls).targets);
  });
});

describe('diffTargets', () => {
  it('starts added targets, stops removed ones, restarts changed ones and leaves the rest', () => {
    const before = new Map(
      [
        { id: 'a', url: 'rtmp://h/live/a' },
        { id: 'b', url: 'rtmp://h/live/b' },
        { id: 'c', url: 'rtmp://h/live/c', labels: { site: 'x' } },
      ].map((t) => [t.id, t]),
    );
    const diff = diffTargets(before, [
      { id: 'a', url: 'rtmp://h/live/a' },
      { id: 'c', url: 'rtmp://h/live/c', labels: { site: 'y' } },
      { id: 'd', url: 'rtmp://h/live/d' },
    ]);
    expect(diff.removed.sort()).toEqual(['b', 'c']);
    expect(diff.added.map((t) => t.id).sort()).toEqual(['c', 'd']);
    expect(diff.unchanged).toBe(1);
  });
});
