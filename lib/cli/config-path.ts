import { existsSync } from 'node:fs';

/**
 * The config file of a command: `--config`, else $CALLREC_CONFIG, else
 * ./callrec.yaml, else ./var/callrec.yaml (what `make run` writes).
 */
export function resolveConfigPath(explicit: string | undefined): string | undefined {
  if (explicit !== undefined) return explicit;
  const env = process.env.CALLREC_CONFIG;
  if (env !== undefined && env !== '') return env;
  for (const candidate of ['callrec.yaml', 'var/callrec.yaml']) if (existsSync(candidate)) return candidate;
  return undefined;
}
