'use strict';
// tests/tls/certs.js — test certificates made by the openssl command line, for every test
// that needs TLS (tests/tls, tests/client, tests/cluster, tests/threads): a CA, a
// certificate signed by one, a self-signed one, a key under a passphrase, a CA's
// revocation list. P-256 keys,
// valid 2 days; every file goes in the directory the caller gives (and removes). Not a
// test file itself (node --test picks *.test.js).
//
//   const ca = makeCa(dir, 'ca', 'wsio test CA');
//   const srv = signed(dir, 'srv', ca, { cn: 'localhost', san: 'DNS:localhost,IP:127.0.0.1' });
//   const alice = signed(dir, 'alice', ca, { eku: 'clientAuth' });   // {key, crt}: paths
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const NEW_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
const DAYS = ['-days', '2'];

function openssl(...args) {
  execFileSync('openssl', args, { stdio: 'ignore' });
}

/* A self-signed certificate dir/name.pem and its key dir/name.key, subject /CN=cn
 * (default: name), with these subjectAltNames when `san` is set. Making it again under
 * the same name replaces both files (a new key). Returns {key, crt}. */
function selfSigned(dir, name, { cn = name, san } = {}) {
  const key = path.join(dir, `${name}.key`), crt = path.join(dir, `${name}.pem`);
  openssl('req', '-x509', ...NEW_KEY, '-keyout', key, '-out', crt, ...DAYS, '-subj', `/CN=${cn}`,
    ...(san ? ['-addext', `subjectAltName=${san}`] : []));
  return { key, crt };
}

/* A test CA: a self-signed certificate (openssl req -x509 marks it CA:TRUE). */
const makeCa = (dir, name, cn) => selfSigned(dir, name, { cn });

/* A certificate dir/name.pem signed by `ca` (what makeCa returned), its key dir/name.key.
 * Subject `subj` (an openssl -subj string) or /CN=cn (default: name); extensions written
 * to dir/name.ext: subjectAltName=`san`, extendedKeyUsage=`eku` (none: no extensions). A
 * random serial. Returns {key, crt}. */
function signed(dir, name, ca, { cn = name, subj = `/CN=${cn}`, san, eku } = {}) {
  const f = (ext) => path.join(dir, `${name}.${ext}`);
  const exts = [san && `subjectAltName=${san}`, eku && `extendedKeyUsage=${eku}`].filter(Boolean);
  openssl('req', ...NEW_KEY, '-keyout', f('key'), '-out', f('csr'), '-subj', subj);
  const extArgs = [];
  if (exts.length) {
    fs.writeFileSync(f('ext'), exts.join('\n') + '\n');
    extArgs.push('-extfile', f('ext'));
  }
  openssl('x509', '-req', '-in', f('csr'), '-CA', ca.crt, '-CAkey', ca.key,
    '-set_serial', String(Math.floor(Math.random() * 1e9)), '-out', f('pem'), ...DAYS, ...extArgs);
  return { key: f('key'), crt: f('pem') };
}

/* The key file `key` written to `out` under AES-256 with this passphrase. */
function encryptKey(key, out, passphrase = 'secret') {
  openssl('pkey', '-in', key, '-aes256', '-passout', `pass:${passphrase}`, '-out', out);
}

/* A revocation list (PEM) of `ca` revoking the certificates `revoked` (what signed()
 * returned), written to dir/name.crl, made by `openssl ca` with a database of its own
 * (dir/name.db/). `last`/`next`: its lastUpdate/nextUpdate as Dates (default: now and a
 * week from now; a past `next` makes an expired list). Returns the list's path. */
function crl(dir, name, ca, revoked = [], { last = null, next = null } = {}) {
  const db = path.join(dir, `${name}.db`);
  fs.rmSync(db, { recursive: true, force: true });
  fs.mkdirSync(db);
  fs.writeFileSync(path.join(db, 'index.txt'), '');
  fs.writeFileSync(path.join(db, 'crlnumber'), '1000\n');
  const cnf = path.join(db, 'ca.cnf');
  fs.writeFileSync(cnf, `[ca]\ndefault_ca = test\n[test]\ndatabase = ${db}/index.txt\ncrlnumber = ${db}/crlnumber\n` +
    'default_md = sha256\ndefault_crl_days = 7\n');
  const signer = ['-config', cnf, '-cert', ca.crt, '-keyfile', ca.key];
  for (const r of revoked) openssl('ca', ...signer, '-revoke', r.crt);
  /* openssl's time format: YYYYMMDDHHMMSSZ */
  const t = (d) => d.toISOString().replace(/[-:T]/g, '').replace(/\.\d+Z$/, 'Z');
  const out = path.join(dir, `${name}.crl`);
  openssl('ca', ...signer, '-gencrl', '-out', out, ...(last ? ['-crl_lastupdate', t(last)] : []),
    ...(next ? ['-crl_nextupdate', t(next)] : []));
  return out;
}

module.exports = { openssl, selfSigned, makeCa, signed, encryptKey, crl };
