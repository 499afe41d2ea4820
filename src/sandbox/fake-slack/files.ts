import type { MessageStore, SharedFile } from './messages.ts';
import { fail, int, missing, ok, str, type Answer, type Args, type MethodHandler } from './protocol.ts';

/** An uploaded file, with its bytes, as the fake keeps it. */
export interface SlackFile {
  id: string;
  name: string;
  title: string;
  altText: string | undefined;
  /** The length announced to files.getUploadURLExternal. */
  length: number;
  bytes: Buffer | null;
  completed: boolean;
  deleted: boolean;
  channels: string[];
}

/**
 * Files as Slack's upload flow has them (files.uploadV2 in the SDK is three steps): an
 * upload URL from files.getUploadURLExternal, the bytes POSTed there (multipart, as the SDK
 * sends them), then files.completeUploadExternal, which can share them into a channel with
 * a comment. files.delete removes a file and the message that shared it.
 */
export class FileStore {
  private readonly files = new Map<string, SlackFile>();
  private nextId = 1;

  constructor(
    private readonly messages: MessageStore,
    private readonly origin: () => string,
  ) {}

  readonly handlers: Record<string, MethodHandler> = {
    'files.getUploadURLExternal': (args) => this.uploadUrl(args),
    'files.completeUploadExternal': (args) => this.complete(args),
    'files.delete': (args) => this.remove(args),
  };

  file(id: string): SlackFile | undefined {
    return this.files.get(id);
  }

  /** Every file ever uploaded, oldest first, deleted ones included. */
  all(): SlackFile[] {
    return [...this.files.values()];
  }

  /** The POST of the bytes to an upload URL: 200 with "OK - <length>" like Slack, 404 for an unknown URL. */
  async receive(id: string, contentType: string | undefined, body: Buffer): Promise<{ status: number; text: string }> {
    const file = this.files.get(id);
    if (!file || file.completed) return { status: 404, text: 'not found' };
    let bytes = body;
    if ((contentType ?? '').startsWith('multipart/form-data')) {
      const form = await new Response(body, { headers: { 'content-type': contentType ?? '' } }).formData();
      const part = [...form.values()].find((value) => typeof value !== 'string');
      if (!part || typeof part === 'string') return { status: 400, text: 'no file part' };
      bytes = Buffer.from(await part.arrayBuffer());
    }
    file.bytes = bytes;
    return { status: 200, text: `OK - ${bytes.length}` };
  }

  private uploadUrl(args: Args): Answer {
    const name = str(args.filename);
    if (!name) return missing('filename');
    const length = int(args.length, -1);
    if (length < 1) return fail('invalid_arguments', ['length must be the size of the file in bytes']);
    const id = `F0FILE${String(this.nextId++).padStart(4, '0')}`;
    this.files.set(id, {
      id,
      name,
      title: name,
      altText: str(args.alt_text),
      length,
      bytes: null,
      completed: false,
      deleted: false,
      channels: [],
    });
    return ok({ upload_url: `${this.origin()}/upload/${id}`, file_id: id });
  }

  private complete(args: Args): Answer {
    let entries: unknown;
    try {
      entries = typeof args.files === 'string' ? JSON.parse(args.files) : args.files;
    } catch {
      return fail('invalid_arguments', ['files must be a JSON array of {id, title}']);
    }
    if (!Array.isArray(entries) || entries.length === 0) return missing('files');
    const done: SlackFile[] = [];
    for (const entry of entries as { id?: unknown; title?: unknown }[]) {
      const file = typeof entry.id === 'string' ? this.files.get(entry.id) : undefined;
      if (!file || file.deleted) return fail('file_not_found');
      // Slack refuses to complete an upload whose bytes never arrived.
      if (!file.bytes) return fail('file_upload_not_found');
      if (file.bytes.length !== file.length) return fail('file_size_mismatch');
      if (typeof entry.title === 'string') file.title = entry.title;
      file.completed = true;
      done.push(file);
    }
    const channel = str(args.channel_id);
    if (channel) {
      const shared: SharedFile[] = done.map((file) => ({ id: file.id, name: file.name, title: file.title }));
      this.messages.shareFiles(channel, str(args.initial_comment) ?? '', shared);
      for (const file of done) file.channels.push(channel);
    }
    return ok({
      files: done.map((file) => ({
        id: file.id,
        name: file.name,
        title: file.title,
        size: file.length,
        channels: file.channels,
      })),
    });
  }

  private remove(args: Args): Answer {
    const id = str(args.file);
    if (!id) return missing('file');
    const file = this.files.get(id);
    if (!file) return fail('file_not_found');
    if (file.deleted) return fail('file_deleted');
    file.deleted = true;
    this.messages.unshareFile(id);
    return ok();
  }
}
