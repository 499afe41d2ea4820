import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { generateCheckpointKey } from '../audit/checkpoints/keys.ts';
import { ConfigError, type Config } from '../config/env.ts';
import type { Logger } from '../log.ts';
import { startGatehouse, type Gatehouse } from '../boot/gatehouse.ts';
import { SandboxClient, type CommandHint } from './client.ts';
import { FakeSlack } from './fake-slack/fake-slack.ts';
import { KeptMessages } from './kept-messages.ts';
import { BOT_USER_ID } from './fake-slack/protocol.ts';
import { mountPage } from './page-routes.ts';
import { provisioningNotice } from './provisioning-notice.ts';
import { SlackDriver } from './fake-slack/driver.ts';
import { sandboxWorkspace, type SandboxWorkspace } from './workspace.ts';

export const DEMO_POLICY_FILE = path.relative(
  process.cwd(),
  fileURLToPath(new URL('./demo-policy.yml', import.meta.url)),
);
const MANIFEST_FILE = fileURLToPath(new URL('../../manifest.yml', import.meta.url));

/** The bot token the app is given: the stand-in accepts any xoxb- token, and this one says what it is. */
const SANDBOX_BOT_TOKEN = 'xoxb-sandbox-local-only';

/** A running sandbox: the real Gatehouse, and the local Slack stand-in it talks to. */
export interface Sandbox {
  gatehouse: Gatehouse;
  fake: FakeSlack;
  workspace: SandboxWorkspace;
  /** The page to open in a browser. */
  url: string;
  /** The app's HTTP port (Slack's requests, /healthz, /readyz). */
  port: number;
  stop(): Promise<void>;
}

/**
 * The sandbox lets whoever can reach its page act as anyone in the policy, without logging
 * in: never in production, whatever started it (`npm run sandbox`, `--sandbox`).
 */
export function refuseSandboxInProduction(config: Config): void {
  if (config.nodeEnv !== 'production') return;
  throw new ConfigError(
    'The local Slack sandbox does not run with NODE_ENV=production: its page lets anyone who can reach this machine act as any person in the policy, without logging in. ' +
      'In production, run `npm start` without --sandbox, with the Slack settings (README.md, "Slack"). ' +
      'To try Gatehouse, run `npm run sandbox` with NODE_ENV unset (or development), on a database and a policy of its own.',
  );
}

/**
 * The whole product without a Slack workspace: the stand-in listens on loopback, the app
 * starts as in HTTP mode with its Web API pointed there and a signing secret made up for
 * this run, and the page sends what people do to the app signed as Slack signs it.
 * Provisioning is a dry run unless GATEHOUSE_SANDBOX_PROVISION=real asks for the real one.
 */
