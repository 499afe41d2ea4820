import crypto from 'node:crypto';

/**
 * A receipt verifier written from docs/merkle.md §13.3 (steps 1–6) and docs/audit-log.md
 * §12.2 alone, with node:crypto and JSON.parse and nothing of Gatehouse's code: the test
 * requires it to agree with `verifyReceipt` on a good receipt and on forged ones, so the
 * spec is complete enough for an outside verifier. It answers null, or the step that failed.
 */
const sha256 = (...parts: Buffer[]) => crypto.createHash('sha256').update(Buffer.concat(parts)).digest();
const HEX = /^[0-9a-f]{64}$/;

function ed25519(publicKeyHex: string) {
  const der = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(publicKeyHex, 'hex')]);
  return crypto.createPublicKey({ key: der, format: 'der', type: 'spki' });
}

/** RFC 9162 §2.1.3.2 as docs/merkle.md §7 writes it. */
function rootFromPath(index: number, size: number, leaf: Buffer, path: Buffer[]): Buffer | null {
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of path) {
    if (sn === 0) return null;
    if (fn % 2 === 1 || fn === sn) {
      r = sha256(Buffer.of(1), p, r);
      if (fn % 2 === 0) while (fn % 2 === 0 && fn !== 0) [fn, sn] = [Math.floor(fn / 2), Math.floor(sn / 2)];
    } else r = sha256(Buffer.of(1), r, p);
    [fn, sn] = [Math.floor(fn / 2), Math.floor(sn / 2)];
  }
  return sn === 0 ? r : null;
}

interface Receipt {
  format: string;
  v: number;
  log_id: string;
  key_id: string;
  size: number;
  root: string;
  checkpoint: Record<string, unknown>;
  note: string | null;
  events: { seq: number; canonical: string; prev_hash: string; hash: string; path: string[] }[];
}

export function outsideVerify(text: string, publicKeyHex: string): string | null {
  let r: Receipt;
  try {
    r = JSON.parse(text) as Receipt;
  } catch {
    return 'step 1';
  }
  if (r.format !== 'gatehouse-receipt' || r.v !== 1 || !HEX.test(r.root) || !Array.isArray(r.events)) return 'step 1';
  const cp = r.checkpoint as { log_id: string; seq: number; hash: string; time: string; previous: string | null };
  const { key_id: keyId, signature } = r.checkpoint as { key_id: string; signature: string };
  if (cp.log_id !== r.log_id || keyId !== r.key_id || cp.seq !== r.size) return 'step 2';
  const key = ed25519(publicKeyHex);
  if (sha256(Buffer.from(publicKeyHex, 'hex')).subarray(0, 8).toString('hex') !== keyId) return 'step 3';
  const message = `gatehouse audit checkpoint v1\nlog ${cp.log_id}\nseq ${cp.seq}\nhash ${cp.hash}\ntime ${cp.time}\nprevious ${cp.previous ?? 'none'}\n`;
  if (!crypto.verify(null, Buffer.from(message), key, Buffer.from(signature, 'hex'))) return 'step 3';
  if (r.note !== null) {
    const split = r.note.lastIndexOf('\n\n');
    const body = r.note.slice(0, split + 1);
    const [, size, root] = body.split('\n');
    if (Number(size) !== r.size || Buffer.from(root ?? '', 'base64').toString('hex') !== r.root) return 'step 4';
    const verified = r.note
      .slice(split + 2)
      .split('\n')
      .filter((line) => line.startsWith('\u2014 '))
      .some((line) => {
        const [name, b64] = line.slice(2).split(' ') as [string, string];
        const bytes = Buffer.from(b64, 'base64');
        const id = sha256(Buffer.from(`${name}\n`), Buffer.of(1), Buffer.from(publicKeyHex, 'hex')).subarray(0, 4);
        return bytes.subarray(0, 4).equals(id) && crypto.verify(null, Buffer.from(body), key, bytes.subarray(4));
      });
    if (!verified) return 'step 4';
  }
  let previous: { seq: number; hash: string } | null = null;
  for (const e of r.events) {
    if ((previous && e.seq <= previous.seq) || e.seq > r.size) return 'step 5.1';
    const hash = sha256(Buffer.from(e.prev_hash, 'hex'), Buffer.from(e.canonical, 'utf8'));
    if (hash.toString('hex') !== e.hash) return 'step 5.2';
    if (previous && previous.seq === e.seq - 1 && previous.hash !== e.prev_hash) return 'step 5.3';
    if (e.seq === r.size && e.hash !== cp.hash) return 'step 5.4';
    const event = JSON.parse(e.canonical) as { v: number; seq: number };
    if (event.v !== 1 || event.seq !== e.seq) return 'step 5.5';
    if (!e.path.every((p) => HEX.test(p))) return 'step 1';
    const leaf = sha256(Buffer.of(0), hash);
    const reached = rootFromPath(
      e.seq - 1,
      r.size,
      leaf,
      e.path.map((p) => Buffer.from(p, 'hex')),
    );
    if (!reached || reached.toString('hex') !== r.root) return 'step 5.6';
    previous = { seq: e.seq, hash: e.hash };
  }
  return null;
}
