import { isIP } from 'node:net';
import path from 'node:path';
import { z } from 'zod';
import { DurationError, parseDuration } from './duration.js';

/**
 * The config file of SPEC "Interface / Config file (YAML)", as a zod schema.
 *
 * Every object is `.strict()`: unknown keys are an error at every level.
 * Relative paths are resolved against `baseDir` (the config file's folder),
 * so the parsed config carries absolute paths only. Checks that span several
 * keys (references between users, groups and profiles; address clashes) run
 * after the structure is valid, in `checkConfig`.
 */

/** Linux `sun_path` holds 108 bytes including the terminating NUL. */
const MAX_SOCKET_PATH_BYTES = 107;

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const PHONE_RE = /^\+?[0-9*#]+$/;
const DTMF_RE = /^[0-9*#A-Da-d]{1,16}$/;
const HOST_RE = /^[^\s/]+$/;
const EMAIL_RE = /^[^@\s]+@[^@\s]+$/;
const TEMPLATE_PLACEHOLDERS = 'YMDhms';

const port = z.number().int().min(1).max(65535);
const seconds = z.number().int().min(1);
const host = z.string().min(1).regex(HOST_RE, 'expected a host name or IP address');
const id = z.string().min(1).regex(ID_RE, "ids use letters, digits, '.', '_' and '-' and start with a letter or digit");
const phoneNumber = z.string().regex(PHONE_RE, 'expected digits with an optional leading "+"');
const dtmf = z.string().regex(DTMF_RE, 'expected 1 to 16 DTMF keys (0-9, *, #, A-D)');
const email = z.string().regex(EMAIL_RE, 'expected an e-mail address');
const url = z
  .string()
  .url('expected an absolute URL')
  .refine((u) => /^https?:\/\//i.test(u), 'expected an http:// or https:// URL');

/** A path on a remote target, with `$Y $M $D $h $m $s` placeholders (A2). */
const remoteTemplate = z.string().min(1).superRefine(checkPlaceholders);

function checkPlaceholders(value: string, ctx: z.RefinementCtx): void {
  for (let i = value.indexOf('$'); i >= 0; i = value.indexOf('$', i + 1)) {
    const next = value[i + 1];
    if (next === undefined || !TEMPLATE_PLACEHOLDERS.includes(next)) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        message: `unknown placeholder "$${next ?? ''}" (use $Y $M $D $h $m $s)`,
      });
      return;
    }
  }
}

export const TRANSPORTS = ['udp', 'tcp', 'tls'] as const;
export const SRTP_MODES = ['off', 'sdes'] as const;
/**
 * `sips` of a pbx/provider entry configured udp or tcp: what becomes of a
 * sips: request that has to go on to that side. `refuse` (the default when
 * the key is absent): 480 with Warning 380 "SIPS Not Allowed" (RFC 5630);
 * `downgrade`: relayed as sip: with a warning in the log.
 */
export const SIPS_MODES = ['refuse', 'downgrade'] as const;
export const DIRECTIONS = ['inbound', 'outbound', 'both'] as const;
export const CHANNEL_MODES = ['caller', 'callee', 'both-stereo', 'both-separate'] as const;
export const RECORD_FROM = ['setup', 'answer'] as const;
export const TARGET_TYPES = ['local', 'sftp', 'smb', 'onedrive'] as const;

export const DEFAULT_AUTHORITY_HOST = 'https://login.microsoftonline.com';
export const DEFAULT_GRAPH_URL = 'https://graph.microsoft.com/v1.0';

export type Transport = (typeof TRANSPORTS)[number];

/** RFC 3261 §19.1.2: 5060 for UDP and TCP, 5061 for TLS. */
export function defaultSipPort(transport: Transport): number {
  return transport === 'tls' ? 5061 : 5060;
}

