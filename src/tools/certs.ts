/**
 * `npm run certs -- [--out DIR] [--days N]`: a development CA with server and client
 * certificates for localhost and 127.0.0.1, generated here (nothing downloaded) into DIR.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  DEV_FILES,
  generateDevCertificates,
  writeDevCertificates,
} from '../shared/tls/dev-certificates.js';

const { values } = parseArgs({
  options: {
    out: { type: 'string', default: 'certs' },
    days: { type: 'string', default: '30' },
  },
});
const days = Number(values.days);
if (!Number.isInteger(days) || days < 1 || days > 825) {
  throw new Error(`--days must be a whole number of days from 1 to 825, got ${values.days}`);
}
const dir = resolve(values.out);
const certs = await generateDevCertificates({ validDays: days });
await writeDevCertificates(dir, certs);
const files = Object.fromEntries(
  Object.entries(DEV_FILES).map(([name, file]) => [name, resolve(dir, file)]),
);
console.log(`development certificates for localhost and 127.0.0.1 written to ${dir}`);
console.log(JSON.stringify({ tool: 'certs', dir, days, files }));
