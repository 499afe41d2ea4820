import { chainHash } from '../chain.ts';
import { checkpointSignedBy, InvalidCheckpointError, parseCheckpoint } from '../checkpoints/checkpoint.ts';
import type { CheckpointPublicKey } from '../checkpoints/keys.ts';
import { NoteError, noteVerifier, openNote, parseCheckpointBody, parseNote } from '../checkpoints/note.ts';
import type { AuditEvent } from '../event.ts';
import { hashLeaf } from '../tree/hash.ts';
import { ProofError } from '../tree/verify.ts';
import { idsOf, linkOf, type GrantIds } from './links.ts';
import { NodeMemo, rootThroughMemo } from './proofs.ts';
import { MalformedReceiptError, parseReceipt, ReceiptError, type Receipt } from './receipt.ts';
import { checkStory, tellStory, type GrantStory } from './story.ts';

export interface VerifiedReceipt {
  receipt: Receipt;
  story: GrantStory;
  /** The checkpoint's signature was checked with the key given. */
  signatureChecked: boolean;
  /** The root is signed: a note over (size, root) verified with the key given. */
  rootSigned: boolean;
  /** What could not be checked, in words for the person running it. */
  unchecked: string[];
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

/** Step 6: each event's hash, own seq, link and inclusion proof. */
function checkEvents(receipt: Receipt): AuditEvent[] {
  const events: AuditEvent[] = [];
  const memo = new NodeMemo();
  let previous: { seq: number; hash: string } | null = null;
  for (const entry of receipt.events) {
    const { seq } = entry;
    if (previous && seq <= previous.seq)
      throw new ReceiptError(`event seq ${seq} follows seq ${previous.seq}: seqs must be distinct and increasing`, seq);
    if (seq > receipt.size)
      throw new ReceiptError(
        `event seq ${seq} is past the tree of ${receipt.size} events the receipt proves against`,
        seq,
      );
    const hash = chainHash(Buffer.from(entry.prev_hash, 'hex'), entry.canonical);
    if (hex(hash) !== entry.hash)
      throw new ReceiptError(
        `event seq ${seq}: SHA-256(prev_hash ‖ canonical) is ${hex(hash)}, not its hash ${entry.hash}: the event's text or prev_hash was changed`,
        seq,
      );
    if (previous && previous.seq === seq - 1 && previous.hash !== entry.prev_hash)
      throw new ReceiptError(`event seq ${seq}: its prev_hash is not the hash of event ${seq - 1}`, seq);
    if (seq === receipt.size && entry.hash !== receipt.checkpoint.hash)
      throw new ReceiptError(`event seq ${seq} is the checkpoint's event, but its hash is not the one signed`, seq);
    let event: AuditEvent;
    try {
      event = JSON.parse(entry.canonical) as AuditEvent;
    } catch {
      throw new ReceiptError(`event seq ${seq}: its canonical text is not JSON`, seq);
    }
    if (typeof event !== 'object' || event === null || event.v !== 1 || event.seq !== seq)
      throw new ReceiptError(
        `event seq ${seq}: its own text says v ${String(event?.v)}, seq ${String(event?.seq)}`,
        seq,
      );
    if (typeof event.action !== 'string' || typeof event.body !== 'object' || event.body === null)
      throw new ReceiptError(`event seq ${seq}: it has no action or body`, seq);
    let reached: string;
    try {
      reached = rootThroughMemo(seq - 1, receipt.size, hashLeaf(hash).toString('hex'), entry.path, memo);
    } catch (err) {
      if (!(err instanceof ProofError)) throw err;
      throw new ReceiptError(`event seq ${seq}: its inclusion proof is malformed: ${err.message}`, seq);
    }
    if (reached !== receipt.root)
      throw new ReceiptError(
        `event seq ${seq}: its inclusion proof leads to root ${reached}, not the receipt's root ${receipt.root}`,
        seq,
      );
    events.push(event);
    previous = { seq, hash: entry.hash };
  }
  return events;
}

/** Steps 2–5: the checkpoint, its signature, and the note that signs the root. */
function checkSignatures(receipt: Receipt, key: CheckpointPublicKey | null, unchecked: string[]) {
  let checkpoint;
  try {
    checkpoint = parseCheckpoint(receipt.checkpoint);
  } catch (err) {
    if (err instanceof InvalidCheckpointError) throw new MalformedReceiptError(`"checkpoint": ${err.message}`);
    throw err;
  }
  if (checkpoint.logId !== receipt.log_id || checkpoint.keyId !== receipt.key_id)
    throw new ReceiptError(
      `the checkpoint names log ${checkpoint.logId} and key ${checkpoint.keyId}, the receipt log ${receipt.log_id} and key ${receipt.key_id}`,
    );
  if (checkpoint.seq !== receipt.size)
    throw new ReceiptError(
      `the checkpoint is of seq ${checkpoint.seq}, but the proofs are against size ${receipt.size}`,
    );
  let signatureChecked = false;
  if (key) {
    if (key.keyId !== checkpoint.keyId)
      throw new ReceiptError(`the checkpoint is signed by key ${checkpoint.keyId}, not the key given (${key.keyId})`);
    if (!checkpointSignedBy(checkpoint, key))
      throw new ReceiptError("the checkpoint's signature does not verify with the key given: it was changed or forged");
    signatureChecked = true;
  } else {
    unchecked.push(`the checkpoint's signature (no key given; it names key ${checkpoint.keyId})`);
  }
  let rootSigned = false;
  if (receipt.note === null) {
    unchecked.push(
      `the root: this log's checkpoints do not sign the tree root, so the proofs show the events are in a tree with root ${receipt.root.slice(0, 16)}…, which nothing signed`,
    );
    return { signatureChecked, rootSigned };
  }
  let body;
  try {
    const parsed = parseNote(receipt.note);
    // The given key under each name the note's lines name: a line by another key stays unchecked.
    const names = [...new Set(parsed.signatures.map((s) => s.name))];
    body = key
      ? openNote(
          receipt.note,
          names.map((name) => noteVerifier(name, key)),
        )
      : parseCheckpointBody(parsed.body);
  } catch (err) {
    if (!(err instanceof NoteError)) throw err;
    throw new ReceiptError(`the signed note: ${err.message}`);
  }
  if (body.size !== receipt.size || body.root !== receipt.root)
    throw new ReceiptError(
      `the signed note is of size ${body.size}, root ${body.root}; the receipt proves against size ${receipt.size}, root ${receipt.root}`,
    );
  if (key) rootSigned = true;
  else unchecked.push("the signed note's signature over the root (no key given)");
  return { signatureChecked, rootSigned };
}

/** Step 7: every event is about the grant, and together they tell a whole story. */
function checkLinks(receipt: Receipt, events: AuditEvent[]): GrantIds {
  const ids = idsOf(receipt.grant, events);
  for (const event of events)
    if (!linkOf(event, ids))
      throw new ReceiptError(
        `event seq ${event.seq} (${event.action}, subject ${String(event.subject)}) is not about grant ${receipt.grant}`,
        event.seq,
      );
  const problems = checkStory(ids, events);
  const first = problems[0];
  if (first)
    throw new ReceiptError(
      `${first.seq === null ? '' : `at event seq ${first.seq}: `}${first.message}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''}`,
      first.seq,
    );
  return ids;
}

/**
 * Checks a receipt offline (docs/merkle.md §13.3). Throws MalformedReceiptError when it cannot
 * be read, ReceiptError naming the event, proof or signature that fails.
 */
export function verifyReceipt(text: string, key: CheckpointPublicKey | null): VerifiedReceipt {
  const receipt = parseReceipt(text);
  const unchecked: string[] = [];
  const { signatureChecked, rootSigned } = checkSignatures(receipt, key, unchecked);
  const events = checkEvents(receipt);
  const ids = checkLinks(receipt, events);
  return { receipt, story: tellStory(ids, events), signatureChecked, rootSigned, unchecked };
}