/** Builds the schema; `baseDir` is the folder relative paths start from. */
export function configSchema(baseDir: string) {
  const file = z
    .string()
    .min(1)
    .transform((p) => path.resolve(baseDir, p));
  const localTemplate = z
    .string()
    .min(1)
    .superRefine(checkPlaceholders)
    .transform((p) => path.resolve(baseDir, p));
  const transport = z.enum(TRANSPORTS);

  const listen = z
    .object({ transport, host, port: port.optional(), cert: file.optional(), key: file.optional() })
    .strict()
    .superRefine((l, ctx) => {
      if (l.transport !== 'tls') return;
      for (const k of ['cert', 'key'] as const) {
        if (l[k] === undefined) {
          ctx.addIssue({ code: z.ZodIssueCode.custom, path: [k], message: 'missing key: tls listen entries need cert and key' });
        }
      }
    })
    .transform((l) => ({ ...l, port: l.port ?? defaultSipPort(l.transport) }));

  const tls = z.object({ ca: file.optional(), verify: z.boolean().default(true) }).strict();
  const peerShape = {
    host,
    port: port.optional(),
    transport: transport.default('udp'),
    srtp: z.enum(SRTP_MODES).default('off'),
    // Optional without a default: the loaded config has the key only when the file has it.
    sips: z.enum(SIPS_MODES).optional(),
    tls: tls.optional(),
  };
  const peerDefaults = <T extends { port?: number | undefined; transport: Transport; tls?: z.output<typeof tls> | undefined }>(
    p: T,
  ) => ({ ...p, port: p.port ?? defaultSipPort(p.transport), tls: p.tls ?? { verify: true } });

  const pbx = z.object(peerShape).strict().transform(peerDefaults);
  const provider = z
    .object({
      ...peerShape,
      auth: z.object({ username: z.string().min(1), password: z.string() }).strict().optional(),
      register: z.object({ expires: seconds.default(600) }).strict().optional(),
    })
    .strict()
    .transform(peerDefaults);

  const media = z
    .object({
      host: host.refine((h) => isIP(h) !== 0 && h !== '0.0.0.0' && h !== '::', {
        message: 'expected the IP address peers send RTP to (not a name, not 0.0.0.0 or ::)',
      }),
      portMin: port.default(20000),
      portMax: port.default(29999),
      timeout: seconds.default(60),
      holdTimeout: seconds.default(3600),
    })
    .strict()
    .superRefine((m, ctx) => {
      if (m.portMin % 2 !== 0) {
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: ['portMin'],
          message: `must be even (RTP on the even port, RTCP on the next), got ${m.portMin}`,
        });
      }
      if (m.portMax <= m.portMin) {
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: ['portMax'],
          message: `must be greater than portMin (${m.portMin}), got ${m.portMax}`,
        });
      }
    });

  const numbers = z
    .object({
      country: z.string().regex(/^[1-9][0-9]{0,2}$/, 'expected a country code without "+" or "00", like "49"').optional(),
      area: z.string().regex(/^[1-9][0-9]*$/, 'expected an area code without the trunk prefix 0, like "30"').optional(),
      extensionLength: z.number().int().min(1).max(15).default(4),
    })
    .strict()
    .superRefine((n, ctx) => {
      if (n.area !== undefined && n.country === undefined) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['area'], message: 'needs numbers.country as well' });
      }
    });

  const user = z.object({ id, name: z.string().min(1).optional(), numbers: z.array(phoneNumber).min(1) }).strict();
  const group = z
    .object({ id, numbers: z.array(phoneNumber).default([]), members: z.array(id).default([]) })
    .strict();

  const smtp = z
    .object({
      host,
      port: port.optional(),
      secure: z.boolean().default(false),
      username: z.string().min(1).optional(),
      password: z.string().optional(),
    })
    .strict()
    .superRefine((s, ctx) => {
      if ((s.username === undefined) !== (s.password === undefined)) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'username and password go together' });
      }
    })
    // Deviation from a fixed default: port 465 when secure (implicit TLS), else 25.
    .transform((s) => ({ ...s, port: s.port ?? (s.secure ? 465 : 25) }));
  const alerts = z
    .object({
      email: z.object({ to: z.array(email).min(1), from: email, smtp }).strict().optional(),
      diskWarnPercent: z.number().min(1).max(100).default(90),
    })
    .strict();

  const archive = z
    .object({
      retry: z
        .object({ firstSeconds: seconds.default(30), maxSeconds: seconds.default(3600) })
        .strict()
        .superRefine((r, ctx) => {
          if (r.maxSeconds < r.firstSeconds) {
            ctx.addIssue({
              code: z.ZodIssueCode.custom,
              path: ['maxSeconds'],
              message: `must not be less than firstSeconds (${r.firstSeconds}), got ${r.maxSeconds}`,
            });
          }
        })
        .default({}),
    })
    .strict();

  const localTarget = z.object({ type: z.literal('local'), path: localTemplate }).strict();
  const sftpTarget = z
    .object({
      type: z.literal('sftp'),
      host,
      port: port.default(22),
      username: z.string().min(1),
      password: z.string().min(1).optional(),
      privateKey: file.optional(),
      path: remoteTemplate,
    })
    .strict();
  const smbTarget = z
    .object({
      type: z.literal('smb'),
      host,
      port: port.default(445),
      share: z.string().min(1),
      domain: z.string().min(1).optional(),
      username: z.string().min(1),
      password: z.string(),
      path: remoteTemplate,
    })
    .strict();
  const onedriveTarget = z
    .object({
      type: z.literal('onedrive'),
      tenantId: z.string().min(1),
      clientId: z.string().min(1),
      clientSecret: z.string().min(1),
      user: z.string().min(1),
      path: remoteTemplate,
      authorityHost: url.default(DEFAULT_AUTHORITY_HOST),
      graphUrl: url.default(DEFAULT_GRAPH_URL),
    })
    .strict();
  const target = z
    .discriminatedUnion('type', [localTarget, sftpTarget, smbTarget, onedriveTarget])
    .superRefine((t, ctx) => {
      if (t.type === 'sftp' && t.password === undefined && t.privateKey === undefined) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'an sftp target needs password or privateKey' });
      }
    });

  const retention = z
    .string()
    .transform((text, ctx) => {
      try {
        return parseDuration(text);
      } catch (err) {
        if (!(err instanceof DurationError)) throw err;
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: err.message });
        return z.NEVER;
      }
    })
    .optional()
    .transform((s) => s ?? null);

  const profile = z
    .object({
      name: z.string().min(1),
      direction: z.enum(DIRECTIONS).default('both'),
      users: z.array(id).default([]),
      groups: z.array(id).default([]),
      directCallsToActiveMembers: z.boolean().default(false),
      channels: z.enum(CHANNEL_MODES).default('both-stereo'),
      recordFrom: z.enum(RECORD_FROM).default('setup'),
      prompts: z.object({ inbound: file.optional(), outbound: file.optional() }).strict().default({}),
      /** Seconds after which recordings are deleted from the targets; null keeps them. */
      retention,
      targets: z.array(target).default([]),
    })
    .strict();

  return z
    .object({
      instance: z
        .string()
        .min(1)
        .max(64)
        .regex(ID_RE, "expected letters, digits, '.', '_' and '-' (it goes into the certificate CN)"),
      sip: z.object({ listen: z.array(listen).min(1) }).strict(),
      pbx,
      provider,
      media,
      data: z.object({ dir: file }).strict(),
      control: z.object({ socket: file.optional() }).strict().default({}),
      numbers: numbers.default({}),
      dtmf: z.object({ stop: dtmf.default('*1') }).strict().default({}),
      featureCodes: z.object({ login: dtmf.default('*71'), logout: dtmf.default('*72') }).strict().default({}),
      users: z.array(user).default([]),
      groups: z.array(group).default([]),
      alerts: alerts.default({}),
      archive: archive.default({}),
      profiles: z.array(profile),
    })
    .strict()
    .superRefine(checkConfig)
    .transform((c, ctx) => {
      const socket = c.control.socket ?? path.join(c.data.dir, 'callrec.sock');
      const bytes = Buffer.byteLength(socket);
      if (bytes > MAX_SOCKET_PATH_BYTES) {
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: ['control', 'socket'],
          message: `socket path ${JSON.stringify(socket)} is ${bytes} bytes, Unix sockets allow ${MAX_SOCKET_PATH_BYTES}; set a shorter control.socket`,
        });
      }
      return { ...c, control: { socket } };
    });
}

