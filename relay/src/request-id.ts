/** A request id is kept from the client when it is a short token of visible ASCII, else generated. */
const ACCEPTABLE = /^[A-Za-z0-9._:@\-+=/]{1,128}$/;

export function requestIdFor(incoming: string | null, generate: () => string): string {
  return incoming !== null && ACCEPTABLE.test(incoming) ? incoming : generate();
}
