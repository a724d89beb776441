/**
 * Diagrams of the statecharts, generated from `machine.root` (never drawn by hand):
 * `<id>.mmd` (Mermaid stateDiagram-v2), `<id>.dot` (Graphviz, one cluster per compound state)
 * and `<id>.svg` (the DOT rendered with @viz-js/viz), plus `index.md`. Output is deterministic.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { instance } from '@viz-js/viz';
import type { AnyStateMachine } from 'xstate';
import { handshakeMachine } from '../../machines/handshakeMachine';
import { netConnectionMachine } from '../../machines/netConnectionMachine';
import { netStreamMachine } from '../../machines/netStreamMachine';
import { serverConnectionMachine } from '../../machines/serverConnectionMachine';
import { serverStreamMachine } from '../../machines/serverStreamMachine';
import { serverSupervisorMachine } from '../../machines/serverSupervisorMachine';
import { sessionSupervisorMachine } from '../../machines/sessionSupervisorMachine';

type StateNode = AnyStateMachine['root'];
type Transition = NonNullable<StateNode['always']>[number];

/** The machines drawn by default, in the order of index.md. */
export const MACHINES: readonly AnyStateMachine[] = [
  handshakeMachine,
  netConnectionMachine,
  netStreamMachine,
  sessionSupervisorMachine,
  serverSupervisorMachine,
  serverConnectionMachine,
  serverStreamMachine,
];

/** One edge of the diagram. */
export interface DiagramEdge {
  source: StateNode;
  targets: StateNode[];
  /** Event, `after <delay>`, `always`, `done(<invoke>)`... */
  trigger: string;
  guard: string | undefined;
  actions: string[];
  reenter: boolean;
}

/** Actions XState adds by itself (`after` raises and cancels its delayed events). */
function isBuiltIn(item: unknown): boolean {
  const type =
    typeof item === 'string'
      ? item
      : ((item as { type?: unknown } | null | undefined)?.type as string | undefined);
  return typeof type === 'string' && type.startsWith('xstate.');
}

function describeNamed(item: unknown): string {
  if (typeof item === 'string') return item;
  if (item && typeof item === 'object' && 'type' in item) {
    const { type, params } = item as { type: string; params?: unknown };
    if (type.startsWith('xstate.') && Array.isArray((item as { guards?: unknown }).guards)) {
      const inner = (item as unknown as { guards: unknown[] }).guards.map(describeNamed).join(', ');
      return `${type.slice('xstate.'.length)}(${inner})`;
    }
    if (params && typeof params === 'object') {
      const args = Object.entries(params as Record<string, unknown>)
        .map(([k, v]) => `${k}=${String(v)}`)
        .join(', ');
      return args ? `${type}(${args})` : type;
    }
    return type;
  }
  if (typeof item === 'function') {
    const name = (item as { type?: string; name?: string }).type ?? item.name;
    const guards = (item as { guards?: unknown }).guards;
    // Higher-order guards (and, or, not) are functions holding the guards they combine.
    if (Array.isArray(guards)) return `${name}(${guards.map(describeNamed).join(', ')})`;
    return name && name !== 'anonymous' ? name : 'inline';
  }
  return String(item);
}

/** What fires a transition, in words: the event, `after <delay>`, `always`, `done(<id>)`... */
export function triggerOf(eventType: string): string {
  if (eventType === '') return 'always';
  if (eventType.startsWith('xstate.after.')) {
    return `after ${eventType.slice('xstate.after.'.length).split('.')[0]}`;
  }
  if (eventType.startsWith('xstate.done.actor.')) {
    return `done(${eventType.slice('xstate.done.actor.'.length)})`;
  }
  if (eventType.startsWith('xstate.error.actor.')) {
    return `error(${eventType.slice('xstate.error.actor.'.length)})`;
  }
  if (eventType.startsWith('xstate.done.state.')) return 'done';
  return eventType;
}

function childrenOf(node: StateNode): StateNode[] {
  return Object.values(node.states) as StateNode[];
}

function allNodes(node: StateNode): StateNode[] {
  return [node, ...childrenOf(node).flatMap(allNodes)];
}

