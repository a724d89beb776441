import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { requireTool, runCommand } from './processes';

export interface TestCertificates {
  /** Paths of the PEM files. */
  caCertPath: string;
  caKeyPath: string;
  certPath: string;
  keyPath: string;
  /** The PEM texts. */
  ca: string;
  cert: string;
  key: string;
}

/** YYYYMMDDHHMMSSZ, as `openssl ca -startdate/-enddate` take it. */
function generalizedTime(date: Date): string {
  return `${date.toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;
}

const DAY_MS = 86_400_000;

/**
 * Makes a throwaway CA and a server certificate it signs (EC P-256), with
 * subjectAltName = `hostname` (DNS, or IP when it is an address) and IP 127.0.0.1.
 * `expired: true` makes a server certificate whose validity ended yesterday (the CA stays valid).
 */
export async function makeTestCertificates(
  dir: string,
  options: { hostname?: string; expired?: boolean } = {},
): Promise<TestCertificates> {
  const openssl = requireTool('openssl');
  const hostname = options.hostname ?? 'localhost';
  const out = resolve(dir);
  mkdirSync(join(out, 'newcerts'), { recursive: true });
  writeFileSync(join(out, 'index.txt'), '');

  const altNames = [isIP(hostname) ? `IP.1 = ${hostname}` : `DNS.1 = ${hostname}`];
  if (hostname !== '127.0.0.1') altNames.push('IP.2 = 127.0.0.1');
  const cnf = join(out, 'openssl.cnf');
  writeFileSync(
    cnf,
    `[ ca ]
default_ca = test_ca

[ test_ca ]
database = ${out}/index.txt
new_certs_dir = ${out}/newcerts
certificate = ${out}/ca.crt
private_key = ${out}/ca.key
rand_serial = yes
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none

[ policy_any ]
commonName = supplied

[ req ]
distinguished_name = req_dn
prompt = no

[ req_dn ]
CN = unused

[ v3_ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[ v3_server ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = @alt_names
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer

[ alt_names ]
${altNames.join('\n')}
`,
  );

  const run = async (args: string[]): Promise<void> => {
    const r = await runCommand(openssl, args, { timeoutMs: 20_000, cwd: out, name: 'openssl' });
    if (r.code !== 0) throw new Error(`openssl ${args[0]} failed (exit ${r.code}): ${r.stderr}`);
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const paths = {
    caCertPath: join(out, 'ca.crt'),
    caKeyPath: join(out, 'ca.key'),
    certPath: join(out, 'server.crt'),
    keyPath: join(out, 'server.key'),
  };
  await run([
    'req',
    '-x509',
    '-config',
    cnf,
    ...ec,
    '-keyout',
    paths.caKeyPath,
    '-out',
    paths.caCertPath,
    '-days',
    '3',
    '-subj',
    '/CN=rtmp-actors test CA',
    '-extensions',
    'v3_ca',
  ]);
  const csr = join(out, 'server.csr');
  await run([
    'req',
    '-new',
    '-config',
    cnf,
    ...ec,
    '-keyout',
    paths.keyPath,
    '-out',
    csr,
    '-subj',
    `/CN=${hostname}`,
  ]);
  const now = Date.now();
  const [start, end] = options.expired
    ? [new Date(now - 3 * DAY_MS), new Date(now - DAY_MS)]
    : [new Date(now - DAY_MS), new Date(now + 2 * DAY_MS)];
  await run([
    'ca',
    '-batch',
    '-config',
    cnf,
    '-notext',
    '-in',
    csr,
    '-out',
    paths.certPath,
    '-startdate',
    generalizedTime(start),
    '-enddate',
    generalizedTime(end),
    '-extensions',
    'v3_server',
  ]);
  return {
    ...paths,
    ca: readFileSync(paths.caCertPath, 'utf8'),
    cert: readFileSync(paths.certPath, 'utf8'),
    key: readFileSync(paths.keyPath, 'utf8'),
  };
}
