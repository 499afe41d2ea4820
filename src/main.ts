import { once } from 'node:events';
import { ConfigError, loadConfig } from './config/env.ts';
import { PolicyError } from './config/policy.ts';
import { createHealthServer } from './http/health.ts';
import { createLogger } from './log.ts';
import { startGatehouse } from './runtime.ts';

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

  let gatehouse;
  try {
    gatehouse = await startGatehouse(config, log);
  } catch (err) {
    if (err instanceof PolicyError) {
      log.fatal(err.message);
    } else {
      log.fatal({ err }, `Gatehouse could not start: ${(err as Error).message}`);
    }
    log.flush();
    process.exitCode = 1;
    return;
  }

  const server = createHealthServer(gatehouse.database.db);
  server.listen(config.port);
  await once(server, 'listening');
  log.info({ port: config.port }, 'health endpoints on /healthz and /readyz');

  const { botToken, signingSecret, appToken } = config.slack;
  if (!botToken || (!signingSecret && !appToken)) {
    log.warn(
      'Slack is not configured yet: set SLACK_BOT_TOKEN (Slack app settings > OAuth & Permissions) and either ' +
        'SLACK_SIGNING_SECRET (Basic Information > App Credentials) for HTTP mode or SLACK_APP_TOKEN (Basic Information > App-Level Tokens) for Socket Mode. ' +
        'The database, the migrations and the audit log are running.',
    );
  }

  let signals = 0;
  const shutdown = async (signal: string) => {
    signals += 1;
    if (signals > 1) {
      log.warn({ signal }, 'second signal: exiting at once');
      process.exit(1);
    }
    log.info({ signal }, 'shutting down');
    server.close();
    await gatehouse.stop();
    log.info('stopped cleanly');
    log.flush();
  };
  process.on('SIGINT', (signal) => void shutdown(signal));
  process.on('SIGTERM', (signal) => void shutdown(signal));
}

await main();
