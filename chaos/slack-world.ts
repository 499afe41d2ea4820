/**
 * Slack and its people for the chaos run, in a process of their own (as Slack is remote):
 * the fake Slack, a front on its Web API that fails every call for a while when told to
 * (through the fake's own failNext: 429 with Retry-After and 500, in turn), the people's
 * MFA enrolment through `/access mfa`, and the load. Driven over IPC by chaos/run.ts.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { generate } from 'otplib';
import { FakeSlack } from '../src/sandbox/fake-slack/fake-slack.ts';
import { ACTION, MFA_MODAL } from '../src/slack/blocks/ids.ts';
import { postedSeqs } from '../test/support/slack-stories.ts';
import { People, sleep } from './people.ts';
import type { WorldReply, WorldRequest, WorldSettings } from './slack-protocol.ts';
import { Stories } from './stories.ts';

const settings = JSON.parse(process.env.CHAOS_WORLD ?? '{}') as WorldSettings;
const fake = await FakeSlack.start();
const send = (reply: WorldReply) => process.send?.(reply);

// The Web API front: while a fault lasts, each call is failed by the fake itself (failNext), 429 and 500 in turn.
let faultUntil = 0;
let faulted = 0;
const injected: Record<string, number> = {};
const proxy = http.createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    const method = decodeURIComponent((request.url ?? '').replace(/^\/api\//, '').split('?')[0] ?? '');
    if (Date.now() < faultUntil && request.url?.startsWith('/api/')) {
      faulted += 1;
      const failure = faulted % 2 === 0 ? ({ status: 429, retryAfter: 2 } as const) : ({ status: 500 } as const);
      injected[String(failure.status)] = (injected[String(failure.status)] ?? 0) + 1;
      fake.failNext(method, failure);
    }
    const out = http.request(
      `${fake.origin}${request.url ?? '/'}`,
      { method: request.method, headers: request.headers },
      (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      },
    );
    out.on('error', () => {
      response.writeHead(502);
      response.end();
    });
    out.end(Buffer.concat(chunks));
  });
});
proxy.listen(0, '127.0.0.1');
await new Promise<void>((resolve) => proxy.once('listening', resolve));
const apiUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/api/`;

// When each feed post reached the channel (wall clock), by seq: a seq shown twice is reported with both times.
const postedAt = new Map<number, number[]>();
let seenCalls = 0;
fake.onChange(() => {
  for (; seenCalls < fake.calls.length; seenCalls++) {
    const call = fake.calls[seenCalls]!;
    if (call.method !== 'chat.postMessage' || call.failed || call.error !== null) continue;
    if (call.args.channel !== settings.auditChannel) continue;
    const payload = (call.args.metadata as { event_payload?: { first_seq?: number; last_seq?: number } } | undefined)
      ?.event_payload;
    if (typeof payload?.first_seq !== 'number' || typeof payload.last_seq !== 'number') continue;
    for (let seq = payload.first_seq; seq <= payload.last_seq; seq++)
      postedAt.set(seq, [...(postedAt.get(seq) ?? []), Date.now()]);
  }
});

const people = new People(fake, settings.frontUrl, settings.signingSecret);
const stories = new Stories(people, settings);

/** `/access mfa`, the QR code's secret from the DM, Enter a code, a current code: MFA on. */
async function enrol(userId: string): Promise<void> {
  const reply = await people.command(userId, '/access', 'mfa');
  if (reply.outcome !== '200') throw new Error(`/access mfa for ${userId}: ${reply.outcome}`);
  const posted = await people.waitForCall(
    'chat.postMessage',
    (c) => c.args.channel === `D${userId}` && /Setting up MFA/.test(String(c.args.text)),
    60_000,
  );
  const secret = posted && /secret=([A-Z2-7]+)/.exec(JSON.stringify(posted.args.blocks))?.[1];
  if (!secret) throw new Error(`no enrolment message with a secret for ${userId}`);
  const message = fake.dmsTo(userId).find((m) => m.text.includes('Setting up MFA'));
  if (!message) throw new Error(`the enrolment message for ${userId} is not in their DMs`);
  const clicked = await people.click({
    userId,
    actionId: ACTION.mfaConfirm,
    message: { channel: message.channel, ts: message.ts },
  });
  const form = await people.waitForForm(userId, clicked.triggerId, 30_000);
  if (!form) throw new Error(`no code form for ${userId}`);
  const step = Math.floor(Date.now() / 30_000);
  const code = await generate({ secret, epoch: step * 30 });
  const submitted = await people.submit({
    userId,
    viewId: form.id,
    values: { [MFA_MODAL.code.block]: { [MFA_MODAL.code.action]: { type: 'plain_text_input', value: code } } },
  });
  if (submitted.outcome !== '200' || submitted.body !== '')
    throw new Error(`the code for ${userId} was not taken: ${submitted.outcome} ${submitted.body}`);
  stories.enrolled(userId, secret, step);
}

