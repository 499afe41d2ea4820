import { describe, expect, it } from 'vitest';
import { createLogger, describeDatabaseUrl } from '../src/log.ts';
import { boltLogger } from '../src/slack/logger.ts';
import { captureLog } from './support/log-capture.ts';

describe('logging', () => {
  it('redacts secrets wherever they sit in a log object, and keeps error codes', () => {
    const { stream, lines } = captureLog();
    const log = createLogger({ destination: stream });
    log.info(
      {
        password: 'pw-1',
        slack: { botToken: 'xoxb-2', signingSecret: 'sig-3' },
        err: { code: '23505', config: { totpCode: '123456' } },
      },
      'something happened',
    );
    const [line] = lines();
    const text = JSON.stringify(line);
    for (const secret of ['pw-1', 'xoxb-2', 'sig-3', '123456']) expect(text).not.toContain(secret);
    expect(line).toMatchObject({ password: '[redacted]', slack: { botToken: '[redacted]' }, err: { code: '23505' } });
  });

  it('shows a connection string without its password', () => {
    expect(describeDatabaseUrl('postgres://app:s3cret@db.example:5432/gatehouse')).toBe(
      'postgres://app:***@db.example:5432/gatehouse',
    );
  });

  it('keeps Slack request and response bodies out of debug lines, where DMs carry passwords and MFA keys', () => {
    const { stream, lines } = captureLog();
    const bolt = boltLogger(createLogger({ destination: stream, level: 'debug' }));
    bolt.debug('http request body: {"channel":"D1","text":"password hunter2-secret"}');
    bolt.debug(
      'http request result: {"ok":true,"message":{"text":"otpauth://totp/x?secret=JBSWY3DPEHPK3PXPJBSWY3DP"}}',
    );
    bolt.debug('http request url: https://slack.com/api/chat.postMessage');
    const text = JSON.stringify(lines());
    expect(text).not.toContain('hunter2-secret');
    expect(text).not.toContain('JBSWY3DPEHPK3PXPJBSWY3DP');
    expect(lines().map((line) => line['msg'])).toEqual([
      'http request body: [not logged: Slack payloads can hold credentials]',
      'http request result: [not logged: Slack payloads can hold credentials]',
      'http request url: https://slack.com/api/chat.postMessage',
    ]);
  });
});
