import {
  BOT_ID,
  BOT_USER_ID,
  TEAM_DOMAIN,
  TEAM_ID,
  fail,
  isUserId,
  missing,
  ok,
  str,
  type Answer,
  type Args,
  type MethodHandler,
} from './protocol.ts';

export interface SlackUser {
  id: string;
  team_id: string;
  name: string;
  real_name: string;
  tz: string;
  tz_offset: number;
  is_bot: boolean;
  deleted: boolean;
  profile: { display_name: string; real_name: string };
}

export interface UserOverrides {
  name?: string;
  real_name?: string;
  display_name?: string;
  tz?: string;
  deleted?: boolean;
}

/** People and user groups: auth.test, users.info, usergroups.users.*. */
export class Directory {
  private readonly users = new Map<string, UserOverrides>();
  private readonly usergroups = new Map<string, string[]>();

  readonly handlers: Record<string, MethodHandler> = {
    'auth.test': () =>
      ok({
        url: `https://${TEAM_DOMAIN}.slack.com/`,
        team: 'Gatehouse Test',
        user: 'gatehouse',
        team_id: TEAM_ID,
        user_id: BOT_USER_ID,
        bot_id: BOT_ID,
        is_enterprise_install: false,
      }),
    'users.info': (args) => this.userInfo(args),
    'usergroups.users.list': (args) => this.listGroup(args),
    'usergroups.users.update': (args) => this.updateGroup(args),
  };

  /**
   * Any well-formed user id is a member, named after its id (`U0ALICE01` → `u0alice01`),
   * so tests need no setup; `setUser` changes what Slack says about someone.
   */
  user(id: string): SlackUser {
    const overrides = this.users.get(id) ?? {};
    const name = overrides.name ?? id.toLowerCase();
    const realName = overrides.real_name ?? name;
    return {
      id,
      team_id: TEAM_ID,
      name,
      real_name: realName,
      tz: overrides.tz ?? 'UTC',
      tz_offset: 0,
      is_bot: id === BOT_USER_ID,
      deleted: overrides.deleted ?? false,
      profile: { display_name: overrides.display_name ?? name, real_name: realName },
    };
  }

  setUser(id: string, overrides: UserOverrides): void {
    this.users.set(id, { ...this.users.get(id), ...overrides });
  }

  /** User groups exist only once a test creates them, as an admin would in Slack. */
  setUsergroup(id: string, userIds: string[]): void {
    this.usergroups.set(id, [...userIds]);
  }

  usergroupMembers(id: string): string[] | undefined {
    const members = this.usergroups.get(id);
    return members && [...members];
  }

  private userInfo(args: Args): Answer {
    const id = str(args.user);
    if (!id) return missing('user');
    return isUserId(id) ? ok({ user: this.user(id) }) : fail('user_not_found');
  }

  private listGroup(args: Args): Answer {
    const id = str(args.usergroup);
    if (!id) return missing('usergroup');
    const members = this.usergroups.get(id);
    return members ? ok({ users: [...members] }) : fail('no_such_subteam');
  }

  private updateGroup(args: Args): Answer {
    const id = str(args.usergroup);
    if (!id) return missing('usergroup');
    if (!this.usergroups.has(id)) return fail('no_such_subteam');
    const users = (str(args.users) ?? '')
      .split(',')
      .map((u) => u.trim())
      .filter(Boolean);
    if (users.length === 0)
      return fail('invalid_users', ['a user group needs at least one member; disable it instead']);
    this.usergroups.set(id, users);
    return ok({ usergroup: { id, team_id: TEAM_ID, users, user_count: users.length } });
  }
}