/** Each contractor, one story after another with a pause between, until `seconds` are over. */
async function load(seconds: number, quietTailSeconds: number): Promise<void> {
  const end = Date.now() + seconds * 1000;
  const quietFrom = end - quietTailSeconds * 1000;
  await Promise.all(
    settings.contractors.map(async (userId, i) => {
      await sleep(i * 300);
      while (Date.now() < end) {
        await stories.one(userId, Date.now() >= quietFrom).catch((err: unknown) => {
          stories.counts.gaveUp[`error: ${(err as Error).message.slice(0, 80)}`] =
            (stories.counts.gaveUp[`error: ${(err as Error).message.slice(0, 80)}`] ?? 0) + 1;
        });
        await sleep(1000 + Math.random() * 2000);
      }
    }),
  );
  await Promise.all([...stories.pending]);
}

process.on('message', (message: WorldRequest) => {
  const fail = (err: unknown) => send({ type: 'error', message: (err as Error).stack ?? String(err) });
  switch (message.type) {
    case 'enrol':
      void Promise.all(settings.mfaUsers.map(enrol)).then(
        () => send({ type: 'enrolled', users: settings.mfaUsers.length }),
        fail,
      );
      return;
    case 'load':
      void load(message.seconds, message.quietTailSeconds).then(() => send({ type: 'load-done' }), fail);
      return;
    case 'fault': {
      const before = faulted;
      faultUntil = Date.now() + message.ms;
      setTimeout(() => send({ type: 'fault-over', failed: faulted - before }), message.ms);
      return;
    }
    case 'report': {
      const calls: Record<string, number> = {};
      for (const call of fake.calls) calls[call.method] = (calls[call.method] ?? 0) + 1;
      const posts = fake.messagesIn(settings.auditChannel).filter((m) => {
        const payload = m.metadata?.event_payload as { first_seq?: number } | undefined;
        return typeof payload?.first_seq === 'number';
      });
      // Answers that came after a story stopped waiting count too.
      const commands = stories.commands.map((command) => ({
        ...command,
        answers: [...people.answersTo(command.responseUrl).map((r) => String(r.body.text ?? '')), ...command.answers],
        formShown: fake
          .callsTo('views.open')
          .some((c) => !c.failed && c.error === null && c.args.trigger_id === command.triggerId),
      }));
      send({
        type: 'report',
        report: {
          commands,
          stories: { ...stories.counts, interactions: people.interactions },
          auditSeqs: postedSeqs(fake, settings.auditChannel),
          auditPosts: posts.length,
          repeatedPosts: [...postedAt]
            .filter(([, times]) => times.length > 1)
            .map(([seq, times]) => ({ seq, at: times })),
          calls,
          injectedFailures: injected,
        },
      });
      return;
    }
    case 'stop':
      proxy.closeAllConnections();
      proxy.close();
      void fake.stop().then(() => process.exit(0));
      return;
  }
});
process.on('disconnect', () => void fake.stop().then(() => process.exit(0)));

send({ type: 'ready', apiUrl });
