/**
 * token.place through the cluster: the real server.py, on the GPU host outside the cluster, dials out
 * to the relay's NodePort on the LAN, registers and long-polls; the real client.py, on the same LAN,
 * completes a chat through the relay. A second release of the chart, protocol only (no HTTP
 * upstream), one replica, its NetworkPolicy opened to the LAN as the family example does.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { type PeerProcess, startPeer } from '../../relay/test/helpers/peer-process.ts';
import { relayFullname, setJsonArgs } from '../src/chart-values.ts';
import type { StepReport } from '../src/cluster/run.ts';
import type { Scenario } from '../src/cluster/scenario.ts';
import { shQuote } from '../src/cluster/shell.ts';
import { exec } from './exec.ts';
import type { LocalRun } from './scenario-runner.ts';

export const TOKENPLACE_RELEASE = 'tp-nodes';
const CLIENT_PORT = 15010;
/** `node -e LAN_GET URL`: prints the body of a 200 answer, else exits 1. */
const LAN_GET =
  'fetch(process.argv[1], { signal: AbortSignal.timeout(5000) }).then(async (r) => { if (r.status !== 200) process.exit(1); process.stdout.write(await r.text()); }, () => process.exit(1))';

interface Context extends LocalRun {
  scenario: Scenario;
  env: Record<string, string>;
}

/** The chart's values for the protocol-only release. */
export function tokenplaceValues(ctx: Pick<Context, 'scenario' | 'layout'>, token: string): [string, unknown][] {
  const s = ctx.scenario;
  return [
    ['image.repository', s.relayImage.repository],
    ['image.tag', s.relayImage.tag],
    ['image.digest', ''],
    ['image.pullPolicy', s.relayImage.pullPolicy],
    ['env.upstream.enabled', false],
    ['secret.create', true],
    ['secret.existingSecret', `${TOKENPLACE_RELEASE}-server-token`],
    ['secret.serverToken', token],
    ['service.type', 'NodePort'],
    // Local keeps the LAN client's address, which the NetworkPolicy's ipBlock admits.
    ['service.externalTrafficPolicy', 'Local'],
    ['networkPolicy.enabled', true],
    [
      'networkPolicy.extraIngress',
      [{ from: [{ ipBlock: { cidr: ctx.layout.lanCidr } }], ports: [{ port: s.relayPort, protocol: 'TCP' }] }],
    ],
    ['replicaCount', 1],
  ];
}

type Outcome = { ok: boolean; detail: string; output?: string };

