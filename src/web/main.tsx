import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import {
  connectTransport,
  EnhancedConnectionManager,
  grpcWebTransport,
  websocketTransport,
  websocketUrl,
} from '../client/index.js';
import { App } from './App.js';
import { ConnectionProvider } from './ConnectionContext.js';
import './styles.css';

const manager = new EnhancedConnectionManager({
  // The page is served by the platform's HTTP port, which also serves gRPC-Web and /ws.
  // gRPC-Web first; /ws when a proxy keeps gRPC-Web from working (remembered for the tab).
  transports: [
    grpcWebTransport(window.location.origin),
    websocketTransport(websocketUrl(window.location.origin)),
  ],
  unary: connectTransport(window.location.origin),
  symbols: ['BTC-USD'],
  streams: ['book', 'trades', 'ticker'],
});

const root = document.getElementById('root');
if (root === null) throw new Error('index.html has no #root');
createRoot(root).render(
  <StrictMode>
    <ConnectionProvider manager={manager}>
      <App />
    </ConnectionProvider>
  </StrictMode>,
);
