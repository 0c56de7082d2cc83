/** Query parameters whose values are secrets by name; their values never reach a log line. */
const SECRET_PARAM = /token|key|secret|pass|auth|sig|session|code|credential|jwt/i;

export function redactQuery(search: string): string {
  if (search === '' || search === '?') return '';
  const params = new URLSearchParams(search);
  const parts: string[] = [];
  for (const [name, value] of params) {
    parts.push(`${encodeURIComponent(name)}=${SECRET_PARAM.test(name) ? '***' : encodeURIComponent(value)}`);
  }
  return `?${parts.join('&')}`;
}
