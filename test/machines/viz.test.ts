import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateVisualizations, MACHINES, toDot, toMermaid } from '../../src/viz';

const VISUALIZATIONS = join(__dirname, '..', '..', 'visualizations');

describe('generated visualizations', () => {
  let dir: string;
  let written: string[];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rtmp-actors-viz-'));
    written = await generateVisualizations(dir);
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes a Mermaid, a DOT and an SVG file per machine, and an index', () => {
    const names = written.map((p) => p.slice(dir.length + 1));
    const expected = MACHINES.flatMap((m) => [`${m.id}.dot`, `${m.id}.mmd`, `${m.id}.svg`]);
    expect(names.sort()).toEqual([...expected, 'index.md'].sort());
  });

  it('matches the committed visualizations/ file by file (regenerate when this fails)', async () => {
    const committed = (await readdir(VISUALIZATIONS)).filter((n) => !n.startsWith('.')).sort();
    const fresh = (await readdir(dir)).sort();
    expect(committed).toEqual(fresh);
    for (const name of fresh) {
      const want = await readFile(join(dir, name), 'utf8');
      const have = await readFile(join(VISUALIZATIONS, name), 'utf8');
      expect({ name, same: have === want }).toEqual({ name, same: true });
    }
  });

  it('is deterministic', () => {
    for (const m of MACHINES) {
      expect(toMermaid(m)).toBe(toMermaid(m));
      expect(toDot(m)).toBe(toDot(m));
    }
  });

  it('labels every edge by name: delays, guards and actions, no anonymous or inline ones', () => {
    for (const m of MACHINES) {
      const text = toMermaid(m) + toDot(m);
      expect(text).not.toMatch(/anonymous|inline|xstate\.invoke|xstate\.after/);
    }
    const nc = toMermaid(MACHINES[1]);
    expect(nc).toContain('after retryBackoff');
    expect(nc).toContain('[canRetry]');
    expect(nc).toContain('done(handshake) [handshakeSucceeded]');
    expect(nc).toContain('invoke transport');
    expect(nc).toContain('always [shouldAutostart]');
  });

  it('draws compound states as nested states and clusters', () => {
    const mmd = toMermaid(MACHINES[1]);
    expect(mmd).toMatch(/state session \{\n\s+\[\*\] --> opening/);
    expect(toDot(MACHINES[1])).toContain('subgraph "cluster_netConnection.session"');
  });
});
