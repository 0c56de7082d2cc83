/**
 * The one environment both relays run with: relay.py and this relay read the same variable names, so
 * the rate limits, the server token and the lease are the same for both and no limit shapes the numbers.
 */
export const SERVER_TOKEN = 'bench-server-token';

const NO_LIMIT = '1000000/hour';

export const PROTOCOL_ENV: Record<string, string> = {
  TOKEN_PLACE_RELAY_SERVER_TOKEN: SERVER_TOKEN,
  API_RATE_LIMIT: NO_LIMIT,
  API_DAILY_QUOTA: '10000000/day',
  API_RELAY_CONTROL_PLANE_RATE_LIMIT: NO_LIMIT,
  API_RELAY_CONTROL_PLANE_IP_RATE_LIMIT: NO_LIMIT,
  API_RELAY_CONTROL_PLANE_REGISTER_RATE_LIMIT: NO_LIMIT,
  API_RELAY_CONTROL_PLANE_UNREGISTER_RATE_LIMIT: NO_LIMIT,
  API_RELAY_CONTROL_PLANE_POLL_RATE_LIMIT: NO_LIMIT,
  API_RELAY_CONTROL_PLANE_CONTROL_RATE_LIMIT: NO_LIMIT,
  API_RELAY_CONTROL_PLANE_RESPONSE_RATE_LIMIT: NO_LIMIT,
  API_RELAY_CONTROL_PLANE_PROGRESS_RATE_LIMIT: NO_LIMIT,
  // The node of the retrieve run registers and never polls; a long lease keeps it (and its queue) alive.
  TOKEN_PLACE_API_V1_RELAY_SERVER_LEASE_SECONDS: '600',
  TOKEN_PLACE_API_V1_MAX_QUEUE_DEPTH_PER_NODE: '1024',
};

/** The settings the report lists, in the form a reader can paste. */
export function describeSettings(): string {
  return Object.entries(PROTOCOL_ENV)
    .filter(([name]) => name !== 'TOKEN_PLACE_RELAY_SERVER_TOKEN')
    .map(([name, value]) => `\`${name}=${value}\``)
    .join(', ');
}
