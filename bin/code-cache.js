'use strict';
/**
 * A V8 code cache for the bundled command line (issue 16, goal 4: a start is mostly V8 compiling
 * the command's bundle). Node 20 has no `module.enableCompileCache`, so each bundle file that
 * scripts/bundle.mjs stamped with a key (its first line, `/* rtmp-actors code-cache key <hex> *\/`,
 * the start of the SHA-256 of its content) is compiled here with `vm.Script` and V8's `cachedData`;
 * any other file goes to Node's own loader.
 *
 * - Which code: at the exit of a run that found no usable entry, `script.createCachedData()` holds
 *   every function compiled so far (those that ran), so the next start compiles nothing it ran
 *   before. An entry made by a run that only printed help or stopped at a usage error is made
 *   again by the next run that did more.
 * - Where: the first of these that is a directory owned by this user, writable by this user and by
 *   no one else: `RTMP_ACTORS_CODE_CACHE` when set (`0` or `off` turns the cache off), else
 *   `dist/.code-cache` next to the bundle (made when writable), else `$XDG_CACHE_HOME/rtmp-actors`
 *   (`~/.cache/rtmp-actors`), else none. Cached code is code: a directory others may write is
 *   never used.
 * - Entry names: `<command>-<content key>-<node version>-<arch>-<flags hash>.v8cache`, the flags
 *   hash covering the V8 flags this file sets (`play` runs with other ones), `execArgv` and
 *   `NODE_OPTIONS` (hashed, so no path of theirs appears in a name). The entry's header repeats the
 *   bundle file's size and mtime (a bundle edited by hand keeps its key), and V8 itself rejects
 *   data from another V8 version, other flags or other source, or with a wrong checksum (which it
 *   checks only with --verify-snapshot-checksum, set here) (`cachedDataRejected`): then the entry
 *   is made again. At most MAX_ENTRY_BYTES per entry and MAX_ENTRIES per directory (the
 *   oldest go first); older builds' entries of the same command next to the bundle are removed.
 * - Written to a temporary file renamed into place, so a concurrent run never reads half an entry.
 * - Anything unexpected (unreadable, corrupt, unwritable) means no cache for that file, never a
 *   failed start.
 *
 * `import()` in a script V8 deserialized from a code cache has no import callback on Node 20
 * (ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING), and one compiled here has none either, cache or not.
 * So a cached bundle holds no `import()` (scripts/bundle.mjs fails the build if one does): the
 * ES-module-only @statelyai/inspect is imported by dist/bundle/importInspect.js, which carries no
 * key and is loaded by Node's loader.
 */
const Module = require('node:module');
const fs = require('node:fs');
const path = require('node:path');

/** An entry larger than this is not written. */
const MAX_ENTRY_BYTES = 32 * 1024 * 1024;
/** A cache directory keeps at most this many entries; the least recently written go first. */
const MAX_ENTRIES = 64;
/** The exit code of a usage error (src/exitCodes.ts, ExitCode.Usage). */
const USAGE_EXIT_CODE = 2;
/** Bumped when the entry layout below changes. */
const FORMAT = 1;
const MAGIC = 'RTMPACTORS-V8CACHE';
const KEY_LINE = /^\/\* rtmp-actors code-cache key ([0-9a-f]{16}) \*\//;
/** The property through which the compiled module function reaches Node's own _compile. */
const RUN = Symbol.for('rtmp-actors.code-cache.run');
/** What Node's loader compiles instead of the bundle: it hands the module's real require on. */
const TRAMPOLINE = `return module[Symbol.for('rtmp-actors.code-cache.run')].call(this, exports, require, module, __filename, __dirname);`;

/** FNV-1a of a string, as 8 hex digits (no node:crypto: loading it costs more than the hash). */
function fnv(text) {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}

/**
 * A copy of `text` that refers to no larger string. V8 makes a substring of 13 characters or more
 * a view of the string it was cut from, which then lives as long as the substring does: a slice
 * of a bundle's first line kept its whole source (1.1 MB for `monitor`) alive, through the regular
 * expression's last match and the entry's name in the exit listener.
 */
