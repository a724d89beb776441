'use strict';
/**
 * A V8 code cache for the command line, so that a start does not compile the same JavaScript
 * again. Node ≥ 22.1 has one built in (`module.enableCompileCache`), used when present. Node 20
 * has not: there, each CommonJS file of this package (dist/ and node_modules/) is compiled with
 * `vm.Script` and V8's `cachedData`, the way v8-compile-cache did it.
 *
 * - Where: `RTMP_ACTORS_COMPILE_CACHE` names a directory; unset, `<os.tmpdir()>/rtmp-actors-
 *   compile-cache-<uid>`; `0` (or `off`) turns the cache off. The directory must be ours and not
 *   writable by others (cached code is code), else the cache stays off.
 * - Staleness: code is used only for the same file path, size and change time (ctime: set by the
 *   system when a file is written, unlike mtime, which npm pins for every packaged file), and V8
 *   itself rejects data from another V8 version or other V8 flags (then the entry is made again).
 * - Module resolution (a few hundred stat and package.json reads) is cached too: `require(x)` from
 *   a file resolves to the file it did last time while the requiring file and the resolved file
 *   both keep their change time (a rebuild or reinstall rewrites them, so it resolves afresh).
 * - One file per Node version, architecture and variant (`play` runs with other V8 flags); at most
 *   MAX_CACHE_BYTES, written at exit only when something was compiled afresh, to a temporary file
 *   renamed into place (concurrent runs never see half a file).
 * - Anything unexpected (unreadable, corrupt, a file that does not compile as a script) falls back
 *   to Node's own loader: the cache can make a start faster, never break it.
 */
const Module = require('node:module');
const fs = require('node:fs');
const path = require('node:path');

/** The cache file is never larger than this; entries of files not loaded in a run go first. */
const MAX_CACHE_BYTES = 64 * 1024 * 1024;
/** Bumped when the file layout below changes. */
const FORMAT = 2;

function cacheDir(env) {
  const os = require('node:os');
  const setting = env.RTMP_ACTORS_COMPILE_CACHE;
  if (setting === '0' || setting === 'off') return undefined;
  const uid = typeof process.getuid === 'function' ? process.getuid() : undefined;
  const dir = setting || path.join(os.tmpdir(), `rtmp-actors-compile-cache-${uid ?? 'user'}`);
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = fs.lstatSync(dir);
    if (!st.isDirectory()) return undefined;
    if (uid !== undefined && (st.uid !== uid || (st.mode & 0o022) !== 0)) return undefined;
    return dir;
  } catch {
    return undefined;
  }
}

/** A short hash of what changes V8's flags (a cache made under other flags is rejected). */
function flagsKey(variant) {
  const text = `${variant}|${process.execArgv.join(' ')}|${process.env.NODE_OPTIONS ?? ''}`;
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16);
}

/**
 * Reads the cache file: code (file path -> [ctimeMs, size, data]) and resolutions
 * (`parent\0request` -> [resolved path, parent ctimeMs, resolved ctimeMs]).
 */
function readCache(file) {
  const entries = new Map();
  const resolutions = new Map();
  const result = { entries, resolutions };
  let buf;
  try {
    buf = fs.readFileSync(file);
  } catch {
    return result;
  }
  try {
    const headerLength = buf.readUInt32LE(0);
    const header = JSON.parse(buf.toString('utf8', 4, 4 + headerLength));
    if (header.format !== FORMAT) return result;
    for (const [key, ...value] of header.resolutions) resolutions.set(key, value);
    let offset = 4 + headerLength;
    for (const [filename, mtimeMs, size, length] of header.entries) {
      entries.set(filename, [mtimeMs, size, buf.subarray(offset, offset + length)]);
      offset += length;
    }
    if (offset !== buf.length) throw new Error('truncated');
  } catch {
    entries.clear();
    resolutions.clear();
  }
  return result;
}

function writeCache(file, entries, resolutions) {
  const list = [];
  const parts = [];
  let total = 0;
  for (const [filename, [ctimeMs, size, data]] of entries) {
    if (total + data.length > MAX_CACHE_BYTES) continue;
    list.push([filename, ctimeMs, size, data.length]);
    parts.push(data);
    total += data.length;
  }
  const header = Buffer.from(
    JSON.stringify({
      format: FORMAT,
      entries: list,
      resolutions: [...resolutions].map(([key, value]) => [key, ...value]),
    }),
  );
  const length = Buffer.alloc(4);
  length.writeUInt32LE(header.length);
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(tmp, Buffer.concat([length, header, ...parts]), { mode: 0o600 });
    fs.renameSync(tmp, file);
  } catch {
    try {
      fs.unlinkSync(tmp);
    } catch {
      // nothing to remove
    }
  }
}

