/**
 * lib/sip/auth/digest: Digest client authentication (RFC 3261 §22.4,
 * RFC 2617, RFC 7616, RFC 8760).
 *
 * Verifies:
 * - the published vectors: RFC 2617 §3.5 (MD5, qop=auth) and RFC 7616 §3.9.1
 *   (MD5 and SHA-256, qop=auth)
 * - "auth" preferred when offered; "auth-int" hashes the body; no qop gives
 *   the RFC 2069 response without cnonce and nc; -sess variants
 * - quoting: algorithm, qop and nc unquoted; nc as 8 lower-case hex digits;
 *   quotes and backslashes escaped; opaque echoed; algorithm echoed only when
 *   the challenge named it
 * - parsing is tolerant of blanks, case, quoting, empty list elements, a
 *   missing comma, several challenges in one value; garbage raises ParseError
 * - selectChallenge: strongest supported algorithm wins, topmost among equals
 * Not verified: RFC 7616 §3.9.2 (SHA-512-256 with userhash): its published
 * response is wrong (RFC errata 4897), so SHA-512-256 is checked against the
 * FIPS 180-4 "abc" vector and a recomputation instead.
 */
import { createHash } from 'node:crypto';
import t from 'tap';
import {
  buildAuthorization,
  DigestError,
  isSupported,
  parseChallenge,
  parseChallenges,
  selectChallenge,
} from '../../../lib/sip/auth/digest.js';
import { ParseError } from '../../../lib/sip/message/errors.js';

const md5 = (s: string): string => createHash('md5').update(s).digest('hex');

/** The parameters of an Authorization value (reusing the challenge parser). */
function paramsOf(authorization: string): ReadonlyMap<string, string> {
  return parseChallenge(authorization).params;
}

t.test('RFC 2617 §3.5 example', async (t) => {
  const challenge = parseChallenge(`Digest
                 realm="testrealm@host.com",
                 qop="auth,auth-int",
                 nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
                 opaque="5ccc069c403ebaf9f0171e9517f40e41"`);
  t.equal(challenge.realm, 'testrealm@host.com');
  t.same(challenge.qop, ['auth', 'auth-int']);
  t.equal(challenge.algorithm, 'MD5', 'MD5 assumed when absent');
  t.equal(challenge.algorithmGiven, false);
  t.equal(challenge.stale, false);
  const auth = buildAuthorization(challenge, {
    username: 'Mufasa',
    password: 'Circle Of Life',
    method: 'GET',
    uri: '/dir/index.html',
    cnonce: '0a4f113b',
    nc: 1,
  });
  t.equal(
    auth,
    'Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", ' +
      'uri="/dir/index.html", response="6629fae49393a05397450978507c4ef1", cnonce="0a4f113b", ' +
      'opaque="5ccc069c403ebaf9f0171e9517f40e41", qop=auth, nc=00000001',
  );
});

t.test('RFC 7616 §3.9.1 examples (MD5 and SHA-256)', async (t) => {
  const vectors: Array<[string, string]> = [
    ['MD5', '8ca523f5e9506fed4657c9700eebdbec'],
    ['SHA-256', '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1'],
  ];
  for (const [algorithm, expected] of vectors) {
    const challenge = parseChallenge(
      `Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=${algorithm}, ` +
        'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"',
    );
    t.equal(challenge.algorithm, algorithm);
    const auth = buildAuthorization(challenge, {
      username: 'Mufasa',
      password: 'Circle of Life',
      method: 'GET',
      uri: '/dir/index.html',
      cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
      nc: 1,
    });
    const p = paramsOf(auth);
    t.equal(p.get('response'), expected, `${algorithm} response`);
    t.equal(p.get('qop'), 'auth');
    t.equal(p.get('nc'), '00000001');
    t.equal(p.get('opaque'), 'FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS');
    t.match(auth, new RegExp(`, algorithm=${algorithm}, `), 'algorithm echoed unquoted');
    t.match(auth, /, qop=auth, nc=00000001$/, 'qop and nc unquoted');
  }
});

