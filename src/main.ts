// First: V8 settings apply to what is allocated after them.
import './lifecycle/v8-tuning.js';
import { ConfigError, loadConfig, type Config } from './config/index.js';
import { startApp } from './app.js';
import { trackUnhandledRejections } from './lifecycle/shutdown.js';
import { createLogger, createMetricsRegistry } from './telemetry/index.js';

/** Exit code for a configuration error (EX_CONFIG from sysexits.h). */
const EXIT_CONFIG = 78;

/** Signals closer together than this are one signal delivered twice. */
const REPEATED_SIGNAL_MS = 1_000;

function configOrExit(): Config {
  try {
    return loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${error.message}\n`);
    process.exit(EXIT_CONFIG);
  }
}

const config = configOrExit();
const logger = createLogger({
  level: config.logLevel,
  base: {
    service: config.serviceName,
    role: config.role,
    pod: config.podName,
    version: config.version,
  },
});
const registry = createMetricsRegistry({ version: config.version, role: config.role });
trackUnhandledRejections(logger, registry);

// Signals are handled from the first moment: 'app started' is logged inside startApp, and a
// signal between that line and handlers installed after it would kill the process undrained.
const starting = startApp(config, { logger, registry });
let firstSignalAt: number | undefined;
const onSignal = (signal: NodeJS.Signals) => {
  const now = performance.now();
  if (firstSignalAt !== undefined) {
    // One Ctrl-C arrives twice: the terminal signals the whole process group and `npm start`
    // forwards its own copy. Only a later signal is a person asking to exit at once.
    if (now - firstSignalAt < REPEATED_SIGNAL_MS) return;
    logger.warn({ signal }, 'second signal: exiting now');
    process.exit(1);
  }
  firstSignalAt = now;
  // A failed start is logged and exits below; a signal during start-up drains once it is up.
  void starting.then(
    (app) => app.shutdown.run(signal).then((code) => process.exit(code)),
    () => undefined,
  );
};
process.on('SIGTERM', onSignal);
process.on('SIGINT', onSignal);

try {
  const app = await starting;
  process.on('uncaughtException', (error) => {
    // State may be corrupt: stop taking traffic and leave, but let in-flight work finish.
    logger.fatal({ err: error }, 'uncaught exception');
    void app.shutdown.run('uncaughtException').then(() => process.exit(1));
  });
} catch (error) {
  logger.fatal({ err: error }, 'start-up failed');
  process.exit(1);
}
