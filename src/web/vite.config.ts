import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

/**
 * The web app, built into dist/web (WEB_ASSETS_DIR) by `npm run build`; Fastify serves it at
 * `/` on the HTTP port, where the gRPC-Web routes and /ws are too, so it needs no CORS.
 */
export default defineConfig({
  root: import.meta.dirname,
  base: '/',
  plugins: [react()],
  build: {
    outDir: '../../dist/web',
    emptyOutDir: true,
    sourcemap: true,
  },
});