t.test('SIP REGISTER with qop=auth (RFC 3261 §22.4 shape)', async (t) => {
  const c = parseChallenge('Digest realm="biloxi.com", qop="auth", nonce="ea9c8e88df84f1cec4341ae6cbe5a359", opaque="", stale=FALSE, algorithm=MD5');
  t.equal(c.opaque, '', 'empty opaque kept');
  const auth = buildAuthorization(c, { username: 'bob', password: 'zanzibar', method: 'REGISTER', uri: 'sip:biloxi.com', cnonce: '0a4f113b', nc: 1 });
  const ha1 = md5('bob:biloxi.com:zanzibar');
  const ha2 = md5('REGISTER:sip:biloxi.com');
  t.equal(paramsOf(auth).get('response'), md5(`${ha1}:ea9c8e88df84f1cec4341ae6cbe5a359:00000001:0a4f113b:auth:${ha2}`));
  t.match(auth, /opaque="", /, 'empty opaque echoed');
});

t.test('no qop: RFC 2069 response, no cnonce or nc', async (t) => {
  const c = parseChallenge('Digest realm="atlanta.com", nonce="84a4cc6f3082121f32b42a2187831a9e"');
  t.same(c.qop, []);
  const auth = buildAuthorization(c, { username: 'alice', password: 'secret', method: 'INVITE', uri: 'sip:bob@biloxi.com', cnonce: 'x', nc: 1 });
  const expected = md5(`${md5('alice:atlanta.com:secret')}:84a4cc6f3082121f32b42a2187831a9e:${md5('INVITE:sip:bob@biloxi.com')}`);
  t.equal(
    auth,
    `Digest username="alice", realm="atlanta.com", nonce="84a4cc6f3082121f32b42a2187831a9e", uri="sip:bob@biloxi.com", response="${expected}"`,
  );
});

t.test('qop: auth preferred; auth-int only when alone, hashing the body', async (t) => {
  const creds = { username: 'u', password: 'p', method: 'INVITE', uri: 'sip:x@y', cnonce: 'c', nc: 2, body: 'v=0\r\n' };
  t.equal(paramsOf(buildAuthorization(parseChallenge('Digest realm="r", nonce="n", qop="auth-int,auth"'), creds)).get('qop'), 'auth');
  const authInt = buildAuthorization(parseChallenge('Digest realm="r", nonce="n", qop="auth-int"'), creds);
  const ha2 = md5(`INVITE:sip:x@y:${md5('v=0\r\n')}`);
  t.equal(paramsOf(authInt).get('response'), md5(`${md5('u:r:p')}:n:00000002:c:auth-int:${ha2}`));
  t.match(authInt, /qop=auth-int, nc=00000002$/);
  const emptyBody = buildAuthorization(parseChallenge('Digest realm="r", nonce="n", qop="auth-int"'), { ...creds, body: Buffer.alloc(0) });
  t.equal(paramsOf(emptyBody).get('response'), md5(`${md5('u:r:p')}:n:00000002:c:auth-int:${md5(`INVITE:sip:x@y:${md5('')}`)}`));
  t.throws(() => buildAuthorization(parseChallenge('Digest realm="r", nonce="n", qop="auth-conf"'), creds), DigestError);
});

t.test('-sess algorithms hash nonce and cnonce into HA1', async (t) => {
  const c = parseChallenge('Digest realm="r", nonce="n", qop=auth, algorithm=md5-SESS');
  t.equal(c.algorithm, 'MD5-sess', 'canonical spelling');
  const auth = buildAuthorization(c, { username: 'u', password: 'p', method: 'BYE', uri: 'sip:a@b', cnonce: 'cn', nc: 1 });
  const ha1 = md5(`${md5('u:r:p')}:n:cn`);
  t.equal(paramsOf(auth).get('response'), md5(`${ha1}:n:00000001:cn:auth:${md5('BYE:sip:a@b')}`));
  t.match(auth, /algorithm=MD5-sess/);

  const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
  const s = buildAuthorization(parseChallenge('Digest realm="r", nonce="n", qop=auth, algorithm=SHA-256-sess'), {
    username: 'u',
    password: 'p',
    method: 'BYE',
    uri: 'sip:a@b',
    cnonce: 'cn',
    nc: 1,
  });
  t.equal(paramsOf(s).get('response'), sha(`${sha(`${sha('u:r:p')}:n:cn`)}:n:00000001:cn:auth:${sha('BYE:sip:a@b')}`));
});

