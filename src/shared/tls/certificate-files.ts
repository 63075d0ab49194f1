import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import type { Logger, Registry } from '../../telemetry/index.js';
import type { TlsFiles } from '../grpc/tls-files.js';
import { tlsMetrics, type TlsMetrics } from './tls.metrics.js';

/** The PEM contents of a set of TLS files, checked to belong together. */
export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer | undefined;
  /** The end of the leaf certificate's validity. */
  readonly notAfter: Date;
}

export type TlsMaterialListener = (material: TlsMaterial) => void;

export interface CertificateFilesOptions {
  /** How often the files are read again to spot a rotation; 0 never. */
  readonly reloadIntervalMs: number;
  readonly logger: Logger;
  readonly registry: Registry;
}

/**
 * A certificate, its key and the CA of the other end, read from files and read again every
 * interval, so a rotation (cert-manager rewrites a Secret volume) reaches every listener and
 * client without a restart. Contents are compared rather than timestamps: a Secret volume
 * swaps a symlink, which leaves the files' own times unchanged. A new set is handed on only
 * once Node accepts it as a whole (key matches certificate, PEM parses); a half-written
 * rotation is skipped and tried again at the next tick, while the old certificates keep serving.
 */
export class CertificateFiles {
  readonly #files: TlsFiles;
  readonly #logger: Logger;
  readonly #metrics: TlsMetrics;
  readonly #listeners = new Set<TlsMaterialListener>();
  readonly #timer: NodeJS.Timeout | undefined;
  #material: TlsMaterial;
  #checking = false;

  private constructor(files: TlsFiles, material: TlsMaterial, options: CertificateFilesOptions) {
    this.#files = files;
    this.#material = material;
    this.#logger = options.logger;
    this.#metrics = tlsMetrics(options.registry);
    if (options.reloadIntervalMs > 0) {
      this.#timer = setInterval(() => void this.check(), options.reloadIntervalMs);
      this.#timer.unref();
    }
  }

  /** Reads and checks the files; rejects with what is wrong, so a bad start-up fails at once. */
  static async open(files: TlsFiles, options: CertificateFilesOptions): Promise<CertificateFiles> {
    return new CertificateFiles(files, await readMaterial(files), options);
  }

  get files(): TlsFiles {
    return this.#files;
  }

  current(): TlsMaterial {
    return this.#material;
  }

  /** Called with every new set of files after it was checked; returns the unsubscribe. */
  onChange(listener: TlsMaterialListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Exposes `tls_certificate_expiry_seconds{listener}` for a listener using these files. */
  track(listener: string): void {
    this.#metrics.track(listener, () => this.#material.notAfter);
  }

  /** Reads the files now; resolves to whether a new set was taken. The timer calls it too. */
  async check(): Promise<boolean> {
    if (this.#checking) return false;
    this.#checking = true;
    try {
      const next = await readMaterial(this.#files);
      if (sameMaterial(next, this.#material)) return false;
      this.#material = next;
      for (const listener of this.#listeners) listener(next);
      this.#metrics.reloaded('success');
      this.#logger.info(
        { cert_file: this.#files.certFile, not_after: next.notAfter.toISOString() },
        'tls certificates reloaded',
      );
      return true;
    } catch (error) {
      this.#metrics.reloaded('failure');
      this.#logger.warn(
        { err: error, cert_file: this.#files.certFile },
        'tls certificate files not usable; still serving the previous ones',
      );
      return false;
    } finally {
      this.#checking = false;
    }
  }

  close(): void {
    clearInterval(this.#timer);
    this.#listeners.clear();
  }
}

async function readMaterial(files: TlsFiles): Promise<TlsMaterial> {
  const [cert, key, ca] = await Promise.all([
    readFile(files.certFile),
    readFile(files.keyFile),
    files.caFile === undefined ? undefined : readFile(files.caFile),
  ]);
  // Throws if the key does not match the certificate or a PEM does not parse.
  createSecureContext({ cert, key, ...(ca === undefined ? {} : { ca }) });
  return { cert, key, ca, notAfter: new Date(new X509Certificate(cert).validTo) };
}

function sameMaterial(a: TlsMaterial, b: TlsMaterial): boolean {
  const sameCa = a.ca === undefined || b.ca === undefined ? a.ca === b.ca : a.ca.equals(b.ca);
  return sameCa && a.cert.equals(b.cert) && a.key.equals(b.key);
}
