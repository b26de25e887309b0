import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, defaultConfig, loadConfig } from '../config/index.js';
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
  callrec replay <capture.pcap|pcapng> --config <file>
  callrec group login|logout <group> <user> [--config <file>]
  callrec version`;

/** Runs one CLI command; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return serveCommand(rest);
    case 'init-config':
      return initConfigCommand(rest);
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
  return typeof file === 'string' ? file : 'callrec.yaml';
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
  if (file === undefined) {
    process.stderr.write('callrec: init-config needs a file name\n');
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
