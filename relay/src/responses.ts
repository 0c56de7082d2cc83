/** JSON responses built with whichever Response class the runtime hands requests to. */
export type ResponseClass = typeof Response;

export function jsonResponse(
  ResponseCtor: ResponseClass,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): Response {
  return new ResponseCtor(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers },
  });
}

export function errorResponse(
  ResponseCtor: ResponseClass,
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): Response {
  return jsonResponse(ResponseCtor, status, { error: { code, message } }, headers);
}