function detached(text) {
  return ` ${text}`.slice(1);
}

/** A directory owned by this user and writable by no one else. */
function trusted(st) {
  if (!st.isDirectory() || (st.mode & 0o022) !== 0) return false;
  const uid = typeof process.getuid === 'function' ? process.getuid() : undefined;
  return uid === undefined || st.uid === uid;
}

/** The directories to try, in order. */
function candidates(bundleDir, env) {
  const setting = env.RTMP_ACTORS_CODE_CACHE;
  if (setting) return [path.resolve(setting)];
  const list = [path.join(bundleDir, '..', '.code-cache')];
  let base = env.XDG_CACHE_HOME && path.isAbsolute(env.XDG_CACHE_HOME) ? env.XDG_CACHE_HOME : '';
  if (!base) {
    try {
      const home = env.HOME || require('node:os').homedir();
      if (home) base = path.join(home, '.cache');
    } catch {
      // no home directory: no cache there
    }
  }
  if (base) list.push(path.join(base, 'rtmp-actors'));
  return list;
}

/** The first usable cache directory (made when missing and possible), or undefined. */
function findDir(bundleDir, env) {
  for (const dir of candidates(bundleDir, env)) {
    try {
      fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
    } catch {
      // not ours to make: perhaps it exists
    }
    try {
      // Writable too: one this user cannot write (a package installed by root) would never get
      // an entry it lacks.
      if (trusted(fs.statSync(dir))) {
        fs.accessSync(dir, fs.constants.W_OK);
        return dir;
      }
    } catch {
      // missing or not writable: try the next
    }
  }
  return undefined;
}

/** An entry's data, or undefined when missing or not for this file. */
function readEntry(file, stat) {
  let buf;
  try {
    buf = fs.readFileSync(file);
  } catch {
    return undefined;
  }
  try {
    if (buf.toString('latin1', 0, MAGIC.length) !== MAGIC) return undefined;
    const headerLength = buf.readUInt32LE(MAGIC.length);
    const start = MAGIC.length + 4;
    const header = JSON.parse(buf.toString('utf8', start, start + headerLength));
    const data = buf.subarray(start + headerLength);
    if (
      header.format !== FORMAT ||
      header.size !== stat.size ||
      header.mtimeMs !== stat.mtimeMs ||
      header.length !== data.length
    ) {
      return undefined;
    }
    return { data, partial: header.partial === true };
  } catch {
    return undefined;
  }
}

/**
 * Keeps at most MAX_ENTRIES in `dir` and, next to the bundle, removes this command's entries of
 * other builds (same name but for the content key) there.
 */
function prune(dir, name, stale, nextToBundle) {
  let names;
  try {
    names = fs.readdirSync(dir).filter((n) => n.endsWith('.v8cache') && n !== name);
  } catch {
    return;
  }
  const remove = (n) => {
    try {
      fs.unlinkSync(path.join(dir, n));
    } catch {
      // gone already, or not ours
    }
  };
  let kept = [];
  for (const n of names) {
    if (nextToBundle && n.startsWith(stale.prefix) && n.endsWith(stale.suffix)) remove(n);
    else kept.push(n);
  }
  if (kept.length < MAX_ENTRIES) return;
  kept = kept
    .map((n) => {
      try {
        return [n, fs.statSync(path.join(dir, n)).mtimeMs];
      } catch {
        return [n, 0];
      }
    })
    .sort((a, b) => a[1] - b[1]);
  for (const [n] of kept.slice(0, kept.length - MAX_ENTRIES + 1)) remove(n);
}

function writeEntry(dir, name, stale, nextToBundle, stat, data, partial) {
  if (data.length > MAX_ENTRY_BYTES) return;
  const file = path.join(dir, name);
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    const header = Buffer.from(
      JSON.stringify({
        format: FORMAT,
        size: stat.size,
        mtimeMs: stat.mtimeMs,
        length: data.length,
        partial,
      }),
    );
    const length = Buffer.alloc(4);
    length.writeUInt32LE(header.length);
    fs.writeFileSync(tmp, Buffer.concat([Buffer.from(MAGIC, 'latin1'), length, header, data]), {
      mode: 0o644,
    });
    fs.renameSync(tmp, file);
    prune(dir, name, stale, nextToBundle);
  } catch {
    try {
      fs.unlinkSync(tmp);
    } catch {
      // nothing was written
    }
  }
}

