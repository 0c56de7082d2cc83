import type { IncomingMessage } from 'node:http';

export interface HeadRefusal {
  status: number;
  code: string;
  message: string;
}

const HOST_SHAPE = /^(?:[A-Za-z0-9\-._~%!$&'()*+,;=]+|\[[0-9A-Fa-f:.]+\])(?::\d{0,5})?$/;
const BAD_HOST: HeadRefusal = { status: 400, code: 'bad_host', message: 'The Host header is not a valid host name.' };
const TWO_HOSTS: HeadRefusal = { status: 400, code: 'bad_host', message: 'A request carries exactly one Host header.' };
const TRANSFER_CODING: HeadRefusal = {
  status: 501,
  code: 'unsupported_transfer_coding',
  message: 'Only the chunked transfer coding is supported.',
};

/** The last host that parsed: nearly every request names the same one, so the URL parse runs once. */
let lastGoodHost = '';

function validHost(host: string): boolean {
  if (host === lastGoodHost) return true;
  if (!HOST_SHAPE.test(host)) return false;
  try {
    new URL(`http://${host}/`);
  } catch {
    return false;
  }
  lastGoodHost = host;
  return true;
}

function hostHeaders(rawHeaders: string[]): number {
  let count = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i];
    if (name.length === 4 && name.toLowerCase() === 'host') count++;
  }
  return count;
}

/**
 * What the relay refuses in a request head that node:http accepted: a Host that is not a valid
 * authority (a bad port, a bad percent-escape, a malformed IPv6 literal), more than one Host
 * (RFC 9112 section 3.2), and any transfer coding but chunked (a coding the relay would drop).
 */
export function refuseRequestHead(req: IncomingMessage): HeadRefusal | undefined {
  const host = req.headers.host;
  if (host !== undefined && !validHost(host)) return BAD_HOST;
  if (hostHeaders(req.rawHeaders) > 1) return TWO_HOSTS;
  const coding = req.headers['transfer-encoding'];
  if (coding !== undefined && coding.trim().toLowerCase() !== 'chunked') return TRANSFER_CODING;
  return undefined;
}
