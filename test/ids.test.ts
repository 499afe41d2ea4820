import { describe, expect, it } from 'vitest';
import {
  asGrantId,
  asRequestId,
  asSlackUserId,
  newGrantId,
  newRequestId,
  type GrantId,
  type RequestId,
  type SlackUserId,
} from '../src/access/ids.ts';

describe('ids typed by kind', () => {
  it('are the plain strings they were, minted readable and unguessable', () => {
    expect(newRequestId()).toMatch(/^req_[0-9a-hjkmnp-tv-z]{12}$/);
    expect(newGrantId()).toMatch(/^grt_[0-9a-hjkmnp-tv-z]{12}$/);
    expect([asRequestId('req_1'), asGrantId('grt_1'), asSlackUserId('U0ANA0001')]).toEqual([
      'req_1',
      'grt_1',
      'U0ANA0001',
    ]);
  });

  it('never pass for another kind (npm run typecheck holds these lines to it)', () => {
    const request = asRequestId('req_1');
    const grant = asGrantId('grt_1');
    const person = asSlackUserId('U0ANA0001');
    // @ts-expect-error a grant's id is not a request's
    const asRequest: RequestId = grant;
    // @ts-expect-error a request's id is not a grant's
    const asGrant: GrantId = request;
    // @ts-expect-error a request's id is not a person's
    const asPerson: SlackUserId = request;
    // @ts-expect-error a person is not a request
    const personAsRequest: RequestId = person;
    expect([asRequest, asGrant, asPerson, personAsRequest]).toEqual(['grt_1', 'req_1', 'req_1', 'U0ANA0001']);
  });
});