t.test('SHA-512-256 (RFC 8760) uses the FIPS 180-4 truncated hash', async (t) => {
  const h = (s: string): string => createHash('sha512-256').update(s).digest('hex');
  t.equal(h('abc'), '53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46e0e2f13107e7af23', 'FIPS 180-4 vector');
  const c = parseChallenge('Digest realm="r", nonce="n", qop="auth", algorithm=SHA-512-256');
  const auth = buildAuthorization(c, { username: 'u', password: 'p', method: 'INVITE', uri: 'sip:a@b', cnonce: 'c', nc: 1 });
  t.equal(paramsOf(auth).get('response'), h(`${h('u:r:p')}:n:00000001:c:auth:${h('INVITE:sip:a@b')}`));
});

t.test('userhash (RFC 7616 §3.4.4)', async (t) => {
  const c = parseChallenge('Digest realm="api@example.org", nonce="n", qop=auth, algorithm=SHA-256, userhash=true');
  t.equal(c.userhash, true);
  const auth = buildAuthorization(c, { username: 'Mufasa', password: 'p', method: 'GET', uri: '/', cnonce: 'c', nc: 1 });
  const expectedUser = createHash('sha256').update('Mufasa:api@example.org').digest('hex');
  t.equal(paramsOf(auth).get('username'), expectedUser);
  t.match(auth, /, userhash=true$/);
});

t.test('nonce count is 8 lower-case hex digits, 1..2^32-1', async (t) => {
  const c = parseChallenge('Digest realm="r", nonce="n", qop=auth');
  const base = { username: 'u', password: 'p', method: 'INVITE', uri: 'sip:a@b', cnonce: 'c' };
  t.equal(paramsOf(buildAuthorization(c, { ...base, nc: 255 })).get('nc'), '000000ff');
  t.equal(paramsOf(buildAuthorization(c, { ...base, nc: 0xffffffff })).get('nc'), 'ffffffff');
  for (const nc of [0, -1, 1.5, 2 ** 32]) t.throws(() => buildAuthorization(c, { ...base, nc }), DigestError, `nc ${nc}`);
  t.throws(() => buildAuthorization(c, { ...base, nc: 1, cnonce: '' }), DigestError, 'empty cnonce with qop');
});

