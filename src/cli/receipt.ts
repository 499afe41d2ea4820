import { open, rename, writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { AuditLog } from '../audit/audit-log.ts';
import { loadPublicKey } from '../audit/checkpoints/keys.ts';
import { buildReceipt } from '../audit/receipts/build.ts';
import { describeVerifiedReceipt } from '../audit/receipts/describe.ts';
import { MalformedReceiptError, ReceiptError, receiptToJson } from '../audit/receipts/receipt.ts';
import { verifyReceipt } from '../audit/receipts/verify.ts';
import type { Config } from '../config/env.ts';
import type { DatabaseHandle } from '../db/database.ts';
import { createLogger } from '../log.ts';

/** What main.ts lends: the database the app records into, schema checked, and the settings. */
export interface ReceiptCommandDeps {
  withDatabase<T>(work: (database: DatabaseHandle) => Promise<T>): Promise<T>;
  config(): Config;
}

const EXIT_BROKEN = 1;

/** `audit receipt GRANT` and `audit verify-receipt FILE` (docs/merkle.md §13). */
export function registerReceiptCommands(audit: Command, deps: ReceiptCommandDeps): void {
  audit
    .command('receipt')
    .description(
      "write one grant's receipt: its events, each with an inclusion proof, and the signed checkpoint they are proved against; checked offline by verify-receipt",
    )
    .argument('<grant-id>', 'the grant (grt_…)')
    .option('--out <file>', 'write it there (replaced only once complete) instead of printing it')
    .action(async (grantId: string, options: { out?: string }) => {
      await deps.withDatabase(async (database) => {
        // As export does: what is queued is chained first, so the newest events are found.
        await new AuditLog(database.db, database.pool, createLogger({ level: 'silent' })).flush();
        const receipt = await buildReceipt(database.db, grantId);
        const text = receiptToJson(receipt);
        if (!options.out) {
          process.stdout.write(text);
          return;
        }
        const partial = `${options.out}.partial`;
        await writeFile(partial, text, 'utf8');
        await rename(partial, options.out);
        console.log(
          `Wrote the receipt of ${grantId} to ${options.out}: ${receipt.events.length} event(s), proved in the tree of the first ${receipt.size} events (checkpoint of ${receipt.checkpoint.time}, key ${receipt.key_id}${receipt.note ? ', root signed' : ''}).`,
        );
        console.log(`Check it anywhere with: gatehouse audit verify-receipt ${options.out} --public-key KEY`);
      });
    });

  audit
    .command('verify-receipt')
    .description("check a grant's receipt offline, with no database: hashes, proofs, signatures and the grant's story")
    .argument('<file>', 'a receipt written by `gatehouse audit receipt`')
    .option(
      '--public-key <key-or-file>',
      'the checkpoint public key: 64 hex digits, PEM, or a file (default: GATEHOUSE_CHECKPOINT_PUBLIC_KEY)',
    )
    .option('--key <key-or-file>', 'the same as --public-key')
    .option('--json', 'print the result as JSON')
    .action(async (file: string, options: { publicKey?: string; key?: string; json?: boolean }) => {
      let text: string;
      try {
        const handle = await open(file);
        text = await handle.readFile('utf8').finally(() => handle.close());
      } catch {
        throw new Error(`cannot read ${file}: give the path of a receipt written by \`gatehouse audit receipt\``);
      }
      const given = options.publicKey ?? options.key;
      const configured = deps.config().checkpoint.publicKey;
      const key = given
        ? await loadPublicKey(given, options.publicKey ? '--public-key' : '--key')
        : configured
          ? await loadPublicKey(configured, 'GATEHOUSE_CHECKPOINT_PUBLIC_KEY')
          : null;
      try {
        const verified = verifyReceipt(text, key);
        if (options.json) console.log(JSON.stringify({ ok: true, ...verified, receipt: undefined }, null, 2));
        else for (const line of describeVerifiedReceipt(file, verified)) console.log(line);
      } catch (err) {
        if (!(err instanceof ReceiptError)) throw err;
        const malformed = err instanceof MalformedReceiptError;
        if (options.json) console.log(JSON.stringify({ ok: false, malformed, seq: err.seq, failure: err.message }));
        else console.error(`✘ ${file} does NOT hold: ${err.message}.`);
        // As verify-proof and verify-file: a malformed receipt is one that does not hold (1); 2 is an unreadable file.
        process.exitCode = EXIT_BROKEN;
      }
    });
}
