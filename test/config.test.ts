import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, slackMode } from '../src/config/env.ts';

const mode = (env: Record<string, string>) => slackMode(loadConfig(env));

describe('the environment', () => {
  it('has working defaults', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      dataDir: '.data',
      policyFile: 'gatehouse.yml',
      policyFileExplicit: false,
      port: 3000,
      sweepIntervalSeconds: 1,
      migrateOnStart: true,
    });
  });

  it('names every bad variable without echoing its value', () => {
    let error: unknown;
    try {
      loadConfig({ PORT: 'abc', DATABASE_URL: 'mysql://secret@db', SLACK_BOT_TOKEN: 'xoxp-user-token-secret' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toMatch(/PORT: /);
    expect(message).toMatch(/DATABASE_URL: must be a postgres:\/\/ connection string/);
    expect(message).toMatch(/SLACK_BOT_TOKEN: must be a bot token/);
    expect(message).not.toContain('secret');
  });

  it('picks HTTP mode or Socket Mode from the Slack settings', () => {
    expect(mode({})).toEqual({ kind: 'none' });
    expect(mode({ SLACK_BOT_TOKEN: 'xoxb-1', SLACK_SIGNING_SECRET: 's' })).toMatchObject({ kind: 'http' });
    expect(mode({ SLACK_BOT_TOKEN: 'xoxb-1', SLACK_APP_TOKEN: 'xapp-1' })).toMatchObject({ kind: 'socket' });
  });

  it('refuses half or contradictory Slack settings, saying what to set and where', () => {
    expect(() => mode({ SLACK_BOT_TOKEN: 'xoxb-1' })).toThrow(
      /set SLACK_SIGNING_SECRET \(Basic Information > App Credentials/,
    );
    expect(() => mode({ SLACK_SIGNING_SECRET: 's' })).toThrow(
      /also set SLACK_BOT_TOKEN \(Slack app settings > OAuth & Permissions/,
    );
    expect(() => mode({ SLACK_BOT_TOKEN: 'xoxb-1', SLACK_SIGNING_SECRET: 's', SLACK_APP_TOKEN: 'xapp-1' })).toThrow(
      /not both/,
    );
    expect(() => mode({ NODE_ENV: 'production' })).toThrow(/Slack is not configured/);
  });

  it("runs the sandbox's provisioners as a dry run unless GATEHOUSE_SANDBOX_PROVISION=real says otherwise", () => {
    expect(loadConfig({})).toMatchObject({ sandboxProvision: 'dry_run', provisioning: 'real' });
    expect(loadConfig({ GATEHOUSE_SANDBOX_PROVISION: 'real' })).toMatchObject({ sandboxProvision: 'real' });
    expect(() => loadConfig({ GATEHOUSE_SANDBOX_PROVISION: 'yes' })).toThrow(
      /GATEHOUSE_SANDBOX_PROVISION: must be dry_run .* or real/,
    );
  });
});
