import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { SigningKeys } from '../../domain/auth/access-tokens.js';
import type { Logger } from '../../telemetry/index.js';

export interface SigningKeySource {
  /** PEM (PKCS#8) Ed25519 private key; when unset a development key is used. */
  readonly privateKeyFile: string | undefined;
  /** PEM (SPKI) public key; derived from the private key when unset. */
  readonly publicKeyFile: string | undefined;
  /** Where the development key is kept, so tokens survive restarts. */
  readonly dataDir: string;
}

/** Key id: a short hash of the public key, so rotated keys are told apart. */
const keyId = (spkiPem: string) =>
  createHash('sha256').update(spkiPem).digest('base64url').slice(0, 16);

export async function loadSigningKeys(
  source: SigningKeySource,
  logger: Logger,
): Promise<SigningKeys> {
  const pkcs8 =
    source.privateKeyFile === undefined
      ? await developmentKey(join(source.dataDir, 'dev-jwt-ed25519.pem'), logger)
      : await readFile(source.privateKeyFile, 'utf8');
  const privateKey = createPrivateKey(pkcs8);
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new Error(
      `JWT signing key must be Ed25519, got ${privateKey.asymmetricKeyType ?? 'unknown'}`,
    );
  }
  const publicKey =
    source.publicKeyFile === undefined
      ? createPublicKey(privateKey)
      : createPublicKey(await readFile(source.publicKeyFile, 'utf8'));
  const spki = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  return { privateKey, publicKey, kid: keyId(spki) };
}

/** Reads the development key, generating and persisting one on first start. */
async function developmentKey(path: string, logger: Logger): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    const { privateKey } = generateKeyPairSync('ed25519');
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, pem, { mode: 0o600 });
    logger.warn(
      { path },
      'generated a development JWT signing key; set AUTH_JWT_PRIVATE_KEY_FILE in production',
    );
    return pem;
  }
}
