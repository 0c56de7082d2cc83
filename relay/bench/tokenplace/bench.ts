/**
 * The token.place protocol benchmark on its own (`npm run bench:tokenplace`): relay.py under gunicorn
 * and this relay, measured one after the other; see run.ts for the settings. `npm run bench` runs it too,
 * after the HTTP proxy rows. Needs Debian's python3-gunicorn and token.place's peers (peer.sh install).
 */
import { benchAndReport } from './run.ts';

const complete = await benchAndReport({ build: true });
process.exit(complete ? 0 : 1);
