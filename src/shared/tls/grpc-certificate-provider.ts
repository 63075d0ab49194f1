import { rootCertificates } from 'node:tls';
import type { experimental } from '@grpc/grpc-js';
import type { CertificateFiles, TlsMaterial } from './certificate-files.js';

type CaListener = experimental.CaCertificateUpdateListener;
type IdentityListener = experimental.IdentityCertificateUpdateListener;

/**
 * grpc-js's certificate provider interface over our checked, reloading files: a channel built
 * on it makes each new connection with the latest certificate and CA, so a client's rotated
 * certificate is presented from the next reconnect on, and open connections carry on.
 */
export function grpcCertificateProvider(files: CertificateFiles): experimental.CertificateProvider {
  const caListeners = new Map<CaListener, () => void>();
  const identityListeners = new Map<IdentityListener, () => void>();
  // Without a CA file the server is checked against the system's CAs, as createSsl would.
  const ca = (material: TlsMaterial) => ({
    caCertificate: material.ca ?? Buffer.from(rootCertificates.join('\n')),
  });
  const identity = (material: TlsMaterial) => ({
    certificate: material.cert,
    privateKey: material.key,
  });
  return {
    addCaCertificateListener(listener) {
      caListeners.set(
        listener,
        files.onChange((material) => {
          listener(ca(material));
        }),
      );
      process.nextTick(listener, ca(files.current()));
    },
    removeCaCertificateListener(listener) {
      caListeners.get(listener)?.();
      caListeners.delete(listener);
    },
    addIdentityCertificateListener(listener) {
      identityListeners.set(
        listener,
        files.onChange((material) => {
          listener(identity(material));
        }),
      );
      process.nextTick(listener, identity(files.current()));
    },
    removeIdentityCertificateListener(listener) {
      identityListeners.get(listener)?.();
      identityListeners.delete(listener);
    },
  };
}
