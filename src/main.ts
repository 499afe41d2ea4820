import { ConfigError, loadConfig, slackMode } from './config/env.ts';
import { PolicyError } from './config/policy.ts';
import { createLogger } from './log.ts';
import { startGatehouse } from './boot/gatehouse.ts';
import { refuseSandboxInProduction, startSandbox } from './sandbox/sandbox.ts';

/** What main starts and stops: Gatehouse, or Gatehouse inside the local Slack sandbox. */
interface Running {
  port: number;
  /** The sandbox's page, when running in the sandbox. */
  url?: string;
  stop(): Promise<void>;
}

/**
 * `npm start`: the bot, its database and its sweeps, until SIGINT or SIGTERM. With no Slack
 * credentials or with `--sandbox` (`npm run sandbox`), inside the local Slack sandbox;
 * never in production, where either stops the start with what to do instead.
 */
async function main(): Promise<void> {
  let config;
  let sandbox = process.argv.includes('--sandbox');
  try {
    config = loadConfig();
    if (!sandbox) sandbox = slackMode(config).kind === 'none';
    if (sandbox) refuseSandboxInProduction(config);
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
  let starting: Promise<Running> | null = null;
  let stopping: Promise<void> | null = null;
  let signals = 0;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      // A start still under way is let finish, then stopped: it may own the database.
      const started = await starting?.catch(() => null);
      await started?.stop();
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

  let running: Running;
  try {
    if (sandbox && (config.slack.botToken || config.slack.appToken))
      log.warn(
        '--sandbox: the Slack settings in the environment are ignored; the app talks to the local stand-in only.',
      );
    starting = sandbox ? startSandbox(config, log) : startGatehouse(config, log);
    running = await starting;
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
  log.info({ port: running.port }, 'health endpoints on /healthz and /readyz');
  if (running.url) {
    log.info(
      { url: running.url },
      `Slack sandbox: open ${running.url} in a browser. No Slack workspace is involved: a local stand-in plays Slack. ` +
        'To connect to real Slack, set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET or SLACK_APP_TOKEN (README.md, "Slack").',
    );
  }
}

await main();
