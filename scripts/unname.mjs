// Removes the `__name(...)` wrappers esbuild's `keepNames` puts around function expressions that
// JavaScript names by itself (issue 16, memory per stream): scripts/bundle.mjs runs it on every
// command bundle before stamping its key.
//
// With `keepNames`, esbuild writes `const onRead = /* @__PURE__ */ __name((bytes) => {...},
// "onRead")`, and `__name` redefines the function's `name` with Object.defineProperty. On a
// closure that turns its properties into a dictionary (about 250 bytes more per closure), and
// closures made per connection, stream or message pay it each time: 9,659 of them held 2.3 MB of a
// 200-stream monitor's heap. Where the wrapped expression is an anonymous function or arrow that
// initializes a variable, a class field or an object property of exactly the name passed to
// `__name`, the language gives it that name anyway (ES2015 function name inference), so the
// wrapper changes nothing observable and goes. Every other `__name` stays: those keep the names
// of declarations esbuild renamed (`and2` for XState's `and`), which traces and the inspector
// print.
//
// The wrapper's text is blanked with spaces, not cut, so that every line and column stays where
// the source map says it is.
//
// `asciiComments` does the same for the few non-ASCII characters esbuild leaves in comments (an
// apostrophe in XState's, a ± in ours): one of them anywhere makes V8 hold the whole source as a
// two-byte string, twice the memory of the one-byte string an ASCII file is (2.2 MB instead of
// 1.1 MB for the monitor's bundle, held as long as the process runs).
import ts from 'typescript';

/** The name JavaScript infers for a function expression that initializes `parent`, if any. */
function inferredName(parent) {
  if (ts.isVariableDeclaration(parent) && ts.isIdentifier(parent.name)) return parent.name.text;
  if (
    (ts.isPropertyDeclaration(parent) || ts.isPropertyAssignment(parent)) &&
    (ts.isIdentifier(parent.name) || ts.isStringLiteral(parent.name))
  ) {
    return parent.name.text;
  }
  return undefined;
}

/** Whether `node` is `__name(<anonymous function or arrow>, "<name>")` that can go. */
function removable(node) {
  if (!ts.isCallExpression(node) || !ts.isIdentifier(node.expression)) return false;
  if (node.expression.text !== '__name' || node.arguments.length !== 2) return false;
  const [fn, name] = node.arguments;
  const anonymous = ts.isArrowFunction(fn) || (ts.isFunctionExpression(fn) && !fn.name);
  if (!anonymous || !ts.isStringLiteral(name)) return false;
  return node.parent !== undefined && node.parent.initializer === node
    ? inferredName(node.parent) === name.text
    : false;
}

/**
 * `text` (a bundle) without the removable `__name` wrappers, and how many went. Throws when the
 * result does not parse (it always should: only a call's own tokens are blanked).
 */
export function unname(text, fileName = 'bundle.js', parsed = undefined) {
  const source =
    parsed ?? ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.JS);
  /** [start, end) ranges to blank. */
  const blanks = [];
  const visit = (node) => {
    if (removable(node)) {
      const fn = node.arguments[0];
      blanks.push([node.getStart(source), fn.getStart(source)], [fn.end, node.end]);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  if (blanks.length === 0) return { text, removed: 0 };
  const parts = [];
  let at = 0;
  for (const [start, end] of blanks.sort((a, b) => a[0] - b[0])) {
    parts.push(text.slice(at, start), text.slice(start, end).replace(/[^\n]/g, ' '));
    at = end;
  }
  parts.push(text.slice(at));
  const out = parts.join('');
  const check = ts.createSourceFile(fileName, out, ts.ScriptTarget.Latest, false, ts.ScriptKind.JS);
  if (check.parseDiagnostics.length > 0) {
    throw new Error(
      `unname: ${fileName} no longer parses: ${check.parseDiagnostics[0].messageText}`,
    );
  }
  return { text: out, removed: blanks.length / 2 };
}

/** Tokens whose text is code (a non-ASCII character there is not a comment's). */
const CODE_TOKENS = new Set([
  ts.SyntaxKind.StringLiteral,
  ts.SyntaxKind.NoSubstitutionTemplateLiteral,
  ts.SyntaxKind.TemplateHead,
  ts.SyntaxKind.TemplateMiddle,
  ts.SyntaxKind.TemplateTail,
  ts.SyntaxKind.RegularExpressionLiteral,
  ts.SyntaxKind.Identifier,
  ts.SyntaxKind.PrivateIdentifier,
]);

/** Whether position `p` of `source` is in a comment (trivia: in no token of the tree). */
function inComment(source, p) {
  let node = source;
  for (;;) {
    let inner;
    ts.forEachChild(node, (child) => {
      if (child.pos <= p && p < child.end) inner = child;
      return inner;
    });
    if (!inner) break;
    node = inner;
  }
  if (p >= node.getStart(source) && CODE_TOKENS.has(node.kind)) return false;
  // A leaf whose own text holds p (a literal's or a name's) is code; otherwise p is in the
  // trivia before a token, or in a token that cannot hold it: comments are all that can.
  const comments = [
    ...(ts.getLeadingCommentRanges(source.text, node.pos) ?? []),
    ...(ts.getTrailingCommentRanges(source.text, node.pos) ?? []),
  ];
  let found = comments.some((c) => c.pos <= p && p < c.end);
  if (!found) {
    // Comments in the trivia before one of node's children.
    ts.forEachChild(node, (child) => {
      const ranges = ts.getLeadingCommentRanges(source.text, child.pos) ?? [];
      if (ranges.some((c) => c.pos <= p && p < c.end)) found = true;
      return found;
    });
  }
  if (!found) {
    const end = ts.getLeadingCommentRanges(source.text, node.end) ?? [];
    found = end.some((c) => c.pos <= p && p < c.end);
  }
  return found;
}

/**
 * `text` with every non-ASCII character in a comment replaced by `?` (one per UTF-16 unit, so
 * columns stay), and how many were. Characters anywhere else are left as they are.
 */
export function asciiComments(text, fileName = 'bundle.js', parsed = undefined) {
  const positions = [];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) positions.push(i);
  if (positions.length === 0) return { text, replaced: 0, left: 0 };
  const source =
    parsed ?? ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.JS);
  const chars = text.split('');
  let replaced = 0;
  for (const p of positions) {
    if (!inComment(source, p)) continue;
    chars[p] = '?';
    replaced++;
  }
  return { text: replaced ? chars.join('') : text, replaced, left: positions.length - replaced };
}

/**
 * Both of the above on one parse of `text` (`unname` only blanks ASCII, so the positions of
 * the tree stay right for `asciiComments`); the result is parsed once more as a check.
 */
export function postprocess(text, fileName = 'bundle.js') {
  const source = ts.createSourceFile(
    fileName,
    text,
    ts.ScriptTarget.Latest,
    true,
    ts.ScriptKind.JS,
  );
  const named = unname(text, fileName, source);
  const ascii = asciiComments(named.text, fileName, source);
  return { text: ascii.text, removed: named.removed, replaced: ascii.replaced, left: ascii.left };
}
