/**
 * The fake Slack of the alerts benchmark, in a process of its own (as fake-slack-child.ts),
 * telling the parent the moment each message reaches the alert channel, by its ts: the
 * end of "event committed → alert posted".
 */
import { FakeSlack } from '../src/sandbox/fake-slack/fake-slack.ts';

export type FromSlackChild =
  | { type: 'ready'; apiUrl: string }
  | { type: 'posted'; channel: string; ts: string; at: number }
  | { type: 'calls'; calls: Record<string, number>; errors: number };
export type ToSlackChild = { type: 'calls' } | { type: 'stop' };

const [channel] = process.argv.slice(2);
if (!channel) throw new Error('usage: alerts-slack-child <alert channel>');
const fake = await FakeSlack.start();
const send = (message: FromSlackChild) => process.send?.(message);
const now = () => performance.timeOrigin + performance.now();

let seen = 0;
// Called as each Web API call is recorded, after its message is stored and before it is answered.
fake.onChange(() => {
  const messages = fake.messagesIn(channel);
  if (messages.length <= seen) return;
  const at = now();
  for (const message of messages.slice(seen)) send({ type: 'posted', channel, ts: message.ts, at });
  seen = messages.length;
});

process.on('message', (message: ToSlackChild) => {
  if (message.type === 'calls') {
    const calls: Record<string, number> = {};
    let errors = 0;
    for (const call of fake.calls) {
      calls[call.method] = (calls[call.method] ?? 0) + 1;
      if (call.error) errors += 1;
    }
    send({ type: 'calls', calls, errors });
  } else void fake.stop().then(() => process.exit(0));
});
process.on('disconnect', () => void fake.stop().then(() => process.exit(0)));

send({ type: 'ready', apiUrl: fake.apiUrl });
