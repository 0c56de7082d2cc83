/**
 * Request bodies before and after admission. A small body is read whole before the request
 * takes a slot, so a client that trickles it holds no slot and no request on the GPU host;
 * only bodies larger than PREREAD_BYTES are streamed, and a streamed upload that sends nothing
 * for the body idle timeout is cut, freeing its slot.
 */

/** Bodies up to this many bytes (an LLM prompt of many thousand words) are read whole before admission. */
export const PREREAD_BYTES = 64 * 1024;

export class BodyStalledError extends Error {
  constructor(ms: number) {
    super(`the client sent no body bytes for ${ms} ms`);
    this.name = 'BodyStalledError';
  }
}

/**
 * Reads up to bound bytes of body. Returns the whole body when it ended within them, else a
 * stream that replays what was read and then the rest. Rejects when the client goes away.
 */
export async function prereadBody(
  body: ReadableStream<Uint8Array>,
  bound: number,
): Promise<Uint8Array | ReadableStream<Uint8Array>> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    total += value.byteLength;
    if (total > bound) {
      return new ReadableStream<Uint8Array>({
        async pull(controller) {
          const next = chunks.shift();
          if (next !== undefined) {
            controller.enqueue(next);
            return;
          }
          const { done: ended, value: rest } = await reader.read();
          if (ended) controller.close();
          else controller.enqueue(rest);
        },
        cancel(reason) {
          return reader.cancel(reason);
        },
      });
    }
  }
  return concatChunks(chunks, total);
}

/** The chunks of a body as one array (the only chunk itself when there is one). */
export function concatChunks(chunks: readonly Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  const whole = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    whole.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return whole;
}

export interface GuardedBody {
  stream: ReadableStream<Uint8Array>;
  /** True once the upload went silent for too long and was failed. */
  readonly stalled: boolean;
}

/** Fails the stream (and so the upstream request) when no chunk arrives for ms. */
export function guardBodyProgress(body: ReadableStream<Uint8Array>, ms: number): GuardedBody {
  const reader = body.getReader();
  let stalled = false;
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const silence = new Promise<'stalled'>((resolve) => {
        timer = setTimeout(() => resolve('stalled'), ms);
      });
      const read = reader.read();
      const next = await Promise.race([read, silence]).finally(() => clearTimeout(timer));
      if (next === 'stalled') {
        stalled = true;
        // Left unread rather than cancelled (which would tear the connection down before the 408 is written).
        read.catch(() => undefined);
        reader.releaseLock();
        controller.error(new BodyStalledError(ms));
        return;
      }
      if (next.done) controller.close();
      else controller.enqueue(next.value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
  return {
    stream,
    get stalled() {
      return stalled;
    },
  };
}