/**
 * Makes the entry at exit from what `script` compiled by then. A function of its own, so that
 * the exit listener's closure holds only what it names: one made inside the compile hook kept
 * that call's scope alive, and with it the bundle's source as read and wrapped (1.1 MB for
 * `monitor`) and the rejected entry's bytes, for the whole life of a long-running command that
 * starts without an entry (a fresh container, every time).
 */
function writeAtExit(script, { dir, name, stale, nextToBundle, stat, helpOnly, keepIfPartial }) {
  process.once('exit', (code) => {
    // A run that only printed help or stopped at a usage error ran little of the file.
    const partial = helpOnly || code === USAGE_EXIT_CODE;
    if (keepIfPartial && partial) return;
    let data;
    try {
      data = script.createCachedData();
    } catch {
      return;
    }
    writeEntry(dir, name, stale, nextToBundle, stat, data, partial);
  });
}

/**
 * Turns the cache on for the stamped files in `bundleDir`. `flags` names the V8 flags the caller
 * set for this run; `helpOnly` says the run only prints help (its entry is partial, as is one made
 * by a run that exits with a usage error). Returns whether the cache is on.
 */
function install(bundleDir, { flags = '', helpOnly = false, env = process.env } = {}) {
  const setting = env.RTMP_ACTORS_CODE_CACHE;
  if (setting === '0' || setting === 'off') return false;
  const flagsKey = fnv(`${flags}|${process.execArgv.join(' ')}|${env.NODE_OPTIONS ?? ''}`);
  const original = Module.prototype._compile;
  let dir; // found on the first stamped file
  Module.prototype._compile = function compileWithCodeCache(content, filename) {
    const key =
      typeof content === 'string' &&
      typeof filename === 'string' &&
      path.dirname(filename) === bundleDir
        ? KEY_LINE.exec(detached(content.slice(0, 64)))
        : null;
    if (!key) return Reflect.apply(original, this, arguments);
    let fn;
    try {
      if (dir === undefined) {
        dir = findDir(bundleDir, env) ?? null;
        // V8 checks the checksum of a code cache only with this flag (it is off in release
        // builds): without it, data corrupted on disk would crash the process, not be rejected.
        // Set before the first compile, so every entry is made and read with it.
        if (dir) require('node:v8').setFlagsFromString('--verify-snapshot-checksum');
      }
      const stat = fs.statSync(filename);
      const command = path.basename(filename, '.js');
      const stale = {
        prefix: `${command}-`,
        suffix: `-${process.version}-${process.arch}-${flagsKey}.v8cache`,
      };
      const name = `${command}-${key[1]}${stale.suffix}`;
      const entry = dir ? readEntry(path.join(dir, name), stat) : undefined;
      const script = new (require('node:vm').Script)(Module.wrap(content), {
        filename,
        cachedData: entry?.data,
      });
      const remake = !entry || script.cachedDataRejected === true || entry.partial;
      if (dir && remake) {
        writeAtExit(script, {
          dir,
          name,
          stale,
          nextToBundle: dir === path.join(bundleDir, '..', '.code-cache'),
          stat,
          helpOnly,
          // An entry made by a fuller run is not replaced by a partial one.
          keepIfPartial: entry !== undefined && script.cachedDataRejected !== true,
        });
      }
      fn = script.runInThisContext({ displayErrors: true });
    } catch {
      // Not compilable here (or unreadable): Node's loader reports it as it would.
      return Reflect.apply(original, this, arguments);
    }
    this[RUN] = fn;
    try {
      return Reflect.apply(original, this, [TRAMPOLINE, filename, ...[...arguments].slice(2)]);
    } finally {
      delete this[RUN];
    }
  };
  return true;
}

module.exports = { install, findDir, MAX_ENTRY_BYTES, MAX_ENTRIES };
