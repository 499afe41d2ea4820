import { once } from 'node:events';
import type http from 'node:http';
import { ConfigError, loadConfig } from './config/env.ts';
import { PolicyError } from './config/policy.ts';
import { createHealthServer } from './http/health.ts';
import { createLogger } from './log.ts';
import { startGatehouse, type Gatehouse } from './runtime.ts';

/** `npm start`: the bot, its database and its sweeps, until SIGINT or SIGTERM. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
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
  let server: http.Server | null = null;
  let stopping: Promise<void> | null = null;
  let signals = 0;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      server?.close();
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

  try {
    starting = startGatehouse(config, log);
    const gatehouse = await starting;
    if (signals > 0) return;
    server = createHealthServer(gatehouse.database.db);
    await listen(server, config.port);
  } catch (err) {
    if (err instanceof PolicyError) {
      log.fatal(err.message);
    } else {
      log.fatal({ err }, `Gatehouse could not start: ${(err as Error).message}`);
    }
    process.exitCode = 1;
    await stop().catch((stopErr: unknown) => log.error({ err: stopErr }, 'cleanup after a failed start failed'));
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    return;
  }
  log.info({ port: config.port }, 'health endpoints on /healthz and /readyz');

  const { botToken, signingSecret, appToken } = config.slack;
  if (!botToken || (!signingSecret && !appToken)) {
    log.warn(
      'Slack is not configured yet: set SLACK_BOT_TOKEN (Slack app settings > OAuth & Permissions) and either ' +
        'SLACK_SIGNING_SECRET (Basic Information > App Credentials) for HTTP mode or SLACK_APP_TOKEN (Basic Information > App-Level Tokens) for Socket Mode. ' +
        'The database, the migrations and the audit log are running.',
    );
  }
}

async function listen(server: http.Server, port: number): Promise<void> {
  try {
    server.listen(port);
    await once(server, 'listening');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new Error(`PORT ${port} is already in use: set PORT to a free port.`);
    if (code === 'EACCES') throw new Error(`PORT ${port} needs privileges this process lacks: set PORT above 1023.`);
    throw err;
  }
}

await main();
