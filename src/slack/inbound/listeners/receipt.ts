import type { App, BlockButtonAction } from '@slack/bolt';
import { cut } from '../../../audit/event.ts';
import { buildReceipt, ReceiptUnavailableError } from '../../../audit/receipts/build.ts';
import { ReceiptError, receiptToJson } from '../../../audit/receipts/receipt.ts';
import { verifyReceipt } from '../../../audit/receipts/verify.ts';
import { ACTION } from '../../blocks/ids.ts';
import {
  receiptBrokenText,
  receiptComment,
  receiptNotSentText,
  receiptRefusalText,
  receiptUnavailableText,
} from '../../blocks/receipt.ts';
import { describeSlackError } from '../../slack-errors.ts';
import { sendFileToPerson } from '../../outbound/receipt-file.ts';
import type { SlackDeps } from '../deps.ts';
import { userOf } from '../ids.ts';

/**
 * The Receipt button on a grant's end in the audit channel (docs/merkle.md §13.6): an auditor
 * gets the grant's receipt as a file in their DM with the bot; anyone else is told who may,
 * on the record, as /verify-audit refuses. The clicker alone hears the answer.
 */
export function registerReceipt(app: App, deps: SlackDeps): void {
  app.action<BlockButtonAction>(ACTION.sendReceipt, async ({ ack, body, action, respond, client }) => {
    await ack();
    const userId = userOf(body);
    const grantId = cut(action.value ?? '', 100);
    const tell = async (text: string) => {
      if (body.response_url) await respond({ response_type: 'ephemeral', replace_original: false, text });
      else await client.chat.postMessage({ channel: userId, text });
    };
    if (!deps.access.mayVerifyAudit(userId)) {
      await deps.audit.record({
        actor: userId,
        action: 'audit.receipt_refused',
        // Not the grant's subject: an auditor's asking is not part of the grant's story (nor of its receipt).
        subject: null,
        body: { grant: grantId, reason: 'not-auditor' },
      });
      return tell(receiptRefusalText());
    }
    let receipt;
    try {
      receipt = await buildReceipt(deps.access.ctx.db, grantId);
    } catch (err) {
      if (!(err instanceof ReceiptUnavailableError)) throw err;
      return tell(receiptUnavailableText(err.message));
    }
    const text = receiptToJson(receipt);
    const fileName = `receipt-${receipt.grant}-seq${receipt.size}.json`;
    // Checked before it is sent, with the key /verify-audit trusts: the comment says what it shows.
    let verified;
    try {
      verified = verifyReceipt(text, deps.verification.publicKey);
    } catch (err) {
      // Made from this database, it fails only when the log itself was changed: said, never sent.
      if (!(err instanceof ReceiptError)) throw err;
      deps.log.error({ err, grantId: receipt.grant }, 'a receipt made from the log does not verify');
      return tell(receiptBrokenText(err.message));
    }
    let fileId: string;
    try {
      fileId = await sendFileToPerson(client, {
        userId,
        fileName,
        title: `Receipt of ${receipt.grant}`,
        text,
        comment: receiptComment(verified, fileName),
      });
    } catch (err) {
      deps.log.warn({ err, grantId: receipt.grant, userId }, 'a receipt could not be sent');
      return tell(receiptNotSentText(describeSlackError(err), receipt.grant));
    }
    await deps.audit.record({
      actor: userId,
      action: 'audit.receipt_sent',
      subject: null,
      body: {
        grant: receipt.grant,
        size: receipt.size,
        events: receipt.events.length,
        root: receipt.root,
        file: fileId,
      },
    });
    deps.log.info({ grantId: receipt.grant, userId, size: receipt.size }, 'a receipt was sent');
    await tell(`🧾 The receipt of \`${receipt.grant}\` is in your direct messages with Gatehouse.`);
  });
}
