import t from 'tap';
import { radvdConf } from '../../agent/ra/radvdConf.js';
import { foreignRouters } from '../../agent/ra/foreignRouters.js';

t.test('radvd config: no prefix, not a router, no DHCPv6', async (t) => {
  const conf = radvdConf({ interface: 'prov0', maxIntervalSeconds: 1800 });
  t.match(conf, /^interface prov0 \{$/m);
  t.match(conf, /AdvDefaultLifetime 0;/);
  t.match(conf, /AdvManagedFlag off;/);
  t.match(conf, /AdvOtherConfigFlag off;/);
  t.match(conf, /MaxRtrAdvInterval 1800;/);
  t.match(conf, /MinRtrAdvInterval 1350;/, 'min is 0.75 × max (RFC 4861 §6.2.1)');
  t.notMatch(conf, /^\s*(prefix|RDNSS|DNSSL|route)\b/m, 'no prefix, RDNSS, DNSSL or route section');
  t.match(radvdConf({ interface: 'prov0', maxIntervalSeconds: 4 }), /MinRtrAdvInterval 3;/, 'min never below 3 s');
});

t.test('radvd config refuses what radvd or the kernel would not take', async (t) => {
  t.throws(() => radvdConf({ interface: 'prov0 { AdvSendAdvert', maxIntervalSeconds: 600 }), /not a Linux interface name/);
  t.throws(() => radvdConf({ interface: 'a-very-long-interface', maxIntervalSeconds: 600 }), /not a Linux interface name/);
  t.throws(() => radvdConf({ interface: 'prov0', maxIntervalSeconds: 3 }), /outside 4–1800/);
  t.throws(() => radvdConf({ interface: 'prov0', maxIntervalSeconds: 1801 }), /outside 4–1800/);
  t.throws(() => radvdConf({ interface: 'prov0', maxIntervalSeconds: 60.5 }), /outside 4–1800/);
});

t.test('foreign routers are read from RA-learnt kernel routes only', async (t) => {
  const ip = JSON.stringify([
    { dst: 'fe80::/64', protocol: 'kernel', metric: 256, flags: [] },
    { dst: '2001:db8:1::/64', protocol: 'kernel', metric: 256, expires: 86397, flags: [] },
    { dst: '2001:db8:2::/64', protocol: 'kernel', metric: 256, flags: [] },
    { dst: 'default', gateway: 'fe80::1', protocol: 'ra', metric: 1024, expires: 1797, flags: [] },
    { dst: 'default', gateway: 'fe80::9', protocol: 'static', flags: [] },
  ]);
  t.same(foreignRouters(ip), [{ route: '2001:db8:1::/64' }, { route: 'default', router: 'fe80::1' }]);
  t.same(foreignRouters('[]'), []);
  for (const junk of ['', 'not json', '{"dst":"default"}', '[null, 3, "x", {"protocol":"ra"}]'])
    t.same(foreignRouters(junk), [], `junk ${JSON.stringify(junk)} reads as none`);
});
