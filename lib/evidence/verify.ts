import { X509Certificate, createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { CERTIFICATE_FILE } from '../keys/keystore.js';
import { analyzeChain, describeChainFindings, type ChainAnalysis, type ChainNode, type ChainOptions } from './chain.js';
import { HASH_SUFFIX, parseHashFile, sha256File, type HashEntry } from './hash-file.js';
import { INFO_SUFFIX, parseInfoFile, type RecordingInfo } from './info-file.js';
import { evidenceFileNames } from './seal.js';
import { diagnoseSignature, parseSignatureFile, SIGNATURE_SUFFIX } from './signature.js';

/**
 * SPEC E6: `callrec verify <recording-base>` and `callrec verify --chain
 * <folder>`. Checks what verify.sh checks (every checksum of the hash file,
 * the signature of the hash file under the certificate) and more: the info
 * file is listed, every audio file the info names is listed, and the chain
 * links between recordings (chain.ts).
 */

export type FileStatus = 'ok' | 'missing' | 'altered' | 'unreadable' | 'malformed' | 'not-listed';

export interface FileCheck {
  /** File name in the recording's folder. */
  file: string;
  status: FileStatus;
  detail?: string;
}

export type SignatureStatus = 'valid' | 'hash-file-altered' | 'signature-altered' | 'missing' | 'malformed' | 'no-certificate';

export interface VerifyResult {
  ok: boolean;
  dir: string;
  baseName: string;
  /** The info file, each file the hash file lists, each unlisted audio file, the hash file, the signature file. */
  files: FileCheck[];
  signature: SignatureStatus;
  /** The certificate used, when one was found: where from, and its SHA-256 fingerprint (compare it with the published one). */
  certificate: { source: string; sha256: string } | undefined;
  /** The parsed info file, when readable. */
  info: RecordingInfo | undefined;
  /** This recording's signature (base64), when readable: the next recording's Previous-Signature. */
  signatureBase64: string | undefined;
  /** One line per problem, each naming the file. */
  failures: string[];
}

export interface VerifyOptions {
  /** Also look for certificate.pem in the folders above the recording, up to and including this one. */
  searchCertificateUpTo?: string;
}

interface CertificateChoice {
  pem: string;
  source: string;
  sha256: string;
}

/** Strips an evidence suffix, so `<base>_info.txt` etc. work as `<recording-base>` too. */
export function recordingBaseOf(p: string): string {
  for (const suffix of [`${HASH_SUFFIX}${SIGNATURE_SUFFIX}`, HASH_SUFFIX, INFO_SUFFIX]) {
    if (p.endsWith(suffix)) return p.slice(0, -suffix.length);
  }
  return p;
}

export async function verifyRecording(basePath: string, certificatePem?: string, options: VerifyOptions = {}): Promise<VerifyResult> {
  const base = recordingBaseOf(basePath);
  const dir = path.dirname(base);
  const baseName = path.basename(base);
  const cert = certificatePem !== undefined
    ? choice(certificatePem, 'given')
    : await findCertificate(dir, options.searchCertificateUpTo);
  return verifyWith(dir, baseName, cert);
}

async function verifyWith(dir: string, baseName: string, cert: CertificateChoice | undefined): Promise<VerifyResult> {
  const names = evidenceFileNames(baseName);
  const files: FileCheck[] = [];
  const notes: string[] = [];
  const record = (check: FileCheck): void => {
    files.push(check);
  };
  const [infoRead, hashRead, sigRead] = await Promise.all([names.info, names.hash, names.sig].map((n) => readOrError(path.join(dir, n))));
  const infoBytes = infoRead!.bytes;
  const hashBytes = hashRead!.bytes;

  let info: RecordingInfo | undefined;
  let infoCheck: FileCheck | undefined;
  if (infoBytes !== undefined) {
    try {
      info = parseInfoFile(infoBytes.toString('utf8'));
    } catch (err) {
      infoCheck = { file: names.info, status: 'malformed', detail: (err as Error).message };
    }
  } else {
    infoCheck = readProblem(names.info, infoRead!.error);
  }

  let entries: HashEntry[] = [];
  let hashCheck: FileCheck = { file: names.hash, status: 'ok' };
  if (hashBytes !== undefined) {
    try {
      entries = parseHashFile(hashBytes.toString('utf8'));
    } catch (err) {
      hashCheck = { file: names.hash, status: 'malformed', detail: (err as Error).message };
    }
  } else {
    hashCheck = readProblem(names.hash, hashRead!.error);
  }

  // Every listed file against its checksum; the info file's problem (if any) is folded in.
  const listed = new Set(entries.map((e) => e.name));
  const computed = await Promise.all(entries.map(async (e) => {
    try {
      return e.name === names.info && infoBytes !== undefined
        ? createHash('sha256').update(infoBytes).digest('hex')
        : await sha256File(path.join(dir, e.name));
    } catch (err) {
      return err as NodeJS.ErrnoException;
    }
  }));
  entries.forEach((e, i) => {
    const got = computed[i]!;
    if (typeof got !== 'string') record(readProblem(e.name, got));
    else if (got !== e.sha256) record({ file: e.name, status: 'altered', detail: 'SHA-256 differs from the hash file' });
    else if (e.name === names.info && infoCheck !== undefined) record(infoCheck);
    else record({ file: e.name, status: 'ok' });
  });
  if (hashCheck.status === 'ok') {
    if (!listed.has(names.info)) record(infoCheck ?? { file: names.info, status: 'not-listed', detail: 'the hash file does not cover the info file' });
    for (const audio of info?.audioFiles ?? []) {
      if (!listed.has(audio)) record({ file: audio, status: 'not-listed', detail: 'named in the info file but not in the hash file' });
    }
  } else if (infoCheck !== undefined) {
    record(infoCheck);
  }

  let signatureBase64: string | undefined;
  let signature: SignatureStatus;
  let sigCheck: FileCheck = { file: names.sig, status: 'ok' };
  if (sigRead!.bytes === undefined) {
    sigCheck = readProblem(names.sig, sigRead!.error);
    signature = sigCheck.status === 'missing' ? 'missing' : 'malformed';
  } else {
    try {
      signatureBase64 = parseSignatureFile(sigRead!.bytes.toString('utf8'));
      signature = 'valid';
    } catch {
      sigCheck = { file: names.sig, status: 'malformed', detail: 'not base64' };
      signature = 'malformed';
    }
  }
  if (signatureBase64 !== undefined && hashBytes !== undefined) {
    if (cert === undefined) {
      signature = 'no-certificate';
      notes.push(`${names.sig}: not checked: no ${CERTIFICATE_FILE} beside the recording; pass the certificate`);
    } else {
      const diagnosis = diagnoseSignature(hashBytes, signatureBase64, cert.pem);
      if (diagnosis === 'data-altered') {
        signature = 'hash-file-altered';
        hashCheck = { file: names.hash, status: 'altered', detail: `it is not the file that ${names.sig} signed` };
        // A checksum that differs may be the hash file's altered line rather than the file.
        for (const check of files) {
          if (check.status === 'altered') check.detail = `${check.detail ?? ''}, or its line in ${names.hash} was altered`;
        }
      } else if (diagnosis === 'signature-altered') {
        signature = 'signature-altered';
        sigCheck = { file: names.sig, status: 'altered', detail: `not a signature of ${names.hash} by certificate ${cert.sha256.slice(0, 16)}... (altered, or another key signed)` };
      }
    }
  }
  record(hashCheck);
  record(sigCheck);
  const failures = [
    ...files.filter((c) => c.status !== 'ok').map((c) => `${c.file}: ${c.status}${c.detail === undefined ? '' : ` (${c.detail})`}`),
    ...notes,
  ];
  return {
    ok: failures.length === 0,
    dir,
    baseName,
    files,
    signature,
    certificate: cert === undefined ? undefined : { source: cert.source, sha256: cert.sha256 },
    info,
    signatureBase64,
    failures,
  };
}

type ReadOutcome = { bytes: Buffer; error?: undefined } | { bytes?: undefined; error: NodeJS.ErrnoException };

async function readOrError(file: string): Promise<ReadOutcome> {
  try {
    return { bytes: await readFile(file) };
  } catch (err) {
    return { error: err as NodeJS.ErrnoException };
  }
}

function readProblem(file: string, err: NodeJS.ErrnoException | undefined): FileCheck {
  if (err === undefined) return { file, status: 'unreadable' };
  return err.code === 'ENOENT'
    ? { file, status: 'missing' }
    : { file, status: 'unreadable', detail: err.code ?? err.message };
}

function choice(pem: string, source: string): CertificateChoice {
  const x509 = new X509Certificate(pem);
  return { pem, source, sha256: createHash('sha256').update(x509.raw).digest('hex') };
}

/** certificate.pem in `dir`, then in each folder above it up to `upTo` (when `dir` is inside it). */
async function findCertificate(dir: string, upTo: string | undefined): Promise<CertificateChoice | undefined> {
  let current = path.resolve(dir);
  const stop = upTo === undefined ? current : path.resolve(upTo);
  const inside = current === stop || current.startsWith(stop + path.sep);
  for (;;) {
    const file = path.join(current, CERTIFICATE_FILE);
    const pem = await readFile(file, 'utf8').catch(() => undefined);
    if (pem !== undefined) {
      try {
        return choice(pem, file);
      } catch {
        // not a certificate: keep looking
      }
    }
    if (!inside || current === stop || path.dirname(current) === current) return undefined;
    current = path.dirname(current);
  }
}

export interface ChainVerifyOptions extends ChainOptions {
  /** Recordings verified at once (default 4). */
  concurrency?: number;
}

export interface ChainResult extends ChainAnalysis {
  ok: boolean;
  folder: string;
  /** Each recording's own check, in base-name order. */
  recordings: VerifyResult[];
  /** Base names found in more than one folder. */
  duplicates: Array<{ baseName: string; dirs: string[] }>;
  /** One line per problem: failing files of each recording, then chain findings. */
  failures: string[];
}

/** Every `<base>_info.txt` below `folder`, recursively, as [dir, baseName]. */
async function findRecordings(folder: string): Promise<Array<[string, string]>> {
  const found: Array<[string, string]> = [];
  const walk = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true });
    for (const e of entries) {
      if (e.isDirectory()) await walk(path.join(dir, e.name));
      else if (e.isFile() && e.name.endsWith(INFO_SUFFIX) && e.name.length > INFO_SUFFIX.length) {
        found.push([dir, e.name.slice(0, -INFO_SUFFIX.length)]);
      }
    }
  };
  await walk(folder);
  return found;
}