/** The structure `checkConfig` sees: the schema's shape before the last transform. */
interface CheckedShape {
  sip: { listen: Array<{ transport: Transport; host: string; port: number }> };
  pbx: { host: string; port: number; transport: Transport };
  provider: { host: string; port: number; transport: Transport };
  media: { host: string; portMin: number; portMax: number };
  featureCodes: { login: string; logout: string };
  users: Array<{ id: string; numbers: string[] }>;
  groups: Array<{ id: string; numbers: string[]; members: string[] }>;
  profiles: Array<{ name: string; users: string[]; groups: string[] }>;
}

/** Checks that span several keys: references, uniqueness, address clashes. */
function checkConfig(c: CheckedShape, ctx: z.RefinementCtx): void {
  const fail = (path: Array<string | number>, message: string): void =>
    ctx.addIssue({ code: z.ZodIssueCode.custom, path, message });

  const addr = (e: { transport: Transport; host: string; port: number }): string => `${e.transport} ${e.host}:${e.port}`;
  const listenSeen = new Map<string, number>();
  c.sip.listen.forEach((l, i) => {
    const prev = listenSeen.get(addr(l));
    if (prev !== undefined) fail(['sip', 'listen', i], `duplicate listen address ${addr(l)} (also sip.listen[${prev}])`);
    else listenSeen.set(addr(l), i);
    if (l.transport === 'udp' && l.port >= c.media.portMin && l.port <= c.media.portMax) {
      if (l.host === c.media.host || l.host === '0.0.0.0' || l.host === '::') {
        fail(['media', 'portMin'], `RTP port range ${c.media.portMin}-${c.media.portMax} includes the SIP port of sip.listen[${i}] (${addr(l)})`);
      }
    }
  });
  for (const peer of ['pbx', 'provider'] as const) {
    const own = listenSeen.get(addr(c[peer]));
    if (own !== undefined) fail([peer], `${peer} is callrec's own listen address sip.listen[${own}] (${addr(c[peer])})`);
  }
  if (addr(c.pbx) === addr(c.provider)) {
    fail(['provider'], `provider has the same address as pbx (${addr(c.pbx)}), so call direction cannot be told`);
  }
  if (c.featureCodes.login === c.featureCodes.logout) {
    fail(['featureCodes', 'logout'], `must differ from featureCodes.login ("${c.featureCodes.login}")`);
  }

  const users = new Set<string>();
  c.users.forEach((u, i) => {
    if (users.has(u.id)) fail(['users', i, 'id'], `duplicate user id "${u.id}"`);
    users.add(u.id);
  });
  const groups = new Set<string>();
  c.groups.forEach((g, i) => {
    if (groups.has(g.id)) fail(['groups', i, 'id'], `duplicate group id "${g.id}"`);
    groups.add(g.id);
    g.members.forEach((m, j) => {
      if (!users.has(m)) fail(['groups', i, 'members', j], `group "${g.id}" names unknown user "${m}"`);
    });
  });

  const owners = new Map<string, string>();
  const claim = (kind: 'user' | 'group', list: Array<{ id: string; numbers: string[] }>): void =>
    list.forEach((o, i) =>
      o.numbers.forEach((n, j) => {
        const owner = owners.get(n);
        if (owner !== undefined) fail([`${kind}s`, i, 'numbers', j], `number "${n}" also belongs to ${owner}`);
        else owners.set(n, `${kind} "${o.id}"`);
      }),
    );
  claim('user', c.users);
  claim('group', c.groups);

  const profiles = new Set<string>();
  c.profiles.forEach((p, i) => {
    if (profiles.has(p.name)) fail(['profiles', i, 'name'], `duplicate profile name "${p.name}"`);
    profiles.add(p.name);
    p.users.forEach((u, j) => {
      if (!users.has(u)) fail(['profiles', i, 'users', j], `profile "${p.name}" names unknown user "${u}"`);
    });
    p.groups.forEach((g, j) => {
      if (!groups.has(g)) fail(['profiles', i, 'groups', j], `profile "${p.name}" names unknown group "${g}"`);
    });
  });
}

