/**
 * SPEC M1/M2 on real sockets: a port pool hands out even/odd pairs and takes
 * them back; the relay forwards RTP and RTCP unchanged both ways, latches
 * onto the sender's address (symmetric RTP), and taps every packet; on both
 * packet I/O backends (Node's dgram and the batched native engine).
 */
import t from 'tap';
import dgram from 'node:dgram';
import { MediaRelay } from '../../lib/media/media-relay.js';
import { PortPool } from '../../lib/media/port-pool.js';
import { RelayEndpoint } from '../../lib/media/relay-endpoint.js';
import { BatchedSocketFactory } from '../../lib/media/packet-io/batched-media-socket.js';
import { DgramSocketFactory } from '../../lib/media/packet-io/dgram-media-socket.js';
import type { MediaSocketFactory } from '../../lib/media/packet-io/media-socket.js';

const batched = BatchedSocketFactory.load();
const backends: [string, MediaSocketFactory | Error][] = [['dgram', new DgramSocketFactory()], ['batched', batched]];

const until = async (cond: () => boolean, ms = 3000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
};

async function socket(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  return s;
}

function rtp(seq: number, payload: number): Buffer {
  const b = Buffer.alloc(172);
  b[0] = 0x80;
  b[1] = 8;
  b.writeUInt16BE(seq, 2);
  b.writeUInt32BE(seq * 160, 4);
  b.writeUInt32BE(0xdeadbeef, 8);
  b.fill(payload, 12);
  return b;
}

for (const [name, factory] of backends) {
  const base = name === 'dgram' ? 41000 : 41200;
  if (factory instanceof Error) {
    t.fail(`${name} backend does not load: ${factory.message}`);
    continue;
  }
  t.test(`${name}: port pool: even RTP, odd RTCP, released pairs go to the back`, async (t) => {
    const pool = new PortPool('127.0.0.1', base + 1, base + 10, factory);
    t.equal(pool.available, 4, 'pairs base+2..base+9');
    const a = await pool.allocate();
    const b = await pool.allocate();
    t.equal(a.rtpPort % 2, 0);
    t.equal(a.rtcp.port, a.rtpPort + 1);
    pool.release(a);
    pool.release(a);
    t.equal(pool.allocated, 1, 'release is idempotent');
    const c = await pool.allocate();
    t.not(c.rtpPort, a.rtpPort, 'a released port is not reused at once');
    pool.release(b);
    pool.release(c);
  });

  t.test(`${name}: RTP and RTCP relayed unchanged both ways, with latching and tap`, async (t) => {
    const pool = new PortPool('127.0.0.1', base + 100, base + 199, factory);
    const pbxSide = new RelayEndpoint(await pool.allocate(), '127.0.0.1');
    const provSide = new RelayEndpoint(await pool.allocate(), '127.0.0.1');
    const pbx = await socket();
    const prov = await socket();
    const pbxRtcp = await socket();
    t.teardown(() => {
      pbx.close();
      prov.close();
      pbxRtcp.close();
      pool.release(pbxSide.pair);
      pool.release(provSide.pair);
    });
    // The provider's SDP named a wrong port; latching fixes it after its first packet.
    pbxSide.setRemote('127.0.0.1', pbx.address().port, pbxRtcp.address().port, false);
    provSide.setRemote('127.0.0.1', 9, 10, false);
    const relay = new MediaRelay([pbxSide, provSide]);
    const tapped: number[] = [];
    relay.tap = { onRtp: (from, p) => tapped.push(from * 1000 + p.readUInt16BE(2)) };
    const atPbx: Buffer[] = [];
    const atProv: Buffer[] = [];
    pbx.on('message', (m) => atPbx.push(m));
    prov.on('message', (m) => atProv.push(m));
    prov.send(rtp(1, 0x11), provSide.localPort, '127.0.0.1');
    await until(() => atPbx.length === 1);
    t.same(atPbx[0], rtp(1, 0x11), 'bit-exact towards the PBX');
    for (let i = 2; i <= 50; i++) pbx.send(rtp(i, 0x22), pbxSide.localPort, '127.0.0.1');
    await until(() => atProv.length === 49);
    t.same(atProv[48], rtp(50, 0x22), 'bit-exact towards the latched provider address');
    t.equal(tapped.length, 50);
    t.equal(pbxSide.packetsIn, 49);
    // RTCP goes to the RTCP port.
    const rtcpGot: Buffer[] = [];
    pbxRtcp.on('message', (m) => rtcpGot.push(m));
    const sr = Buffer.from('80c80006deadbeef0000000000000000000000000000000000000000', 'hex');
    prov.send(sr, provSide.localPort + 1, '127.0.0.1');
    await until(() => rtcpGot.length === 1);
    t.same(rtcpGot[0], sr);
    t.ok(relay.idleMs() < 1000);
  });
}
