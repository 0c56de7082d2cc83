/**
 * The cluster's certificates, made with openssl: one CA, the API server's serving certificate (its
 * Service IP and names included, so pods verify it), a client certificate per component with the
 * identity Kubernetes' default RBAC and Node authorizer expect, the kubelet's serving certificate, and
 * the service-account signing key.
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Exec, exec, must } from './exec.ts';
import type { Layout } from './layout.ts';

export interface ClientIdentity {
  /** File name stem under pki/. */
  name: string;
  commonName: string;
  organization?: string;
}

/** Who each component is to the API server. */
export function clientIdentities(l: Layout): ClientIdentity[] {
  return [
    { name: 'admin', commonName: 'tokenplace-e2e-admin', organization: 'system:masters' },
    { name: 'kube-controller-manager', commonName: 'system:kube-controller-manager' },
    { name: 'kube-scheduler', commonName: 'system:kube-scheduler' },
    { name: 'kube-proxy', commonName: 'system:kube-proxy' },
    { name: 'kubelet', commonName: `system:node:${l.nodeName}`, organization: 'system:nodes' },
    // Bound by the runner to a read-only ClusterRole (pods, namespaces, network policies, nodes).
    { name: 'kube-router', commonName: 'tokenplace-e2e:kube-router' },
    // The API server's identity towards the kubelet (exec, logs, port-forward).
    { name: 'apiserver-kubelet-client', commonName: 'kube-apiserver-kubelet-client', organization: 'system:masters' },
  ];
}

export function apiServerNames(l: Layout): string[] {
  return [
    `IP:${l.nodeIp}`,
    `IP:${l.apiServiceIp}`,
    'DNS:kubernetes',
    'DNS:kubernetes.default',
    'DNS:kubernetes.default.svc',
    'DNS:kubernetes.default.svc.cluster.local',
  ];
}

function subject(commonName: string, organization?: string): string {
  const escapeRdn = (value: string) => value.replace(/([/\\=])/g, '\\$1');
  return `${organization ? `/O=${escapeRdn(organization)}` : ''}/CN=${escapeRdn(commonName)}`;
}

/** Creates whatever is missing under pkiDir (an existing CA is kept, so a re-run reuses it). */
export async function ensurePki(l: Layout, pkiDir: string, run: Exec = exec): Promise<void> {
  await mkdir(pkiDir, { recursive: true, mode: 0o700 });
  const file = (name: string) => join(pkiDir, name);
  const openssl = (what: string, args: string[]) => must(what, 'openssl', args, {}, run);
  if (!existsSync(file('ca.crt'))) {
    await openssl('CA key', ['genrsa', '-out', file('ca.key'), '2048']);
    await openssl('CA certificate', [
      'req',
      '-x509',
      '-new',
      '-nodes',
      '-key',
      file('ca.key'),
      '-sha256',
      '-days',
      '30',
      '-subj',
      '/CN=tokenplace-e2e-ca',
      '-out',
      file('ca.crt'),
    ]);
  }
  if (!existsSync(file('sa.key'))) {
    await openssl('service-account key', ['genrsa', '-out', file('sa.key'), '2048']);
    await openssl('service-account public key', ['rsa', '-in', file('sa.key'), '-pubout', '-out', file('sa.pub')]);
  }
  const issue = async (name: string, subj: string, extensions: string) => {
    if (existsSync(file(`${name}.crt`))) return;
    await openssl(`${name} key`, ['genrsa', '-out', file(`${name}.key`), '2048']);
    await openssl(`${name} request`, ['req', '-new', '-key', file(`${name}.key`), '-subj', subj, '-out', file(`${name}.csr`)]);
    await writeFile(file(`${name}.ext`), extensions);
    await openssl(`${name} certificate`, [
      'x509',
      '-req',
      '-in',
      file(`${name}.csr`),
      '-CA',
      file('ca.crt'),
      '-CAkey',
      file('ca.key'),
      '-CAcreateserial',
      '-days',
      '30',
      '-sha256',
      '-extfile',
      file(`${name}.ext`),
      '-out',
      file(`${name}.crt`),
    ]);
  };
  const server = (names: string[]) =>
    `basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=${names.join(',')}\n`;
  const client = 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n';
  await issue('apiserver', subject('kube-apiserver'), server(apiServerNames(l)));
  await issue('kubelet-serving', subject(`system:node:${l.nodeName}`), server([`IP:${l.nodeIp}`, `DNS:${l.nodeName}`]));
  for (const id of clientIdentities(l)) await issue(id.name, subject(id.commonName, id.organization), client);
}