/** Every transition of the machine, in definition order. */
export function edgesOf(machine: AnyStateMachine): DiagramEdge[] {
  const edges: DiagramEdge[] = [];
  for (const node of allNodes(machine.root)) {
    const add = (t: Transition, eventType: string): void => {
      edges.push({
        source: node,
        targets: (t.target ?? []) as StateNode[],
        trigger: triggerOf(eventType),
        guard: t.guard ? describeNamed(t.guard) : undefined,
        actions: (t.actions ?? []).filter((a) => !isBuiltIn(a)).map(describeNamed),
        reenter: Boolean(t.reenter) && (t.target?.length ?? 0) > 0,
      });
    };
    for (const [eventType, list] of node.transitions) for (const t of list) add(t, eventType);
    for (const t of node.always ?? []) add(t, '');
  }
  return edges;
}

/** Targetless transitions: drawn inside their state (UML's internal transitions), not as edges. */
function isInternal(edge: DiagramEdge): boolean {
  return edge.targets.length === 0;
}

function internalsOf(machine: AnyStateMachine, node: StateNode): string[] {
  return edgesOf(machine)
    .filter((e) => e.source === node && isInternal(e))
    .map((e) => edgeLabel(e, ' '));
}

function edgeLabel(edge: DiagramEdge, newline: string): string {
  const parts = [edge.trigger + (edge.reenter ? ' (reenter)' : '')];
  if (edge.guard) parts.push(`[${edge.guard}]`);
  if (edge.actions.length) parts.push(`/ ${edge.actions.join(', ')}`);
  return parts.join(newline);
}

function invokesOf(node: StateNode): string[] {
  return node.invoke.map((inv) => {
    const src = typeof inv.src === 'string' ? inv.src : describeNamed(inv.src);
    return inv.id && inv.id !== src ? `invoke ${src} (id ${inv.id})` : `invoke ${src}`;
  });
}

function entryExitOf(node: StateNode, separator = ', '): string[] {
  const out: string[] = [];
  const entry = node.entry.filter((a) => !isBuiltIn(a)).map(describeNamed);
  const exit = node.exit.filter((a) => !isBuiltIn(a)).map(describeNamed);
  if (entry.length) out.push(`entry / ${entry.join(separator)}`);
  if (exit.length) out.push(`exit / ${exit.join(separator)}`);
  return out;
}

/** Actors the machine spawns rather than invokes (setup actors no state invokes). */
function spawnedActors(machine: AnyStateMachine): string[] {
  const invoked = new Set(
    allNodes(machine.root).flatMap((n) =>
      n.invoke.map((i) => (typeof i.src === 'string' ? i.src : '')),
    ),
  );
  return Object.keys((machine.implementations.actors ?? {}) as Record<string, unknown>)
    .filter((name) => !invoked.has(name))
    .sort();
}

// ------------------------------------------------------------------------------------- Mermaid

function mermaidIds(machine: AnyStateMachine): Map<StateNode, string> {
  const nodes = allNodes(machine.root);
  const counts = new Map<string, number>();
  for (const n of nodes) counts.set(n.key, (counts.get(n.key) ?? 0) + 1);
  const ids = new Map<StateNode, string>();
  for (const n of nodes) {
    const base =
      n === machine.root ? `${machine.id}_any` : counts.get(n.key) === 1 ? n.key : n.path.join('_');
    ids.set(n, base.replace(/[^A-Za-z0-9_]/g, '_'));
  }
  return ids;
}

function ancestors(node: StateNode): StateNode[] {
  const out: StateNode[] = [];
  for (let n: StateNode | undefined = node; n; n = n.parent) out.unshift(n);
  return out;
}

