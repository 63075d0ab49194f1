// The baseline for bench:http: Fastify with nothing but the route under test.
import { fastify } from 'fastify';

const app = fastify({ logger: false });
app.get('/healthz', () => ({ status: 'ok' }));
await app.listen({ host: '127.0.0.1', port: Number(process.argv[2]) });
process.stdout.write('listening\n');
