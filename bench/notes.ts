import { generateCheckpointKey, signBytes, verifyBytes } from '../src/audit/checkpoints/keys.ts';
import {
  checkpointNoteBody,
  COSIGNATURE_ED25519,
  cosignatureLine,
  noteVerifier,
  openNote,
  signNote,
} from '../src/audit/checkpoints/note.ts';
import { fmt } from './format.ts';
import { summarize, type Summary } from './percentiles.ts';

/**
 * What a checkpoint note and a witness cosignature cost (docs/merkle.md §11, §12), beside a
 * bare Ed25519 signature and verification of the same body timed in the same run: the
 * note's text handling is the difference. Pure: no database.
 */
export interface NoteResults {
  rounds: number;
  bareSign: Summary;
  bareVerify: Summary;
  noteSign: Summary;
  noteOpen: Summary;
  cosign: Summary;
  openBoth: Summary;
}

function time(rounds: number, work: () => unknown): Summary {
  for (let i = 0; i < 200; i++) work();
  const samples: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const start = process.hrtime.bigint();
    work();
    samples.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return summarize(samples);
}

export function benchNotes(rounds = 5000): NoteResults {
  const log = { name: 'gatehouse.local/6f1e0c3a-9b2d-4e57-8a41-2c5d7e9f0b13', key: generateCheckpointKey().key };
  const witness = { name: 'witness.example.com/w1', key: generateCheckpointKey().key };
  const body = checkpointNoteBody({ origin: log.name, size: 1_000_000, root: 'ab'.repeat(32) });
  const bytes = Buffer.from(body, 'utf8');
  const signature = signBytes(log.key, bytes);
  const note = signNote(body, log);
  const line = cosignatureLine(body, witness, 1796000000);
  const verifiers = [
    noteVerifier(log.name, log.key.publicKey),
    noteVerifier(witness.name, witness.key.publicKey, COSIGNATURE_ED25519),
  ];
  return {
    rounds,
    bareSign: time(rounds, () => signBytes(log.key, bytes)),
    bareVerify: time(rounds, () => verifyBytes(log.key.publicKey, bytes, signature)),
    noteSign: time(rounds, () =>
      signNote(checkpointNoteBody({ origin: log.name, size: 1_000_000, root: 'ab'.repeat(32) }), log),
    ),
    noteOpen: time(rounds, () => openNote(note, verifiers.slice(0, 1))),
    cosign: time(rounds, () => cosignatureLine(body, witness, 1796000000)),
    openBoth: time(rounds, () => openNote(`${note}${line}`, verifiers)),
  };
}

export function printNotes(results: NoteResults): void {
  console.log(`\nCheckpoint notes and cosignatures, ${fmt(results.rounds)} each (after 200 warm-up), µs:\n`);
  console.log('| operation | p50 | p99 | max |');
  console.log('| --- | ---: | ---: | ---: |');
  const us = (value: number) => fmt(value * 1000, 1);
  const row = (label: string, s: Summary) => console.log(`| ${label} | ${us(s.p50)} | ${us(s.p99)} | ${us(s.max)} |`);
  row('baseline: bare Ed25519 sign of the body', results.bareSign);
  row('baseline: bare Ed25519 verify', results.bareVerify);
  row('note: build the body and sign it', results.noteSign);
  row('note: parse and verify (log key)', results.noteOpen);
  row('cosignature: sign (witness)', results.cosign);
  row('note with cosignature: parse and verify both', results.openBoth);
}
