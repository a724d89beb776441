import * as path from 'node:path';
import type { Command } from './types';
import { ExitCode } from './exitCodes';

export const vizCommand: Command = {
  spec: {
    name: 'viz',
    summary: 'write Mermaid, DOT and SVG diagrams of every statechart',
    usage: 'rtmp-actors viz [--out dir]',
    description:
      'Generates the diagrams from the machine definitions themselves (never edited by hand).\n' +
      'The test suite fails when visualizations/ differs from what this writes.',
    options: [
      {
        name: 'out',
        alias: 'o',
        type: 'string',
        valueName: 'dir',
        description: 'output folder',
        default: 'visualizations',
      },
    ],
  },
  async run(args, io) {
    const { generateVisualizations } = require('../viz') as typeof import('../viz');
    const out = path.resolve(String(args.options.out));
    const files = await generateVisualizations(out);
    for (const f of files)
      io.stdout.write(`${path.relative(process.cwd(), path.resolve(out, f)) || f}\n`);
    return ExitCode.Ok;
  },
};
