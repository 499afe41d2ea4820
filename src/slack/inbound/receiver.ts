import type http from 'node:http';
import { HTTPReceiver, type HTTPReceiverOptions } from '@slack/bolt';
import type { Logger } from '../../log.ts';
import { ackSeconds } from '../../metrics/metrics.ts';

/**
 * How far a request's X-Slack-Request-Timestamp may be from this machine's clock, either
 * way: Slack's own rule ("more than five minutes from local time … could be a replay").
 */
export const MAX_REQUEST_SKEW_S = 300;

/** Whether a request says it was signed more than MAX_REQUEST_SKEW_S ahead of now. */
export function datedAhead(req: http.IncomingMessage, nowMs = Date.now()): boolean {
  const header = req.headers['x-slack-request-timestamp'];
  const timestamp = Number(Array.isArray(header) ? header[0] : header);
  return Number.isFinite(timestamp) && timestamp > nowMs / 1000 + MAX_REQUEST_SKEW_S;
}

/**
 * Bolt's HTTP receiver (Slack's requests on /slack/events, and the health routes), which
 * also refuses requests dated more than five minutes ahead: Bolt refuses only old ones, so
 * a request signed with a timestamp in the future could be replayed until that time came.
 * The check runs before Bolt reads the body; a missing or malformed header is Bolt's to refuse.
 */
export function slackHttpReceiver(options: HTTPReceiverOptions, log: Logger): HTTPReceiver {
  const receiver = new HTTPReceiver(options);
  const handle = receiver.requestListener;
  receiver.requestListener = (req, res) => {
    if (datedAhead(req)) {
      log.warn(
        { timestamp: req.headers['x-slack-request-timestamp'], path: req.url },
        "refused a Slack request dated more than 5 minutes ahead: a replay, or this machine's clock is wrong",
      );
      res.writeHead(401);
      res.end();
      return;
    }
    // The ack's latency: Bolt answers Slack as soon as a listener acks (GET /metrics).
    if (req.method === 'POST') {
      const done = ackSeconds.startTimer();
      res.once('finish', () => done());
    }
    handle(req, res);
  };
  return receiver;
}
