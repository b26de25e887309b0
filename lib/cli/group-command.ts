import path from 'node:path';
import type { Config } from '../config/index.js';
import { controlRequest, RecorderNotRunningError } from '../control/control-client.js';
import { RecordingLog } from '../store/recording-log.js';

/**
 * `callrec group login|logout <group> <user>` (SPEC P1): through the running
 * recorder when there is one, else straight into the recording log, where
 * the state persists either way. Groups and users are ids or numbers.
 */
export async function groupCommand(config: Config, active: boolean, groupRef: string, userRef: string): Promise<number> {
  const group = config.groups.find((g) => g.id === groupRef || g.numbers.includes(groupRef));
  const user = config.users.find((u) => u.id === userRef || u.numbers.includes(userRef));
  if (group === undefined) {
    process.stderr.write(`callrec: no group "${groupRef}" in the config\n`);
    return 1;
  }
  if (user === undefined || !group.members.includes(user.id)) {
    process.stderr.write(`callrec: "${userRef}" is not a member of group ${group.id}\n`);
    return 1;
  }
  try {
    const res = await controlRequest<{ error?: string }>(config.control.socket, 'POST', `/groups/${encodeURIComponent(group.id)}/${active ? 'login' : 'logout'}/${encodeURIComponent(user.id)}`);
    if (res.status !== 200) {
      process.stderr.write(`callrec: ${res.body.error ?? `refused (${res.status})`}\n`);
      return 1;
    }
  } catch (err) {
    if (!(err instanceof RecorderNotRunningError)) throw err;
    const log = RecordingLog.open(path.join(config.data.dir, 'callrec.db'));
    try {
      log.groups.syncGroups(config.groups.map((g) => ({ id: g.id, members: g.members })), Date.now());
      log.groups.setActive(group.id, user.id, active, Date.now());
    } finally {
      log.close();
    }
  }
  process.stdout.write(`${user.id} ${active ? 'logged in to' : 'logged out of'} ${group.id}\n`);
  return 0;
}
