/**
 * `rtmp-actors/testing`: drive the statecharts in your own tests.
 *
 * - createScriptedPeer(): the runtime transport (the one sessions use) over an in-memory socket
 *   (MemorySocket), provided as a NetConnection's `transport` actor; you script the far end's
 *   bytes (accept, handshake, answerConnect, answerCreateStream, sendStatus, sendKeyframe,
 *   hangUp, fail...), built from the project's codecs.
 * - walkPaths / generatePaths / pathFromEvents: paths through a machine (xstate/graph shortest and
 *   simple paths, completed so every transition the model can take is on one).
 * - replayPath: replays a path against a live actor and asserts it follows the model.
 * - coverage / formatCoverage: states reached and transitions taken, from replays or paths.
 * - handshakeModel, netConnectionModel, netStreamModel, sessionSupervisorModel: the ready-made
 *   test models (events per state, harness over a scripted peer) of this project's machines.
 * - runMutation / enumerateMutants / pathChecks: mutation testing of a machine (each guard
 *   constantly true and false, each action a no-op, through machine.provide) against your checks.
 * - createActor, SimulatedClock: xstate's own, re-exported so that your tests drive the
 *   machines with the very xstate they were built with (xstate is a dependency of rtmp-actors).
 */
export { createActor, SimulatedClock } from 'xstate';
export {
  createScriptedPeer,
  PeerSocket,
  ScriptedPeer,
  ScriptError,
  seededBytes,
  type HandshakeFault,
  type ScriptedPeerOptions,
} from './scriptedPeer';
export { MemorySocket } from './memorySocket';
export {
  allStates,
  allTransitions,
  coverage,
  delayOf,
  describeValue,
  formatCoverage,
  generatePaths,
  pathFromEvents,
  PathReplayError,
  probeInitial,
  probeTransition,
  replayPath,
  samplePaths,
  serializeEvent,
  serializeSnapshot,
  transitionKey,
  walkPaths,
  type CoverageReport,
  type ModelPath,
  type PathOptions,
  type PathSample,
  type PathStep,
  type ReplayHarness,
  type ReplayOptions,
  type ReplayRecord,
  type WalkOptions,
} from './paths';
export {
  applyMutant,
  enumerateMutants,
  formatAllowList,
  formatMutationReport,
  implementationNames,
  isRelevant,
  MutantLoopError,
  mutationTable,
  MutationSuiteError,
  pathChecks,
  runMutation,
  tapMachine,
  type CheckCoverage,
  type Mutant,
  type MutantKind,
  type MutantResult,
  type MutantStatus,
  type MutationCheck,
  type MutationOptions,
  type MutationReport,
} from './mutation';
export { handshakeModel, type HandshakeModelOptions } from './models/handshake';
export {
  CONNECT_REFUSALS,
  createProbe,
  netConnectionModel,
  type NetConnectionModelOptions,
} from './models/netConnection';
export { netStreamModel, type NetStreamModelOptions } from './models/netStream';
export {
  sessionSupervisorModel,
  type SessionSupervisorModelOptions,
} from './models/sessionSupervisor';
export {
  checkTrace,
  defaultMachines,
  formatTraceCheck,
  type CheckTraceOptions,
  type TraceActorCheck,
  type TraceCheckResult,
  type TraceStepFailure,
  type TraceStepProblem,
} from './checkTrace';
