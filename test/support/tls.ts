import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createCertificateAuthority,
  DEV_HOSTS,
  issueCertificate,
  type CertificateAuthority,
  type PemPair,
} from '../../src/shared/tls/dev-certificates.js';

const DAY_MS = 86_400_000;

/** PEM file paths of one certificate and its key. */
export interface PairFiles {
  readonly certFile: string;
  readonly keyFile: string;
}

/**
 * Every certificate the TLS tests need, as files in a temporary directory: a CA with a good
 * and an expired server and client certificate, and another CA with its own pair.
 */
export interface TestPki {
  readonly dir: string;
  readonly caFile: string;
  readonly ca: CertificateAuthority;
  readonly server: PairFiles;
  readonly expiredServer: PairFiles;
  readonly client: PairFiles;
  readonly expiredClient: PairFiles;
  readonly otherCaFile: string;
  readonly otherServer: PairFiles;
  readonly otherClient: PairFiles;
  /** A new pair from the good CA, written to `name`.crt/.key. */
  issue(name: string, usages: readonly ('server' | 'client')[]): Promise<PairFiles>;
  remove(): Promise<void>;
}

export async function createTestPki(): Promise<TestPki> {
  const dir = await mkdtemp(join(tmpdir(), 'tls-test-'));
  const now = Date.now();
  const valid = { notBefore: new Date(now - 60_000), notAfter: new Date(now + DAY_MS) };
  const expired = { notBefore: new Date(now - 2 * DAY_MS), notAfter: new Date(now - DAY_MS) };
  const ca = await createCertificateAuthority('Test CA', valid);
  const other = await createCertificateAuthority('Other CA', valid);
  const write = async (name: string, pair: PemPair): Promise<PairFiles> => {
    const files = { certFile: join(dir, `${name}.crt`), keyFile: join(dir, `${name}.key`) };
    await writeFile(files.certFile, pair.cert);
    await writeFile(files.keyFile, pair.key);
    return files;
  };
  const make = async (
    authority: CertificateAuthority,
    name: string,
    usages: readonly ('server' | 'client')[],
    window = valid,
  ) =>
    write(
      name,
      await issueCertificate(authority, { commonName: name, hosts: DEV_HOSTS, usages, ...window }),
    );
  const caFile = join(dir, 'ca.crt');
  const otherCaFile = join(dir, 'other-ca.crt');
  await writeFile(caFile, ca.cert);
  await writeFile(otherCaFile, other.cert);
  return {
    dir,
    caFile,
    ca,
    server: await make(ca, 'server', ['server', 'client']),
    expiredServer: await make(ca, 'expired-server', ['server'], expired),
    client: await make(ca, 'client', ['client']),
    expiredClient: await make(ca, 'expired-client', ['client'], expired),
    otherCaFile,
    otherServer: await make(other, 'other-server', ['server']),
    otherClient: await make(other, 'other-client', ['client']),
    issue: (name, usages) => make(ca, name, usages),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
