/**
 * The test suite's fake Slack in a process of its own, so its work (recording calls,
 * checking Block Kit) does not share the app's event loop: real Slack is remote too.
 * Driven over IPC by fake-slack-process.ts.
 */
import { FakeSlack } from '../src/sandbox/fake-slack/fake-slack.ts';
import type { FakeSlackReply, FakeSlackRequest } from './fake-slack-process.ts';

const fake = await FakeSlack.start();
const send = (reply: FakeSlackReply) => process.send?.(reply);

process.on('message', (message: FakeSlackRequest) => {
  switch (message.type) {
    case 'response-urls':
      for (const { id, userId } of message.entries) fake.responseUrl(id, { userId, channel: 'C0GENERAL' });
      send({ type: 'registered', count: message.entries.length });
      return;
    case 'counts': {
      const calls: Record<string, number> = {};
      let callErrors = 0;
      for (const call of fake.calls) {
        calls[call.method] = (calls[call.method] ?? 0) + 1;
        if (call.error) callErrors += 1;
      }
      const responses: Record<string, number> = {};
      for (const response of fake.responses) responses[response.status] = (responses[response.status] ?? 0) + 1;
      send({ type: 'counts', calls, callErrors, responses });
      return;
    }
    case 'anchored': {
      let seq = 0;
      for (const post of fake.messagesIn(message.channel)) {
        const text = (post.metadata?.event_payload as { checkpoint?: unknown } | undefined)?.checkpoint;
        if (typeof text === 'string') seq = Math.max(seq, Number((JSON.parse(text) as { seq?: number }).seq ?? 0));
      }
      send({ type: 'anchored', seq });
      return;
    }
    case 'stop':
      void fake.stop().then(() => process.exit(0));
      return;
  }
});
// The parent died without saying stop: do not linger.
process.on('disconnect', () => void fake.stop().then(() => process.exit(0)));

send({ type: 'ready', origin: fake.origin, apiUrl: fake.apiUrl });
