import { useEffect, useState } from 'react';
import { useConnectionState } from '../ConnectionContext.js';
import { Sparkline } from './Sparkline.js';

const STATUS_TEXT = {
  idle: 'Not connected',
  connecting: 'Connecting…',
  connected: 'Connected',
  reconnecting: 'Reconnecting',
  offline: 'Offline: waiting for the network',
} as const;

/** Transport, quality, RTT, reconnects, pod and migrations: the resilience, visible. */
export function ConnectionPanel() {
  const state = useConnectionState();
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (state.nextRetryAt === undefined) return;
    const timer = setInterval(() => {
      setNow(Date.now());
    }, 250);
    return () => {
      clearInterval(timer);
    };
  }, [state.nextRetryAt]);
  const rtt = state.rttMs.at(-1);
  const quality = state.status === 'connected' ? (state.serverQuality ?? state.quality) : 'offline';
  const countdown =
    state.nextRetryAt === undefined ? undefined : Math.max(0, state.nextRetryAt - now);
  return (
    <section
      className="panel connection"
      aria-labelledby="connection-title"
      data-testid="connection-panel"
    >
      <h2 id="connection-title">Connection</h2>
      <p
        className={`status status-${state.status}`}
        role="status"
        aria-live="polite"
        data-status={state.status}
      >
        <span className="dot" aria-hidden="true" /> {STATUS_TEXT[state.status]}
        {countdown === undefined ? null : ` in ${(countdown / 1000).toFixed(1)} s`}
      </p>
      <dl>
        <dt>Transport</dt>
        <dd data-testid="transport">{state.transport === 'grpc-web' ? 'gRPC-Web' : 'WebSocket'}</dd>
        <dt>Quality</dt>
        <dd data-testid="quality" className={`quality-${quality}`}>
          {state.serverQuality !== undefined
            ? `${quality} (server)`
            : state.rttMs.length > 0
              ? `${quality} (client view)`
              : 'not measured yet'}
        </dd>
        {state.serverRttMs === undefined ? null : (
          <>
            <dt>Server's view</dt>
            <dd data-testid="server-view">
              RTT {state.serverRttMs} ms · jitter {state.serverJitterMs ?? 0} ms · missed{' '}
              {state.missedHeartbeats}
            </dd>
          </>
        )}
        <dt>Round trip</dt>
        <dd>
          {rtt === undefined ? 'no heartbeat yet' : `${rtt} ms`}
          {state.rttMs.length > 1 ? (
            <Sparkline values={state.rttMs} label="round trip times, most recent last" />
          ) : null}
        </dd>
        <dt>Reconnects</dt>
        <dd data-testid="reconnects">
          {state.reconnects}
          {state.lastReconnectReason === undefined ? '' : ` (last: ${state.lastReconnectReason})`}
        </dd>
        <dt>Pod</dt>
        <dd data-testid="pod">{state.pod ?? '—'}</dd>
        <dt>Migrations</dt>
        <dd data-testid="migrations">{state.migrations}</dd>
        <dt>
          <abbr title="snapshots received where the client asked to resume (recovered=false)">
            Unrecovered
          </abbr>
        </dt>
        <dd data-testid="unrecovered">{state.unrecovered}</dd>
        <dt>Gaps / bad checksums</dt>
        <dd data-testid="resyncs">
          {state.gaps} / {state.checksumMismatches}
        </dd>
        {state.lastError === undefined ? null : (
          <>
            <dt>Last error</dt>
            <dd className="error-text">{state.lastError}</dd>
          </>
        )}
      </dl>
    </section>
  );
}
