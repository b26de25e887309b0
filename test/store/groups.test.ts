/**
 * Recording log: group login state (SPEC P1; config "members start logged
 * in; login/logout state persists").
 *
 * Verifies:
 *  - syncGroups adds configured members logged in, in one transaction
 *  - login/logout persist across close and re-open
 *  - a re-sync keeps existing state, adds new members (logged in) and
 *    removes users no longer in a group and groups no longer configured
 *  - only configured members can log in or out
 */
import t from 'tap';
import { RecordingLog } from '../../lib/store/index.js';
import { tempDb } from './helpers.js';

const CONFIG = [
  { id: 'traders', members: ['alice', 'bob'] },
  { id: 'sales', members: ['bob', 'carol'] },
];

t.test('members start logged in', (t) => {
  const log = RecordingLog.open(tempDb(t));
  t.teardown(() => log.close());
  t.same(log.groups.syncGroups(CONFIG, 100), { added: 4, removed: 0 });
  t.same(log.groups.activeMembers('traders'), ['alice', 'bob']);
  t.same(log.groups.activeMembers('sales'), ['bob', 'carol']);
  t.same(log.groups.activeMembers('nobody'), []);
  t.same(log.groups.syncGroups(CONFIG, 200), { added: 0, removed: 0 }, 'a second sync changes nothing');
  t.same(log.groups.members('traders'), [
    { groupId: 'traders', userId: 'alice', active: true, changedAt: 100 },
    { groupId: 'traders', userId: 'bob', active: true, changedAt: 100 },
  ]);
  t.end();
});

t.test('login and logout persist across close and open', (t) => {
  const file = tempDb(t);
  let log = RecordingLog.open(file);
  log.groups.syncGroups(CONFIG, 100);
  t.equal(log.groups.setActive('traders', 'bob', false, 200), 'changed');
  t.equal(log.groups.setActive('traders', 'bob', false, 300), 'unchanged');
  t.equal(log.groups.setActive('sales', 'carol', false, 250), 'changed');
  t.equal(log.groups.setActive('traders', 'mallory', true, 250), 'not-a-member');
  log.close();

  log = RecordingLog.open(file);
  t.teardown(() => log.close());
  t.same(log.groups.activeMembers('traders'), ['alice']);
  t.same(log.groups.activeMembers('sales'), ['bob']);
  t.equal(log.groups.isActive('traders', 'bob'), false);
  t.equal(log.groups.isActive('sales', 'bob'), true);
  t.same(log.groups.activeGroupsOf('bob'), ['sales']);
  t.match(log.groups.members('traders')[1], { userId: 'bob', active: false, changedAt: 200 });
  t.equal(log.groups.setActive('traders', 'bob', true, 400), 'changed');
  t.same(log.groups.activeGroupsOf('bob'), ['sales', 'traders']);
  t.end();
});

t.test('a re-sync keeps state, adds new members and removes departed ones', (t) => {
  const file = tempDb(t);
  let log = RecordingLog.open(file);
  log.groups.syncGroups(CONFIG, 100);
  log.groups.setActive('traders', 'bob', false, 200);
  log.close();

  // Config edited: dave joins traders, alice leaves it, sales is gone.
  log = RecordingLog.open(file);
  t.teardown(() => log.close());
  const edited = [{ id: 'traders', members: ['bob', 'dave'] }];
  t.same(log.groups.syncGroups(edited, 500), { added: 1, removed: 3 });
  t.same(log.groups.all(), [
    { groupId: 'traders', userId: 'bob', active: false, changedAt: 200 },
    { groupId: 'traders', userId: 'dave', active: true, changedAt: 500 },
  ], 'bob stays logged out; dave starts logged in');
  t.same(log.groups.activeMembers('sales'), []);
  t.equal(log.groups.setActive('traders', 'alice', true, 600), 'not-a-member');
  // Alice re-joins later: she starts logged in again.
  log.groups.syncGroups([{ id: 'traders', members: ['alice', 'bob', 'dave'] }], 700);
  t.same(log.groups.activeMembers('traders'), ['alice', 'dave']);
  t.end();
});

t.test('syncGroups checks its input before writing', (t) => {
  const log = RecordingLog.open(tempDb(t));
  t.teardown(() => log.close());
  log.groups.syncGroups(CONFIG, 100);
  t.throws(() => log.groups.syncGroups([{ id: 'traders', members: ['alice', ''] }], 200), { code: 'invalid' });
  t.equal(log.groups.all().length, 4, 'nothing removed');
  t.end();
});
