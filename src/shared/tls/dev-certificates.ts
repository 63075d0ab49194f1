// @peculiar/x509 resolves its ASN.1 schemas through tsyringe, which needs the Reflect metadata
// API; the polyfill must be evaluated before the library.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';

/** A certificate and its private key, both PEM. */
export interface PemPair {
  readonly cert: string;
  readonly key: string;
}

/** A CA that can sign certificates, kept in memory only. */
export interface CertificateAuthority {
  readonly cert: string;
  readonly name: string;
  readonly keys: webcrypto.CryptoKeyPair;
}

export interface ValidityWindow {
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export interface IssueOptions extends ValidityWindow {
  readonly commonName: string;
  /** DNS names and IP addresses the certificate is valid for. */
  readonly hosts: readonly string[];
  /** TLS server, TLS client, or both (a pod's certificate serves and calls). */
  readonly usages: readonly ('server' | 'client')[];
}

/** What `npm run certs` and TLS_MODE=dev write. */
export interface DevCertificates {
  readonly ca: string;
  readonly server: PemPair;
  readonly client: PemPair;
}

export const DEV_HOSTS = ['localhost', '127.0.0.1', '::1'] as const;

/** The file names of a development certificate directory. */
export const DEV_FILES = {
  ca: 'ca.crt',
  serverCert: 'server.crt',
  serverKey: 'server.key',
  clientCert: 'client.crt',
  clientKey: 'client.key',
} as const;

// ECDSA P-256: fast to generate, and accepted by Node, grpc-js, browsers and buf curl alike.
const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;

export async function createCertificateAuthority(
  name: string,
  validity: ValidityWindow,
): Promise<CertificateAuthority> {
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: `CN=${name}`,
    ...validity,
    signingAlgorithm: ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert: cert.toString('pem'), name, keys };
}

export async function issueCertificate(
  ca: CertificateAuthority,
  options: IssueOptions,
): Promise<PemPair> {
  const keys = await generateKeys();
  const usages = options.usages.map((usage) =>
    usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth,
  );
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: `CN=${options.commonName}`,
    issuer: `CN=${ca.name}`,
    notBefore: options.notBefore,
    notAfter: options.notAfter,
    signingAlgorithm: ALGORITHM,
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension(usages),
      new x509.SubjectAlternativeNameExtension(
        options.hosts.map((host) => ({ type: isIP(host) === 0 ? 'dns' : 'ip', value: host })),
      ),
      await x509.AuthorityKeyIdentifierExtension.create(ca.keys.publicKey),
    ],
  });
  return { cert: cert.toString('pem'), key: await privateKeyPem(keys.privateKey) };
}

/**
 * A fresh development CA with a server certificate (also usable as a client one, as a pod's
 * is for its internal calls) and a client certificate, for `hosts`.
 */
export async function generateDevCertificates(
  options: {
    readonly now?: Date;
    readonly validDays?: number;
    readonly hosts?: readonly string[];
  } = {},
): Promise<DevCertificates> {
  const now = options.now ?? new Date();
  // Back-dated a little so a clock slightly behind ours still accepts them.
  const validity = {
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + (options.validDays ?? 30) * DAY_MS),
  };
  const hosts = options.hosts ?? DEV_HOSTS;
  const ca = await createCertificateAuthority('Trading Platform Development CA', validity);
  const server = await issueCertificate(ca, {
    commonName: 'localhost',
    hosts,
    usages: ['server', 'client'],
    ...validity,
  });
  const client = await issueCertificate(ca, {
    commonName: 'trading-platform-client',
    hosts,
    usages: ['client'],
    ...validity,
  });
  return { ca: ca.cert, server, client };
}

/** Writes the set into `dir` (created if needed); keys are readable by their owner only. */
export async function writeDevCertificates(dir: string, certs: DevCertificates): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const files: [string, string, number][] = [
    [DEV_FILES.ca, certs.ca, 0o644],
    [DEV_FILES.serverCert, certs.server.cert, 0o644],
    [DEV_FILES.serverKey, certs.server.key, 0o600],
    [DEV_FILES.clientCert, certs.client.cert, 0o644],
    [DEV_FILES.clientKey, certs.client.key, 0o600],
  ];
  for (const [name, text, mode] of files) await writeFile(join(dir, name), text, { mode });
}

function generateKeys(): Promise<webcrypto.CryptoKeyPair> {
  return webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
}

async function privateKeyPem(key: webcrypto.CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

/** Positive and unique enough for a development CA: 16 random bytes, top bit clear. */
function serialNumber(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return Buffer.from(bytes).toString('hex');
}
