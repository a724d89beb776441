/** A small, strict argument parser: every command declares its options, so `--help` is generated. */

export interface OptionSpec {
  name: string; // long name without dashes
  alias?: string; // one letter
  type: 'boolean' | 'string' | 'number' | 'list';
  description: string;
  valueName?: string;
  default?: string | number | boolean;
  /** A boolean flag that may also carry a value written `--name=value` (kept as a string). */
  optionalValue?: boolean;
}

export interface CommandSpec {
  name: string;
  summary: string;
  usage: string;
  description?: string;
  options: OptionSpec[];
  examples?: string[];
}

export type ParsedOptions = Record<string, string | number | boolean | string[] | undefined>;

export interface ParsedArgs {
  positionals: string[];
  options: ParsedOptions;
}

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Parses `argv` against the command's options; unknown options are usage errors. */
export function parseArgs(argv: readonly string[], spec: CommandSpec): ParsedArgs {
  const byName = new Map(spec.options.map((o) => [o.name, o]));
  const byAlias = new Map(spec.options.filter((o) => o.alias).map((o) => [o.alias as string, o]));
  const options: ParsedOptions = {};
  for (const o of spec.options) {
    if (o.default !== undefined) options[o.name] = o.default;
  }
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    let opt: OptionSpec | undefined;
    let inline: string | undefined;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
      inline = eq >= 0 ? arg.slice(eq + 1) : undefined;
      opt = byName.get(name);
      if (!opt && name.startsWith('no-') && byName.get(name.slice(3))?.type === 'boolean') {
        options[name.slice(3)] = false;
        continue;
      }
      if (!opt) throw new UsageError(`unknown option --${name}`);
    } else if (arg.startsWith('-') && arg.length === 2 && arg !== '-') {
      opt = byAlias.get(arg.slice(1));
      if (!opt) throw new UsageError(`unknown option ${arg}`);
    } else {
      positionals.push(arg);
      continue;
    }
    if (opt.type === 'boolean') {
      if (inline === undefined) options[opt.name] = true;
      else if (opt.optionalValue && !['true', 'false', '1', '0'].includes(inline)) {
        options[opt.name] = inline;
      } else options[opt.name] = inline !== 'false' && inline !== '0';
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined) throw new UsageError(`option --${opt.name} needs a value`);
    if (opt.type === 'number') {
      const n = Number(value);
      if (!Number.isFinite(n))
        throw new UsageError(`option --${opt.name} needs a number, got "${value}"`);
      options[opt.name] = n;
    } else if (opt.type === 'list') {
      const prev = options[opt.name];
      options[opt.name] = [...(Array.isArray(prev) ? prev : []), value];
    } else {
      options[opt.name] = value;
    }
  }
  return { positionals, options };
}

/** Renders `--help` for one command. */
export function formatHelp(spec: CommandSpec): string {
  const lines = [`Usage: ${spec.usage}`, '', spec.summary];
  if (spec.description) lines.push('', spec.description);
  const all: OptionSpec[] = [
    ...spec.options,
    { name: 'help', alias: 'h', type: 'boolean', description: 'show this help' },
  ];
  lines.push('', 'Options:');
  const rows = all.map((o) => {
    const flag =
      (o.alias ? `-${o.alias}, ` : '    ') +
      `--${o.name}` +
      (o.type !== 'boolean'
        ? ` <${o.valueName ?? o.type}>`
        : o.optionalValue
          ? `[=<${o.valueName ?? 'value'}>]`
          : '');
    const def = o.default !== undefined && o.type !== 'boolean' ? ` (default: ${o.default})` : '';
    return [flag, o.description + def];
  });
  const width = Math.max(...rows.map((r) => r[0].length)) + 2;
  for (const [flag, desc] of rows) lines.push(`  ${flag.padEnd(width)}${desc}`);
  if (spec.examples?.length) {
    lines.push('', 'Examples:');
    for (const e of spec.examples) lines.push(`  ${e}`);
  }
  return lines.join('\n') + '\n';
}
