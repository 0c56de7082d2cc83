/**
 * Caps a streamed request body whose length is not declared up front (chunked uploads).
 * Bodies with a Content-Length are checked against the header before any byte is read.
 */
export class BodyTooLargeError extends Error {
  readonly limit: number;
  constructor(limit: number) {
    super(`request body exceeds ${limit} bytes`);
    this.name = 'BodyTooLargeError';
    this.limit = limit;
  }
}

export interface LimitedBody {
  stream: ReadableStream<Uint8Array>;
  /** True once the body went past the limit and the stream was failed. */
  readonly exceeded: boolean;
}

export function limitBody(body: ReadableStream<Uint8Array>, limit: number): LimitedBody {
  const reader = body.getReader();
  let total = 0;
  let exceeded = false;
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done) {
        controller.close();
        return;
      }
      total += value.byteLength;
      if (total > limit) {
        exceeded = true;
        // The rest of the upload is left unread; the 413 goes out with Connection: close.
        reader.releaseLock();
        controller.error(new BodyTooLargeError(limit));
        return;
      }
      controller.enqueue(value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
  return {
    stream,
    get exceeded() {
      return exceeded;
    },
  };
}
