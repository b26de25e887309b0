import { readFileSync } from 'node:fs';
import path from 'node:path';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, visit, type Document } from 'yaml';
import type { ZodIssue } from 'zod';
import { configSchema, type Config } from './schema.js';

/**
 * Reading and validating the config file (SPEC O3: "a config file validated
 * at start with clear errors"). Every problem becomes one `ConfigError` whose
 * message is a single line:
 *
 *   <file>:<line>:<column>: <key path>: <problem>[ (and N more problems)]
 *
 * e.g. `callrec.yaml:41:42: profiles[0].targets[1].port: expected a number, got "abc"`.
 * When several keys are wrong the one nearest the top of the file is named.
 */

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    /** The config file as named by the caller. */
    readonly file: string,
    /** Where in the config, e.g. `profiles[0].targets[1].port`; '' for the whole file. */
    readonly keyPath: string,
    /** What is wrong, e.g. `expected a number, got "abc"`. */
    readonly problem: string,
    /** 1-based line in the file, when known. */
    readonly line?: number,
    readonly column?: number,
    /** Problems found besides the one named. */
    readonly more = 0,
  ) {
    const where = line === undefined ? file : `${file}:${line}:${column ?? 1}`;
    const also = more > 0 ? ` (and ${more} more problem${more === 1 ? '' : 's'})` : '';
    super(`${where}: ${keyPath === '' ? '' : `${keyPath}: `}${problem}${also}`);
  }
}

/** Reads, validates and defaults the config file at `file`; throws `ConfigError`. */
export function loadConfig(file: string): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const problem =
      code === 'ENOENT'
        ? 'config file not found'
        : code === 'EISDIR'
          ? 'is a folder, not a config file'
          : code === 'EACCES'
            ? 'config file not readable (permission denied)'
            : `cannot read config file: ${(err as Error).message}`;
    throw new ConfigError(file, '', problem);
  }
  return parseConfig(text, file);
}

/**
 * Validates config text as if read from `file`: relative paths are resolved
 * against `file`'s folder, and errors name `file`.
 */
export function parseConfig(text: string, file: string): Config {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
  const syntax = doc.errors[0];
  if (syntax !== undefined) {
    const pos = syntax.linePos?.[0];
    const reason = (syntax.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
    throw new ConfigError(file, '', `YAML syntax error: ${reason}`, pos?.line, pos?.col, doc.errors.length - 1);
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    const alias = unresolvedAlias(doc, lines);
    if (alias !== undefined) {
      throw new ConfigError(
        file,
        alias.keyPath,
        `unknown alias "*${alias.source}" (a value starting with * must be quoted, like "*${alias.source}")`,
        alias.line,
        alias.col,
      );
    }
    throw new ConfigError(file, '', `YAML error: ${(err as Error).message.split('\n')[0]}`);
  }
  if (raw === null || raw === undefined) throw new ConfigError(file, '', 'config file is empty');

  const result = configSchema(path.dirname(path.resolve(file))).safeParse(raw);
  if (result.success) return result.data;

  const problems = result.error.issues
    .flatMap(splitUnknownKeys)
    .map((issue) => ({ issue, at: locate(doc, issue.path, lines) }));
  // Stable sort: problems nearest the top of the file first, unlocated ones last.
  problems.sort((a, b) => (a.at?.offset ?? Infinity) - (b.at?.offset ?? Infinity));
  const first = problems[0];
  if (first === undefined) throw new ConfigError(file, '', 'invalid config');
  throw new ConfigError(
    file,
    formatKeyPath(first.issue.path),
    describeIssue(first.issue, valueAt(raw, first.issue.path)),
    first.at?.line,
    first.at?.col,
    problems.length - 1,
  );
}

/** `['profiles', 0, 'targets', 1, 'port']` -> `profiles[0].targets[1].port`. */
export function formatKeyPath(keyPath: ReadonlyArray<string | number>): string {
  let out = '';
  for (const seg of keyPath) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? seg : `.${seg}`;
  }
  return out;
}

/** One issue per unknown key, with the key itself in the path. */
function splitUnknownKeys(issue: ZodIssue): ZodIssue[] {
  if (issue.code !== 'unrecognized_keys') return [issue];
  return issue.keys.map((key) => ({ ...issue, keys: [key], path: [...issue.path, key] }));
}

const TYPE_NAMES: Readonly<Record<string, string>> = {
  string: 'a string',
  number: 'a number',
  integer: 'a whole number',
  float: 'a fraction',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping',
  null: 'nothing',
};

