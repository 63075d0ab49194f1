import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomUUID,
} from 'node:crypto';
import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { SigningKeys, VerifyingKey } from '../../domain/auth/access-tokens.js';
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

/**
 * The public key alone, for a process that verifies tokens but issues none (ROLE=stream): from
 * `publicKeyFile` when set, so such a process need not be given the private key; otherwise
 * derived from the signing key as `loadSigningKeys` finds it (the development key included,
 * so processes sharing a DATA_DIR accept each other's tokens).
 */
export async function loadVerifyingKey(
  source: SigningKeySource,
  logger: Logger,
): Promise<VerifyingKey> {
  if (source.publicKeyFile === undefined) {
    const { publicKey, kid } = await loadSigningKeys(source, logger);
    return { publicKey, kid };
  }
  const publicKey = createPublicKey(await readFile(source.publicKeyFile, 'utf8'));
  if (publicKey.asymmetricKeyType !== 'ed25519') {
    throw new Error(
      `JWT public key must be Ed25519, got ${publicKey.asymmetricKeyType ?? 'unknown'}`,
    );
  }
  const spki = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  return { publicKey, kid: keyId(spki) };
}

/**
 * Reads the development key, generating and persisting one on first start. Processes that
 * start together on a fresh data directory (two pods, a test starting two servers) must end
 * up with one key, or each rejects the other's tokens: the key is written in full to a file of
 * its own and then linked into place, which fails if another process got there first; the
 * loser reads the winner's key.
 */
async function developmentKey(path: string, logger: Logger): Promise<string> {
  const existing = await readKey(path);
  if (existing !== undefined) return existing;
  const { privateKey } = generateKeyPairSync('ed25519');
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  await mkdir(dirname(path), { recursive: true });
  const draft = `${path}.${String(process.pid)}.${randomUUID()}`;
  await writeFile(draft, pem, { mode: 0o600, flag: 'wx' });
  try {
    await link(draft, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    const winner = await readKey(path);
    if (winner === undefined) throw error;
    return winner;
  } finally {
    await unlink(draft);
  }
  logger.warn(
    { path },
    'generated a development JWT signing key; set AUTH_JWT_PRIVATE_KEY_FILE in production',
  );
  return pem;
}

async function readKey(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
