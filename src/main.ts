import { ConfigError, loadConfig, slackMode } from './config/env.ts';
import { PolicyError } from './config/policy.ts';
import { createLogger } from './log.ts';
import { startGatehouse, type Gatehouse } from './runtime.ts';

/** `npm start`: the bot, its database and its sweeps, until SIGINT or SIGTERM. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
    slackMode(config);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const log = createLogger({ level: config.logLevel });

  // Signals are handled from the first moment, so a stop during start-up still closes the
  // pool and the embedded PostgreSQL this process started.
  let starting: Promise<Gatehouse> | null = null;
  let stopping: Promise<void> | null = null;
  let signals = 0;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      // A start still under way is let finish, then stopped: it may own the database.
      const gatehouse = await starting?.catch(() => null);
      await gatehouse?.stop();
    })();
    return stopping;
  };
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) {
      log.warn({ signal }, 'second signal: exiting at once');
      process.exit(1);
    }
    log.info({ signal }, 'shutting down');
    stop().then(
      () => log.info('stopped cleanly'),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exitCode = 1;
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let gatehouse: Gatehouse;
  try {
    starting = startGatehouse(config, log);
    gatehouse = await starting;
  } catch (err) {
    if (err instanceof PolicyError) {
      log.fatal(err.message);
    } else {
      log.fatal({ err }, `Gatehouse could not start: ${(err as Error).message}`);
    }
    process.exitCode = 1;
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    return;
  }
  if (signals > 0) return;
  log.info({ port: gatehouse.port }, 'health endpoints on /healthz and /readyz');
  if (!gatehouse.slack) {
    log.warn(
      'Slack is not configured yet: set SLACK_BOT_TOKEN (Slack app settings > OAuth & Permissions) and either ' +
        'SLACK_SIGNING_SECRET (Basic Information > App Credentials) for HTTP mode or SLACK_APP_TOKEN (Basic Information > App-Level Tokens) for Socket Mode. ' +
        'The database, the migrations, the sweeps and the audit log are running.',
    );
  }
}

await main();
