/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json', diagnostics: false }],
  },
  transformIgnorePatterns: ['/node_modules/(?!(@statelyai/inspect)/)'],
  testTimeout: 30000,
  // Most suites wait on real peers (nginx, ffmpeg, Prometheus) rather than compute: two workers
  // on the 2-core CI machine halve the wall time (Jest's default there would be one).
  maxWorkers: 2,
};
