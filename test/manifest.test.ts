import fs from 'node:fs/promises';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';

interface Manifest {
  display_information: { name: string; description?: string };
  features: {
    app_home: { home_tab_enabled: boolean };
    bot_user: { display_name: string };
    slash_commands: { command: string; description: string; usage_hint?: string }[];
  };
  oauth_config: { scopes: { bot: string[] } };
  settings: {
    event_subscriptions: { bot_events: string[] };
    interactivity: { is_enabled: boolean };
    socket_mode_enabled: boolean;
  };
}

/** manifest.yml creates the app in one paste: it must match what the code listens for. */
describe('manifest.yml', () => {
  it('declares exactly the commands, events and least scopes the bot uses, within Slack limits', async () => {
    const manifest = parse(await fs.readFile('manifest.yml', 'utf8')) as Manifest;
    const commands = manifest.features.slash_commands;
    expect(commands.map((c) => c.command).sort()).toEqual(['/access', '/request-access', '/verify-audit']);
    for (const command of commands) {
      expect(command.description.length).toBeGreaterThan(0);
      expect(command.description.length).toBeLessThanOrEqual(2000);
      expect(command.command.length).toBeLessThanOrEqual(32);
    }
    expect(manifest.display_information.name.length).toBeLessThanOrEqual(35);
    expect(manifest.display_information.description?.length ?? 0).toBeLessThanOrEqual(140);
    expect(manifest.features.app_home.home_tab_enabled).toBe(true);
    expect(manifest.settings.event_subscriptions.bot_events).toEqual(['app_home_opened']);
    expect(manifest.settings.interactivity.is_enabled).toBe(true);
    expect(manifest.oauth_config.scopes.bot.sort()).toEqual([
      'channels:history',
      'chat:write',
      'commands',
      'files:write',
      'groups:history',
      'im:write',
      'usergroups:read',
      'usergroups:write',
      'users:read',
    ]);
  });
});