export async function startSandbox(config: Config, log: Logger): Promise<Sandbox> {
  refuseSandboxInProduction(config);
  const policyFile = await sandboxPolicyFile(config, log);
  // The sandbox's records stay apart from those of a real deployment on this machine.
  const dataDir = path.join(config.dataDir, 'sandbox');
  const embedded = config.databaseUrl === undefined;
  const fake = await startStandIn(config);
  let kept: KeptMessages | null = null;
  try {
    // With the embedded database, the channels and the keys the sandbox makes live beside
    // it and survive restarts with it; a database of your own keeps only what it holds.
    let checkpoint = config.checkpoint;
    let secretsKey = config.secretsKey;
    if (embedded) {
      await fs.mkdir(dataDir, { recursive: true, mode: 0o755 });
      kept = await KeptMessages.open(fake, path.join(dataDir, 'slack-messages.json'), log);
      if (!checkpoint.privateKey && !checkpoint.privateKeyFile) {
        const keyFile = path.join(dataDir, 'checkpoint-key.pem');
        await keepSecret(keyFile, () => generateCheckpointKey().pem);
        checkpoint = { ...checkpoint, privateKeyFile: keyFile };
      }
      secretsKey ??= await keepSecret(path.join(dataDir, 'secrets-key'), () => randomBytes(32).toString('hex'));
    }
    // Read before the app starts, so nothing after its start can fail and leave it running.
    const policyText = await fs.readFile(policyFile, 'utf8');
    const commands = await manifestCommands();
    const signingSecret = randomBytes(32).toString('hex');
    const gatehouse = await startGatehouse(
      {
        ...config,
        policyFile,
        policyFileExplicit: true,
        dataDir,
        checkpoint,
        secretsKey,
        provisioning: config.sandboxProvision,
        slack: { botToken: SANDBOX_BOT_TOKEN, signingSecret, appToken: undefined, apiUrl: fake.apiUrl },
      },
      log,
    );
    const workspace = sandboxWorkspace(gatehouse.policy.policy, policyText);
    const provisioning = provisioningNotice(gatehouse.policy.policy, config.sandboxProvision);
    if (provisioning.mode === 'real') log.warn({ provisioning: provisioning.mode }, provisioning.text);
    else log.info({ provisioning: provisioning.mode }, provisioning.text);
    fake.setUser(BOT_USER_ID, { name: 'gatehouse', real_name: 'Gatehouse' });
    for (const person of workspace.people)
      fake.setUser(person.id, {
        real_name: person.name,
        name: person.name.split(/[\s,]/)[0]?.toLowerCase() ?? person.id,
      });
    const driver = new SlackDriver({ url: `http://127.0.0.1:${gatehouse.port}/slack/events`, signingSecret, fake });
    const page = mountPage({
      fake,
      client: new SandboxClient(fake, driver, commands),
      workspace,
      commands,
      provisioning,
      log: log.child({ component: 'sandbox' }),
    });
    const keptMessages = kept;
    return {
      gatehouse,
      fake,
      workspace,
      url: `${fake.origin}/`,
      port: gatehouse.port,
      async stop() {
        // The app first: its last outbox deliveries and checkpoint still reach the stand-in.
        await gatehouse.stop();
        await page.close();
        await keptMessages?.close();
        await fake.stop();
      },
    };
  } catch (err) {
    await kept?.close();
    await fake.stop();
    throw err;
  }
}

/**
 * A key made on the sandbox's first start and read on later ones: the checkpoint signing
 * key (so its audit channel shows signed checkpoints) and GATEHOUSE_SECRETS_KEY (so MFA
 * can be tried). Readable by this user only.
 */
async function keepSecret(file: string, make: () => string): Promise<string> {
  try {
    await fs.writeFile(file, make(), { flag: 'wx', mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  return (await fs.readFile(file, 'utf8')).trim();
}

async function startStandIn(config: Config): Promise<FakeSlack> {
  try {
    return await FakeSlack.start({ port: config.sandboxPort });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new Error(
        `GATEHOUSE_SANDBOX_PORT ${config.sandboxPort} is already in use: set GATEHOUSE_SANDBOX_PORT to a free port (0 picks one).`,
      );
    }
    throw err;
  }
}

/** GATEHOUSE_POLICY, or gatehouse.yml if it exists; otherwise the demo policy, which is said. */
async function sandboxPolicyFile(config: Config, log: Logger): Promise<string> {
  if (config.policyFileExplicit) return config.policyFile;
  try {
    await fs.access(config.policyFile);
    return config.policyFile;
  } catch {
    log.info(
      `No ${config.policyFile}: the sandbox runs on its demo policy (${DEMO_POLICY_FILE}): three resources, two contractors, two database owners and an auditor.`,
    );
    return DEMO_POLICY_FILE;
  }
}

interface Manifest {
  features?: { slash_commands?: { command: string; description: string; usage_hint?: string }[] };
}

/** The slash commands the app declares, with their usage hints, for the composer. */
async function manifestCommands(): Promise<CommandHint[]> {
  const manifest = parse(await fs.readFile(MANIFEST_FILE, 'utf8')) as Manifest;
  return (manifest.features?.slash_commands ?? []).map((c) => ({
    command: c.command,
    description: c.description,
    ...(c.usage_hint ? { usageHint: c.usage_hint } : {}),
  }));
}