export async function tokenplaceChecks(ctx: Context, onReport: (report: StepReport) => void): Promise<StepReport[]> {
  const reports: StepReport[] = [];
  const peers: PeerProcess[] = [];
  const netns = ['ip', 'netns', 'exec', ctx.layout.gpuHost.netns];
  const token = randomBytes(24).toString('hex');
  let relayUrl = '';
  const step = async (id: string, title: string, kind: 'setup' | 'check', body: () => Promise<Outcome>) => {
    const started = Date.now();
    let outcome: Outcome;
    try {
      outcome = await body();
    } catch (error) {
      outcome = {
        ok: false,
        detail: error instanceof Error ? error.message.split('\n')[0] : String(error),
        output: String(error),
      };
    }
    const report: StepReport = {
      id,
      title,
      kind,
      status: outcome.ok ? 'passed' : 'failed',
      detail: outcome.detail,
      seconds: Math.round((Date.now() - started) / 100) / 10,
      ...(outcome.ok ? {} : { output: outcome.output ?? '' }),
    };
    reports.push(report);
    onReport(report);
    return outcome.ok;
  };
  const sh = (script: string) => exec('sh', ['-c', script], { env: ctx.env, timeoutMs: 400_000 });
  try {
    const installed = await step(
      'tokenplace-install',
      'a protocol-only release: NodePort on the LAN, its NetworkPolicy admitting the LAN',
      'setup',
      async () => {
        const ns = shQuote(ctx.scenario.namespace);
        const out = await sh(
          `helm upgrade --install ${TOKENPLACE_RELEASE} ${shQuote(ctx.scenario.chartPath)} --namespace ${ns} --wait --timeout 240s ${setJsonArgs(
            tokenplaceValues(ctx, token),
          )
            .map(shQuote)
            .join(
              ' ',
            )} && kubectl -n ${ns} get svc ${relayFullname(TOKENPLACE_RELEASE)} -o jsonpath='NODE_PORT={.spec.ports[0].nodePort}'`,
        );
        const port = /NODE_PORT=(\d+)/.exec(out.stdout)?.[1];
        if (out.exitCode !== 0 || !port)
          return { ok: false, detail: `helm install failed (exit ${out.exitCode})`, output: `${out.stdout}\n${out.stderr}` };
        relayUrl = `http://${ctx.layout.nodeIp}:${port}`;
        return { ok: true, detail: `relay at ${relayUrl} on the LAN` };
      },
    );
    if (!installed) return reports;
    await step(
      'tokenplace-node-registers',
      "token.place's server.py outside the cluster registers through the relay's Service and long-polls",
      'check',
      async () => {
        const node = startPeer(
          'server.py (outside the cluster)',
          ['server', relayUrl],
          { TOKEN_PLACE_RELAY_SERVER_TOKEN: token },
          false,
          netns,
        );
        peers.push(node);
        const deadline = Date.now() + 60_000;
        while (Date.now() < deadline) {
          // Asked from the LAN host, as server.py asks (Node's fetch: busybox 1.35's wget -T crashes).
          const out = await exec(
            netns[0],
            [...netns.slice(1), process.execPath, '-e', LAN_GET, `${relayUrl}/relay/diagnostics`],
            {
              timeoutMs: 10_000,
            },
          );
          const nodes =
            out.exitCode === 0
              ? (JSON.parse(out.stdout) as { api_v1_registered_compute_nodes?: unknown[] }).api_v1_registered_compute_nodes
              : undefined;
          if (nodes && nodes.length > 0) return { ok: true, detail: `${nodes.length} compute node listed in /relay/diagnostics` };
          if (!node.running()) break;
          await new Promise((resolve) => setTimeout(resolve, 1_000));
        }
        return { ok: false, detail: 'server.py never appeared in /relay/diagnostics', output: node.output().slice(-4000) };
      },
    );
    await step(
      'tokenplace-chat',
      "token.place's client.py on the LAN completes an encrypted chat through the relay",
      'check',
      async () => {
        const forwarder = spawn(
          netns[0],
          [
            ...netns.slice(1),
            process.execPath,
            join(ctx.repoRoot, 'ci/local-cluster/tcp-forward.ts'),
            String(CLIENT_PORT),
            ctx.layout.nodeIp,
            relayUrl.split(':').pop() as string,
          ],
          { stdio: 'ignore' },
        );
        try {
          await new Promise((resolve) => setTimeout(resolve, 1_000));
          const client = startPeer('client.py (on the LAN)', ['client', String(CLIENT_PORT)], {}, true, netns);
          peers.push(client);
          const from = client.output().length;
          client.child.stdin?.write('Hello from the cluster test\n');
          const answer = await client.waitForOutput(
            /Assistant: (.*)\n|Failed to get response from the server\./,
            90_000,
            'an answer',
            from,
          );
          if (answer[1] === undefined)
            return { ok: false, detail: 'client.py got no answer', output: `${client.output()}\n${peers[0]?.output() ?? ''}` };
          return { ok: true, detail: `answer: ${answer[1].slice(0, 80)}` };
        } finally {
          forwarder.kill('SIGTERM');
        }
      },
    );
    return reports;
  } finally {
    await Promise.all(peers.map((peer) => peer.stop(3_000)));
    await sh(
      `helm uninstall ${TOKENPLACE_RELEASE} --namespace ${shQuote(ctx.scenario.namespace)} --wait >/dev/null 2>&1 || true`,
    );
  }
}
