/**
 * A streaming reader of PostgreSQL's binary COPY format: a fixed header, then per row a
 * 16-bit field count and, per field, a 32-bit length and that many bytes; -1 ends the data.
 * Rows are handed out as offsets into the received bytes, with no copy, no text decoding
 * and no allocation per row, which is what lets verification keep up with SHA-256.
 */
const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
const MAX_FIELDS = 16;

/**
 * Called once per row. Field i is `buf[starts[i], starts[i] + lengths[i])`, or NULL when
 * lengths[i] is -1. The arrays are reused: read them before returning.
 */
export type RowHandler = (buf: Buffer, starts: Int32Array, lengths: Int32Array) => void;

export class CopyBinaryReader {
  private pending: Buffer | null = null;
  private headerRead = false;
  private ended = false;
  private readonly starts = new Int32Array(MAX_FIELDS);
  private readonly lengths = new Int32Array(MAX_FIELDS);

  constructor(private readonly onRow: RowHandler) {}

  get complete(): boolean {
    return this.ended;
  }

  /** The next bytes of the stream: `chunk[start, end)` (all of it by default), read in place. */
  push(chunk: Buffer, start = 0, stop = chunk.length): void {
    let buf = chunk;
    let pos = start;
    let end = stop;
    if (this.pending) {
      buf = Buffer.concat([this.pending, chunk.subarray(start, stop)]);
      pos = 0;
      end = buf.length;
    }
    if (!this.headerRead) {
      if (end - pos < 19) {
        this.pending = Buffer.from(buf.subarray(pos, end));
        return;
      }
      if (!buf.subarray(pos, pos + 11).equals(SIGNATURE)) throw new Error('not a PostgreSQL binary COPY stream');
      pos += 19 + buf.readInt32BE(pos + 15);
      this.headerRead = true;
    }
    const { starts, lengths } = this;
    rows: while (end - pos >= 2) {
      const count = buf.readInt16BE(pos);
      if (count === -1) {
        this.ended = true;
        pos += 2;
        break;
      }
      if (count > MAX_FIELDS) throw new Error(`a COPY row has ${count} fields; at most ${MAX_FIELDS} are read`);
      let cursor = pos + 2;
      for (let i = 0; i < count; i++) {
        if (end - cursor < 4) break rows;
        const length = buf.readInt32BE(cursor);
        cursor += 4;
        starts[i] = cursor;
        lengths[i] = length;
        if (length > 0) {
          if (end - cursor < length) break rows;
          cursor += length;
        }
      }
      this.onRow(buf, starts, lengths);
      pos = cursor;
    }
    // Kept as a copy: the caller may reuse the bytes it lent (the socket's buffer) once this returns.
    this.pending = pos < end ? Buffer.from(buf.subarray(pos, end)) : null;
  }
}