function describeIssue(issue: ZodIssue, value: unknown): string {
  const got = describeValue(value);
  switch (issue.code) {
    case 'invalid_type': {
      if (value === undefined) return 'missing required key';
      // Enums report their options as `'off' | 'sdes'`.
      const expected = issue.expected.includes(' | ')
        ? `one of ${issue.expected.replace(/'/g, '').split(' | ').join(', ')}`
        : (TYPE_NAMES[issue.expected] ?? issue.expected);
      const hint = issue.expected === 'string' && typeof value === 'number' ? ` (quote it: "${value}")` : '';
      return `expected ${expected}, got ${got}${hint}`;
    }
    case 'unrecognized_keys':
      return `unknown key ${JSON.stringify(issue.keys[0])}`;
    case 'invalid_enum_value':
      return `expected one of ${issue.options.join(', ')}, got ${got}`;
    case 'invalid_union_discriminator': {
      const options = issue.options.map(String).join(', ');
      return value === undefined ? `missing required key (one of ${options})` : `expected one of ${options}, got ${got}`;
    }
    case 'invalid_literal':
      return `expected ${JSON.stringify(issue.expected)}, got ${got}`;
    case 'too_small':
      if (issue.type === 'array') return issue.minimum === 1 ? 'needs at least one entry' : `needs at least ${issue.minimum} entries`;
      if (issue.type === 'string') return issue.minimum === 1 ? 'must not be empty' : `needs at least ${issue.minimum} characters`;
      return `must be ${issue.inclusive ? 'at least' : 'greater than'} ${issue.minimum}, got ${got}`;
    case 'too_big':
      if (issue.type === 'array') return `allows at most ${issue.maximum} entries`;
      if (issue.type === 'string') return `allows at most ${issue.maximum} characters, got ${String(value).length}`;
      return `must be ${issue.inclusive ? 'at most' : 'less than'} ${issue.maximum}, got ${got}`;
    case 'invalid_string':
      return `${issue.message}, got ${got}`;
    default:
      return issue.message;
  }
}

function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  return String(value);
}

function valueAt(raw: unknown, keyPath: ReadonlyArray<string | number>): unknown {
  let v = raw;
  for (const seg of keyPath) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[seg];
  }
  return v;
}

interface Location {
  offset: number;
  line: number;
  col: number;
}

/**
 * The position of `keyPath` in the YAML document: the key of the last mapping
 * entry reached (or the list item), or the nearest existing parent when the
 * key is missing.
 */
function locate(doc: Document, keyPath: ReadonlyArray<string | number>, lines: LineCounter): Location | undefined {
  let node: unknown = doc.contents;
  let offset = rangeStart(node);
  for (const seg of keyPath) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
      if (pair === undefined) break;
      offset = rangeStart(pair.key) ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item: unknown = node.items[seg];
      if (item === undefined) break;
      offset = rangeStart(item) ?? offset;
      node = item;
    } else break;
  }
  if (offset === undefined) return undefined;
  const pos = lines.linePos(offset);
  return { offset, line: pos.line, col: pos.col };
}

function rangeStart(node: unknown): number | undefined {
  if (node === null || typeof node !== 'object' || !('range' in node)) return undefined;
  const range = (node as { range?: readonly number[] | null }).range;
  return range?.[0];
}

/**
 * The YAML text of the built-in config for `make run`: everything on
 * 127.0.0.1 (callrec 5060 udp+tcp, PBX 5070, provider 5080), RTP on
 * 20000-29999, and one profile that records every call to a local folder.
 * `dataDir` becomes `data.dir` (relative to the folder the text is loaded from);
 * the archive folder is below it.
 */
export function defaultConfig(dataDir: string): string {
  return `# callrec built-in default config (all peers on 127.0.0.1)
instance: callrec-01
sip:
  listen:
    - { transport: udp, host: 127.0.0.1, port: 5060 }
    - { transport: tcp, host: 127.0.0.1, port: 5060 }
pbx:      { host: 127.0.0.1, port: 5070, transport: udp }
provider: { host: 127.0.0.1, port: 5080, transport: udp }
media:
  host: 127.0.0.1
  portMin: 20000
  portMax: 29999
data:     { dir: ${JSON.stringify(dataDir)} }
profiles:
  - name: all
    direction: both
    targets:
      - { type: local, path: ${JSON.stringify(`${dataDir.replace(/\/+$/, '')}/archive/$Y/$M/$D`)} }
`;
}

/**
 * `stop: *1` is YAML for "the node anchored as 1", so an unquoted DTMF code
 * fails as an unknown alias; find it to name its key and line.
 */
function unresolvedAlias(
  doc: Document,
  lines: LineCounter,
): { source: string; keyPath: string; line: number; col: number } | undefined {
  let found: { source: string; keyPath: string; line: number; col: number } | undefined;
  visit(doc, {
    Alias(_key, node, ancestors) {
      if (node.resolve(doc) !== undefined) return undefined;
      const keyPath: Array<string | number> = [];
      const chain: unknown[] = [...ancestors, node];
      chain.forEach((a, i) => {
        if (isPair(a) && isScalar(a.key)) keyPath.push(String(a.key.value));
        else if (isSeq(a)) keyPath.push(a.items.indexOf(chain[i + 1]));
      });
      const pos = lines.linePos(rangeStart(node) ?? 0);
      found = { source: node.source, keyPath: formatKeyPath(keyPath), line: pos.line, col: pos.col };
      return visit.BREAK;
    },
  });
  return found;
}