function mermaidText(text: string): string {
  return text.replace(
    /[:;{}"#]/g,
    (c) => ({ ':': '∶', ';': ',', '{': '(', '}': ')', '"': "'", '#': '№' })[c] ?? c,
  );
}

/**
 * Mermaid stateDiagram-v2 for `machine`. An edge between siblings is declared inside their
 * composite; an edge that crosses composites is declared at the top level (Mermaid moves a state
 * into the last composite that mentions it). The machine's own transitions start from an
 * "any state" node.
 */
export function toMermaid(machine: AnyStateMachine): string {
  const ids = mermaidIds(machine);
  const root = machine.root;
  const byScope = new Map<StateNode, string[]>();
  const push = (scope: StateNode, line: string): void => {
    const list = byScope.get(scope) ?? [];
    list.push(line);
    byScope.set(scope, list);
  };
  for (const edge of edgesOf(machine)) {
    if (isInternal(edge)) continue;
    for (const target of edge.targets) {
      const siblings = edge.source.parent !== undefined && edge.source.parent === target.parent;
      const scope = siblings || edge.source === target ? (edge.source.parent ?? root) : root;
      push(
        scope,
        `${ids.get(edge.source)} --> ${ids.get(target)} : ${mermaidText(edgeLabel(edge, ' '))}`,
      );
    }
  }
  const lines: string[] = ['stateDiagram-v2'];
  if (root.description) lines.push(`  %% ${machine.id}: ${root.description}`);
  const emit = (node: StateNode, indent: string): void => {
    const children = childrenOf(node);
    const notes = [...invokesOf(node), ...entryExitOf(node), ...internalsOf(machine, node)];
    const id = ids.get(node);
    if (children.length === 0) {
      lines.push(`${indent}${id}`);
      for (const note of notes) lines.push(`${indent}${id} : ${mermaidText(note)}`);
      if (node.type === 'final') lines.push(`${indent}${id} --> [*]`);
      return;
    }
    lines.push(`${indent}state ${id} {`);
    const inner = `${indent}  `;
    if (node.type === 'parallel') {
      children.forEach((child, i) => {
        if (i > 0) lines.push(`${inner}--`);
        emit(child, inner);
      });
    } else {
      const initial = node.initial?.target?.[0] as StateNode | undefined;
      if (initial) lines.push(`${inner}[*] --> ${ids.get(initial)}`);
      for (const child of children) emit(child, inner);
    }
    for (const line of byScope.get(node) ?? []) lines.push(`${inner}${line}`);
    lines.push(`${indent}}`);
    for (const note of notes) lines.push(`${indent}note right of ${id} : ${mermaidText(note)}`);
  };
  const initial = root.initial?.target?.[0] as StateNode | undefined;
  if (initial) lines.push(`  [*] --> ${ids.get(initial)}`);
  for (const child of childrenOf(root)) emit(child, '  ');
  const rootNotes = [
    ...spawnedActors(machine).map((a) => `spawns ${a}`),
    ...invokesOf(root),
    ...entryExitOf(root),
    ...internalsOf(machine, root),
  ];
  const rootEdges = edgesOf(machine).some((e) => e.source === root && !isInternal(e));
  if (rootNotes.length || rootEdges) {
    lines.push(`  state "any state" as ${ids.get(root)}`);
    for (const note of rootNotes) lines.push(`  ${ids.get(root)} : ${mermaidText(note)}`);
  }
  for (const line of byScope.get(root) ?? []) lines.push(`  ${line}`);
  return lines.join('\n') + '\n';
}

// ------------------------------------------------------------------------------------- DOT

function dotString(text: string): string {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

/** Graphviz DOT for `machine`: clusters for compound states, a point for each initial state. */
export function toDot(machine: AnyStateMachine): string {
  const lines: string[] = [
    `digraph ${dotString(machine.id)} {`,
    '  compound=true;',
    '  rankdir=TB;',
    '  newrank=true;',
    '  fontname="Helvetica";',
    '  fontsize=12;',
    '  node [shape=box, style="rounded", fontname="Helvetica", fontsize=11, margin="0.2,0.08"];',
    '  edge [fontname="Helvetica", fontsize=9];',
  ];
  const anchor = (node: StateNode): string => `${node.id}#initial`;
  const isCompound = (node: StateNode): boolean => childrenOf(node).length > 0;
  const emit = (node: StateNode, indent: string): void => {
    const extra = [...invokesOf(node), ...entryExitOf(node, ',\n'), ...internalsOf(machine, node)];
    if (!isCompound(node)) {
      const label = [node.key, ...extra].join('\n');
      const attrs = [`label=${dotString(label)}`];
      if (node.type === 'final') attrs.push('peripheries=2');
      lines.push(`${indent}${dotString(node.id)} [${attrs.join(', ')}];`);
      return;
    }
    const spawned = node === machine.root ? spawnedActors(machine).map((a) => `spawns ${a}`) : [];
    const label = [node === machine.root ? machine.id : node.key, ...extra, ...spawned].join('\n');
    lines.push(`${indent}subgraph ${dotString(`cluster_${node.id}`)} {`);
    const inner = `${indent}  `;
    lines.push(`${inner}label=${dotString(label)};`);
    lines.push(`${inner}style=${node.type === 'parallel' ? '"rounded,dashed"' : 'rounded'};`);
    lines.push(`${inner}${dotString(anchor(node))} [shape=point, width=0.12, label=""];`);
    for (const child of childrenOf(node)) emit(child, inner);
    if (node.type !== 'parallel') {
      const initial = node.initial?.target?.[0] as StateNode | undefined;
      if (initial) {
        const head = isCompound(initial) ? anchor(initial) : initial.id;
        const lhead = isCompound(initial) ? `, lhead=${dotString(`cluster_${initial.id}`)}` : '';
        lines.push(
          `${inner}${dotString(anchor(node))} -> ${dotString(head)} [style=dashed${lhead}];`,
        );
      }
    }
    lines.push(`${indent}}`);
  };
  emit(machine.root, '  ');
  for (const edge of edgesOf(machine)) {
    for (const target of edge.targets) {
      const attrs = [`label=${dotString(edgeLabel(edge, '\n'))}`];
      const tail = isCompound(edge.source) ? anchor(edge.source) : edge.source.id;
      const head = isCompound(target) ? anchor(target) : target.id;
      if (isCompound(edge.source) && edge.source !== target) {
        attrs.push(`ltail=${dotString(`cluster_${edge.source.id}`)}`);
      }
      if (
        isCompound(target) &&
        edge.source !== target &&
        !ancestors(edge.source).includes(target)
      ) {
        attrs.push(`lhead=${dotString(`cluster_${target.id}`)}`);
      }
      if (edge.trigger === 'always') attrs.push('style=dashed');
      if (edge.trigger.startsWith('after ')) attrs.push('color="#8a5a00"', 'fontcolor="#8a5a00"');
      lines.push(`  ${dotString(tail)} -> ${dotString(head)} [${attrs.join(', ')}];`);
    }
  }
  lines.push('}');
  return lines.join('\n') + '\n';
}

// ------------------------------------------------------------------------------------- files

/** Renders DOT to SVG with the WebAssembly Graphviz of @viz-js/viz. */
export async function renderSvg(dot: string): Promise<string> {
  const viz = await instance();
  return viz.renderString(dot, { format: 'svg', engine: 'dot' });
}

function indexMarkdown(machines: readonly AnyStateMachine[]): string {
  const lines = [
    '# Statecharts',
    '',
    'Generated from `machines/` by `generateVisualizations()` (src/viz); do not edit by hand.',
    'A test fails when these files drift from the machines.',
    '',
    '| machine | states | transitions | Mermaid | Graphviz | SVG |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const m of machines) {
    const states = allNodes(m.root).length - 1;
    const transitions = edgesOf(m).length;
    lines.push(
      `| ${m.id} | ${states} | ${transitions} | [${m.id}.mmd](${m.id}.mmd) | [${m.id}.dot](${m.id}.dot) | [${m.id}.svg](${m.id}.svg) |`,
    );
  }
  for (const m of machines) {
    lines.push('', `## ${m.id}`, '');
    if (m.root.description) lines.push(m.root.description, '');
    lines.push(`![${m.id}](${m.id}.svg)`);
  }
  return lines.join('\n') + '\n';
}

/**
 * Writes `<id>.mmd`, `<id>.dot` and `<id>.svg` for every machine and an `index.md` into `outDir`.
 * Returns the paths written, sorted.
 */
export async function generateVisualizations(
  outDir: string,
  machines: readonly AnyStateMachine[] = MACHINES,
): Promise<string[]> {
  await mkdir(outDir, { recursive: true });
  const written: string[] = [];
  const write = async (name: string, text: string): Promise<void> => {
    const path = join(outDir, name);
    await writeFile(path, text);
    written.push(path);
  };
  for (const machine of machines) {
    const dot = toDot(machine);
    await write(`${machine.id}.mmd`, toMermaid(machine));
    await write(`${machine.id}.dot`, dot);
    await write(`${machine.id}.svg`, await renderSvg(dot));
  }
  await write('index.md', indexMarkdown(machines));
  return written.sort();
}
