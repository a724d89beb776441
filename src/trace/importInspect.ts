/**
 * Loads @statelyai/inspect, which ships ES modules only, with a real dynamic `import()`. A module
 * of its own, loaded by a lazy require() from ./inspector: the CLI bundle keeps it a file of its own
 * too (dist/bundle/importInspect.js, see scripts/bundle.mjs) that Node's loader compiles. The bundle
 * files themselves are compiled with a V8 code cache (bin/code-cache.js), and on Node 20 an
 * `import()` in a script compiled that way has no import callback (it fails with
 * ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING), so none of them may hold one.
 */
export function importInspect(): Promise<typeof import('@statelyai/inspect')> {
  return import('@statelyai/inspect');
}
