import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, defaultConfig, loadConfig, type Config } from '../config/index.js';
import { controlRequest, RecorderNotRunningError } from '../control/control-client.js';
import { runReplay } from '../replay/replay-runner.js';
import { formatVerdict } from './replay-format.js';
import { resolveConfigPath } from './config-path.js';
import { groupCommand } from './group-command.js';
import { statusCommand } from './status-command.js';
import { verifyCommand } from './verify-command.js';
import { createLogger } from '../util/log.js';
import { VERSION } from '../util/version.js';
import { startRecorder } from './serve.js';

const USAGE = `callrec ${VERSION}
usage:
  callrec serve --config <file>          run the recorder (foreground, logs to stdout)
  callrec init-config <file>             write a default config (embedded defaults) to <file>
  callrec status [--json] [--config <file>]
  callrec cert [--config <file>]
  callrec verify <recording-base> | --chain <folder>
  callrec replay <capture.pcap|pcapng> --config <file> [--speed N] [--max-gap S]
  callrec group login|logout <group> <user> [--config <file>]
  callrec version`;

/** Runs one CLI command; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  // `callrec <command> --help` asks, it does not act (no file named "--help", no server started).
  if (command !== undefined && rest.some((a) => a === '--help' || a === '-h')) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  switch (command) {
    case 'serve':
      return serveCommand(rest);
    case 'init-config':
      return initConfigCommand(rest);
    case 'status':
      return withConfig(rest, { json: { type: 'boolean' } }, (config, values) => statusCommand(config.control.socket, values.json === true));
    case 'cert':
      return withConfig(rest, {}, (config) => certCommand(config));
    case 'verify':
      return verifyCli(rest);
    case 'group':
      return groupCli(rest);
    case 'replay':
      return replayCli(rest);
    case 'version':
    case '--version':
      process.stdout.write(`${VERSION}\n`);
      return 0;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(`${USAGE}\n`);
      return command === undefined ? 1 : 0;
    default:
      process.stderr.write(`callrec: unknown command "${command}"\n${USAGE}\n`);
      return 1;
  }
}

function configPath(args: string[]): string {
  const { values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' } }, allowPositionals: true, strict: false });
  const file = values.config;
  return resolveConfigPath(typeof file === 'string' ? file : undefined) ?? 'callrec.yaml';
}

type Flags = Record<string, { type: 'boolean' | 'string'; short?: string }>;

/** Parses flags, loads the config; a bad config or bad flags give one line and exit 1. */
async function withConfig(
  args: string[],
  flags: Flags,
  run: (config: Config, values: Record<string, string | boolean | undefined>, positionals: string[]) => Promise<number> | number,
): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { config: { type: 'string', short: 'c' }, ...flags }, allowPositionals: true, strict: true });
  } catch (err) {
    process.stderr.write(`callrec: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  const file = resolveConfigPath(typeof parsed.values.config === 'string' ? parsed.values.config : undefined);
  if (file === undefined) {
    process.stderr.write('callrec: no config file (use --config <file>)\n');
    return 1;
  }
  let config: Config;
  try {
    config = loadConfig(file);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`callrec: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  return run(config, parsed.values as Record<string, string | boolean | undefined>, parsed.positionals);
}

function certCommand(config: Config): number {
  const file = path.join(config.data.dir, 'keys', 'certificate.pem');
  if (!existsSync(file)) {
    process.stderr.write(`callrec: no certificate yet at ${file} (it is made at the first start of callrec serve)\n`);
    return 1;
  }
  process.stdout.write(readFileSync(file, 'utf8'));
  return 0;
}

async function verifyCli(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { chain: { type: 'string' }, cert: { type: 'string' }, config: { type: 'string', short: 'c' } }, allowPositionals: true, strict: true });
  } catch (err) {
    process.stderr.write(`callrec: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  const target = typeof parsed.values.chain === 'string' ? parsed.values.chain : parsed.positionals[0];
  if (target === undefined) {
    process.stderr.write('usage: callrec verify <recording-base> | callrec verify --chain <folder>\n');
    return 1;
  }
  const file = resolveConfigPath(typeof parsed.values.config === 'string' ? parsed.values.config : undefined);
  let config: Config | undefined;
  try {
    config = file !== undefined ? loadConfig(file) : undefined;
  } catch {
    config = undefined; // verification needs no config; it only helps find the certificate
  }
  return verifyCommand(target, typeof parsed.values.chain === 'string', typeof parsed.values.cert === 'string' ? parsed.values.cert : undefined, config);
}

async function groupCli(args: string[]): Promise<number> {
  return withConfig(args, {}, async (config, _values, positionals) => {
    const [action, group, user] = positionals;
    if ((action !== 'login' && action !== 'logout') || group === undefined || user === undefined) {
      process.stderr.write('usage: callrec group login|logout <group> <user> [--config <file>]\n');
      return 1;
    }
    return groupCommand(config, action === 'login', group, user);
  });
}

async function replayCli(args: string[]): Promise<number> {
  return withConfig(args, { speed: { type: 'string' }, timeout: { type: 'string' }, 'max-gap': { type: 'string' } }, async (config, values, positionals) => {
    const capture = positionals[0];
    if (capture === undefined) {
      process.stderr.write('usage: callrec replay <capture.pcap|pcapng> --config <file> [--speed N]\n');
      return 1;
    }
    const speed = Number(values.speed ?? '1');
    if (!(speed > 0)) {
      process.stderr.write('callrec: --speed must be a positive number\n');
      return 1;
    }
    try {
      await controlRequest(config.control.socket, 'GET', '/status');
    } catch (err) {
      if (err instanceof RecorderNotRunningError) {
        process.stderr.write(`${err.message}\n`);
        return 2;
      }
      throw err;
    }
    const verdicts = await runReplay(capture, config, createLogger({ level: 'warn', destination: process.stderr }), {
      speed, recordingTimeoutMs: Number(values.timeout ?? '20') * 1000,
      ...(values['max-gap'] !== undefined ? { maxGapMs: Number(values['max-gap']) * 1000 } : {}),
    });
    for (const v of verdicts) process.stdout.write(`${formatVerdict(v)}\n`);
    const failed = verdicts.filter((v) => v.verdict === 'fail').length;
    process.stdout.write(`${verdicts.length - failed} of ${verdicts.length} call(s) recorded exactly as sent\n`);
    return failed === 0 ? 0 : 1;
  });
}

async function serveCommand(args: string[]): Promise<number> {
  let config;
  try {
    config = loadConfig(configPath(args));
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`callrec: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  const logger = createLogger();
  // The process must survive anything a peer sends; a bug is logged, not fatal.
  process.on('uncaughtException', (err) => logger.error({ event: 'internal-error', err: err.stack }, 'uncaught exception'));
  process.on('unhandledRejection', (err) => logger.error({ event: 'internal-error', err: String(err) }, 'unhandled rejection'));
  let recorder;
  try {
    recorder = await startRecorder(config, logger);
  } catch (err) {
    logger.fatal({ event: 'start-failed', err: err instanceof Error ? err.message : String(err) }, 'cannot start');
    process.stderr.write(`callrec: cannot start: ${err instanceof Error ? err.message : String(err)}\n`);
    logger.flush();
    return 1;
  }
  const running = recorder;
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      logger.info({ event: 'stopping', signal }, 'shutting down');
      void running.stop().then(() => {
        logger.flush();
        resolve(0);
      });
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
}

function initConfigCommand(args: string[]): number {
  const file = args[0];
  if (file === undefined || args.length > 1) {
    process.stderr.write('callrec: init-config needs one file name\n');
    return 1;
  }
  if (file.startsWith('-')) {
    process.stderr.write(`callrec: init-config: unknown option ${file}\n`);
    return 1;
  }
  if (existsSync(file)) {
    process.stderr.write(`callrec: ${file} exists, not overwritten\n`);
    return 1;
  }
  mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  writeFileSync(file, defaultConfig('.'));
  process.stdout.write(`wrote ${file}\n`);
  return 0;
}
