/**
 * The command line as operators use it (`bin/callrec`, a process of its
 * own): `--help` after a command prints the usage and does nothing else;
 * init-config writes the file it is given once, refuses to overwrite it, and
 * takes no option for a file name.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanChildEnv, nodeCommand } from '../interop/harness/processes.js';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bin', 'callrec');

function run(args: string[], cwd: string): { code: number | null; stdout: string; stderr: string } {
  const node = nodeCommand([BIN, ...args]);
  const r = spawnSync(node.command, node.args, { cwd, env: cleanChildEnv(), encoding: 'utf8', timeout: 30000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const tmp = (): string => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'callrec-cli-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
};

t.test('<command> --help prints the usage and does nothing else', async (t) => {
  const dir = tmp();
  for (const args of [['init-config', '--help'], ['init-config', '-h'], ['status', '--help'], ['serve', '--help'], ['replay', 'x.pcap', '--help']]) {
    const r = run(args, dir);
    t.equal(r.code, 0, `${args.join(' ')}: exit 0`);
    t.match(r.stdout, /callrec init-config <file>/, `${args.join(' ')}: the usage`);
  }
  t.same(fs.readdirSync(dir), [], 'no file written');
});

t.test('init-config writes once, refuses to overwrite, takes no option as a file name', async (t) => {
  const dir = tmp();
  const file = path.join(dir, 'etc', 'callrec.yaml');
  const first = run(['init-config', file], dir);
  t.equal(first.code, 0);
  t.match(fs.readFileSync(file, 'utf8'), /profiles:/, 'a config with profiles');
  const again = run(['init-config', file], dir);
  t.equal(again.code, 1, 'an existing file is not overwritten');
  t.match(again.stderr, /exists, not overwritten/);
  const option = run(['init-config', '--force'], dir);
  t.equal(option.code, 1);
  t.match(option.stderr, /unknown option --force/);
  t.equal(run(['init-config'], dir).code, 1, 'no file name: exit 1');
  t.same(fs.readdirSync(dir), ['etc'], 'nothing else written');
});
