import type { WebClient } from '@slack/web-api';
import { sql } from 'kysely';
import { z } from 'zod';
import type { Grant, Provisioner } from '../access/ports.ts';
import { matching, strict } from '../config/policy-schema.ts';
import type { Db } from '../db/database.ts';
import { ProvisionerSetupError, type ProvisionerKind } from './kind.ts';

export interface UsergroupProvisionerConfig {
  kind: 'slack_usergroup';
  /** The user group's id (S…). */
  usergroup: string;
}

/**
 * `kind: slack_usergroup`: adds the holder to a Slack user group and removes them at the
 * end. Slack only replaces a group's whole member list (usergroups.users.update), so each
 * change reads the list, edits it and writes it back under a PostgreSQL advisory lock for
 * that group: two grants changing one group at once, from any replica or thread, never
 * drop each other's members. Membership is the person's, not the grant's (`shared`), so
 * while another grant of the same resource to them is live, an ending one leaves it.
 */
export function usergroupProvisioner(config: UsergroupProvisionerConfig, slack: WebClient, db: Db): Provisioner {
  const { usergroup } = config;
  const locked = <T>(work: () => Promise<T>): Promise<T> =>
    db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(hashtextextended(${`gatehouse:usergroup:${usergroup}`}, 0))`.execute(trx);
      return work();
    });
  const members = async (): Promise<string[]> => (await slack.usergroups.users.list({ usergroup })).users ?? [];
  const write = (users: string[]) => slack.usergroups.users.update({ usergroup, users: users.join(',') });

  return {
    shared: true,
    holders: members,
    async grant(grant: Grant) {
      await locked(async () => {
        const users = await members();
        if (!users.includes(grant.userId)) await write([...users, grant.userId]);
      });
      return { record: { usergroup } };
    },
    async revoke(grant: Grant) {
      await locked(async () => {
        const users = await members();
        if (!users.includes(grant.userId)) return;
        const rest = users.filter((user) => user !== grant.userId);
        if (rest.length === 0) {
          throw new Error(
            `${grant.userId} is the last member of user group ${usergroup}, and Slack does not allow an empty group: add a permanent member (an owner) to it`,
          );
        }
        await write(rest);
      });
    },
  };
}

const schema = strict(
  {
    kind: z.literal('slack_usergroup'),
    usergroup: matching(
      /^S[A-Z0-9]{2,}$/,
      'a Slack user group id',
      "use the group's id (S…, like S0123ABCDEF), not its @handle",
    ),
  },
  'a slack_usergroup provisioner',
  'kind slack_usergroup takes usergroup',
);

export const usergroupKind: ProvisionerKind<UsergroupProvisionerConfig> = {
  kind: 'slack_usergroup',
  schema,
  create(config, _env, deps) {
    if (!deps.slack || !deps.db) throw new ProvisionerSetupError('Slack is not configured (SLACK_BOT_TOKEN)');
    return usergroupProvisioner(config, deps.slack, deps.db);
  },
  /** It needs the Slack app, which start-up knows of before there is a client to build it with. */
  checkSetup(_config, _env, { slackConfigured }) {
    if (!slackConfigured) {
      throw new ProvisionerSetupError(
        'slack_usergroup changes a user group through the Slack app, which is not configured',
        'kind',
        'set SLACK_BOT_TOKEN, or use another kind',
      );
    }
  },
  shared: true,
  wouldDo: (config, grant) => ({ kind: 'slack_usergroup', usergroup: config.usergroup, user: grant.userId }),
};
