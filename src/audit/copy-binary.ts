/**
 * A streaming reader of PostgreSQL's binary COPY format: a fixed header, then per row a
 * 16-bit field count and, per field, a 32-bit length and that many bytes; -1 ends the data.
 * Fields are handed out as views into the received chunk, with no copy and no text decoding,
 * which is what lets verification keep up with SHA-256.
 */
const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');

export class CopyBinaryReader {
  private pending: Buffer | null = null;
  private headerRead = false;
  private ended = false;

  constructor(private readonly onRow: (fields: (Buffer | null)[]) => void) {}

  get complete(): boolean {
    return this.ended;
  }

  push(chunk: Buffer): void {
    const buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    let pos = 0;
    if (!this.headerRead) {
      if (buf.length < 19) {
        this.pending = buf;
        return;
      }
      if (!buf.subarray(0, 11).equals(SIGNATURE)) throw new Error('not a PostgreSQL binary COPY stream');
      pos = 19 + buf.readInt32BE(15);
      this.headerRead = true;
    }
    while (!this.ended) {
      if (buf.length - pos < 2) break;
      const count = buf.readInt16BE(pos);
      if (count === -1) {
        this.ended = true;
        pos += 2;
        break;
      }
      let cursor = pos + 2;
      const fields: (Buffer | null)[] = new Array(count);
      let whole = true;
      for (let i = 0; i < count; i++) {
        if (buf.length - cursor < 4) {
          whole = false;
          break;
        }
        const length = buf.readInt32BE(cursor);
        cursor += 4;
        if (length === -1) {
          fields[i] = null;
          continue;
        }
        if (buf.length - cursor < length) {
          whole = false;
          break;
        }
        fields[i] = buf.subarray(cursor, cursor + length);
        cursor += length;
      }
      if (!whole) break;
      this.onRow(fields);
      pos = cursor;
    }
    this.pending = pos < buf.length ? buf.subarray(pos) : null;
  }
}