t.test('quoted-string escaping round-trips', async (t) => {
  const c = parseChallenge('Digest realm="a \\"quoted\\" realm\\\\", nonce="n\\,1"');
  t.equal(c.realm, 'a "quoted" realm\\');
  t.equal(c.nonce, 'n,1');
  const auth = buildAuthorization(c, { username: 'we"ird', password: 'p', method: 'INVITE', uri: 'sip:a@b', cnonce: 'c', nc: 1 });
  t.match(auth, /^Digest username="we\\"ird", realm="a \\"quoted\\" realm\\\\", nonce="n,1", /);
  const back = paramsOf(auth);
  t.equal(back.get('username'), 'we"ird');
  t.equal(back.get('realm'), c.realm);
  t.equal(back.get('response'), md5(`${md5('we"ird:a "quoted" realm\\:p')}:n,1:${md5('INVITE:sip:a@b')}`));
});

t.test('unsupported algorithm: parsed, not answered', async (t) => {
  const c = parseChallenge('Digest realm="ims", nonce="n", algorithm=AKAv1-MD5, qop=auth');
  t.equal(c.algorithm, 'AKAv1-MD5');
  t.equal(isSupported(c), false);
  t.throws(() => buildAuthorization(c, { username: 'u', password: 'p', method: 'REGISTER', uri: 'sip:ims', cnonce: 'c', nc: 1 }), {
    name: 'DigestError',
    message: 'unsupported digest algorithm "AKAv1-MD5"',
  });
});

t.test('parsing tolerates spacing, case and quoting', async (t) => {
  const cases: Array<[string, Record<string, unknown>]> = [
    ['Digest realm = "r" ,nonce= "n",  qop = " auth , auth-int "', { realm: 'r', nonce: 'n', qop: ['auth', 'auth-int'] }],
    ['DIGEST REALM="r", NONCE="n", ALGORITHM=sha-256, QOP="AUTH"', { realm: 'r', nonce: 'n', algorithm: 'SHA-256', qop: ['auth'] }],
    ['digest realm=r,nonce=abc/def+==,algorithm="SHA-256"', { realm: 'r', nonce: 'abc/def+==', algorithm: 'SHA-256', algorithmGiven: true }],
    ['Digest realm="r", nonce="n", stale=TRUE', { stale: true }],
    ['Digest realm="r", nonce="n", stale="true"', { stale: true }],
    ['Digest realm="r", nonce="n", stale=false', { stale: false }],
    ['Digest ,realm="r",, nonce="n",', { realm: 'r', nonce: 'n' }],
    ['Digest realm="r" nonce="n" qop=auth', { realm: 'r', nonce: 'n', qop: ['auth'] }],
    ['Digest\r\n realm="r",\r\n\tnonce="n"', { realm: 'r', nonce: 'n' }],
    ['Digest realm="", nonce="n", domain="sip:ss1.carrier.com sip:ss2.carrier.com"', { realm: '', domain: 'sip:ss1.carrier.com sip:ss2.carrier.com' }],
  ];
  for (const [text, expected] of cases) t.match(parseChallenge(text), expected, text);
  const c = parseChallenge('Digest realm="r", nonce="n", charset=UTF-8, x-vendor="a, b"');
  t.equal(c.params.get('charset'), 'UTF-8', 'unknown parameters kept');
  t.equal(c.params.get('x-vendor'), 'a, b');
});

t.test('several challenges in one value; other schemes skipped', async (t) => {
  const list = parseChallenges(
    'Basic realm="r", Digest realm="r", nonce="1", algorithm=MD5, Digest realm="r", nonce="2", algorithm=SHA-256, Bearer realm="x"',
  );
  t.same(
    list.map((c) => [c.nonce, c.algorithm]),
    [
      ['1', 'MD5'],
      ['2', 'SHA-256'],
    ],
  );
  t.same(parseChallenges('Basic realm="intranet"'), []);
  t.throws(() => parseChallenge('Basic realm="intranet"'), ParseError, 'parseChallenge wants a Digest challenge');
});

t.test('garbage raises ParseError', async (t) => {
  const garbage = [
    '',
    '   ',
    'Digest',
    'Digest realm="r"',
    'Digest nonce="n"',
    'Digest realm="r", nonce=""',
    'Digest realm="unterminated, nonce="n"',
    'Digest realm="r", nonce="n\\',
    'Digest realm=, nonce="n"',
    '"Digest" realm="r", nonce="n"',
    'Digest realm="r", nonce="n", realm="again"',
    'Digest realm="r" "stray", nonce="n"',
    'Digest =realm, nonce="n"',
    'Digest realm="r"; nonce="n"',
  ];
  for (const text of garbage) t.throws(() => parseChallenge(text), ParseError, JSON.stringify(text));
});

t.test('selectChallenge: strongest supported, topmost among equals', async (t) => {
  const md5c = 'Digest realm="r", nonce="m", qop=auth, algorithm=MD5';
  const sha = 'Digest realm="r", nonce="s", qop=auth, algorithm=SHA-256';
  t.equal(selectChallenge([md5c, sha])?.nonce, 's', 'SHA-256 over MD5');
  t.equal(selectChallenge([sha, md5c])?.nonce, 's', 'order does not matter');
  t.equal(selectChallenge([`${md5c}, ${sha}`])?.nonce, 's', 'in one combined value');
  t.equal(selectChallenge(['Digest realm="r", nonce="512", algorithm=SHA-512-256', sha])?.nonce, '512', 'SHA-512-256 over SHA-256');
  t.equal(selectChallenge(['Digest realm="r", nonce="a"', 'Digest realm="r", nonce="b"'])?.nonce, 'a', 'topmost among equals');
  t.equal(selectChallenge(['Digest realm="r", nonce="x", algorithm=AKAv1-MD5', md5c])?.nonce, 'm', 'unsupported algorithm skipped');
  t.equal(selectChallenge(['Digest realm="r", nonce="x", qop="auth-conf"', md5c])?.nonce, 'm', 'unsupported qop skipped');
  t.equal(selectChallenge(['garbage "', md5c])?.nonce, 'm', 'malformed value skipped');
  t.equal(selectChallenge(['Basic realm="r"']), undefined, 'nothing to answer');
  t.equal(selectChallenge([]), undefined);
});
