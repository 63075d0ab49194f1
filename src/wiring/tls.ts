import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Config } from '../config/index.js';
import { CertificateFiles } from '../shared/tls/certificate-files.js';
import {
  DEV_FILES,
  generateDevCertificates,
  writeDevCertificates,
} from '../shared/tls/dev-certificates.js';
import { tlsMetrics } from '../shared/tls/tls.metrics.js';
import type { Logger, Registry } from '../telemetry/index.js';

/** Development certificates are made again when less than this is left of them. */
const DEV_RENEW_BEFORE_MS = 86_400_000;

/**
 * The process's TLS files, checked and watched for rotation, or undefined with TLS off. In
 * dev mode a development CA and certificates are made in the dev directory first, unless a
 * good set is already there (so processes sharing the directory share the CA, and clients
 * keep trusting its ca.crt across restarts).
 */
export async function openTls(
  config: Config,
  deps: { readonly logger: Logger; readonly registry: Registry },
): Promise<CertificateFiles | undefined> {
  const { tls } = config;
  // Registered with TLS off too, so every process exposes the same metric families.
  tlsMetrics(deps.registry);
  if (tls === undefined) return undefined;
  if (tls.mode === 'dev' && tls.devDir !== undefined) {
    if (!(await usableDevCertificates(tls.devDir))) {
      await writeDevCertificates(tls.devDir, await generateDevCertificates());
      deps.logger.warn(
        { dir: tls.devDir },
        'development TLS certificates generated; never use TLS_MODE=dev in production',
      );
    }
  }
  return CertificateFiles.open(tls, { reloadIntervalMs: tls.reloadIntervalMs, ...deps });
}

async function usableDevCertificates(dir: string): Promise<boolean> {
  try {
    const [ca, server] = await Promise.all(
      [DEV_FILES.ca, DEV_FILES.serverCert].map(
        async (name) => new X509Certificate(await readFile(`${dir}/${name}`)),
      ),
    );
    if (ca === undefined || server === undefined) return false;
    const left = new Date(server.validTo).getTime() - Date.now();
    return server.verify(ca.publicKey) && left > DEV_RENEW_BEFORE_MS;
  } catch {
    return false; // missing or unreadable: made anew
  }
}
