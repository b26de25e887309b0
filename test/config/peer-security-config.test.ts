/**
 * Config keys of the trunk sides that concern encryption (SPEC Interface:
 * `transport`, `tls`, `srtp` of pbx/provider; the optional `sips` key).
 * Verifies: `sips` is absent unless set (the default is to refuse, RFC 5630),
 * takes refuse | downgrade, and anything else is an error naming the key;
 * `tls` defaults to verify: true with the ca resolved against the config file.
 */
import t from 'tap';
import { ConfigError, parseConfig } from '../../lib/config/index.js';

const BASE = `
instance: rec-01
sip:
  listen:
    - { transport: udp, host: 127.0.0.1, port: 5060 }
pbx: { host: 127.0.0.1, port: 5070 }
provider: PROVIDER
media: { host: 127.0.0.1 }
data: { dir: ./var }
profiles:
  - name: all
`;

const load = (provider: string) => parseConfig(BASE.replace('PROVIDER', provider), '/etc/callrec/callrec.yaml');

t.test('sips is optional and absent by default', async (t) => {
  const c = load('{ host: 127.0.0.1, port: 5080 }');
  t.equal(c.provider.sips, undefined);
  t.notOk('sips' in c.pbx, 'not added to a side that does not set it');
});

t.test('sips: refuse | downgrade', async (t) => {
  t.equal(load('{ host: 127.0.0.1, port: 5080, sips: downgrade }').provider.sips, 'downgrade');
  t.equal(load('{ host: 127.0.0.1, port: 5080, sips: refuse }').provider.sips, 'refuse');
  t.throws(() => load('{ host: 127.0.0.1, port: 5080, sips: allow }'), ConfigError);
  try {
    load('{ host: 127.0.0.1, port: 5080, sips: allow }');
  } catch (err) {
    t.match(String(err), /provider\.sips/, 'the error names the key');
  }
});

t.test('tls: ca resolved, verify defaults to true', async (t) => {
  const c = load('{ host: sip.example.com, transport: tls, tls: { ca: tls/ca.pem } }');
  t.same(c.provider.tls, { ca: '/etc/callrec/tls/ca.pem', verify: true });
  t.equal(c.provider.port, 5061);
  t.same(load('{ host: sip.example.com, transport: tls, tls: { verify: false } }').provider.tls, { verify: false });
});
