// @ts-check
const tseslint = require('typescript-eslint');

/**
 * The layers, enforced (README, "Layout"):
 * - src/protocol is sans-IO: no sockets, files, processes, rxjs, xstate, nor any layer above it.
 * - machines/ decide and do no IO: no sockets, files or processes, no IO layer of src.
 * - src/server/session.ts (the server's decisions) and request.ts are sans-IO like src/protocol:
 *   no sockets, files, processes, rxjs or xstate; the connection IO carries out what they decide.
 * - Nothing outside src/cli imports src/cli (the CLI is the top; it imports everything else).
 * `import type` counts too: a type-only import still ties the layers (and made the cycles).
 */
const IO_MODULES = [
  'net',
  'tls',
  'fs',
  'fs/promises',
  'http',
  'https',
  'http2',
  'dgram',
  'dns',
  'child_process',
  'cluster',
  'worker_threads',
  'readline',
  'ws',
].flatMap((m) => (m === 'ws' ? [m] : [m, `node:${m}`]));

const NO_IO = {
  paths: IO_MODULES.map((name) => ({
    name,
    message:
      'This layer does no IO (sockets, files, processes): that belongs in src/io or src/server.',
  })),
};
/** Relative imports of a folder of src/ by name (`../io/socket`, `../../src/server`, `./cli`). */
const srcFolder = (names) => `^(\\.\\.?/)+(src/)?(${names.join('|')})(/|$)`;
const NO_CLI = {
  regex: srcFolder(['cli']),
  message: 'Only src/cli imports src/cli: the CLI is the top layer.',
};

/** One `no-restricted-imports` setting from several rule parts (a later config would replace it). */
function restrict(...parts) {
  return {
    'no-restricted-imports': [
      'error',
      {
        paths: parts.flatMap((p) => p.paths ?? []),
        patterns: parts.flatMap((p) => p.patterns ?? []),
      },
    ],
  };
}

module.exports = tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'visualizations/**', 'bin/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/no-require-imports': 'off',
    },
  },
  {
    files: ['src/**/*.ts', 'machines/**/*.ts', 'bench/**/*.ts'],
    ignores: ['src/cli/**'],
    rules: restrict({ patterns: [NO_CLI] }),
  },
  {
    files: ['machines/**/*.ts'],
    rules: restrict(NO_IO, {
      patterns: [
        NO_CLI,
        {
          regex: srcFolder(['io', 'server', 'pipeline', 'client', 'monitor', 'trace', 'publish']),
          message: 'Machines decide; the IO actors come in with .provide() (machines/contract.ts).',
        },
      ],
    }),
  },
  {
    files: ['src/server/session.ts', 'src/server/request.ts'],
    rules: restrict(
      NO_IO,
      {
        paths: ['rxjs', 'xstate'].map((name) => ({
          name,
          message: 'The server session is sans-IO: the connection IO carries out what it decides.',
        })),
      },
      {
        patterns: [
          NO_CLI,
          {
            group: ['rxjs/*', 'xstate/*', '@statelyai/*'],
            message:
              'The server session is sans-IO: the connection IO carries out what it decides.',
          },
          {
            regex: `^\\./(connection|server|authorize|liveStream)$|^(\\.\\./)+(${['io', 'pipeline', 'client', 'monitor', 'trace', 'publish', 'testing', 'rx'].join('|')})(/|$)`,
            message:
              'The server session decides; the IO (sockets, pipeline, hooks) is not its to import.',
          },
        ],
      },
    ),
  },
  {
    files: ['src/protocol/**/*.ts'],
    rules: restrict(
      NO_IO,
      {
        paths: ['rxjs', 'xstate'].map((name) => ({
          name,
          message: 'src/protocol is sans-IO and plain functions: no streams, no statecharts.',
        })),
      },
      {
        patterns: [
          NO_CLI,
          {
            group: ['rxjs/*', 'xstate/*', '@statelyai/*'],
            message: 'src/protocol is sans-IO and plain functions: no streams, no statecharts.',
          },
          {
            regex: `^(\\.\\./)+(${['io', 'server', 'pipeline', 'client', 'monitor', 'trace', 'publish', 'testing', 'rx', 'machines'].join('|')})(/|$)`,
            message: 'src/protocol is the bottom layer: it imports nothing above it.',
          },
        ],
      },
    ),
  },
);