/** Node 20's `require` for a module, as its loader makes it (makeRequireFunction). */
function makeRequire(mod) {
  const require = function require(id) {
    return mod.require(id);
  };
  require.resolve = function resolve(request, options) {
    return Module._resolveFilename(request, mod, false, options);
  };
  require.resolve.paths = function paths(request) {
    return Module._resolveLookupPaths(request, mod);
  };
  require.main = process.mainModule;
  require.extensions = Module._extensions;
  require.cache = Module._cache;
  return require;
}

/**
 * Turns the cache on for the CommonJS files under `root` (the package). `variant` separates runs
 * whose V8 flags differ. Returns what it did: 'node' (Node's own cache), 'v8' (ours) or 'off'.
 */
function enableCompileCache(root, variant = 'default', env = process.env) {
  const setting = env.RTMP_ACTORS_COMPILE_CACHE;
  if (setting === '0' || setting === 'off') return 'off';
  if (typeof Module.enableCompileCache === 'function') {
    try {
      const result = setting ? Module.enableCompileCache(setting) : Module.enableCompileCache();
      return result && result.status === Module.constants?.compileCacheStatus?.FAILED
        ? 'off'
        : 'node';
    } catch {
      return 'off';
    }
  }
  const vm = require('node:vm');
  const importLoader = vm.constants && vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER;
  if (!importLoader) return 'off'; // `import()` in a cached script would not work
  const dir = cacheDir(env);
  if (!dir) return 'off';
  const file = path.join(
    dir,
    `${process.version}-${process.arch}-${flagsKey(variant)}-v${FORMAT}.cache`,
  );
  const { entries: cached, resolutions } = readCache(file);
  const compiled = new Map(); // filename -> [script, ctimeMs, size]
  let fresh = false;
  const prefix = root.endsWith(path.sep) ? root : root + path.sep;
  const originalCompile = Module.prototype._compile;

  Module.prototype._compile = function compileWithCache(content, filename, format) {
    if (
      format === 'module' ||
      typeof filename !== 'string' ||
      !filename.startsWith(prefix) ||
      !filename.endsWith('.js') ||
      content.startsWith('#!')
    ) {
      return originalCompile.apply(this, arguments);
    }
    let script;
    let st;
    try {
      st = fs.statSync(filename);
      const entry = cached.get(filename);
      const cachedData =
        entry && entry[0] === st.ctimeMs && entry[1] === st.size ? entry[2] : undefined;
      script = new vm.Script(Module.wrap(content), {
        filename,
        cachedData,
        importModuleDynamically: importLoader,
      });
      if (!cachedData || script.cachedDataRejected) fresh = true;
    } catch {
      // Not a plain CommonJS script (or unreadable): Node's loader reports it as it would.
      return originalCompile.apply(this, arguments);
    }
    compiled.set(filename, [script, st.ctimeMs, st.size]);
    const fn = script.runInThisContext({ displayErrors: true });
    const exports = this.exports;
    return Reflect.apply(fn, exports, [
      exports,
      makeRequire(this),
      this,
      filename,
      path.dirname(filename),
    ]);
  };

  const originalResolve = Module._resolveFilename;
  Module._resolveFilename = function resolveWithCache(request, parent, isMain, options) {
    const from = parent && !isMain && options === undefined && compiled.get(parent.filename);
    if (!from || typeof request !== 'string' || Module.isBuiltin(request)) {
      return originalResolve.apply(this, arguments);
    }
    const key = `${parent.filename}\0${request}`;
    const hit = resolutions.get(key);
    if (hit && hit[1] === from[1]) {
      const st = fs.statSync(hit[0], { throwIfNoEntry: false });
      if (st && st.ctimeMs === hit[2]) return hit[0];
    }
    const filename = originalResolve.apply(this, arguments);
    if (typeof filename === 'string' && filename.startsWith(prefix)) {
      const st = fs.statSync(filename, { throwIfNoEntry: false });
      if (st) {
        resolutions.set(key, [filename, from[1], st.ctimeMs]);
        fresh = true;
      }
    }
    return filename;
  };

  process.once('exit', () => {
    if (!fresh) return;
    const entries = new Map();
    // This run's files first (made now, with every function compiled so far), then the others.
    for (const [filename, [script, ctimeMs, size]] of compiled) {
      try {
        entries.set(filename, [ctimeMs, size, script.createCachedData()]);
      } catch {
        // skip this one
      }
    }
    for (const [filename, entry] of cached)
      if (!entries.has(filename)) entries.set(filename, entry);
    writeCache(file, entries, resolutions);
  });
  return 'v8';
}

module.exports = { enableCompileCache, MAX_CACHE_BYTES };