/**
 * Verifies every recording below `folder` and the chain between them. The
 * certificate: `certificatePem` when given, else `<folder>/certificate.pem`,
 * else a certificate.pem beside each recording or in a folder between it and
 * `folder`.
 */
export async function verifyChain(folder: string, certificatePem?: string, options: ChainVerifyOptions = {}): Promise<ChainResult> {
  const found = (await findRecordings(folder)).sort((a, b) => (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : a[0] < b[0] ? -1 : 1));
  const shared = certificatePem !== undefined ? choice(certificatePem, 'given') : await findCertificate(folder, undefined);
  const recordings: VerifyResult[] = new Array<VerifyResult>(found.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < found.length) {
      const i = next++;
      const [dir, baseName] = found[i]!;
      recordings[i] = await verifyWith(dir, baseName, shared ?? await findCertificate(dir, folder));
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 4) }, worker));

  const dirsByName = new Map<string, string[]>();
  for (const [dir, baseName] of found) dirsByName.set(baseName, [...(dirsByName.get(baseName) ?? []), dir]);
  const duplicates = [...dirsByName].filter(([, dirs]) => dirs.length > 1).map(([baseName, dirs]) => ({ baseName, dirs }));
  const nodes: ChainNode[] = [];
  const seen = new Set<string>();
  for (const r of recordings) {
    if (seen.has(r.baseName)) continue; // duplicates: the first copy stands for the chain
    seen.add(r.baseName);
    nodes.push({
      baseName: r.baseName,
      previous: r.info === undefined ? undefined : r.info.previousRecording,
      previousSignature: r.info === undefined ? undefined : r.info.previousSignature,
      signature: r.signatureBase64,
    });
  }
  const analysis = analyzeChain(nodes, options);
  const failures: string[] = [];
  if (found.length === 0) failures.push(`no recordings (*${INFO_SUFFIX}) found below ${folder}`);
  for (const r of recordings) {
    const where = path.relative(folder, path.join(r.dir, r.baseName)) || r.baseName;
    for (const f of r.failures) failures.push(`${where}: ${f}`);
  }
  for (const d of duplicates) failures.push(`duplicate: ${d.baseName} is in ${d.dirs.map((x) => path.relative(folder, x) || '.').join(' and ')}`);
  failures.push(...describeChainFindings(analysis));
  return { ...analysis, ok: failures.length === 0, folder, recordings, duplicates, failures };
}