/** The loaded config: fully defaulted, paths absolute. */
export type Config = z.output<ReturnType<typeof configSchema>>;
export type ListenConfig = Config['sip']['listen'][number];
/** `pbx`; `provider` has the same keys plus `auth` and `register`. */
export type PeerConfig = Config['pbx'];
export type ProviderConfig = Config['provider'];
export type TlsClientConfig = PeerConfig['tls'];
export type MediaConfig = Config['media'];
export type NumbersConfig = Config['numbers'];
export type UserConfig = Config['users'][number];
export type GroupConfig = Config['groups'][number];
export type AlertsConfig = Config['alerts'];
export type EmailAlertConfig = NonNullable<AlertsConfig['email']>;
export type ArchiveConfig = Config['archive'];
export type ProfileConfig = Config['profiles'][number];
export type TargetConfig = ProfileConfig['targets'][number];
export type TargetType = TargetConfig['type'];
export type LocalTargetConfig = Extract<TargetConfig, { type: 'local' }>;
export type SftpTargetConfig = Extract<TargetConfig, { type: 'sftp' }>;
export type SmbTargetConfig = Extract<TargetConfig, { type: 'smb' }>;
export type OneDriveTargetConfig = Extract<TargetConfig, { type: 'onedrive' }>;
export type SrtpMode = (typeof SRTP_MODES)[number];
export type SipsMode = (typeof SIPS_MODES)[number];
export type Direction = (typeof DIRECTIONS)[number];
export type ChannelMode = (typeof CHANNEL_MODES)[number];
export type RecordFrom = (typeof RECORD_FROM)[number];
